// LocalFile: open with checks that the path is a regular file, then pread.
#include "base/random_access_file.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/file_io.h"

namespace lazysnap {

absl::StatusOr<std::unique_ptr<LocalFile>> LocalFile::Open(std::string_view path) {
  std::unique_ptr<LocalFile> file(new LocalFile());
  file->path_ = std::string(path);
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  // It has no effect on reads of a regular file, the only kind accepted below.
  auto fd = OpenFile(path, O_RDONLY | O_NONBLOCK);
  if (!fd.ok()) return fd.status();
  file->fd_ = std::move(*fd);
  struct stat st;
  if (::fstat(file->fd_.get(), &st) != 0) {
    return ErrnoToStatus(errno, absl::StrFormat("fstat %s", path));
  }
  if (!S_ISREG(st.st_mode)) {
    const char* kind = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "not a regular file";
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is %s, not a regular file", path, kind));
  }
  // Clear O_NONBLOCK again: io_uring honours it on regular files and would return
  // EAGAIN for a read that needs the disk instead of waiting for it.
  const int flags = ::fcntl(file->fd_.get(), F_GETFL);
  if (flags < 0 || ::fcntl(file->fd_.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return ErrnoToStatus(errno, absl::StrFormat("fcntl F_SETFL %s", path));
  }
  file->size_bytes_ = static_cast<uint64_t>(st.st_size);
  file->identity_ = absl::StrFormat("file:%d:%d:%d:%d.%09d", st.st_dev, st.st_ino, st.st_size,
                                    st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  return file;
}

absl::Status LocalFile::ReadAt(uint64_t offset_bytes, std::span<uint8_t> out) const {
  uint64_t end;
  if (__builtin_add_overflow(offset_bytes, out.size(), &end) || end > size_bytes_) {
    return absl::OutOfRangeError(absl::StrFormat(
        "%s: reading %d bytes at offset %d passes the end of the file (%d bytes)", path_,
        out.size(), offset_bytes, size_bytes_));
  }
  return PreadFull(fd_.get(), out, offset_bytes, path_);
}

}  // namespace lazysnap
