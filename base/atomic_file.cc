// AtomicFile: temporary file, fsync, rename, directory fsync.
#include "base/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/file_io.h"

namespace lazysnap {
namespace {

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::StatusOr<AtomicFile> AtomicFile::Create(std::string_view final_path) {
  static std::atomic<uint64_t> counter{0};
  std::string final_string(final_path);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string temp = absl::StrFormat("%s.tmp.%d.%d", final_string, ::getpid(),
                                       counter.fetch_add(1));
    auto fd = OpenFile(temp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd.ok()) return AtomicFile(std::move(*fd), std::move(temp), final_string);
    if (!absl::IsAlreadyExists(fd.status())) return fd.status();
  }
  return absl::AlreadyExistsError(
      absl::StrFormat("could not create a temporary file beside %s", final_path));
}

AtomicFile::AtomicFile(UniqueFd fd, std::string temp_path, std::string final_path)
    : fd_(std::move(fd)),
      temp_path_(std::move(temp_path)),
      final_path_(std::move(final_path)) {}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : fd_(std::move(other.fd_)),
      temp_path_(std::move(other.temp_path_)),
      final_path_(std::move(other.final_path_)),
      committed_(other.committed_) {
  other.temp_path_.clear();
}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
  if (this != &other) {
    Abandon();
    fd_ = std::move(other.fd_);
    temp_path_ = std::move(other.temp_path_);
    final_path_ = std::move(other.final_path_);
    committed_ = other.committed_;
    other.temp_path_.clear();
  }
  return *this;
}

AtomicFile::~AtomicFile() { Abandon(); }

void AtomicFile::Abandon() {
  fd_.Reset();
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
  temp_path_.clear();
}

absl::Status AtomicFile::Commit() {
  if (committed_ || temp_path_.empty()) {
    return absl::FailedPreconditionError("AtomicFile::Commit called twice");
  }
  absl::Status status;
  if (::fsync(fd_.get()) != 0) {
    status = ErrnoToStatus(errno, absl::StrFormat("fsync %s", temp_path_));
  } else if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    status = ErrnoToStatus(errno,
                           absl::StrFormat("rename %s to %s", temp_path_, final_path_));
  }
  if (!status.ok()) {
    Abandon();
    return status;
  }
  committed_ = true;
  fd_.Reset();
  // The rename is durable only once the directory entry is; a failure here leaves the
  // complete file in place, so it is reported but nothing is removed.
  std::string directory = DirectoryOf(final_path_);
  auto dir_fd = OpenFile(directory, O_RDONLY | O_DIRECTORY);
  if (!dir_fd.ok()) return dir_fd.status();
  if (::fsync(dir_fd->get()) != 0) {
    return ErrnoToStatus(errno, absl::StrFormat("fsync directory %s", directory));
  }
  return absl::OkStatus();
}

}  // namespace lazysnap
