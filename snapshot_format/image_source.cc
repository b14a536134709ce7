// FileImageSource: raw image files and streams.
#include "snapshot_format/image_source.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/file_io.h"
#include "base/status_macros.h"

namespace lazysnap {

absl::StatusOr<std::unique_ptr<FileImageSource>> FileImageSource::Open(
    std::string_view path, std::vector<format::Region> regions) {
  std::unique_ptr<FileImageSource> source(new FileImageSource());
  source->path_ = std::string(path);
  if (path == "-") {
    int fd = ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return ErrnoToStatus(errno, "dup standard input");
    source->fd_ = UniqueFd(fd);
    source->path_ = "standard input";
  } else {
    LAZYSNAP_ASSIGN_OR_RETURN(source->fd_, OpenFile(path, O_RDONLY));
  }
  struct stat st;
  if (::fstat(source->fd_.get(), &st) != 0) {
    return ErrnoToStatus(errno, absl::StrFormat("fstat %s", source->path_));
  }
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is a directory, not a memory image", source->path_));
  }
  if (S_ISCHR(st.st_mode)) {
    if (::isatty(source->fd_.get())) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s is a terminal, not a memory image: give an image file, or pipe one in", source->path_));
    }
    // /dev/zero, /dev/urandom, a serial port: a stream that may never end.
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is a character device, whose stream may never end: to snapshot its bytes, pipe a "
        "bounded amount of them (head -c SIZE %s | lazysnap create - ...)",
        source->path_, path == "-" ? "/dev/stdin" : source->path_));
  }
  if (S_ISREG(st.st_mode)) {
    // Files of /proc and /sys report sizes that do not say what they hold (0 for
    // /proc/PID/mem, 4096 for a few bytes of text).
    struct statfs fs;
    if (::fstatfs(source->fd_.get(), &fs) == 0 &&
        (fs.f_type == PROC_SUPER_MAGIC || fs.f_type == SYSFS_MAGIC ||
         fs.f_type == DEBUGFS_MAGIC || fs.f_type == TRACEFS_MAGIC)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s is a file of the kernel's /proc or /sys, not a memory image (its size does not "
          "say what it holds); to snapshot a process, use --pid",
          source->path_));
    }
  }
  source->seekable_ = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (S_ISBLK(st.st_mode)) {
    off_t end = ::lseek(source->fd_.get(), 0, SEEK_END);
    if (end < 0) return ErrnoToStatus(errno, absl::StrFormat("lseek %s", source->path_));
    size = static_cast<uint64_t>(end);
  }
  if (regions.empty()) {
    if (!source->seekable_) {
      regions.push_back({0, kLengthUntilEndOfStream, 0});
    } else if (size > 0) {
      regions.push_back({0, size, 0});
    }
  } else if (source->seekable_) {
    for (size_t i = 0; i < regions.size(); ++i) {
      const format::Region& r = regions[i];
      if (r.image_offset_bytes > size || r.length_bytes > size - r.image_offset_bytes) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: region %d (offset %d, length %d) extends past the end of the image (%d "
            "bytes)",
            source->path_, i, r.image_offset_bytes, r.length_bytes, size));
      }
    }
  }
  if (!source->seekable_) {
    // A stream is read front to back, so its regions must tile the image from offset 0.
    uint64_t expected = 0;
    for (size_t i = 0; i < regions.size(); ++i) {
      if (regions[i].image_offset_bytes != expected) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: region %d starts at %d; regions of a stream must follow each other from "
            "offset 0",
            source->path_, i, regions[i].image_offset_bytes));
      }
      expected = regions[i].image_offset_bytes + regions[i].length_bytes;
    }
  }
  source->regions_ = std::move(regions);
  return source;
}

bool FileImageSource::KnownZero(uint64_t image_offset_bytes, uint64_t length_bytes) {
  if (!seekable_ || length_bytes == 0) return false;
  off_t data = ::lseek(fd_.get(), static_cast<off_t>(image_offset_bytes), SEEK_DATA);
  if (data < 0) {
    // ENXIO: no data at or after the offset, so all of it is a hole (or past the end).
    return errno == ENXIO;
  }
  return static_cast<uint64_t>(data) >= image_offset_bytes + length_bytes;
}

absl::StatusOr<size_t> FileImageSource::Read(uint64_t image_offset_bytes,
                                             std::span<uint8_t> out) {
  if (seekable_) {
    LAZYSNAP_RETURN_IF_ERROR(PreadFull(fd_.get(), out, image_offset_bytes, path_));
    return out.size();
  }
  return ReadUpTo(fd_.get(), out, path_);
}

}  // namespace lazysnap
