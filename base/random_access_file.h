// RandomAccessFile: positional reads of an immutable byte source: a snapshot file on
// local disk, an object in a store, or a fake that injects errors in tests. The snapshot
// reader and everything that reads snapshot bytes go through this interface and never
// through a path or a descriptor of their own (leveldb's RandomAccessFile is the model:
// a table never opens a path).
#ifndef LAZYSNAP_BASE_RANDOM_ACCESS_FILE_H_
#define LAZYSNAP_BASE_RANDOM_ACCESS_FILE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace lazysnap {

// RandomAccessFile is immutable once opened and safe to read from many threads at once.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;

  // name identifies the file in messages: a path or a URL.
  virtual const std::string& name() const = 0;

  // size_bytes is the file's size, fixed when it was opened.
  virtual uint64_t size_bytes() const = 0;

  // ReadAt fills `out` with the bytes at [offset_bytes, offset_bytes + out.size()).
  // OutOfRange when that range passes the end of the file; other errors (I/O, network)
  // name the file, the offset and the reason. `out` is unspecified after an error.
  virtual absl::Status ReadAt(uint64_t offset_bytes, std::span<uint8_t> out) const = 0;

  // identity names this version of the file's content for caches keyed by file: equal
  // identities mean equal content (a local file's device, inode, size and modification
  // time; an object's ETag). Empty when the implementation cannot tell.
  virtual std::string identity() const { return {}; }
};

// LocalFile: a RandomAccessFile over a regular file opened read-only (pread(2)). The
// descriptor stays open for the object's lifetime, so a file replaced on disk after Open
// keeps being read as it was.
class LocalFile final : public RandomAccessFile {
 public:
  // Open opens `path` read-only. NotFound / PermissionDenied name the path;
  // InvalidArgument when it is not a regular file (a directory, a FIFO, a device): a
  // FIFO is opened without blocking and refused.
  static absl::StatusOr<std::unique_ptr<LocalFile>> Open(std::string_view path);

  const std::string& name() const override { return path_; }
  uint64_t size_bytes() const override { return size_bytes_; }
  absl::Status ReadAt(uint64_t offset_bytes, std::span<uint8_t> out) const override;
  std::string identity() const override { return identity_; }

  // fd is the open descriptor, for readers with their own I/O path (io_uring) below the
  // engine's chunk-source seam. Owned by this object.
  int fd() const { return fd_.get(); }

 private:
  LocalFile() = default;
  std::string path_;
  UniqueFd fd_;
  uint64_t size_bytes_ = 0;
  std::string identity_;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_BASE_RANDOM_ACCESS_FILE_H_
