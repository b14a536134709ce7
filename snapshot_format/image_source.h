// ImageSource: where the snapshot writer reads guest memory from: a raw image file, a
// pipe, or (see process_image_source.h) the memory of a live process.
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_IMAGE_SOURCE_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_IMAGE_SOURCE_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "snapshot_format/format.h"

namespace lazysnap {

// kLengthUntilEndOfStream, as the length of the last region, means "all the bytes the
// stream still has"; the writer learns the real length at end of stream.
inline constexpr uint64_t kLengthUntilEndOfStream = std::numeric_limits<uint64_t>::max();

// ImageSource is read by one thread at a time.
class ImageSource {
 public:
  virtual ~ImageSource() = default;

  // name identifies the source in messages ("image.raw", "pid 4242").
  virtual std::string name() const = 0;

  // regions is the memory layout: sorted, non-overlapping, page-aligned image offsets.
  virtual std::vector<format::Region> regions() const = 0;

  // Read fills `out` with image bytes from `image_offset_bytes` and returns how many it
  // read: out.size(), except at the end of a kLengthUntilEndOfStream region. Without
  // random access, reads come in increasing offset order with no gaps inside a region.
  virtual absl::StatusOr<size_t> Read(uint64_t image_offset_bytes, std::span<uint8_t> out) = 0;

  // random_access is true when Read may be called at any offset in any order (the
  // dictionary trainer samples the image before the writer streams it).
  virtual bool random_access() const = 0;

  // KnownZero is true when the source knows, without reading, that every byte of
  // [image_offset_bytes, + length_bytes) is zero (a hole in a sparse file). The writer
  // then skips reading it. False means "unknown", not "non-zero".
  virtual bool KnownZero(uint64_t /*image_offset_bytes*/, uint64_t /*length_bytes*/) {
    return false;
  }
};

// FileImageSource reads a raw memory image from a file, or from a pipe or other stream
// (then one region until end of stream, read sequentially).
class FileImageSource : public ImageSource {
 public:
  // Open opens `path` ("-" is standard input). Without `regions` a regular file is one
  // region covering the whole file. With `regions`, each must lie inside the file.
  static absl::StatusOr<std::unique_ptr<FileImageSource>> Open(
      std::string_view path, std::vector<format::Region> regions = {});

  std::string name() const override { return path_; }
  std::vector<format::Region> regions() const override { return regions_; }
  absl::StatusOr<size_t> Read(uint64_t image_offset_bytes, std::span<uint8_t> out) override;
  bool random_access() const override { return seekable_; }
  // KnownZero asks the file system for the next data (lseek SEEK_DATA): VM memory files
  // are usually sparse, and their holes need not be read.
  bool KnownZero(uint64_t image_offset_bytes, uint64_t length_bytes) override;

 private:
  FileImageSource() = default;
  std::string path_;
  UniqueFd fd_;
  bool seekable_ = false;
  std::vector<format::Region> regions_;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_SNAPSHOT_FORMAT_IMAGE_SOURCE_H_
