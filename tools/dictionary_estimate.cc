// Dictionary estimates for `inspect --estimate`.
#include "tools/dictionary_estimate.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "snapshot_format/image_source.h"

namespace lazysnap::cli {
namespace {

// SnapshotImageSource reads a snapshot back as the image it was made from (decoding each
// chunk a read covers), so that the writer's sampler and trainer run on it unchanged.
class SnapshotImageSource : public ImageSource {
 public:
  explicit SnapshotImageSource(const SnapshotReader& reader, ChunkDecoder decoder)
      : reader_(reader), decoder_(std::move(decoder)), chunk_(reader.chunk_size_bytes()) {}

  std::string name() const override { return reader_.path(); }
  std::vector<format::Region> regions() const override {
    return {reader_.regions().begin(), reader_.regions().end()};
  }
  bool random_access() const override { return true; }

  bool KnownZero(uint64_t image_offset_bytes, uint64_t length_bytes) override {
    auto chunk = ChunkAt(image_offset_bytes);
    if (!chunk.ok()) return false;
    auto location = reader_.Locate(chunk->number);
    return location.ok() && location->stored.kind == format::ChunkKind::kZero &&
           chunk->offset_in_chunk == 0 && length_bytes <= location->stored.length_bytes;
  }

  absl::StatusOr<size_t> Read(uint64_t image_offset_bytes, std::span<uint8_t> out) override {
    size_t done = 0;
    while (done < out.size()) {
      auto chunk = ChunkAt(image_offset_bytes + done);
      if (!chunk.ok()) return chunk.status();
      auto location = reader_.Locate(chunk->number);
      if (!location.ok()) return location.status();
      const uint32_t length = location->stored.length_bytes;
      const size_t n = std::min<uint64_t>(out.size() - done, length - chunk->offset_in_chunk);
      if (chunk->offset_in_chunk == 0 && n == length) {
        absl::Status status =
            reader_.ReadChunk(chunk->number, decoder_, scratch_, out.subspan(done, n));
        if (!status.ok()) return status;
      } else {
        buffer_.resize(length);
        absl::Status status = reader_.ReadChunk(chunk->number, decoder_, scratch_, buffer_);
        if (!status.ok()) return status;
        std::memcpy(out.data() + done, buffer_.data() + chunk->offset_in_chunk, n);
      }
      done += n;
    }
    return done;
  }

 private:
  struct ChunkPosition {
    uint64_t number;
    uint64_t offset_in_chunk;
  };

  absl::StatusOr<ChunkPosition> ChunkAt(uint64_t image_offset) const {
    const auto regions = reader_.regions();
    for (uint32_t r = 0; r < regions.size(); ++r) {
      const format::Region& region = regions[r];
      if (image_offset >= region.image_offset_bytes &&
          image_offset - region.image_offset_bytes < region.length_bytes) {
        const uint64_t in_region = image_offset - region.image_offset_bytes;
        return ChunkPosition{reader_.region_first_chunk(r) + in_region / chunk_,
                             in_region % chunk_};
      }
    }
    return absl::OutOfRangeError(absl::StrFormat(
        "%s: image offset %d is in no region", reader_.path(), image_offset));
  }

  const SnapshotReader& reader_;
  ChunkDecoder decoder_;
  const uint64_t chunk_;
  std::vector<uint8_t> scratch_;
  std::vector<uint8_t> buffer_;
};

// Scale returns bytes * numerator / denominator, rounded.
uint64_t Scale(uint64_t bytes, uint64_t numerator, uint64_t denominator) {
  if (denominator == 0) return bytes;
  return static_cast<uint64_t>(static_cast<double>(bytes) * static_cast<double>(numerator) /
                                   static_cast<double>(denominator) +
                               0.5);
}

}  // namespace

absl::StatusOr<DictionaryEstimate> EstimateDictionary(const SnapshotReader& reader, int level,
                                                      uint64_t sample_bytes,
                                                      size_t dictionary_size_bytes) {
  auto decoder = ChunkDecoder::Create();
  if (!decoder.ok()) return decoder.status();
  SnapshotImageSource source(reader, std::move(*decoder));
  DictionaryEstimate estimate;
  estimate.level = level;
  const uint64_t chunk_data = reader.summary().stored_chunk_bytes;
  const uint64_t file = reader.file_size_bytes();

  const DecompressionDictionary* own = nullptr;
  for (const format::Section& s : reader.sections()) {
    if (format::IsDictionarySection(s.type)) {
      own = reader.dictionary(s.slot);
      break;
    }
  }
  if (own != nullptr) {
    auto dictionary = CompressionDictionary::Create(own->bytes(), level);
    if (!dictionary.ok()) return dictionary.status();
    auto sample = SampleChunks(source, reader.chunk_size_bytes(), sample_bytes);
    if (!sample.ok()) return sample.status();
    auto without = EstimateStoredBytes(*sample, level, nullptr);
    if (!without.ok()) return without.status();
    auto with = EstimateStoredBytes(*sample, level, dictionary->get());
    if (!with.ok()) return with.status();
    estimate.dictionary_bytes = own->size_bytes();
    estimate.sample_chunks = sample->count();
    estimate.sample_bytes = sample->bytes.size();
    estimate.stored_without = *without;
    estimate.stored_with = *with;
    estimate.file_bytes_with = file;
    estimate.file_bytes_without =
        file - estimate.dictionary_bytes - chunk_data + Scale(chunk_data, *without, *with);
    return estimate;
  }

  DictionaryTrainingOptions options;
  options.dictionary_size_bytes = dictionary_size_bytes;
  options.sample_bytes = sample_bytes;
  auto trained = TrainDictionary(source, reader.chunk_size_bytes(), level, options);
  if (!trained.ok()) return trained.status();
  estimate.trained = true;
  estimate.note = trained->note;
  estimate.file_bytes_without = file;
  if (trained->evaluation_bytes == 0) return estimate;  // nothing was measured
  estimate.dictionary_bytes =
      trained->dictionary != nullptr ? trained->dictionary->bytes().size() : 0;
  estimate.sample_chunks = trained->evaluation_chunks;
  estimate.sample_bytes = trained->evaluation_bytes;
  estimate.stored_without = trained->evaluation_stored_without;
  estimate.stored_with = trained->evaluation_stored_with;
  estimate.file_bytes_with = file + estimate.dictionary_bytes - chunk_data +
                             Scale(chunk_data, estimate.stored_with, estimate.stored_without);
  return estimate;
}

}  // namespace lazysnap::cli
