// Snapshot format v1: field-by-field encoders and decoders (offsets as in FORMAT.md).
#include "snapshot_format/format.h"

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "base/byte_order.h"
#include "base/checksum.h"

namespace lazysnap::format {
namespace {

// Header field offsets.
constexpr size_t kHeaderMagicOffset = 0;
constexpr size_t kHeaderMajorOffset = 8;
constexpr size_t kHeaderMinorOffset = 10;
constexpr size_t kHeaderSizeOffset = 12;
constexpr size_t kHeaderPageSizeOffset = 16;
constexpr size_t kHeaderChunkSizeOffset = 20;
constexpr size_t kHeaderCodecOffset = 24;
constexpr size_t kHeaderChecksumAlgorithmOffset = 25;
constexpr size_t kHeaderReservedOffset = 26;
constexpr size_t kHeaderFlagsOffset = 28;
constexpr size_t kHeaderCreatedOffset = 32;
constexpr size_t kHeaderIdOffset = 40;
constexpr size_t kHeaderChecksumOffset = 56;

// Trailer field offsets.
constexpr size_t kTrailerMetadataOffsetOffset = 0;
constexpr size_t kTrailerMetadataLengthOffset = 8;
constexpr size_t kTrailerImageSizeOffset = 16;
constexpr size_t kTrailerChunkCountOffset = 24;
constexpr size_t kTrailerRegionCountOffset = 32;
constexpr size_t kTrailerSectionCountOffset = 36;
constexpr size_t kTrailerTablesChecksumOffset = 40;
constexpr size_t kTrailerChecksumOffset = 48;
constexpr size_t kTrailerMagicOffset = 56;

// Parent section payload offsets.
constexpr size_t kParentIdOffset = 0;
constexpr size_t kParentHeaderChecksumOffset = 16;
constexpr size_t kParentTrailerChecksumOffset = 24;
constexpr size_t kParentFileSizeOffset = 32;
constexpr size_t kParentDepthOffset = 40;
constexpr size_t kParentNameLengthOffset = 44;
constexpr size_t kParentReservedOffset = 48;

absl::Status HeaderError(std::string_view file, std::string_view reason) {
  return absl::DataLossError(absl::StrFormat("%s: header: %s", file, reason));
}

}  // namespace

void EncodeHeader(const Header& header, std::span<uint8_t, kHeaderSizeBytes> out) {
  uint8_t* p = out.data();
  std::memset(p, 0, kHeaderSizeBytes);
  std::memcpy(p + kHeaderMagicOffset, kHeaderMagic.data(), kHeaderMagic.size());
  StoreLe<uint16_t>(p + kHeaderMajorOffset, header.major_version);
  StoreLe<uint16_t>(p + kHeaderMinorOffset, header.minor_version);
  StoreLe<uint32_t>(p + kHeaderSizeOffset, kHeaderSizeBytes);
  StoreLe<uint32_t>(p + kHeaderPageSizeOffset, header.page_size_bytes);
  StoreLe<uint32_t>(p + kHeaderChunkSizeOffset, header.chunk_size_bytes);
  p[kHeaderCodecOffset] = static_cast<uint8_t>(header.codec);
  p[kHeaderChecksumAlgorithmOffset] = static_cast<uint8_t>(header.checksum_algorithm);
  StoreLe<uint16_t>(p + kHeaderReservedOffset, 0);
  StoreLe<uint32_t>(p + kHeaderFlagsOffset, header.incompatible_flags);
  StoreLe<uint64_t>(p + kHeaderCreatedOffset, header.created_unix_seconds);
  std::memcpy(p + kHeaderIdOffset, header.snapshot_id.data(), header.snapshot_id.size());
  StoreLe<uint64_t>(p + kHeaderChecksumOffset,
                    Checksum64({p, kHeaderChecksumOffset}));
}

uint64_t HeaderChecksum(std::span<const uint8_t, kHeaderSizeBytes> bytes) {
  return LoadLe<uint64_t>(bytes.data() + kHeaderChecksumOffset);
}

uint64_t TrailerChecksum(std::span<const uint8_t, kTrailerSizeBytes> bytes) {
  return LoadLe<uint64_t>(bytes.data() + kTrailerChecksumOffset);
}

absl::StatusOr<Header> DecodeHeader(std::span<const uint8_t, kHeaderSizeBytes> bytes,
                                    std::string_view file) {
  const uint8_t* p = bytes.data();
  if (!std::equal(kHeaderMagic.begin(), kHeaderMagic.end(), p + kHeaderMagicOffset)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: not a lazysnap snapshot (the first 8 bytes are not the snapshot magic)", file));
  }
  Header header;
  header.major_version = LoadLe<uint16_t>(p + kHeaderMajorOffset);
  header.minor_version = LoadLe<uint16_t>(p + kHeaderMinorOffset);
  uint32_t header_size = LoadLe<uint32_t>(p + kHeaderSizeOffset);
  bool checksum_ok = Checksum64({p, kHeaderChecksumOffset}) ==
                     LoadLe<uint64_t>(p + kHeaderChecksumOffset);
  // A header that claims v1's layout must carry a valid checksum before any other field
  // is believed, so that a flipped bit in the version reads as corruption, not as a
  // newer format. A newer major may have another layout, which this reader cannot check.
  if (header_size == kHeaderSizeBytes && !checksum_ok) {
    return HeaderError(file, "checksum mismatch (the header is corrupt)");
  }
  if (header.major_version != kMajorVersion) {
    if (header.major_version > kMajorVersion) {
      return absl::UnimplementedError(absl::StrFormat(
          "%s: format version %d.%d is newer than this reader supports (%d.%d); "
          "upgrade lazysnap",
          file, header.major_version, header.minor_version, kMajorVersion, kMinorVersion));
    }
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: format major version %d is not supported (this reader knows %d)", file,
        header.major_version, kMajorVersion));
  }
  if (header_size != kHeaderSizeBytes) {
    return HeaderError(file, absl::StrFormat("header size %d, expected %d for format 1",
                                             header_size, kHeaderSizeBytes));
  }
  if (header.minor_version > kMinorVersion) {
    return absl::UnimplementedError(absl::StrFormat(
        "%s: format version %d.%d is newer than this reader supports (%d.%d); upgrade "
        "lazysnap",
        file, header.major_version, header.minor_version, kMajorVersion, kMinorVersion));
  }
  header.page_size_bytes = LoadLe<uint32_t>(p + kHeaderPageSizeOffset);
  header.chunk_size_bytes = LoadLe<uint32_t>(p + kHeaderChunkSizeOffset);
  uint8_t codec = p[kHeaderCodecOffset];
  uint8_t checksum_algorithm = p[kHeaderChecksumAlgorithmOffset];
  uint16_t reserved = LoadLe<uint16_t>(p + kHeaderReservedOffset);
  header.incompatible_flags = LoadLe<uint32_t>(p + kHeaderFlagsOffset);
  header.created_unix_seconds = LoadLe<uint64_t>(p + kHeaderCreatedOffset);
  std::memcpy(header.snapshot_id.data(), p + kHeaderIdOffset, header.snapshot_id.size());

  if (reserved != 0) return HeaderError(file, "reserved bytes 26-27 are not zero");
  if (header.incompatible_flags != 0) {
    return absl::UnimplementedError(absl::StrFormat(
        "%s: header: incompatible feature flags 0x%x are not known to this reader", file,
        header.incompatible_flags));
  }
  if (codec != static_cast<uint8_t>(Codec::kZstd)) {
    return absl::UnimplementedError(
        absl::StrFormat("%s: header: codec %d is not known to this reader", file, codec));
  }
  header.codec = Codec::kZstd;
  if (checksum_algorithm != static_cast<uint8_t>(ChecksumAlgorithm::kXxh3_64)) {
    return absl::UnimplementedError(absl::StrFormat(
        "%s: header: checksum algorithm %d is not known to this reader", file,
        checksum_algorithm));
  }
  if (!IsPowerOfTwo(header.page_size_bytes) || header.page_size_bytes < kMinPageSizeBytes ||
      header.page_size_bytes > kMaxPageSizeBytes) {
    return HeaderError(file, absl::StrFormat("page size %d is not a power of two in "
                                             "[4 KiB, 1 GiB]",
                                             header.page_size_bytes));
  }
  if (!IsPowerOfTwo(header.chunk_size_bytes) ||
      header.chunk_size_bytes < kMinChunkSizeBytes ||
      header.chunk_size_bytes > kMaxChunkSizeBytes ||
      header.chunk_size_bytes < header.page_size_bytes) {
    return HeaderError(file, absl::StrFormat("chunk size %d is not a power of two in "
                                             "[4 KiB, 4 MiB] at least the page size %d",
                                             header.chunk_size_bytes,
                                             header.page_size_bytes));
  }
  return header;
}

void EncodeTrailer(const Trailer& trailer, uint64_t header_checksum,
                   std::span<uint8_t, kTrailerSizeBytes> out) {
  uint8_t* p = out.data();
  StoreLe<uint64_t>(p + kTrailerMetadataOffsetOffset, trailer.metadata_offset_bytes);
  StoreLe<uint64_t>(p + kTrailerMetadataLengthOffset, trailer.metadata_length_bytes);
  StoreLe<uint64_t>(p + kTrailerImageSizeOffset, trailer.image_size_bytes);
  StoreLe<uint64_t>(p + kTrailerChunkCountOffset, trailer.chunk_count);
  StoreLe<uint32_t>(p + kTrailerRegionCountOffset, trailer.region_count);
  StoreLe<uint32_t>(p + kTrailerSectionCountOffset, trailer.section_count);
  StoreLe<uint64_t>(p + kTrailerTablesChecksumOffset, trailer.tables_checksum);
  StoreLe<uint64_t>(p + kTrailerChecksumOffset,
                    Checksum64({p, kTrailerChecksumOffset}, header_checksum));
  std::memcpy(p + kTrailerMagicOffset, kTrailerMagic.data(), kTrailerMagic.size());
}

absl::StatusOr<Trailer> DecodeTrailer(std::span<const uint8_t, kTrailerSizeBytes> bytes,
                                      uint64_t header_checksum, std::string_view file) {
  const uint8_t* p = bytes.data();
  if (!std::equal(kTrailerMagic.begin(), kTrailerMagic.end(), p + kTrailerMagicOffset)) {
    return absl::DataLossError(absl::StrFormat(
        "%s: trailer: the last 8 bytes are not the end magic (the file is truncated, was "
        "not completely written, or has bytes appended after its end)",
        file));
  }
  if (Checksum64({p, kTrailerChecksumOffset}, header_checksum) !=
      LoadLe<uint64_t>(p + kTrailerChecksumOffset)) {
    return absl::DataLossError(absl::StrFormat(
        "%s: trailer: checksum mismatch (the trailer is corrupt or belongs to another "
        "header)",
        file));
  }
  Trailer trailer;
  trailer.metadata_offset_bytes = LoadLe<uint64_t>(p + kTrailerMetadataOffsetOffset);
  trailer.metadata_length_bytes = LoadLe<uint64_t>(p + kTrailerMetadataLengthOffset);
  trailer.image_size_bytes = LoadLe<uint64_t>(p + kTrailerImageSizeOffset);
  trailer.chunk_count = LoadLe<uint64_t>(p + kTrailerChunkCountOffset);
  trailer.region_count = LoadLe<uint32_t>(p + kTrailerRegionCountOffset);
  trailer.section_count = LoadLe<uint32_t>(p + kTrailerSectionCountOffset);
  trailer.tables_checksum = LoadLe<uint64_t>(p + kTrailerTablesChecksumOffset);
  return trailer;
}

std::optional<uint64_t> BytesAfterTrailer(std::span<const uint8_t> tail, uint64_t header_checksum) {
  if (tail.size() < kTrailerSizeBytes) return std::nullopt;
  // The last candidate first: the trailer closest to the end is the snapshot's.
  for (size_t end = tail.size(); end >= kTrailerSizeBytes; --end) {
    const uint8_t* trailer = tail.data() + end - kTrailerSizeBytes;
    if (!std::equal(kTrailerMagic.begin(), kTrailerMagic.end(), trailer + kTrailerMagicOffset)) {
      continue;
    }
    if (Checksum64({trailer, kTrailerChecksumOffset}, header_checksum) ==
        LoadLe<uint64_t>(trailer + kTrailerChecksumOffset)) {
      return tail.size() - end;
    }
  }
  return std::nullopt;
}

void EncodeRegion(const Region& region, std::span<uint8_t, kRegionEntrySizeBytes> out) {
  uint8_t* p = out.data();
  StoreLe<uint64_t>(p + 0, region.image_offset_bytes);
  StoreLe<uint64_t>(p + 8, region.length_bytes);
  StoreLe<uint64_t>(p + 16, region.guest_address);
  StoreLe<uint32_t>(p + 24, 0);  // flags
  StoreLe<uint32_t>(p + 28, 0);  // reserved
}

absl::StatusOr<Region> DecodeRegion(std::span<const uint8_t, kRegionEntrySizeBytes> bytes,
                                    uint32_t index, std::string_view file) {
  const uint8_t* p = bytes.data();
  if (LoadLe<uint32_t>(p + 24) != 0 || LoadLe<uint32_t>(p + 28) != 0) {
    return absl::DataLossError(absl::StrFormat(
        "%s: region %d: flags or reserved bytes are not zero", file, index));
  }
  Region region;
  region.image_offset_bytes = LoadLe<uint64_t>(p + 0);
  region.length_bytes = LoadLe<uint64_t>(p + 8);
  region.guest_address = LoadLe<uint64_t>(p + 16);
  return region;
}

void EncodeSection(const Section& section, std::span<uint8_t, kSectionEntrySizeBytes> out) {
  uint8_t* p = out.data();
  StoreLe<uint32_t>(p + 0, section.type);
  StoreLe<uint16_t>(p + 4, section.flags);
  p[6] = section.slot;
  p[7] = 0;
  StoreLe<uint64_t>(p + 8, section.offset_bytes);
  StoreLe<uint64_t>(p + 16, section.length_bytes);
  StoreLe<uint64_t>(p + 24, section.checksum);
}

absl::StatusOr<Section> DecodeSection(std::span<const uint8_t, kSectionEntrySizeBytes> bytes,
                                      uint32_t index, std::string_view file) {
  const uint8_t* p = bytes.data();
  Section section;
  section.type = LoadLe<uint32_t>(p + 0);
  section.flags = LoadLe<uint16_t>(p + 4);
  section.slot = p[6];
  section.offset_bytes = LoadLe<uint64_t>(p + 8);
  section.length_bytes = LoadLe<uint64_t>(p + 16);
  section.checksum = LoadLe<uint64_t>(p + 24);
  if (p[7] != 0 || (section.flags & ~kSectionFlagRequired) != 0) {
    return absl::DataLossError(absl::StrFormat(
        "%s: section %d: reserved bits of flags or byte 7 are not zero", file, index));
  }
  return section;
}

std::vector<uint8_t> EncodeParentSection(const ParentReference& parent) {
  std::vector<uint8_t> out(ParentSectionSizeBytes(parent), 0);
  uint8_t* p = out.data();
  std::memcpy(p + kParentIdOffset, parent.snapshot_id.data(), parent.snapshot_id.size());
  StoreLe<uint64_t>(p + kParentHeaderChecksumOffset, parent.header_checksum);
  StoreLe<uint64_t>(p + kParentTrailerChecksumOffset, parent.trailer_checksum);
  StoreLe<uint64_t>(p + kParentFileSizeOffset, parent.file_size_bytes);
  StoreLe<uint32_t>(p + kParentDepthOffset, parent.chain_depth);
  StoreLe<uint32_t>(p + kParentNameLengthOffset, static_cast<uint32_t>(parent.name.size()));
  std::memcpy(p + kParentSectionFixedSizeBytes, parent.name.data(), parent.name.size());
  return out;
}

absl::StatusOr<ParentReference> DecodeParentSection(std::span<const uint8_t> payload,
                                                    std::string_view file) {
  auto error = [&](std::string_view reason) {
    return absl::DataLossError(absl::StrFormat("%s: parent section: %s", file, reason));
  };
  if (payload.size() < kParentSectionFixedSizeBytes) {
    return error(absl::StrFormat("%d bytes, shorter than the %d-byte fixed part",
                                 payload.size(), kParentSectionFixedSizeBytes));
  }
  const uint8_t* p = payload.data();
  ParentReference parent;
  std::memcpy(parent.snapshot_id.data(), p + kParentIdOffset, parent.snapshot_id.size());
  parent.header_checksum = LoadLe<uint64_t>(p + kParentHeaderChecksumOffset);
  parent.trailer_checksum = LoadLe<uint64_t>(p + kParentTrailerChecksumOffset);
  parent.file_size_bytes = LoadLe<uint64_t>(p + kParentFileSizeOffset);
  parent.chain_depth = LoadLe<uint32_t>(p + kParentDepthOffset);
  const uint32_t name_length = LoadLe<uint32_t>(p + kParentNameLengthOffset);
  if (name_length > kMaxParentNameBytes) {
    return error(absl::StrFormat("name length %d is more than the limit %d", name_length,
                                 kMaxParentNameBytes));
  }
  if (payload.size() != kParentSectionFixedSizeBytes + name_length) {
    return error(absl::StrFormat("%d bytes, expected %d (64 + the name's %d)", payload.size(),
                                 kParentSectionFixedSizeBytes + name_length, name_length));
  }
  if (!std::all_of(p + kParentReservedOffset, p + kParentSectionFixedSizeBytes,
                   [](uint8_t b) { return b == 0; })) {
    return error("reserved bytes 48-63 are not zero");
  }
  if (parent.chain_depth < 1 || parent.chain_depth > kMaxChainDepth) {
    return error(absl::StrFormat("chain depth %d is not in [1, %d]", parent.chain_depth,
                                 kMaxChainDepth));
  }
  parent.name.assign(reinterpret_cast<const char*>(p + kParentSectionFixedSizeBytes),
                     name_length);
  if (parent.name.find('\0') != std::string::npos) return error("the name contains a NUL byte");
  if (!parent.name.empty() && parent.name[0] == '/') {
    return error("the name is an absolute path (it must be relative to the snapshot)");
  }
  return parent;
}

std::string_view ChunkKindName(ChunkKind kind) {
  switch (kind) {
    case ChunkKind::kZero: return "zero";
    case ChunkKind::kCompressed: return "compressed";
    case ChunkKind::kRaw: return "raw";
    case ChunkKind::kDuplicate: return "duplicate";
    case ChunkKind::kParent: return "parent";
  }
  return "unknown";
}

void EncodeIndexEntry(const IndexEntry& entry, std::span<uint8_t, kIndexEntrySizeBytes> out) {
  uint8_t* p = out.data();
  p[0] = static_cast<uint8_t>(entry.kind);
  p[1] = entry.dictionary_slot;
  StoreLe<uint16_t>(p + 2, 0);
  StoreLe<uint32_t>(p + 4, entry.stored_length_bytes);
  StoreLe<uint64_t>(p + 8, entry.location);
  StoreLe<uint64_t>(p + 16, entry.checksum);
  StoreLe<uint64_t>(p + 24, entry.stored_checksum);
}

IndexEntry DecodeIndexEntryUnchecked(const uint8_t* bytes) {
  IndexEntry entry;
  entry.kind = static_cast<ChunkKind>(bytes[0]);
  entry.dictionary_slot = bytes[1];
  entry.stored_length_bytes = LoadLe<uint32_t>(bytes + 4);
  entry.location = LoadLe<uint64_t>(bytes + 8);
  entry.checksum = LoadLe<uint64_t>(bytes + 16);
  entry.stored_checksum = LoadLe<uint64_t>(bytes + 24);
  return entry;
}

}  // namespace lazysnap::format
