// SnapshotReader: opens a snapshot and reads any chunk by number, verifying its
// checksums before returning its bytes. Every byte comes through a RandomAccessFile
// (base/random_access_file.h): a local file, an object in a store, or a test's fake.
//
// Opening reads the header, trailer and tables (regions, sections, the per-segment index
// checksums) and the dictionaries. The index itself is validated in segments of
// format::kIndexSegmentEntries entries: all of them at open by default, or, with
// OpenOptions::validate_index = false, each on first use, so that a restore can start
// after reading only the tables (time to ready independent of the image size). Either
// way no index entry is used before its segment's checksum and fields have been checked.
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_SNAPSHOT_READER_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_SNAPSHOT_READER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/random_access_file.h"
#include "snapshot_format/chunk_codec.h"
#include "snapshot_format/format.h"

namespace lazysnap {

// ChunkLocation: everything about one chunk, with duplicates resolved to the chunk that
// holds the bytes.
struct ChunkLocation {
  StoredChunk stored;             // kind is zero, compressed or raw (never duplicate)
  bool is_duplicate = false;      // the index entry was a duplicate of source_chunk
  uint64_t source_chunk = 0;      // the chunk whose stored bytes are used
  uint32_t region_index = 0;
  uint64_t image_offset_bytes = 0;   // where the chunk starts in the flat image
  uint64_t region_offset_bytes = 0;  // where it starts within its region
};

// IndexSummary: counts gathered while validating the whole index.
struct IndexSummary {
  uint64_t zero_chunks = 0;
  uint64_t compressed_chunks = 0;
  uint64_t raw_chunks = 0;
  uint64_t duplicate_chunks = 0;
  uint64_t dictionary_chunks = 0;       // compressed with a dictionary
  uint64_t stored_chunk_bytes = 0;      // sum of stored lengths (compressed + raw)
  uint64_t compressed_input_bytes = 0;  // uncompressed size of the compressed chunks
  uint64_t compressed_stored_bytes = 0;
};

struct OpenOptions {
  // Validate every index segment (and compute summary()) during Open. When false,
  // segments are validated on first use by Locate/ReadChunk, or by ValidateIndex().
  bool validate_index = true;
};

// SnapshotReader is safe to use from many threads at once: RandomAccessFile reads are
// thread-safe and lazy segment validation is internally synchronised (one thread
// validates a segment; others wait for it).
class SnapshotReader {
 public:
  // Open reads and validates the structure of the snapshot in `file`. Errors name the
  // file and the structure: InvalidArgument (not a snapshot), DataLoss (corrupt or
  // truncated), Unimplemented (newer format, unknown required section), or the file's
  // own read errors. Nothing larger than the file is ever allocated.
  static absl::StatusOr<std::unique_ptr<SnapshotReader>> Open(
      std::shared_ptr<const RandomAccessFile> file, OpenOptions options = {});
  // Open opens the local file at `path` (LocalFile::Open: NotFound / PermissionDenied /
  // InvalidArgument for a path that is not a regular file), then reads it as above.
  static absl::StatusOr<std::unique_ptr<SnapshotReader>> Open(std::string_view path,
                                                              OpenOptions options = {});
  ~SnapshotReader();

  // path is the file's name (a path or URL), for messages.
  const std::string& path() const { return file_->name(); }
  // file is where the snapshot's bytes come from; shared with readers of chunk bytes
  // (the engine's chunk source).
  const std::shared_ptr<const RandomAccessFile>& file() const { return file_; }
  const format::Header& header() const { return header_; }
  const format::Trailer& trailer() const { return trailer_; }
  std::span<const format::Region> regions() const { return regions_; }
  std::span<const format::Section> sections() const { return sections_; }
  uint64_t file_size_bytes() const { return file_size_bytes_; }
  uint64_t chunk_count() const { return trailer_.chunk_count; }
  uint32_t chunk_size_bytes() const { return header_.chunk_size_bytes; }
  uint64_t image_size_bytes() const { return trailer_.image_size_bytes; }
  // Sum of region lengths (the image may have holes between regions).
  uint64_t memory_size_bytes() const { return memory_size_bytes_; }
  // Size of the index entries (the part validated per segment).
  uint64_t index_size_bytes() const { return chunk_count() * format::kIndexEntrySizeBytes; }
  // Largest stored chunk the file can hold: buffers of this size fit any chunk.
  size_t max_stored_length_bytes() const { return MaxCompressedSize(chunk_size_bytes()); }

  // region_first_chunk returns the number of the first chunk of `region_index`
  // (region_first_chunk(regions().size()) == chunk_count()).
  uint64_t region_first_chunk(uint32_t region_index) const {
    return region_first_chunk_[region_index];
  }

  // ValidateIndex validates every segment not yet validated and every duplicate's source,
  // and computes summary(). Idempotent; returns the first error (DataLoss) found.
  absl::Status ValidateIndex() const;

  // summary is meaningful after a successful ValidateIndex (or Open with validate_index).
  const IndexSummary& summary() const { return summary_; }

  // Locate describes `chunk`, validating its index segment first if needed. OutOfRange
  // for a chunk number past the end; DataLoss for a corrupt index. Does not allocate once
  // the segment is validated. O(log regions).
  absl::StatusOr<ChunkLocation> Locate(uint64_t chunk) const;

  // dictionary returns the prepared dictionary of `slot`, or nullptr for slot 0 (index
  // validation guarantees that every slot an entry names exists).
  const DecompressionDictionary* dictionary(uint8_t slot) const {
    return slot == 0 ? nullptr : dictionaries_[slot].get();
  }

  // ReadChunk reads `chunk` into `out` (exactly its length), reading stored bytes through
  // `scratch` (grown to at most max_stored_length_bytes()) and decoding with `decoder`.
  // Zero chunks are filled with zeros. DataLoss naming the file and chunk when the stored
  // bytes cannot be read, do not decode, or fail a checksum.
  absl::Status ReadChunk(uint64_t chunk, ChunkDecoder& decoder, std::vector<uint8_t>& scratch,
                         std::span<uint8_t> out) const;

 private:
  SnapshotReader() = default;
  absl::Status ValidateLayout();
  absl::Status LoadTables();
  absl::Status ValidateRegions(const uint8_t* table);
  absl::Status LoadSections(const uint8_t* table);
  absl::Status EnsureSegment(uint64_t segment) const;
  absl::Status LoadSegment(uint64_t segment) const;
  absl::Status CheckEntry(uint64_t chunk, uint32_t region_index, uint64_t region_offset,
                          const uint8_t* bytes) const;
  uint32_t RegionOfChunk(uint64_t chunk) const;
  uint32_t ChunkLength(uint32_t region_index, uint64_t region_offset) const;
  absl::Status ChunkError(uint64_t chunk, std::string_view reason) const;

  std::shared_ptr<const RandomAccessFile> file_;
  uint64_t file_size_bytes_ = 0;
  format::Header header_;
  uint64_t header_checksum_ = 0;
  format::Trailer trailer_;
  uint64_t index_offset_bytes_ = 0;
  std::vector<format::Region> regions_;
  std::vector<uint64_t> region_first_chunk_;  // region_count + 1 entries
  std::vector<format::Section> sections_;
  std::vector<std::unique_ptr<const DecompressionDictionary>> dictionaries_;  // by slot
  std::vector<uint64_t> segment_checksums_;
  uint64_t memory_size_bytes_ = 0;

  // Lazily validated index: entries are read into `index_` one segment at a time.
  enum SegmentState : uint8_t { kUnloaded = 0, kLoading = 1, kValid = 2, kFailed = 3 };
  std::unique_ptr<uint8_t[]> index_;
  std::unique_ptr<std::atomic<uint8_t>[]> segment_state_;
  mutable std::mutex failures_mutex_;
  mutable std::map<uint64_t, absl::Status> segment_failures_;

  mutable std::mutex validate_mutex_;
  mutable bool index_validated_ = false;
  mutable absl::Status index_status_;
  mutable IndexSummary summary_;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_SNAPSHOT_FORMAT_SNAPSHOT_READER_H_
