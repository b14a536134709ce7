// SnapshotImageSource: chunk lookups by image offset, one decoded chunk cached.
#include "snapshot_format/snapshot_image_source.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace lazysnap {

absl::StatusOr<std::unique_ptr<SnapshotImageSource>> SnapshotImageSource::Create(
    const SnapshotReader& reader) {
  LAZYSNAP_ASSIGN_OR_RETURN(ChunkDecoder decoder, ChunkDecoder::Create());
  return std::unique_ptr<SnapshotImageSource>(
      new SnapshotImageSource(reader, std::move(decoder)));
}

SnapshotImageSource::SnapshotImageSource(const SnapshotReader& reader, ChunkDecoder decoder)
    : reader_(reader), decoder_(std::move(decoder)), decoded_(reader.chunk_size_bytes()) {}

std::vector<format::Region> SnapshotImageSource::regions() const {
  return {reader_.regions().begin(), reader_.regions().end()};
}

absl::StatusOr<std::pair<uint64_t, uint64_t>> SnapshotImageSource::ChunkAt(
    uint64_t image_offset_bytes) const {
  std::span<const format::Region> regions = reader_.regions();
  auto it = std::upper_bound(regions.begin(), regions.end(), image_offset_bytes,
                             [](uint64_t offset, const format::Region& r) {
                               return offset < r.image_offset_bytes;
                             });
  if (it != regions.begin()) {
    --it;
    const uint64_t region_offset = image_offset_bytes - it->image_offset_bytes;
    if (region_offset < it->length_bytes) {
      const uint32_t chunk_size = reader_.chunk_size_bytes();
      const uint32_t region = static_cast<uint32_t>(it - regions.begin());
      return std::make_pair(reader_.region_first_chunk(region) + region_offset / chunk_size,
                            image_offset_bytes - region_offset % chunk_size);
    }
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: image offset %d is outside every region", reader_.path(), image_offset_bytes));
}

absl::StatusOr<size_t> SnapshotImageSource::Read(uint64_t image_offset_bytes,
                                                 std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    LAZYSNAP_ASSIGN_OR_RETURN(auto at, ChunkAt(image_offset_bytes + done));
    const auto [chunk, chunk_start] = at;
    LAZYSNAP_ASSIGN_OR_RETURN(const ChunkLocation location, reader_.Locate(chunk));
    const uint32_t length = location.stored.length_bytes;
    if (chunk != decoded_chunk_) {
      decoded_chunk_ = UINT64_MAX;
      LAZYSNAP_RETURN_IF_ERROR(
          reader_.ReadChunk(chunk, decoder_, scratch_, {decoded_.data(), length}));
      decoded_chunk_ = chunk;
    }
    const uint64_t in_chunk = image_offset_bytes + done - chunk_start;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(length - in_chunk, out.size() - done));
    std::memcpy(out.data() + done, decoded_.data() + in_chunk, n);
    done += n;
  }
  return done;
}

bool SnapshotImageSource::KnownZero(uint64_t image_offset_bytes, uint64_t length_bytes) {
  uint64_t at = image_offset_bytes;
  while (at < image_offset_bytes + length_bytes) {
    auto chunk = ChunkAt(at);
    if (!chunk.ok()) return false;
    auto location = reader_.Locate(chunk->first);
    if (!location.ok() || location->stored.kind != format::ChunkKind::kZero) return false;
    at = chunk->second + location->stored.length_bytes;
  }
  return true;
}

}  // namespace lazysnap
