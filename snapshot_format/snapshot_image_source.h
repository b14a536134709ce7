// SnapshotImageSource: a snapshot (with its whole chain, when it is incremental) read
// back as a memory image, so that the writer can write it again: `lazysnap flatten`
// turns a chain into one standalone snapshot this way, and a snapshot can be rewritten
// with another chunk size, level or dictionary.
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_SNAPSHOT_IMAGE_SOURCE_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_SNAPSHOT_IMAGE_SOURCE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "snapshot_format/chunk_codec.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap {

// SnapshotImageSource decodes (and verifies) the chunks a read covers; it keeps the last
// chunk decoded, so sequential reads decode each chunk once. Read by one thread at a
// time, like every ImageSource; `reader` must outlive it.
class SnapshotImageSource : public ImageSource {
 public:
  static absl::StatusOr<std::unique_ptr<SnapshotImageSource>> Create(
      const SnapshotReader& reader);

  std::string name() const override { return reader_.path(); }
  std::vector<format::Region> regions() const override;
  // Read: DataLoss (naming the file and chunk) when a chunk does not decode;
  // InvalidArgument for a range outside every region.
  absl::StatusOr<size_t> Read(uint64_t image_offset_bytes, std::span<uint8_t> out) override;
  bool random_access() const override { return true; }
  // KnownZero is true when every chunk the range touches is a zero chunk.
  bool KnownZero(uint64_t image_offset_bytes, uint64_t length_bytes) override;

 private:
  SnapshotImageSource(const SnapshotReader& reader, ChunkDecoder decoder);
  // ChunkAt returns the number of the chunk holding `image_offset_bytes` and where that
  // chunk starts in the image; InvalidArgument outside every region.
  absl::StatusOr<std::pair<uint64_t, uint64_t>> ChunkAt(uint64_t image_offset_bytes) const;

  const SnapshotReader& reader_;
  ChunkDecoder decoder_;
  std::vector<uint8_t> scratch_;
  std::vector<uint8_t> decoded_;  // the last chunk decoded
  uint64_t decoded_chunk_ = UINT64_MAX;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_SNAPSHOT_FORMAT_SNAPSHOT_IMAGE_SOURCE_H_
