// SnapshotReader: structure validation at open, per-segment index validation on demand,
// then O(1) chunk access.
#include "snapshot_format/snapshot_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_format.h"
#include "base/byte_order.h"
#include "base/checksum.h"
#include "base/errno_status.h"
#include "base/file_io.h"
#include "base/status_macros.h"

namespace lazysnap {
namespace {

using format::ChunkKind;

// kSnapshotIdOffset: where the header keeps the snapshot id (FORMAT.md, "Header").
constexpr size_t kSnapshotIdOffset = 40;

std::string HexId(const std::array<uint8_t, 16>& id) {
  std::string text;
  for (uint8_t b : id) text += absl::StrFormat("%02x", b);
  return text;
}

// AddOverflows sets *sum = a + b and returns true when that overflows.
bool AddOverflows(uint64_t a, uint64_t b, uint64_t* sum) {
  return __builtin_add_overflow(a, b, sum);
}

}  // namespace

SnapshotReader::~SnapshotReader() = default;

absl::StatusOr<std::unique_ptr<SnapshotReader>> SnapshotReader::Open(std::string_view path,
                                                                     OpenOptions options) {
  LAZYSNAP_ASSIGN_OR_RETURN(std::unique_ptr<LocalFile> file, LocalFile::Open(path));
  if (!options.resolve_parent) options.resolve_parent = LocalParentResolver();
  return Open(std::shared_ptr<const RandomAccessFile>(std::move(file)), options);
}

absl::StatusOr<std::unique_ptr<SnapshotReader>> SnapshotReader::Open(
    std::shared_ptr<const RandomAccessFile> file, OpenOptions options) {
  std::vector<const SnapshotReader*> descendants;
  return OpenInChain(std::move(file), options, descendants);
}

absl::StatusOr<std::unique_ptr<SnapshotReader>> SnapshotReader::OpenInChain(
    std::shared_ptr<const RandomAccessFile> file, const OpenOptions& options,
    std::vector<const SnapshotReader*>& descendants) {
  if (file == nullptr) return absl::InvalidArgumentError("SnapshotReader::Open: no file");
  std::unique_ptr<SnapshotReader> reader(new SnapshotReader());
  reader->file_ = std::move(file);
  reader->file_size_bytes_ = reader->file_->size_bytes();
  const uint64_t size = reader->file_size_bytes_;
  const std::string& path = reader->file_->name();

  uint8_t header_bytes[format::kHeaderSizeBytes] = {};
  size_t header_read = static_cast<size_t>(std::min<uint64_t>(size, sizeof(header_bytes)));
  LAZYSNAP_RETURN_IF_ERROR(reader->file_->ReadAt(0, {header_bytes, header_read}));
  if (header_read < format::kHeaderMagic.size() ||
      !std::equal(format::kHeaderMagic.begin(), format::kHeaderMagic.end(), header_bytes)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: not a lazysnap snapshot (the file does not start with the snapshot magic)",
        path));
  }
  if (size < format::kHeaderSizeBytes + format::kTrailerSizeBytes) {
    return absl::DataLossError(absl::StrFormat(
        "%s: the file is %d bytes, too short to hold a header and a trailer (truncated)",
        path, size));
  }
  LAZYSNAP_ASSIGN_OR_RETURN(reader->header_, format::DecodeHeader(header_bytes, path));
  reader->header_checksum_ = format::HeaderChecksum(header_bytes);

  uint8_t trailer_bytes[format::kTrailerSizeBytes];
  LAZYSNAP_RETURN_IF_ERROR(
      reader->file_->ReadAt(size - format::kTrailerSizeBytes, trailer_bytes));
  auto trailer = format::DecodeTrailer(trailer_bytes, reader->header_checksum_, path);
  if (!trailer.ok()) return reader->DiagnoseTrailer(trailer.status());
  reader->trailer_ = *trailer;
  reader->trailer_checksum_ = format::TrailerChecksum(trailer_bytes);
  LAZYSNAP_RETURN_IF_ERROR(reader->ValidateLayout());
  LAZYSNAP_RETURN_IF_ERROR(reader->LoadTables());
  reader->chain_.push_back(reader.get());
  if (reader->parent_reference_.has_value()) {
    LAZYSNAP_RETURN_IF_ERROR(reader->OpenParent(options, descendants));
  }
  // A child validates its index only after its parent is open: parent chunks are checked
  // against the parent's entries.
  if (options.validate_index && descendants.empty()) {
    LAZYSNAP_RETURN_IF_ERROR(reader->ValidateIndex());
  }
  return reader;
}

absl::Status SnapshotReader::DiagnoseTrailer(const absl::Status& error) const {
  // Appended bytes (a concatenation, a download that wrote too much) leave a valid
  // trailer before them: name that rather than calling the file truncated.
  const uint64_t tail_bytes = std::min<uint64_t>(file_size_bytes_, 64 << 10);
  std::vector<uint8_t> tail(tail_bytes);
  if (!file_->ReadAt(file_size_bytes_ - tail_bytes, tail).ok()) return error;
  const std::optional<uint64_t> extra = format::BytesAfterTrailer(tail, header_checksum_);
  if (!extra.has_value()) return error;
  return absl::DataLossError(absl::StrFormat(
      "%s: %d byte%s appended after the snapshot, whose trailer ends at offset %d (the "
      "file is %d bytes); the snapshot itself looks complete",
      path(), *extra, *extra == 1 ? " was" : "s were", file_size_bytes_ - *extra,
      file_size_bytes_));
}

absl::Status SnapshotReader::OpenParent(const OpenOptions& options,
                                        std::vector<const SnapshotReader*>& descendants) {
  const format::ParentReference& ref = *parent_reference_;
  const std::string id = HexId(ref.snapshot_id);
  const std::string where =
      ref.name.empty() ? std::string("no name recorded")
                       : absl::StrFormat("recorded as \"%s\"", ref.name);
  // A cycle: the parent named is this snapshot or one below it in the chain. Valid files
  // cannot form one (a parent's identity is fixed before its child is written), so this
  // is a crafted or damaged file, or two snapshots given the same id.
  for (const SnapshotReader* member : descendants) {
    if (member->header_.snapshot_id == ref.snapshot_id) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: the chain has a cycle: its parent section names snapshot id %s, which is "
          "%s, a snapshot below it in the chain",
          path(), id, member->path()));
    }
  }
  if (header_.snapshot_id == ref.snapshot_id) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: the chain has a cycle: its parent section names its own snapshot id %s", path(),
        id));
  }
  if (!options.resolve_parent) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: an incremental snapshot (parent snapshot id %s, %s), and no parent resolver "
        "was given to find its parent",
        path(), id, where));
  }
  auto found = options.resolve_parent(*file_, ref);
  if (!found.ok()) {
    return absl::Status(found.status().code(),
                        absl::StrFormat("%s: its parent snapshot (id %s, %s) cannot be found: %s",
                                        path(), id, where, found.status().message()));
  }
  std::shared_ptr<const RandomAccessFile> parent_file = std::move(*found);
  if (parent_file == nullptr) {
    return absl::NotFoundError(absl::StrFormat(
        "%s: its parent snapshot (id %s, %s) cannot be found: the resolver returned no file",
        path(), id, where));
  }

  // Identity first, from the candidate's two ends alone: opening a file that is not the
  // parent would report that file's own troubles (its own missing parent, say) instead
  // of the one that matters.
  auto not_the_parent = [&](std::string_view reason) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is not the parent of %s (which names snapshot id %s, %s): %s; the parent was "
        "replaced, rewritten, or another file was given",
        parent_file->name(), path(), id, where, reason));
  };
  const uint64_t candidate_size = parent_file->size_bytes();
  if (candidate_size < format::kHeaderSizeBytes + format::kTrailerSizeBytes) {
    return not_the_parent(absl::StrFormat("it is %d bytes, too short to be a snapshot",
                                          candidate_size));
  }
  uint8_t header_bytes[format::kHeaderSizeBytes];
  uint8_t trailer_bytes[format::kTrailerSizeBytes];
  LAZYSNAP_RETURN_IF_ERROR(parent_file->ReadAt(0, header_bytes));
  LAZYSNAP_RETURN_IF_ERROR(
      parent_file->ReadAt(candidate_size - format::kTrailerSizeBytes, trailer_bytes));
  std::array<uint8_t, 16> candidate_id;
  std::memcpy(candidate_id.data(), header_bytes + kSnapshotIdOffset, candidate_id.size());
  if (candidate_id != ref.snapshot_id) {
    return not_the_parent(absl::StrFormat("its snapshot id is %s", HexId(candidate_id)));
  }
  if (candidate_size != ref.file_size_bytes) {
    return not_the_parent(absl::StrFormat(
        "it has the same snapshot id, but it is %d bytes, the parent was %d", candidate_size,
        ref.file_size_bytes));
  }
  if (format::HeaderChecksum(header_bytes) != ref.header_checksum ||
      format::TrailerChecksum(trailer_bytes) != ref.trailer_checksum) {
    return not_the_parent(absl::StrFormat(
        "it has the same snapshot id, but its header or trailer checksum (%016x, %016x) "
        "differs from the parent's (%016x, %016x)",
        format::HeaderChecksum(header_bytes), format::TrailerChecksum(trailer_bytes),
        ref.header_checksum, ref.trailer_checksum));
  }

  descendants.push_back(this);
  auto parent = OpenInChain(std::move(parent_file), options, descendants);
  descendants.pop_back();
  if (!parent.ok()) {
    // The parent's own message names the parent's file; say whose parent it is.
    return absl::Status(parent.status().code(),
                        absl::StrFormat("%s: its parent: %s", path(), parent.status().message()));
  }
  const SnapshotReader& p = **parent;
  auto broken_chain = [&](std::string_view reason) {
    return absl::DataLossError(absl::StrFormat("%s: broken chain: its parent %s %s", path(),
                                               p.path(), reason));
  };
  if (p.chain_depth_ + 1 != ref.chain_depth) {
    return broken_chain(absl::StrFormat("has chain depth %d, this snapshot says %d (expected %d)",
                                        p.chain_depth_, ref.chain_depth, ref.chain_depth - 1));
  }
  if (p.header_.chunk_size_bytes != header_.chunk_size_bytes ||
      p.header_.page_size_bytes != header_.page_size_bytes) {
    return broken_chain(absl::StrFormat(
        "has chunk size %d and page size %d, this snapshot %d and %d",
        p.header_.chunk_size_bytes, p.header_.page_size_bytes, header_.chunk_size_bytes,
        header_.page_size_bytes));
  }
  chain_depth_ = ref.chain_depth;
  parent_ = std::move(*parent);
  chain_.insert(chain_.end(), parent_->chain_.begin(), parent_->chain_.end());
  return absl::OkStatus();
}

absl::Status SnapshotReader::ValidateLayout() {
  const format::Trailer& t = trailer_;
  auto layout_error = [&](std::string_view reason) {
    return absl::DataLossError(absl::StrFormat("%s: trailer: %s", path(), reason));
  };
  uint64_t metadata_end;
  if (t.metadata_offset_bytes < format::kHeaderSizeBytes ||
      AddOverflows(t.metadata_offset_bytes, t.metadata_length_bytes, &metadata_end) ||
      metadata_end != file_size_bytes_ - format::kTrailerSizeBytes) {
    return layout_error(absl::StrFormat(
        "metadata block at offset %d length %d does not end where the trailer starts "
        "(file size %d)",
        t.metadata_offset_bytes, t.metadata_length_bytes, file_size_bytes_));
  }
  if (t.region_count > format::kMaxRegionCount) {
    return layout_error(absl::StrFormat("%d regions, more than the limit %d", t.region_count,
                                        format::kMaxRegionCount));
  }
  if (t.section_count > format::kMaxSectionCount) {
    return layout_error(absl::StrFormat("%d sections, more than the limit %d",
                                        t.section_count, format::kMaxSectionCount));
  }
  // Bound the chunk count by the metadata length before multiplying with it.
  if (t.chunk_count > t.metadata_length_bytes / format::kIndexEntrySizeBytes ||
      format::TablesSizeBytes(t.region_count, t.section_count, t.chunk_count) +
              t.chunk_count * format::kIndexEntrySizeBytes !=
          t.metadata_length_bytes) {
    return layout_error(absl::StrFormat(
        "metadata length %d does not match %d regions, %d sections and %d chunks",
        t.metadata_length_bytes, t.region_count, t.section_count, t.chunk_count));
  }
  index_offset_bytes_ = t.metadata_offset_bytes +
                        format::TablesSizeBytes(t.region_count, t.section_count, t.chunk_count);
  return absl::OkStatus();
}

absl::Status SnapshotReader::LoadTables() {
  const format::Trailer& t = trailer_;
  const uint64_t tables_size = index_offset_bytes_ - t.metadata_offset_bytes;
  std::vector<uint8_t> tables(tables_size);  // bounded by the file size (ValidateLayout)
  absl::Status read = file_->ReadAt(t.metadata_offset_bytes, tables);
  if (!read.ok()) {
    return absl::DataLossError(
        absl::StrFormat("%s: tables unreadable: %s", path(), read.message()));
  }
  if (Checksum64(tables) != t.tables_checksum) {
    return absl::DataLossError(absl::StrFormat(
        "%s: tables (region table, section table and index segment checksums, %d bytes at "
        "offset %d): checksum mismatch",
        path(), tables_size, t.metadata_offset_bytes));
  }
  const uint8_t* p = tables.data();
  LAZYSNAP_RETURN_IF_ERROR(ValidateRegions(p));
  p += uint64_t{t.region_count} * format::kRegionEntrySizeBytes;
  LAZYSNAP_RETURN_IF_ERROR(LoadSections(p));
  p += uint64_t{t.section_count} * format::kSectionEntrySizeBytes;
  const uint64_t segments = format::IndexSegmentCount(t.chunk_count);
  segment_checksums_.resize(segments);
  for (uint64_t s = 0; s < segments; ++s) {
    segment_checksums_[s] = LoadLe<uint64_t>(p + s * format::kSegmentChecksumSizeBytes);
  }
  // Both are bounded by the file size. new[] leaves the pages untouched until segments
  // are loaded, so a large index costs nothing until it is used.
  index_.reset(new uint8_t[t.chunk_count * format::kIndexEntrySizeBytes]);
  segment_state_.reset(new std::atomic<uint8_t>[segments]);
  for (uint64_t s = 0; s < segments; ++s) segment_state_[s].store(kUnloaded);
  return absl::OkStatus();
}

absl::Status SnapshotReader::ValidateRegions(const uint8_t* table) {
  const uint32_t count = trailer_.region_count;
  regions_.reserve(count);
  region_first_chunk_.reserve(count + 1);
  uint64_t previous_end = 0;
  uint64_t chunks = 0;
  for (uint32_t i = 0; i < count; ++i) {
    LAZYSNAP_ASSIGN_OR_RETURN(
        format::Region region,
        format::DecodeRegion(std::span<const uint8_t, format::kRegionEntrySizeBytes>(
                                 table + uint64_t{i} * format::kRegionEntrySizeBytes,
                                 format::kRegionEntrySizeBytes),
                             i, path()));
    auto region_error = [&](std::string_view reason) {
      return absl::DataLossError(absl::StrFormat(
          "%s: region %d (image offset %d, length %d): %s", path(), i,
          region.image_offset_bytes, region.length_bytes, reason));
    };
    uint64_t end;
    if (region.length_bytes == 0) return region_error("empty region");
    if (AddOverflows(region.image_offset_bytes, region.length_bytes, &end)) {
      return region_error("offset + length overflows");
    }
    if (region.image_offset_bytes % header_.page_size_bytes != 0) {
      return region_error(absl::StrFormat("offset is not a multiple of the page size %d",
                                          header_.page_size_bytes));
    }
    if (region.image_offset_bytes < previous_end) {
      return region_error("overlaps or precedes the previous region");
    }
    previous_end = end;
    region_first_chunk_.push_back(chunks);
    chunks += format::ChunkCountForLength(region.length_bytes, header_.chunk_size_bytes);
    memory_size_bytes_ += region.length_bytes;
    regions_.push_back(region);
  }
  region_first_chunk_.push_back(chunks);
  if (chunks != trailer_.chunk_count) {
    return absl::DataLossError(absl::StrFormat("%s: the regions hold %d chunks but the index has %d",
                                               path(), chunks, trailer_.chunk_count));
  }
  if (previous_end != trailer_.image_size_bytes) {
    return absl::DataLossError(absl::StrFormat(
        "%s: the regions end at %d but the trailer says the image is %d bytes", path(),
        previous_end, trailer_.image_size_bytes));
  }
  return absl::OkStatus();
}

absl::Status SnapshotReader::LoadSections(const uint8_t* table) {
  dictionaries_.resize(256);
  for (uint32_t i = 0; i < trailer_.section_count; ++i) {
    LAZYSNAP_ASSIGN_OR_RETURN(
        format::Section section,
        format::DecodeSection(std::span<const uint8_t, format::kSectionEntrySizeBytes>(
                                  table + uint64_t{i} * format::kSectionEntrySizeBytes,
                                  format::kSectionEntrySizeBytes),
                              i, path()));
    auto section_error = [&](std::string_view reason) {
      return absl::DataLossError(
          absl::StrFormat("%s: section %d (type %d, offset %d, length %d): %s", path(), i,
                          section.type, section.offset_bytes, section.length_bytes, reason));
    };
    uint64_t end;
    if (section.offset_bytes < format::kHeaderSizeBytes ||
        AddOverflows(section.offset_bytes, section.length_bytes, &end) ||
        end > trailer_.metadata_offset_bytes) {
      return section_error("lies outside the data area of the file");
    }
    const bool required = (section.flags & format::kSectionFlagRequired) != 0;
    switch (static_cast<format::SectionType>(section.type)) {
      case format::SectionType::kDictionary: {
        if (section.slot == 0 || dictionaries_[section.slot] != nullptr) {
          return section_error(
              absl::StrFormat("dictionary slot %d is 0 or used twice", section.slot));
        }
        if (!required) return section_error("a dictionary section must be flagged required");
        if (section.length_bytes == 0 ||
            section.length_bytes > format::kMaxDictionarySizeBytes) {
          return section_error(absl::StrFormat("dictionary length is not in [1, %d]",
                                               format::kMaxDictionarySizeBytes));
        }
        std::vector<uint8_t> bytes(section.length_bytes);
        absl::Status read = file_->ReadAt(section.offset_bytes, bytes);
        if (!read.ok()) return section_error(std::string(read.message()));
        if (Checksum64(bytes) != section.checksum) {
          return section_error("dictionary checksum mismatch (the dictionary is corrupt)");
        }
        auto dictionary = DecompressionDictionary::Create(bytes);
        if (!dictionary.ok()) return section_error(std::string(dictionary.status().message()));
        dictionaries_[section.slot] = std::move(*dictionary);
        break;
      }
      case format::SectionType::kCompressedDictionary: {
        // Format 1.2. Everything a dictionary section must be, plus: the file says 1.2,
        // and the payload is one zstd frame whose recorded content size is within the
        // dictionary limit (checked before the dictionary is allocated).
        if (header_.minor_version < format::kMinorVersionCompressedDictionary) {
          return section_error(absl::StrFormat(
              "a compressed dictionary section in a format %d.%d file (it needs 1.%d)",
              header_.major_version, header_.minor_version,
              format::kMinorVersionCompressedDictionary));
        }
        if (section.slot == 0 || dictionaries_[section.slot] != nullptr) {
          return section_error(
              absl::StrFormat("dictionary slot %d is 0 or used twice", section.slot));
        }
        if (!required) return section_error("a dictionary section must be flagged required");
        const uint64_t max_stored = MaxCompressedSize(format::kMaxDictionarySizeBytes);
        if (section.length_bytes == 0 || section.length_bytes > max_stored) {
          return section_error(absl::StrFormat(
              "compressed dictionary length is not in [1, %d]", max_stored));
        }
        std::vector<uint8_t> bytes(section.length_bytes);
        absl::Status read = file_->ReadAt(section.offset_bytes, bytes);
        if (!read.ok()) return section_error(std::string(read.message()));
        if (Checksum64(bytes) != section.checksum) {
          return section_error("dictionary checksum mismatch (the dictionary is corrupt)");
        }
        auto dictionary = DecompressionDictionary::CreateFromCompressed(
            bytes, format::kMaxDictionarySizeBytes);
        if (!dictionary.ok()) return section_error(std::string(dictionary.status().message()));
        dictionaries_[section.slot] = std::move(*dictionary);
        break;
      }
      case format::SectionType::kParent:
        if (!required) return section_error("a parent section must be flagged required");
        LAZYSNAP_RETURN_IF_ERROR(LoadParentSection(section, i));
        break;
      default:
        if (required) {
          return absl::UnimplementedError(absl::StrFormat(
              "%s: section %d has type %d, which this reader does not know and which the "
              "writer marked required; upgrade lazysnap",
              path(), i, section.type));
        }
        // Optional sections a reader does not use (a working set, or a type added later)
        // are skipped without being read.
        break;
    }
    sections_.push_back(section);
  }
  return absl::OkStatus();
}

absl::Status SnapshotReader::LoadParentSection(const format::Section& section, uint32_t index) {
  auto section_error = [&](std::string_view reason) {
    return absl::DataLossError(absl::StrFormat("%s: section %d (parent): %s", path(), index,
                                               reason));
  };
  if (header_.minor_version < format::kParentMinorVersion) {
    return section_error(absl::StrFormat(
        "a parent section requires format 1.%d, the header says 1.%d",
        format::kParentMinorVersion, header_.minor_version));
  }
  if (parent_reference_.has_value()) return section_error("a second parent section");
  if (section.slot != 0) return section_error(absl::StrFormat("slot %d is not 0", section.slot));
  // Bounded before anything is allocated for it.
  if (section.length_bytes < format::kParentSectionFixedSizeBytes ||
      section.length_bytes > format::kParentSectionFixedSizeBytes + format::kMaxParentNameBytes) {
    return section_error(absl::StrFormat("length %d is not in [%d, %d]", section.length_bytes,
                                         format::kParentSectionFixedSizeBytes,
                                         format::kParentSectionFixedSizeBytes +
                                             format::kMaxParentNameBytes));
  }
  std::vector<uint8_t> bytes(section.length_bytes);
  absl::Status read = file_->ReadAt(section.offset_bytes, bytes);
  if (!read.ok()) return section_error(std::string(read.message()));
  if (Checksum64(bytes) != section.checksum) {
    return section_error("checksum mismatch (the parent section is corrupt)");
  }
  LAZYSNAP_ASSIGN_OR_RETURN(format::ParentReference parent,
                            format::DecodeParentSection(bytes, path()));
  parent_reference_ = std::move(parent);
  return absl::OkStatus();
}

uint32_t SnapshotReader::RegionOfChunk(uint64_t chunk) const {
  // region_first_chunk_ is sorted; the region holding `chunk` is the last one starting at
  // or before it.
  auto it = std::upper_bound(region_first_chunk_.begin(), region_first_chunk_.end() - 1, chunk);
  return static_cast<uint32_t>(it - region_first_chunk_.begin()) - 1;
}

uint32_t SnapshotReader::ChunkLength(uint32_t region_index, uint64_t region_offset) const {
  return static_cast<uint32_t>(std::min<uint64_t>(
      header_.chunk_size_bytes, regions_[region_index].length_bytes - region_offset));
}

absl::Status SnapshotReader::ChunkError(uint64_t chunk, std::string_view reason) const {
  const uint32_t r = RegionOfChunk(chunk);
  return absl::DataLossError(absl::StrFormat(
      "%s: chunk %d (region %d, image offset %d): index entry: %s", path(), chunk, r,
      regions_[r].image_offset_bytes +
          (chunk - region_first_chunk_[r]) * header_.chunk_size_bytes,
      reason));
}

absl::Status SnapshotReader::EnsureSegment(uint64_t segment) const {
  std::atomic<uint8_t>& state = segment_state_[segment];
  while (true) {
    uint8_t current = state.load(std::memory_order_acquire);
    if (current == kValid) return absl::OkStatus();
    if (current == kFailed) {
      std::lock_guard<std::mutex> lock(failures_mutex_);
      return segment_failures_.at(segment);
    }
    if (current == kUnloaded &&
        state.compare_exchange_strong(current, kLoading, std::memory_order_acq_rel)) {
      absl::Status status = LoadSegment(segment);
      if (!status.ok()) {
        std::lock_guard<std::mutex> lock(failures_mutex_);
        segment_failures_[segment] = status;
        state.store(kFailed, std::memory_order_release);
        return status;
      }
      state.store(kValid, std::memory_order_release);
      return absl::OkStatus();
    }
    // Another thread is loading this segment (tens of microseconds): let it finish.
    std::this_thread::yield();
  }
}

absl::Status SnapshotReader::LoadSegment(uint64_t segment) const {
  const uint64_t first = segment * format::kIndexSegmentEntries;
  const uint64_t count = std::min(format::kIndexSegmentEntries, chunk_count() - first);
  uint8_t* bytes = index_.get() + first * format::kIndexEntrySizeBytes;
  std::span<uint8_t> span(bytes, count * format::kIndexEntrySizeBytes);
  absl::Status read =
      file_->ReadAt(index_offset_bytes_ + first * format::kIndexEntrySizeBytes, span);
  if (!read.ok()) {
    return absl::DataLossError(absl::StrFormat("%s: index segment %d unreadable: %s", path(),
                                               segment, read.message()));
  }
  if (Checksum64(span) != segment_checksums_[segment]) {
    return absl::DataLossError(absl::StrFormat(
        "%s: index segment %d (chunks %d to %d): checksum mismatch", path(), segment, first,
        first + count - 1));
  }
  uint32_t region = RegionOfChunk(first);
  for (uint64_t chunk = first; chunk < first + count; ++chunk) {
    while (chunk >= region_first_chunk_[region + 1]) ++region;
    const uint64_t region_offset =
        (chunk - region_first_chunk_[region]) * header_.chunk_size_bytes;
    LAZYSNAP_RETURN_IF_ERROR(CheckEntry(chunk, region, region_offset,
                                        bytes + (chunk - first) * format::kIndexEntrySizeBytes));
  }
  return absl::OkStatus();
}

// CheckEntry validates everything about one entry that does not involve another entry.
absl::Status SnapshotReader::CheckEntry(uint64_t chunk, uint32_t region_index,
                                        uint64_t region_offset, const uint8_t* bytes) const {
  const uint32_t length = ChunkLength(region_index, region_offset);
  if (bytes[2] != 0 || bytes[3] != 0) return ChunkError(chunk, "reserved bytes are not zero");
  if (bytes[0] > format::kMaxChunkKind) {
    return ChunkError(chunk, absl::StrFormat("unknown chunk kind %d", bytes[0]));
  }
  const format::IndexEntry e = format::DecodeIndexEntryUnchecked(bytes);
  if (e.kind != ChunkKind::kCompressed && e.dictionary_slot != 0) {
    return ChunkError(chunk, "only compressed chunks may name a dictionary");
  }
  auto check_stored_range = [&]() -> absl::Status {
    uint64_t end;
    if (e.location < format::kHeaderSizeBytes ||
        AddOverflows(e.location, e.stored_length_bytes, &end) ||
        end > trailer_.metadata_offset_bytes) {
      return ChunkError(chunk, absl::StrFormat(
                                   "stored bytes at offset %d length %d lie outside the data "
                                   "area [%d, %d)",
                                   e.location, e.stored_length_bytes, format::kHeaderSizeBytes,
                                   trailer_.metadata_offset_bytes));
    }
    return absl::OkStatus();
  };
  switch (e.kind) {
    case ChunkKind::kZero:
      if (e.stored_length_bytes != 0 || e.location != 0 || e.checksum != 0 ||
          e.stored_checksum != 0) {
        return ChunkError(chunk, "a zero chunk must have length, location and checksums 0");
      }
      return absl::OkStatus();
    case ChunkKind::kCompressed:
      if (e.stored_length_bytes == 0 || e.stored_length_bytes > MaxCompressedSize(length)) {
        return ChunkError(chunk, absl::StrFormat(
                                     "compressed length %d is not in [1, %d] (the compress "
                                     "bound of %d bytes)",
                                     e.stored_length_bytes, MaxCompressedSize(length), length));
      }
      if (e.dictionary_slot != 0 && dictionaries_[e.dictionary_slot] == nullptr) {
        return ChunkError(chunk, absl::StrFormat("names dictionary slot %d, which no section "
                                                 "provides",
                                                 e.dictionary_slot));
      }
      return check_stored_range();
    case ChunkKind::kRaw:
      if (e.stored_length_bytes != length) {
        return ChunkError(chunk, absl::StrFormat("raw length %d, expected the chunk length %d",
                                                 e.stored_length_bytes, length));
      }
      if (e.stored_checksum != e.checksum) {
        return ChunkError(chunk, "a raw chunk's two checksums must be equal");
      }
      return check_stored_range();
    case ChunkKind::kDuplicate:
      if (e.stored_length_bytes != 0 || e.stored_checksum != 0 || e.location >= chunk) {
        return ChunkError(chunk, absl::StrFormat(
                                     "a duplicate must have length and stored checksum 0 and "
                                     "name an earlier chunk (names %d)",
                                     e.location));
      }
      return absl::OkStatus();
    case ChunkKind::kParent:
      if (parent_ == nullptr) {
        return ChunkError(chunk, "a parent chunk in a snapshot without a parent section");
      }
      if (e.stored_length_bytes != 0 || e.stored_checksum != 0) {
        return ChunkError(chunk, "a parent chunk must have length and stored checksum 0");
      }
      if (e.location >= parent_->chunk_count()) {
        return ChunkError(chunk, absl::StrFormat("names chunk %d of its parent %s, which has "
                                                 "%d chunks",
                                                 e.location, parent_->path(),
                                                 parent_->chunk_count()));
      }
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::StatusOr<ChunkLocation> SnapshotReader::Locate(uint64_t chunk) const {
  if (chunk >= chunk_count()) {
    return absl::OutOfRangeError(
        absl::StrFormat("%s: chunk %d does not exist (%d chunks)", path(), chunk, chunk_count()));
  }
  LAZYSNAP_RETURN_IF_ERROR(EnsureSegment(chunk / format::kIndexSegmentEntries));
  const uint32_t region_index = RegionOfChunk(chunk);
  const format::Region& region = regions_[region_index];
  const uint64_t region_offset =
      (chunk - region_first_chunk_[region_index]) * header_.chunk_size_bytes;

  ChunkLocation location;
  location.region_index = region_index;
  location.region_offset_bytes = region_offset;
  location.image_offset_bytes = region.image_offset_bytes + region_offset;
  location.source_chunk = chunk;
  const uint32_t length = ChunkLength(region_index, region_offset);
  format::IndexEntry e =
      format::DecodeIndexEntryUnchecked(index_.get() + chunk * format::kIndexEntrySizeBytes);
  if (e.kind == ChunkKind::kDuplicate) {
    // The source's own fields were checked with its segment; what is left to check is
    // that it can stand in for this chunk.
    LAZYSNAP_RETURN_IF_ERROR(EnsureSegment(e.location / format::kIndexSegmentEntries));
    const format::IndexEntry source = format::DecodeIndexEntryUnchecked(
        index_.get() + e.location * format::kIndexEntrySizeBytes);
    if (source.kind != ChunkKind::kCompressed && source.kind != ChunkKind::kRaw) {
      return ChunkError(chunk, absl::StrFormat(
                                   "duplicate of chunk %d, which is %s (must be compressed or raw)",
                                   e.location, format::ChunkKindName(source.kind)));
    }
    const uint32_t source_region = RegionOfChunk(e.location);
    const uint32_t source_length = ChunkLength(
        source_region,
        (e.location - region_first_chunk_[source_region]) * header_.chunk_size_bytes);
    if (source.checksum != e.checksum || source_length != length) {
      return ChunkError(chunk, absl::StrFormat(
                                   "duplicate of chunk %d, whose length or checksum differs",
                                   e.location));
    }
    location.is_duplicate = true;
    location.source_chunk = e.location;
    e = source;
  } else if (e.kind == ChunkKind::kParent) {
    // The entry's own fields were checked with its segment; what is left to check is
    // that the parent's chunk can stand in for this one. Chains are at most
    // kMaxChainDepth deep, so this recursion is bounded.
    auto in_parent = parent_->Locate(e.location);
    if (!in_parent.ok()) {
      return absl::Status(in_parent.status().code(),
                          absl::StrFormat("%s: chunk %d is stored in its parent: %s", path(),
                                          chunk, in_parent.status().message()));
    }
    if (in_parent->stored.kind == ChunkKind::kZero) {
      return ChunkError(chunk, absl::StrFormat("names chunk %d of its parent %s, which is zero "
                                               "(zeros are stored as a zero chunk)",
                                               e.location, parent_->path()));
    }
    if (in_parent->stored.length_bytes != length || in_parent->stored.checksum != e.checksum) {
      return ChunkError(chunk, absl::StrFormat("names chunk %d of its parent %s, whose length "
                                               "or checksum differs",
                                               e.location, parent_->path()));
    }
    location.in_parent = true;
    location.parent_chunk = e.location;
    location.source_chunk = in_parent->source_chunk;
    location.stored = in_parent->stored;
    location.stored.chunk_number = chunk;
    location.stored.file_index += 1;
    if (location.stored.dictionary_slot != 0) {
      location.stored.dictionary_slot += kDictionarySlotsPerFile;
    }
    return location;
  }
  StoredChunk& stored = location.stored;
  stored.chunk_number = chunk;
  stored.kind = e.kind;
  stored.file_offset_bytes = e.location;
  stored.stored_length_bytes = e.stored_length_bytes;
  stored.length_bytes = length;
  stored.checksum = e.checksum;
  stored.stored_checksum = e.stored_checksum;
  stored.dictionary_slot = e.dictionary_slot;
  return location;
}

absl::Status SnapshotReader::ValidateIndex() const {
  // The ancestors first, so that an error in a parent is reported as the parent's (and
  // every member's summary() is meaningful once the child's is).
  if (parent_ != nullptr) {
    absl::Status parent = parent_->ValidateIndex();
    if (!parent.ok()) {
      return absl::Status(parent.code(),
                          absl::StrFormat("%s: its parent: %s", path(), parent.message()));
    }
  }
  return ValidateOwnIndex();
}

absl::Status SnapshotReader::ValidateOwnIndex() const {
  std::lock_guard<std::mutex> lock(validate_mutex_);
  if (index_validated_) return index_status_;
  IndexSummary summary;
  absl::Status status;
  for (uint64_t chunk = 0; chunk < chunk_count() && status.ok(); ++chunk) {
    auto location = Locate(chunk);
    if (!location.ok()) {
      status = location.status();
      break;
    }
    const StoredChunk& stored = location->stored;
    if (location->is_duplicate) {
      ++summary.duplicate_chunks;
      continue;
    }
    if (location->in_parent) {
      ++summary.parent_chunks;
      continue;
    }
    switch (stored.kind) {
      case ChunkKind::kZero:
        ++summary.zero_chunks;
        break;
      case ChunkKind::kCompressed:
        ++summary.compressed_chunks;
        summary.dictionary_chunks += stored.dictionary_slot != 0 ? 1 : 0;
        summary.compressed_input_bytes += stored.length_bytes;
        summary.compressed_stored_bytes += stored.stored_length_bytes;
        summary.stored_chunk_bytes += stored.stored_length_bytes;
        break;
      case ChunkKind::kRaw:
        ++summary.raw_chunks;
        summary.stored_chunk_bytes += stored.stored_length_bytes;
        break;
      case ChunkKind::kDuplicate:
      case ChunkKind::kParent:
        break;
    }
  }
  index_validated_ = true;
  index_status_ = status;
  if (status.ok()) summary_ = summary;
  return status;
}

absl::Status SnapshotReader::ReadChunk(uint64_t chunk, ChunkDecoder& decoder,
                                       std::vector<uint8_t>& scratch,
                                       std::span<uint8_t> out) const {
  LAZYSNAP_ASSIGN_OR_RETURN(const ChunkLocation location, Locate(chunk));
  const StoredChunk& stored = location.stored;
  if (out.size() != stored.length_bytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: chunk %d is %d bytes, the buffer %d", path(), chunk, stored.length_bytes, out.size()));
  }
  if (stored.kind == ChunkKind::kZero) {
    std::memset(out.data(), 0, out.size());
    return absl::OkStatus();
  }
  std::span<uint8_t> stored_bytes;
  if (stored.kind == ChunkKind::kRaw) {
    stored_bytes = out;  // verified in place
  } else {
    if (scratch.size() < stored.stored_length_bytes) scratch.resize(stored.stored_length_bytes);
    stored_bytes = std::span<uint8_t>(scratch.data(), stored.stored_length_bytes);
  }
  // A chunk stored in an ancestor is read from, and named after, the ancestor's file.
  const SnapshotReader& holder = *chain_[stored.file_index];
  const std::string where =
      stored.file_index == 0 ? path() : absl::StrFormat("%s (stored in %s)", path(), holder.path());
  absl::Status read = holder.file_->ReadAt(stored.file_offset_bytes, stored_bytes);
  if (!read.ok()) {
    return absl::DataLossError(absl::StrFormat("%s: chunk %d: reading %d bytes at offset %d: %s",
                                               where, chunk, stored.stored_length_bytes,
                                               stored.file_offset_bytes, read.message()));
  }
  return decoder.Decode(stored, stored_bytes, out, dictionary(stored.dictionary_slot), where);
}

}  // namespace lazysnap
