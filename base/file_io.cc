// File I/O helpers: EINTR and short transfers handled in one place.
#include "base/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"

namespace lazysnap {

absl::StatusOr<UniqueFd> OpenFile(std::string_view path, int flags, mode_t mode) {
  std::string path_string(path);
  int fd;
  do {
    fd = ::open(path_string.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrFormat("open %s", path));
  return UniqueFd(fd);
}

absl::Status PreadFull(int fd, std::span<uint8_t> buffer, uint64_t offset_bytes,
                       std::string_view path) {
  size_t done = 0;
  while (done < buffer.size()) {
    ssize_t n = ::pread(fd, buffer.data() + done, buffer.size() - done,
                        static_cast<off_t>(offset_bytes + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(
          errno, absl::StrFormat("pread %s at offset %d length %d", path,
                                 offset_bytes + done, buffer.size() - done));
    }
    if (n == 0) {
      return absl::OutOfRangeError(absl::StrFormat(
          "pread %s at offset %d: end of file after %d of %d bytes", path, offset_bytes,
          done, buffer.size()));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> ReadUpTo(int fd, std::span<uint8_t> buffer, std::string_view path) {
  size_t done = 0;
  while (done < buffer.size()) {
    ssize_t n = ::read(fd, buffer.data() + done, buffer.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, absl::StrFormat("read %s", path));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

absl::Status WriteFull(int fd, std::span<const uint8_t> data, std::string_view path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, absl::StrFormat("write %s", path));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status PwriteFull(int fd, std::span<const uint8_t> data, uint64_t offset_bytes,
                        std::string_view path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done,
                         static_cast<off_t>(offset_bytes + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(
          errno, absl::StrFormat("pwrite %s at offset %d", path, offset_bytes + done));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

const char* FileKindName(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

absl::StatusOr<uint64_t> FileSizeBytes(int fd, std::string_view path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return ErrnoToStatus(errno, absl::StrFormat("fstat %s", path));
  }
  return static_cast<uint64_t>(st.st_size);
}

absl::StatusOr<std::string> ReadFileToString(std::string_view path, size_t max_bytes) {
  auto fd = OpenFile(path, O_RDONLY);
  if (!fd.ok()) return fd.status();
  std::string contents;
  // /proc files report size 0, so read in steps until end of file.
  constexpr size_t kStepBytes = 64 << 10;
  while (true) {
    size_t old_size = contents.size();
    if (old_size >= max_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("%s is larger than %d bytes", path, max_bytes));
    }
    contents.resize(old_size + kStepBytes);
    auto n = ReadUpTo(fd->get(),
                      std::span<uint8_t>(reinterpret_cast<uint8_t*>(contents.data()) + old_size,
                                         kStepBytes),
                      path);
    if (!n.ok()) return n.status();
    contents.resize(old_size + *n);
    if (*n < kStepBytes) break;
  }
  return contents;
}

}  // namespace lazysnap
