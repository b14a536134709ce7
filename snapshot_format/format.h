// The on-disk structures of snapshot format v1 (see FORMAT.md, which is normative):
// constants, one plain struct per structure, and an encode/decode pair for each with an
// exact encoded size. Decoders check what a structure can check on its own (magic,
// checksum, reserved bits, known enumerators); cross-structure checks live in the reader.
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_FORMAT_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_FORMAT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace lazysnap::format {

// Format version, independent of the software release. Readers reject another major and a
// newer minor (FORMAT.md, "Versioning").
inline constexpr uint16_t kMajorVersion = 1;
// The newest minor version this code reads. Writers record the lowest minor version that
// describes their file: kBaseMinorVersion (every 1.0 reader reads it) unless the file uses
// a later feature: a parent section (kParentMinorVersion, 1.1), a compressed dictionary
// section (kMinorVersionCompressedDictionary, 1.2).
inline constexpr uint16_t kMinorVersion = 2;
inline constexpr uint16_t kBaseMinorVersion = 0;
inline constexpr uint16_t kParentMinorVersion = 1;
inline constexpr uint16_t kMinorVersionCompressedDictionary = 2;

inline constexpr size_t kHeaderSizeBytes = 64;
inline constexpr size_t kTrailerSizeBytes = 64;
inline constexpr size_t kRegionEntrySizeBytes = 32;
inline constexpr size_t kSectionEntrySizeBytes = 32;
inline constexpr size_t kIndexEntrySizeBytes = 32;
// The index is checksummed in segments of this many entries, so a reader can validate
// the part it needs instead of the whole index before serving the first chunk.
inline constexpr uint64_t kIndexSegmentEntries = 2048;
inline constexpr size_t kSegmentChecksumSizeBytes = 8;

inline constexpr std::array<uint8_t, 8> kHeaderMagic = {0x89, 'L', 'Z', 'S', 'N', 'A', 'P', '\n'};
inline constexpr std::array<uint8_t, 8> kTrailerMagic = {'\n', 'P', 'A', 'N', 'S', 'Z', 'L', 0x89};

inline constexpr uint32_t kMinChunkSizeBytes = 4 << 10;
inline constexpr uint32_t kMaxChunkSizeBytes = 4 << 20;
inline constexpr uint32_t kMinPageSizeBytes = 4 << 10;
inline constexpr uint32_t kMaxPageSizeBytes = 1 << 30;

// Limits that bound what a reader allocates before it has checked a checksum.
inline constexpr uint32_t kMaxRegionCount = 1 << 20;
inline constexpr uint32_t kMaxSectionCount = 1 << 10;
inline constexpr uint64_t kMaxDictionarySizeBytes = 16 << 20;
// Incremental snapshots (1.1): a chain holds at most kMaxChainDepth + 1 snapshots.
inline constexpr uint32_t kMaxChainDepth = 31;
inline constexpr size_t kParentSectionFixedSizeBytes = 64;
inline constexpr uint32_t kMaxParentNameBytes = 4096;

// Codec of compressed chunks and of the dictionary.
enum class Codec : uint8_t { kZstd = 1 };
// Checksum algorithm of every checksum in the file.
enum class ChecksumAlgorithm : uint8_t { kXxh3_64 = 1 };

// Header: the first 64 bytes of the file; static for the whole write.
struct Header {
  uint16_t major_version = kMajorVersion;
  uint16_t minor_version = kBaseMinorVersion;  // the writer raises it to what the file needs
  uint32_t page_size_bytes = 4096;
  uint32_t chunk_size_bytes = 32 << 10;
  Codec codec = Codec::kZstd;
  ChecksumAlgorithm checksum_algorithm = ChecksumAlgorithm::kXxh3_64;
  uint32_t incompatible_flags = 0;  // no flags are defined in 1.0
  uint64_t created_unix_seconds = 0;
  std::array<uint8_t, 16> snapshot_id = {};
};

// EncodeHeader writes the header, with its checksum, into exactly kHeaderSizeBytes bytes.
void EncodeHeader(const Header& header, std::span<uint8_t, kHeaderSizeBytes> out);

// DecodeHeader checks magic, checksum, version and reserved fields. Errors name `file`:
// DataLoss (bad magic or checksum, reserved bits set), Unimplemented (newer version, flags
// or codec this reader does not know), InvalidArgument (sizes out of range).
absl::StatusOr<Header> DecodeHeader(std::span<const uint8_t, kHeaderSizeBytes> bytes,
                                    std::string_view file);

// Trailer: the last 64 bytes of the file; says where the metadata block is.
struct Trailer {
  uint64_t metadata_offset_bytes = 0;
  uint64_t metadata_length_bytes = 0;
  uint64_t image_size_bytes = 0;
  uint64_t chunk_count = 0;
  uint32_t region_count = 0;
  uint32_t section_count = 0;
  // Covers the tables: region table, section table and segment checksum table (the index
  // entries themselves are covered per segment).
  uint64_t tables_checksum = 0;
};

// IndexSegmentCount returns how many index segments `chunk_count` entries take.
constexpr uint64_t IndexSegmentCount(uint64_t chunk_count) {
  return (chunk_count + kIndexSegmentEntries - 1) / kIndexSegmentEntries;
}

// TablesSizeBytes returns the size of the tables that precede the index in the metadata
// block.
constexpr uint64_t TablesSizeBytes(uint32_t region_count, uint32_t section_count,
                                   uint64_t chunk_count) {
  return uint64_t{region_count} * kRegionEntrySizeBytes +
         uint64_t{section_count} * kSectionEntrySizeBytes +
         IndexSegmentCount(chunk_count) * kSegmentChecksumSizeBytes;
}

// EncodeTrailer writes the trailer; its checksum is seeded with `header_checksum` so a
// trailer only validates together with its own header.
void EncodeTrailer(const Trailer& trailer, uint64_t header_checksum,
                   std::span<uint8_t, kTrailerSizeBytes> out);

// DecodeTrailer checks the end magic and the checksum (DataLoss, naming `file`).
absl::StatusOr<Trailer> DecodeTrailer(std::span<const uint8_t, kTrailerSizeBytes> bytes,
                                      uint64_t header_checksum, std::string_view file);

// BytesAfterTrailer looks in `tail` (the last bytes of a file whose last 8 are not the
// end magic) for a trailer that validates with `header_checksum`, and returns how many
// bytes follow it: bytes appended after a complete snapshot. nullopt when there is none
// (the file is truncated or was not completely written).
std::optional<uint64_t> BytesAfterTrailer(std::span<const uint8_t> tail, uint64_t header_checksum);

// HeaderChecksum returns the checksum field of an encoded header (no validation).
uint64_t HeaderChecksum(std::span<const uint8_t, kHeaderSizeBytes> bytes);
// TrailerChecksum returns the checksum field of an encoded trailer (no validation).
uint64_t TrailerChecksum(std::span<const uint8_t, kTrailerSizeBytes> bytes);

// Region: one contiguous range of guest memory, stored at `image_offset_bytes` of the
// flat image. Chunks never cross a region boundary.
struct Region {
  uint64_t image_offset_bytes = 0;
  uint64_t length_bytes = 0;
  uint64_t guest_address = 0;  // where the memory was when captured (0: unknown)
  friend bool operator==(const Region&, const Region&) = default;
};

void EncodeRegion(const Region& region, std::span<uint8_t, kRegionEntrySizeBytes> out);
// DecodeRegion checks reserved fields; `index` is used in the error message.
absl::StatusOr<Region> DecodeRegion(std::span<const uint8_t, kRegionEntrySizeBytes> bytes,
                                    uint32_t index, std::string_view file);

// Section types. Unknown types are skipped unless flagged required (FORMAT.md).
enum class SectionType : uint32_t {
  kDictionary = 1,  // a zstd dictionary chunks may reference by slot
  kWorkingSet = 2,  // reserved: a recorded working set (optional)
  kParent = 3,      // the parent of an incremental snapshot (required; 1.1)
  kCompressedDictionary = 4,  // 1.2: a dictionary stored as one zstd frame (required)
};
inline constexpr uint16_t kSectionFlagRequired = 1 << 0;

// IsDictionarySection is true for the section types that hold a dictionary (stored as it
// is, or compressed).
constexpr bool IsDictionarySection(uint32_t type) {
  return type == static_cast<uint32_t>(SectionType::kDictionary) ||
         type == static_cast<uint32_t>(SectionType::kCompressedDictionary);
}

struct Section {
  uint32_t type = 0;  // a SectionType, or a type this reader does not know
  uint16_t flags = 0;
  uint8_t slot = 0;  // dictionary slot (1..255) referenced by index entries
  uint64_t offset_bytes = 0;
  uint64_t length_bytes = 0;
  uint64_t checksum = 0;  // over the section's bytes
};

void EncodeSection(const Section& section, std::span<uint8_t, kSectionEntrySizeBytes> out);
absl::StatusOr<Section> DecodeSection(std::span<const uint8_t, kSectionEntrySizeBytes> bytes,
                                      uint32_t index, std::string_view file);

// ParentReference: the payload of a parent section (1.1): which snapshot an incremental
// snapshot's kind-parent chunks come from, named by identity, and where it was.
struct ParentReference {
  std::array<uint8_t, 16> snapshot_id = {};
  uint64_t header_checksum = 0;
  uint64_t trailer_checksum = 0;
  uint64_t file_size_bytes = 0;
  uint32_t chain_depth = 0;  // of the snapshot holding the section: 1..kMaxChainDepth
  // The parent's path relative to the directory of the file holding the section (a hint;
  // empty when unknown).
  std::string name;
  friend bool operator==(const ParentReference&, const ParentReference&) = default;
};

// ParentSectionSizeBytes is the exact encoded size of `parent`.
inline size_t ParentSectionSizeBytes(const ParentReference& parent) {
  return kParentSectionFixedSizeBytes + parent.name.size();
}

// EncodeParentSection returns the payload, exactly ParentSectionSizeBytes(parent) bytes.
std::vector<uint8_t> EncodeParentSection(const ParentReference& parent);

// DecodeParentSection checks a parent section's payload on its own (length, reserved
// bytes, depth range, name rules): DataLoss naming `file` otherwise.
absl::StatusOr<ParentReference> DecodeParentSection(std::span<const uint8_t> payload,
                                                    std::string_view file);

// How a chunk is stored.
enum class ChunkKind : uint8_t {
  kZero = 0,        // all zero bytes; nothing stored
  kCompressed = 1,  // one zstd frame at `location`
  kRaw = 2,         // the bytes themselves at `location` (incompressible)
  kDuplicate = 3,   // same bytes as the earlier chunk number `location`
  kParent = 4,      // same bytes as the parent's chunk number `location` (1.1)
};
inline constexpr uint8_t kMaxChunkKind = 4;

std::string_view ChunkKindName(ChunkKind kind);

// IndexEntry: one per chunk, in image order (region by region).
struct IndexEntry {
  ChunkKind kind = ChunkKind::kZero;
  uint8_t dictionary_slot = 0;  // 0: none
  uint32_t stored_length_bytes = 0;
  // File offset (compressed, raw) or chunk number (duplicate: in this file; parent: in the
  // parent).
  uint64_t location = 0;
  uint64_t checksum = 0;  // XXH3-64 of the uncompressed chunk; 0 for zero chunks
  // XXH3-64 of the stored bytes (compressed, raw); 0 for zero, duplicate, parent chunks.
  uint64_t stored_checksum = 0;
};

void EncodeIndexEntry(const IndexEntry& entry, std::span<uint8_t, kIndexEntrySizeBytes> out);

// DecodeIndexEntryUnchecked decodes without validation; for use on an index that the
// reader has already validated as a whole.
IndexEntry DecodeIndexEntryUnchecked(const uint8_t* bytes);

// IsPowerOfTwo is true for 1, 2, 4, ...
constexpr bool IsPowerOfTwo(uint64_t value) { return value != 0 && (value & (value - 1)) == 0; }

// ChunkCountForLength returns how many chunks of `chunk_size_bytes` cover `length_bytes`.
constexpr uint64_t ChunkCountForLength(uint64_t length_bytes, uint32_t chunk_size_bytes) {
  return length_bytes / chunk_size_bytes + (length_bytes % chunk_size_bytes != 0 ? 1 : 0);
}

}  // namespace lazysnap::format

#endif  // LAZYSNAP_SNAPSHOT_FORMAT_FORMAT_H_
