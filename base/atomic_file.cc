// AtomicFile: checks of the final path, an unnamed or locked temporary file, fsync,
// rename, directory fsync, and removal of what dead writers left.
#include "base/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <memory>

#include "absl/strings/numbers.h"
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

std::string BaseNameOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

absl::Status NotReplaceable(const std::string& path, mode_t mode) {
  std::string kind = FileKindName(mode);
  if (S_ISLNK(mode)) {
    char target[PATH_MAX];
    ssize_t n = ::readlink(path.c_str(), target, sizeof(target) - 1);
    if (n > 0) kind = absl::StrFormat("a symbolic link to %s", std::string(target, n));
  }
  return absl::FailedPreconditionError(absl::StrFormat(
      "cannot write %s: it is %s, and the output would replace it; give the path of a "
      "regular file or a new one",
      path, kind));
}

// CheckFinalPath is OutputProblem, also returning what is at the path now.
absl::Status CheckFinalPath(const std::string& path, bool* exists, struct stat* existing) {
  *exists = false;
  if (path.empty()) return absl::InvalidArgumentError("the output path is empty");
  if (path.back() == '/') {
    return absl::FailedPreconditionError(
        absl::StrFormat("cannot write %s: it names a directory; give a file name", path));
  }
  if (::lstat(path.c_str(), existing) == 0) {
    if (!S_ISREG(existing->st_mode)) return NotReplaceable(path, existing->st_mode);
    *exists = true;
  } else if (errno != ENOENT) {
    return ErrnoToStatus(errno, absl::StrFormat("lstat %s", path));
  }
  const std::string directory = DirectoryOf(path);
  struct stat dir_stat;
  if (::stat(directory.c_str(), &dir_stat) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrFormat(
          "cannot write %s: its directory %s does not exist", path, directory));
    }
    return ErrnoToStatus(errno, absl::StrFormat("stat %s", directory));
  }
  if (!S_ISDIR(dir_stat.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrFormat("cannot write %s: %s is not a directory", path, directory));
  }
  if (::faccessat(AT_FDCWD, directory.c_str(), W_OK | X_OK, AT_EACCESS) != 0) {
    return ErrnoToStatus(errno, absl::StrFormat("cannot create files in %s (for %s)",
                                                directory, path));
  }
  return absl::OkStatus();
}

// TempBase: the final name as temporary names start with it. A name near NAME_MAX (255)
// would leave no room for ".tmp.<pid>.<n>": it is cut and a hash of it added.
std::string TempBase(const std::string& base) {
  constexpr size_t kRoomForSuffix = 40;
  if (base.size() + kRoomForSuffix <= NAME_MAX) return base;
  uint64_t hash = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : base) hash = (hash ^ c) * 1099511628211ull;
  return absl::StrFormat("%s~%016x", base.substr(0, NAME_MAX - kRoomForSuffix - 17), hash);
}

std::string TempName(const std::string& final_path, uint64_t n) {
  const std::string directory = DirectoryOf(final_path);
  const std::string prefix =
      final_path.find('/') == std::string::npos ? "" : (directory == "/" ? "/" : directory + "/");
  return absl::StrFormat("%s%s.tmp.%d.%d", prefix, TempBase(BaseNameOf(final_path)), ::getpid(),
                         n);
}

std::atomic<uint64_t> g_temp_counter{0};

// ParseTempName: is `name` "<base>.tmp.<pid>.<n>"? Sets *pid.
bool ParseTempName(std::string_view name, std::string_view base, pid_t* pid) {
  const std::string prefix = absl::StrFormat("%s.tmp.", base);
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return false;
  std::string_view rest = name.substr(prefix.size());
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == rest.size()) return false;
  for (char c : rest) {
    if (c != '.' && (c < '0' || c > '9')) return false;
  }
  if (rest.find('.', dot + 1) != std::string_view::npos) return false;
  int value;
  if (!absl::SimpleAtoi(std::string(rest.substr(0, dot)), &value) || value <= 0) return false;
  *pid = value;
  return true;
}

}  // namespace

absl::Status OutputProblem(std::string_view final_path) {
  bool exists;
  struct stat existing;
  return CheckFinalPath(std::string(final_path), &exists, &existing);
}

bool SameFile(std::string_view a, std::string_view b) {
  struct stat sa, sb;
  if (::stat(std::string(a).c_str(), &sa) != 0 || ::stat(std::string(b).c_str(), &sb) != 0) {
    return false;
  }
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int RemoveStaleTemporaryFiles(std::string_view final_path) {
  const std::string final_string(final_path);
  const std::string directory = DirectoryOf(final_string);
  const std::string base = TempBase(BaseNameOf(final_string));
  if (base.empty()) return 0;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(directory.c_str()), ::closedir);
  if (dir == nullptr) return 0;
  int removed = 0;
  while (const dirent* entry = ::readdir(dir.get())) {
    pid_t pid;
    if (!ParseTempName(entry->d_name, base, &pid)) continue;
    // Our own pid: another AtomicFile of this process may be writing it.
    if (pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to tell)
    const std::string path = directory + "/" + entry->d_name;
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    UniqueFd owned(fd);
    struct stat opened, named;
    if (::fstat(fd, &opened) != 0 || !S_ISREG(opened.st_mode)) continue;
    // A writer holds the lock for as long as it lives (in any pid namespace).
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) continue;
    // Unlink only the file we locked, not one that replaced it meanwhile.
    if (::lstat(path.c_str(), &named) != 0 || named.st_dev != opened.st_dev ||
        named.st_ino != opened.st_ino) {
      continue;
    }
    if (::unlink(path.c_str()) == 0) ++removed;
  }
  return removed;
}

absl::StatusOr<AtomicFile> AtomicFile::Create(std::string_view final_path,
                                              AtomicFileOptions options) {
  AtomicFile file;
  file.final_path_ = std::string(final_path);
  bool exists;
  struct stat existing;
  if (absl::Status problem = CheckFinalPath(file.final_path_, &exists, &existing);
      !problem.ok()) {
    return problem;
  }
  // A replaced file keeps its permissions; a new one gets the (umasked) default.
  const mode_t mode = exists ? (existing.st_mode & 0777) : options.new_file_mode;
  file.stale_files_removed_ = RemoveStaleTemporaryFiles(file.final_path_);
  const std::string directory = DirectoryOf(file.final_path_);

  if (options.allow_unnamed) {
    int fd;
    do {
      fd = ::open(directory.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    if (fd >= 0) {
      file.fd_ = UniqueFd(fd);
      // Commit links the file through /proc/self/fd when the caller lacks
      // CAP_DAC_READ_SEARCH (which linkat's AT_EMPTY_PATH needs): without /proc, write
      // a named file instead of one that could not be published.
      const std::string proc_path = absl::StrFormat("/proc/self/fd/%d", fd);
      if (::access(proc_path.c_str(), F_OK) == 0) {
        file.unnamed_ = true;
        file.open_ = true;
        file.temp_path_ = absl::StrFormat("%s (unnamed temporary file)", file.final_path_);
      } else {
        file.fd_.Reset();
      }
    } else if (errno != EISDIR && errno != EOPNOTSUPP && errno != EINVAL) {
      // EISDIR / EOPNOTSUPP / EINVAL: no O_TMPFILE here (old kernel, file system without
      // it); anything else (EACCES, ENOSPC, EROFS) would fail a named file too.
      return ErrnoToStatus(errno, absl::StrFormat("open a temporary file in %s for %s",
                                                  directory, file.final_path_));
    }
  }
  if (!file.unnamed_) {
    for (int attempt = 0; attempt < 100 && !file.open_; ++attempt) {
      std::string temp = TempName(file.final_path_, g_temp_counter.fetch_add(1));
      // Registered before it exists, so a signal at any moment removes it.
      auto cleanup = SignalCleanupEntry::UnlinkOnSignal(temp);
      if (!cleanup.ok()) return cleanup.status();
      auto fd = OpenFile(temp, O_WRONLY | O_CREAT | O_EXCL, mode);
      if (!fd.ok()) {
        if (absl::IsAlreadyExists(fd.status())) continue;
        return fd.status();
      }
      file.fd_ = std::move(*fd);
      file.temp_path_ = std::move(temp);
      file.cleanup_ = std::move(*cleanup);
      file.open_ = true;
      // The lock says "my writer is alive" to RemoveStaleTemporaryFiles in other runs.
      if (::flock(file.fd_.get(), LOCK_EX | LOCK_NB) != 0) {
        return ErrnoToStatus(errno, absl::StrFormat("flock %s", file.temp_path_));
      }
    }
    if (!file.open_) {
      return absl::AlreadyExistsError(
          absl::StrFormat("could not create a temporary file beside %s", final_path));
    }
  }
  // open(2) applied the umask; a replaced file's own bits are restored exactly.
  if (exists && ::fchmod(file.fd_.get(), mode) != 0) {
    return ErrnoToStatus(errno, absl::StrFormat("fchmod %s", file.temp_path_));
  }
  return file;
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : fd_(std::move(other.fd_)),
      temp_path_(std::move(other.temp_path_)),
      final_path_(std::move(other.final_path_)),
      unnamed_(other.unnamed_),
      committed_(other.committed_),
      open_(std::exchange(other.open_, false)),
      stale_files_removed_(other.stale_files_removed_),
      cleanup_(std::move(other.cleanup_)) {}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
  if (this != &other) {
    Abandon();
    fd_ = std::move(other.fd_);
    temp_path_ = std::move(other.temp_path_);
    final_path_ = std::move(other.final_path_);
    unnamed_ = other.unnamed_;
    committed_ = other.committed_;
    open_ = std::exchange(other.open_, false);
    stale_files_removed_ = other.stale_files_removed_;
    cleanup_ = std::move(other.cleanup_);
  }
  return *this;
}

AtomicFile::~AtomicFile() { Abandon(); }

void AtomicFile::Abandon() {
  fd_.Reset();  // an unnamed file vanishes with its last descriptor
  if (open_ && !committed_ && !unnamed_) ::unlink(temp_path_.c_str());
  open_ = false;
  cleanup_.Release();
}

absl::Status AtomicFile::Link(std::string& linked_path) {
  const std::string proc_path = absl::StrFormat("/proc/self/fd/%d", fd_.get());
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string name = TempName(final_path_, g_temp_counter.fetch_add(1));
    auto cleanup = SignalCleanupEntry::UnlinkOnSignal(name);
    if (!cleanup.ok()) return cleanup.status();
    // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc link works for anyone.
    int rc = ::linkat(fd_.get(), "", AT_FDCWD, name.c_str(), AT_EMPTY_PATH);
    if (rc != 0 && errno != EEXIST) {
      rc = ::linkat(AT_FDCWD, proc_path.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW);
    }
    if (rc == 0) {
      linked_path = std::move(name);
      cleanup_ = std::move(*cleanup);
      return absl::OkStatus();
    }
    if (errno != EEXIST) {
      return ErrnoToStatus(errno, absl::StrFormat("linkat %s to %s", temp_path_, name));
    }
  }
  return absl::AlreadyExistsError(
      absl::StrFormat("could not name a temporary file beside %s", final_path_));
}

absl::Status AtomicFile::Commit() {
  if (committed_ || !open_) {
    return absl::FailedPreconditionError("AtomicFile::Commit called twice");
  }
  absl::Status status;
  bool exists;
  struct stat existing;
  if (::fsync(fd_.get()) != 0) {
    status = ErrnoToStatus(errno, absl::StrFormat("fsync %s", temp_path_));
  } else if (status = CheckFinalPath(final_path_, &exists, &existing); !status.ok()) {
    // The path was replaced by something else while the file was written.
  } else if (unnamed_) {
    std::string linked;
    status = Link(linked);
    if (status.ok()) {
      temp_path_ = std::move(linked);
      unnamed_ = false;  // from now on a name exists that Abandon must remove
    }
  }
  if (status.ok() && ::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    status = ErrnoToStatus(errno, absl::StrFormat("rename %s to %s", temp_path_, final_path_));
  }
  if (!status.ok()) {
    Abandon();
    return status;
  }
  committed_ = true;
  cleanup_.Release();
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
