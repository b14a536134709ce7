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
//
// An incremental snapshot (format 1.1) is opened with its whole chain: Open asks
// OpenOptions::resolve_parent for each ancestor's file, checks that it is the snapshot
// the child names (identity, chain depth, chunk and page size) and opens it the same way,
// all before returning. Locate and ReadChunk then resolve a chunk stored as "in parent"
// to the file of the chain that holds its bytes (StoredChunk::file_index).
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_SNAPSHOT_READER_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_SNAPSHOT_READER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/random_access_file.h"
#include "snapshot_format/chunk_codec.h"
#include "snapshot_format/format.h"
#include "snapshot_format/parent_resolver.h"

namespace lazysnap {

// ChunkLocation: everything about one chunk, with duplicates and parent chunks resolved
// to the chunk that holds the bytes.
struct ChunkLocation {
  StoredChunk stored;             // kind is zero, compressed or raw; file_index says where
  bool is_duplicate = false;      // this snapshot's index entry is a duplicate
  bool in_parent = false;         // this snapshot's index entry is a parent chunk
  uint64_t parent_chunk = 0;      // in_parent: the chunk's number in the parent
  // The chunk whose stored bytes are used, numbered in the file stored.file_index.
  uint64_t source_chunk = 0;
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
  uint64_t parent_chunks = 0;           // stored in the parent (counted in no other kind)
  uint64_t dictionary_chunks = 0;       // compressed with a dictionary
  uint64_t stored_chunk_bytes = 0;      // sum of stored lengths (compressed + raw)
  uint64_t compressed_input_bytes = 0;  // uncompressed size of the compressed chunks
  uint64_t compressed_stored_bytes = 0;
};

struct OpenOptions {
  // Validate every index segment (and compute summary()) during Open, of every snapshot
  // of the chain. When false, segments are validated on first use by Locate/ReadChunk,
  // or by ValidateIndex().
  bool validate_index = true;
  // Finds the parent of an incremental snapshot, and through it every ancestor (see
  // parent_resolver.h). Open(path) uses LocalParentResolver() when this is empty;
  // Open(file) refuses an incremental snapshot without one (FailedPrecondition).
  ParentResolver resolve_parent;
};

// SnapshotReader is safe to use from many threads at once: RandomAccessFile reads are
// thread-safe and lazy segment validation is internally synchronised (one thread
// validates a segment; others wait for it).
class SnapshotReader {
 public:
  // Open reads and validates the structure of the snapshot in `file`, and of its chain
  // when it is incremental. Errors name the file and the structure: InvalidArgument (not
  // a snapshot), DataLoss (corrupt or truncated, or a broken chain), Unimplemented (newer
  // format, unknown required section), NotFound (a parent cannot be found),
  // FailedPrecondition (the file found is not the parent the child names, a cycle, no
  // resolver), or the file's own read errors. Nothing larger than the file is allocated.
  static absl::StatusOr<std::unique_ptr<SnapshotReader>> Open(
      std::shared_ptr<const RandomAccessFile> file, OpenOptions options = {});
  // Open opens the local file at `path` (LocalFile::Open: NotFound / PermissionDenied /
  // InvalidArgument for a path that is not a regular file), then reads it as above;
  // parents are found beside it (LocalParentResolver) unless options say otherwise.
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
  // header_checksum and trailer_checksum identify this file's content (a child's parent
  // section records them).
  uint64_t header_checksum() const { return header_checksum_; }
  uint64_t trailer_checksum() const { return trailer_checksum_; }

  // The chain. chain_depth is 0 for a snapshot without a parent; parent_reference is
  // what its parent section says (nullptr without one); parent is the opened parent.
  uint32_t chain_depth() const { return chain_depth_; }
  const format::ParentReference* parent_reference() const {
    return parent_reference_.has_value() ? &*parent_reference_ : nullptr;
  }
  const SnapshotReader* parent() const { return parent_.get(); }
  // chain_length is chain_depth() + 1; chain_member(0) is this snapshot, chain_member(i + 1)
  // the parent of chain_member(i). StoredChunk::file_index numbers files this way.
  uint32_t chain_length() const { return static_cast<uint32_t>(chain_.size()); }
  const SnapshotReader& chain_member(uint32_t file_index) const { return *chain_[file_index]; }
  // chain_file(i) is chain_member(i).file(): where a chunk with file_index i is read from.
  const std::shared_ptr<const RandomAccessFile>& chain_file(uint32_t file_index) const {
    return chain_[file_index]->file_;
  }

  // region_first_chunk returns the number of the first chunk of `region_index`
  // (region_first_chunk(regions().size()) == chunk_count()).
  uint64_t region_first_chunk(uint32_t region_index) const {
    return region_first_chunk_[region_index];
  }

  // ValidateIndex validates every segment not yet validated and every duplicate's source,
  // and computes summary(). Idempotent; returns the first error (DataLoss) found.
  absl::Status ValidateIndex() const;

  // summary is meaningful after a successful ValidateIndex (or Open with validate_index).
  // It counts this snapshot's own index entries (an ancestor's are in its own summary).
  const IndexSummary& summary() const { return summary_; }

  // Locate describes `chunk`, validating its index segment first if needed, and
  // following a parent chunk through the chain (validating the ancestors' segments it
  // needs). OutOfRange for a chunk number past the end; DataLoss for a corrupt index.
  // Does not allocate once the segments are validated. O(log regions) per file visited.
  absl::StatusOr<ChunkLocation> Locate(uint64_t chunk) const;

  // dictionary returns the prepared dictionary a StoredChunk's dictionary_slot names
  // (slot + 256 * file_index, see StoredChunk), or nullptr for 0. For this snapshot's own
  // chunks that is the index entry's slot. Index validation guarantees that every slot
  // an entry names exists.
  const DecompressionDictionary* dictionary(uint16_t slot) const {
    const uint32_t file_index = slot / kDictionarySlotsPerFile;
    if (slot % kDictionarySlotsPerFile == 0 || file_index >= chain_.size()) return nullptr;
    return chain_[file_index]->dictionaries_[slot % kDictionarySlotsPerFile].get();
  }

  // ReadChunk reads `chunk` into `out` (exactly its length), reading stored bytes through
  // `scratch` (grown to at most max_stored_length_bytes()) and decoding with `decoder`.
  // Zero chunks are filled with zeros. Stored bytes are read from the file of the chain
  // that holds them. DataLoss naming the file and chunk when the stored bytes cannot be
  // read, do not decode, or fail a checksum.
  absl::Status ReadChunk(uint64_t chunk, ChunkDecoder& decoder, std::vector<uint8_t>& scratch,
                         std::span<uint8_t> out) const;

 private:
  static constexpr uint32_t kDictionarySlotsPerFile = 256;

  SnapshotReader() = default;
  // OpenInChain opens `file` as a member of a chain whose snapshots below it (its child,
  // grandchild, ...) are `descendants`, and its own ancestors.
  static absl::StatusOr<std::unique_ptr<SnapshotReader>> OpenInChain(
      std::shared_ptr<const RandomAccessFile> file, const OpenOptions& options,
      std::vector<const SnapshotReader*>& descendants);
  absl::Status OpenParent(const OpenOptions& options,
                          std::vector<const SnapshotReader*>& descendants);
  absl::Status LoadParentSection(const format::Section& section, uint32_t index);
  absl::Status ValidateOwnIndex() const;
  absl::Status ValidateLayout();
  // DiagnoseTrailer refines `error` (no end magic at the end) when the file holds a valid
  // trailer followed by appended bytes.
  absl::Status DiagnoseTrailer(const absl::Status& error) const;
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
  uint64_t trailer_checksum_ = 0;
  format::Trailer trailer_;
  uint64_t index_offset_bytes_ = 0;
  std::vector<format::Region> regions_;
  std::vector<uint64_t> region_first_chunk_;  // region_count + 1 entries
  std::vector<format::Section> sections_;
  std::vector<std::unique_ptr<const DecompressionDictionary>> dictionaries_;  // by slot
  std::vector<uint64_t> segment_checksums_;
  uint64_t memory_size_bytes_ = 0;

  // The chain: this snapshot's parent section, its opened parent (owning the rest of the
  // chain) and every member from this one up ([0] == this).
  std::optional<format::ParentReference> parent_reference_;
  std::unique_ptr<SnapshotReader> parent_;
  uint32_t chain_depth_ = 0;
  std::vector<const SnapshotReader*> chain_;

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
