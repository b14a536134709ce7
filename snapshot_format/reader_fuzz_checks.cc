// Shared parts of the reader's fuzz targets (reader_fuzzer: one file; chain_fuzzer: a
// chain of files): resealing a mutated snapshot so that its checksums hold, and the
// checks that make a reader contradicting itself abort.
#include "snapshot_format/reader_fuzz_checks.h"

#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "base/byte_order.h"
#include "base/checksum.h"
#include "snapshot_format/chunk_codec.h"
#include "snapshot_format/format.h"
#include "snapshot_format/image_decoder.h"

namespace lazysnap {
namespace {

// Bounds on the work one input may cause, so that a small input that describes a large
// image (thousands of 4 MiB zero chunks cost 32 bytes of index each) stays fast.
constexpr uint64_t kMaxChunksRead = 1 << 16;
constexpr uint64_t kMaxChunkBytesRead = 16 << 20;
// Bound on what the resealing harness decompresses to recompute content checksums.
constexpr uint64_t kMaxResealDecompressedBytes = 16 << 20;

}  // namespace

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fuzz target: %s\n", what.c_str());
  std::abort();
}

namespace {

// Within is true when [offset, offset + length) lies inside [0, size).
bool Within(uint64_t size, uint64_t offset, uint64_t length) {
  return offset <= size && length <= size - offset;
}

// ResealChunks recomputes the stored and content checksums of every index entry whose
// stored bytes lie inside the file, and copies a duplicate's checksum from its source.
void ResealChunks(std::vector<uint8_t>& file, uint8_t* index, uint64_t chunk_count,
                  const uint8_t* sections, uint32_t section_count) {
  static ZSTD_DCtx* const context = ZSTD_createDCtx();
  static std::vector<uint8_t>* const decompressed =
      new std::vector<uint8_t>(format::kMaxChunkSizeBytes);
  uint64_t decompress_budget = kMaxResealDecompressedBytes;
  for (uint64_t chunk = 0; chunk < chunk_count && chunk < kMaxChunksRead; ++chunk) {
    uint8_t* entry = index + chunk * format::kIndexEntrySizeBytes;
    const uint8_t kind = entry[0];
    const uint8_t slot = entry[1];
    const uint32_t stored_length = LoadLe<uint32_t>(entry + 4);
    const uint64_t location = LoadLe<uint64_t>(entry + 8);
    if (kind == static_cast<uint8_t>(format::ChunkKind::kDuplicate)) {
      if (location < chunk) {
        StoreLe<uint64_t>(entry + 16,
                          LoadLe<uint64_t>(index + location * format::kIndexEntrySizeBytes + 16));
      }
      continue;
    }
    if (kind != static_cast<uint8_t>(format::ChunkKind::kCompressed) &&
        kind != static_cast<uint8_t>(format::ChunkKind::kRaw)) {
      continue;
    }
    if (!Within(file.size(), location, stored_length)) continue;
    std::span<const uint8_t> stored(file.data() + location, stored_length);
    const uint64_t stored_checksum = Checksum64(stored);
    StoreLe<uint64_t>(entry + 24, stored_checksum);
    if (kind == static_cast<uint8_t>(format::ChunkKind::kRaw)) {
      StoreLe<uint64_t>(entry + 16, stored_checksum);
      continue;
    }
    // Compressed: the content checksum is that of whatever the frame decodes to (with
    // the dictionary its slot names, if the harness can find it).
    const void* dictionary = nullptr;
    size_t dictionary_bytes = 0;
    for (uint32_t s = 0; s < section_count && slot != 0; ++s) {
      const uint8_t* section = sections + uint64_t{s} * format::kSectionEntrySizeBytes;
      const uint64_t offset = LoadLe<uint64_t>(section + 8);
      const uint64_t length = LoadLe<uint64_t>(section + 16);
      if (LoadLe<uint32_t>(section) == static_cast<uint32_t>(format::SectionType::kDictionary) &&
          section[6] == slot && Within(file.size(), offset, length)) {
        dictionary = file.data() + offset;
        dictionary_bytes = length;
        break;
      }
    }
    const uint64_t capacity = std::min<uint64_t>(decompressed->size(), decompress_budget);
    const size_t n = ZSTD_decompress_usingDict(context, decompressed->data(), capacity,
                                               stored.data(), stored.size(), dictionary,
                                               dictionary_bytes);
    if (ZSTD_isError(n)) continue;
    decompress_budget -= n;
    StoreLe<uint64_t>(entry + 16, Checksum64({decompressed->data(), n}));
  }
}

}  // namespace

// ResealSnapshot recomputes, as far as the bytes allow, every checksum of a snapshot: chunks and
// section payloads, index segments, tables, header and trailer (in that order, since
// each covers bytes the previous steps change). Garbage stays garbage: only checksum
// fields are written.
void ResealSnapshot(std::vector<uint8_t>& file) {
  if (file.size() < format::kHeaderSizeBytes + format::kTrailerSizeBytes) return;
  uint8_t* const trailer = file.data() + file.size() - format::kTrailerSizeBytes;
  const uint64_t metadata_offset = LoadLe<uint64_t>(trailer + 0);
  const uint64_t chunk_count = LoadLe<uint64_t>(trailer + 24);
  const uint32_t region_count = LoadLe<uint32_t>(trailer + 32);
  const uint32_t section_count = LoadLe<uint32_t>(trailer + 36);
  const uint64_t metadata_end = file.size() - format::kTrailerSizeBytes;
  if (region_count <= format::kMaxRegionCount && section_count <= format::kMaxSectionCount &&
      chunk_count <= file.size() / format::kIndexEntrySizeBytes) {
    const uint64_t tables_bytes = format::TablesSizeBytes(region_count, section_count, chunk_count);
    const uint64_t index_bytes = chunk_count * format::kIndexEntrySizeBytes;
    if (Within(metadata_end, metadata_offset, tables_bytes) &&
        Within(metadata_end, metadata_offset + tables_bytes, index_bytes)) {
      uint8_t* const sections =
          file.data() + metadata_offset + uint64_t{region_count} * format::kRegionEntrySizeBytes;
      uint8_t* const segments = sections + uint64_t{section_count} * format::kSectionEntrySizeBytes;
      uint8_t* const index = file.data() + metadata_offset + tables_bytes;
      for (uint32_t s = 0; s < section_count; ++s) {
        uint8_t* section = sections + uint64_t{s} * format::kSectionEntrySizeBytes;
        const uint64_t offset = LoadLe<uint64_t>(section + 8);
        const uint64_t length = LoadLe<uint64_t>(section + 16);
        if (Within(file.size(), offset, length)) {
          StoreLe<uint64_t>(section + 24, Checksum64({file.data() + offset, length}));
        }
      }
      ResealChunks(file, index, chunk_count, sections, section_count);
      const uint64_t segment_bytes = format::kIndexSegmentEntries * format::kIndexEntrySizeBytes;
      for (uint64_t s = 0; s < format::IndexSegmentCount(chunk_count); ++s) {
        const uint64_t length = std::min(segment_bytes, index_bytes - s * segment_bytes);
        StoreLe<uint64_t>(segments + s * format::kSegmentChecksumSizeBytes,
                          Checksum64({index + s * segment_bytes, length}));
      }
      StoreLe<uint64_t>(trailer + 40, Checksum64({file.data() + metadata_offset, tables_bytes}));
    }
  }
  const uint64_t header_checksum = Checksum64({file.data(), 56});
  StoreLe<uint64_t>(file.data() + 56, header_checksum);
  StoreLe<uint64_t>(trailer + 48, Checksum64({trailer, 48}, header_checksum));
}

namespace {

void ExpectSameStatus(const absl::Status& a, const absl::Status& b, const std::string& what) {
  if (a != b) Die(absl::StrFormat("%s disagree:\n  %s\n  %s", what, a.ToString(), b.ToString()));
}

// ExerciseReader reads every chunk with ReadChunk, then decodes the image with
// DecodeImage, and checks that both agree. Skipped when the image is too large to read
// within the bounds above.
void ExerciseReader(const SnapshotReader& reader) {
  const uint64_t chunk_count = reader.chunk_count();
  if (chunk_count > kMaxChunksRead) return;
  auto past_end = reader.Locate(chunk_count);
  if (!absl::IsOutOfRange(past_end.status())) {
    Die("Locate(chunk_count) is not OutOfRange: " + past_end.status().ToString());
  }
  auto decoder = ChunkDecoder::Create();
  if (!decoder.ok()) Die(decoder.status().ToString());
  std::vector<uint8_t> scratch;
  std::vector<uint8_t> out(reader.chunk_size_bytes());
  std::vector<uint64_t> checksums(chunk_count);
  std::vector<bool> decoded(chunk_count);
  absl::Status first_failure;
  uint64_t budget = kMaxChunkBytesRead;
  for (uint64_t chunk = 0; chunk < chunk_count; ++chunk) {
    auto location = reader.Locate(chunk);
    absl::Status status = location.status();
    if (status.ok()) {
      if (location->stored.file_index >= reader.chain_length()) {
        Die(absl::StrFormat("chunk %d is stored in file %d of a chain of %d", chunk,
                            location->stored.file_index, reader.chain_length()));
      }
      const uint32_t length = location->stored.length_bytes;
      if (length > out.size()) Die(absl::StrFormat("chunk %d is longer than a chunk", chunk));
      if (length > budget) return;  // too much to read; DecodeImage would not be comparable
      budget -= length;
      std::span<uint8_t> bytes(out.data(), length);
      status = reader.ReadChunk(chunk, *decoder, scratch, bytes);
      if (status.ok()) {
        decoded[chunk] = true;
        checksums[chunk] = Checksum64(bytes);
      }
    }
    // Keep reading after a failure: later chunks exercise other paths, and a failed
    // chunk must not disturb them.
    if (!status.ok() && first_failure.ok()) first_failure = status;
  }

  // DecodeImage on one thread stops at the first failing chunk; every chunk it hands to
  // the sink must be one ReadChunk decoded, with the same bytes.
  auto summary = DecodeImage(
      reader, {.threads = 1, .include_zero_chunks = true},
      [&](const ChunkLocation& location, std::span<const uint8_t> bytes) {
        const uint64_t chunk = location.stored.chunk_number;
        if (chunk >= chunk_count || !decoded[chunk] || Checksum64(bytes) != checksums[chunk]) {
          Die(absl::StrFormat("DecodeImage and ReadChunk disagree on the bytes of chunk %d",
                              chunk));
        }
        return absl::OkStatus();
      });
  // DecodeImage adds where a failed chunk sits in the image to ReadChunk's message.
  const absl::Status decoded_status = summary.status();
  const bool same = first_failure.code() == decoded_status.code() &&
                    absl::StartsWith(decoded_status.message(), first_failure.message());
  if (!same) {
    ExpectSameStatus(first_failure, decoded_status, "ReadChunk's first failure and DecodeImage");
  }
}

}  // namespace

void CheckSnapshot(const OpenFunction& open) {
  auto eager = open(/*validate_index=*/true);
  auto lazy = open(/*validate_index=*/false);
  if (!lazy.ok()) {
    ExpectSameStatus(eager.status(), lazy.status(), "eager and lazy Open");
    return;
  }
  // Lazily opened, segments are validated by the reads themselves, out of order for
  // duplicates and parent chunks; ValidateIndex afterwards must reach the eager reader's
  // verdict.
  ExerciseReader(**lazy);
  absl::Status validated = (*lazy)->ValidateIndex();
  ExpectSameStatus(eager.status(), validated, "eager Open and lazy Open + ValidateIndex");
  if (!eager.ok()) return;
  const IndexSummary& summary = (*eager)->summary();
  if (summary.zero_chunks + summary.compressed_chunks + summary.raw_chunks +
          summary.duplicate_chunks + summary.parent_chunks !=
      (*eager)->chunk_count()) {
    Die("the index summary does not add up to the chunk count");
  }
  ExerciseReader(**eager);
}

}  // namespace lazysnap
