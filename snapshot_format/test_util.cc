// Test helpers for snapshot files.
#include "snapshot_format/test_util.h"

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <cstring>

#include "absl/strings/str_format.h"
#include "base/byte_order.h"
#include "base/checksum.h"
#include "base/file_io.h"
#include "snapshot_format/image_decoder.h"

namespace lazysnap::testing {

std::string TempPath(std::string_view name) {
  static std::atomic<int> counter{0};
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrFormat("%s/%s.%d", dir != nullptr ? dir : "/tmp", name, counter++);
}

namespace {

// RecordWords: a fixed vocabulary of 1024 pseudo-words (about 9 KiB), larger than what one
// chunk of records uses, so that a dictionary holding it pays even for large chunks.
const std::vector<std::string>& RecordWords() {
  static const std::vector<std::string>* words = [] {
    auto* result = new std::vector<std::string>();
    uint64_t state = 0x5eed;
    for (int i = 0; i < 1024; ++i) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      std::string word;
      const int length = 5 + static_cast<int>((state >> 60) % 8);
      for (int j = 0; j < length; ++j) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        word += static_cast<char>('a' + (state >> 59) % 26);
      }
      result->push_back(word);
    }
    return result;
  }();
  return *words;
}

}  // namespace

std::vector<uint8_t> MixedImage(uint64_t length, uint32_t chunk_bytes,
                                const std::vector<Fill>& pattern, uint64_t seed) {
  std::vector<uint8_t> image(length);
  uint64_t state = seed;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  int64_t first_text = -1;
  for (uint64_t start = 0, i = 0; start < length; start += chunk_bytes, ++i) {
    uint8_t* p = image.data() + start;
    size_t n = std::min<uint64_t>(chunk_bytes, length - start);
    switch (pattern[i % pattern.size()]) {
      case Fill::kZero:
        break;
      case Fill::kText:
        for (size_t j = 0; j < n; ++j) {
          p[j] = static_cast<uint8_t>("lazysnap restores memory "[(j + i) % 25] + (j % 97 == 0));
        }
        if (i % 5 == 0) p[0] = static_cast<uint8_t>(next());
        if (first_text < 0 && n == chunk_bytes) first_text = static_cast<int64_t>(start);
        break;
      case Fill::kRandom:
        for (size_t j = 0; j < n; ++j) p[j] = static_cast<uint8_t>(next() >> 24);
        break;
      case Fill::kRecords: {
        const std::vector<std::string>& words = RecordWords();
        std::string text;
        while (text.size() < n) {
          auto word = [&] { return words[next() % words.size()].c_str(); };
          text += absl::StrFormat("{id:%d,%s:%s,%s:%d.%02d,tag:%s}\n", next() % 100000, word(),
                                  word(), word(), next() % 5000, next() % 100, word());
        }
        std::memcpy(p, text.data(), n);
        break;
      }
      case Fill::kCopyOfFirstText:
        if (first_text >= 0 && n == chunk_bytes) {
          std::memcpy(p, image.data() + first_text, n);
        } else {
          std::memset(p, 'x', n);
        }
        break;
    }
  }
  return image;
}

MemoryImageSource::MemoryImageSource(std::vector<uint8_t> image,
                                     std::vector<format::Region> regions)
    : image_(std::move(image)), regions_(std::move(regions)) {}

absl::StatusOr<size_t> MemoryImageSource::Read(uint64_t image_offset_bytes,
                                               std::span<uint8_t> out) {
  if (bytes_read_ + out.size() > fail_after_bytes_) {
    return absl::UnavailableError("memory image: injected read failure");
  }
  if (image_offset_bytes > image_.size()) return 0;
  size_t n = std::min<uint64_t>(out.size(), image_.size() - image_offset_bytes);
  std::memcpy(out.data(), image_.data() + image_offset_bytes, n);
  bytes_read_ += n;
  return n;
}

absl::Status MemoryFile::ReadAt(uint64_t offset_bytes, std::span<uint8_t> out) const {
  if (offset_bytes > bytes_.size() || out.size() > bytes_.size() - offset_bytes) {
    return absl::OutOfRangeError(absl::StrFormat(
        "%s: reading %d bytes at offset %d passes the end (%d bytes)", name_, out.size(),
        offset_bytes, bytes_.size()));
  }
  std::memcpy(out.data(), bytes_.data() + offset_bytes, out.size());
  return absl::OkStatus();
}

std::vector<uint8_t> ReadFileBytes(std::string_view path) {
  auto contents = ReadFileToString(path, 1ull << 34);
  if (!contents.ok()) std::abort();
  return std::vector<uint8_t>(contents->begin(), contents->end());
}

void WriteFileBytes(std::string_view path, std::span<const uint8_t> bytes) {
  auto fd = OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC);
  if (!fd.ok() || !WriteFull(fd->get(), bytes, path).ok()) std::abort();
}

SnapshotLayout LayoutOf(std::span<const uint8_t> file) {
  SnapshotLayout layout;
  const uint8_t* t = file.data() + file.size() - format::kTrailerSizeBytes;
  layout.trailer.metadata_offset_bytes = LoadLe<uint64_t>(t + 0);
  layout.trailer.metadata_length_bytes = LoadLe<uint64_t>(t + 8);
  layout.trailer.image_size_bytes = LoadLe<uint64_t>(t + 16);
  layout.trailer.chunk_count = LoadLe<uint64_t>(t + 24);
  layout.trailer.region_count = LoadLe<uint32_t>(t + 32);
  layout.trailer.section_count = LoadLe<uint32_t>(t + 36);
  layout.trailer.tables_checksum = LoadLe<uint64_t>(t + 40);
  layout.regions_offset = layout.trailer.metadata_offset_bytes;
  layout.sections_offset =
      layout.regions_offset + uint64_t{layout.trailer.region_count} * format::kRegionEntrySizeBytes;
  layout.segments_offset = layout.sections_offset +
                           uint64_t{layout.trailer.section_count} * format::kSectionEntrySizeBytes;
  layout.index_offset =
      layout.segments_offset +
      format::IndexSegmentCount(layout.trailer.chunk_count) * format::kSegmentChecksumSizeBytes;
  return layout;
}

void Reseal(std::vector<uint8_t>& file, const format::Trailer* new_trailer) {
  // Header checksum over bytes [0, 56).
  StoreLe<uint64_t>(file.data() + 56, Checksum64({file.data(), 56}));
  const uint64_t header_checksum = LoadLe<uint64_t>(file.data() + 56);
  SnapshotLayout layout = LayoutOf(file);
  format::Trailer trailer = new_trailer != nullptr ? *new_trailer : layout.trailer;
  const uint64_t tables =
      format::TablesSizeBytes(trailer.region_count, trailer.section_count, trailer.chunk_count);
  const uint64_t segments_offset =
      trailer.metadata_offset_bytes + tables -
      format::IndexSegmentCount(trailer.chunk_count) * format::kSegmentChecksumSizeBytes;
  const uint64_t index_offset = trailer.metadata_offset_bytes + tables;
  if (index_offset + trailer.chunk_count * format::kIndexEntrySizeBytes <=
      file.size() - format::kTrailerSizeBytes) {
    const uint64_t segment_bytes = format::kIndexSegmentEntries * format::kIndexEntrySizeBytes;
    const uint64_t index_bytes = trailer.chunk_count * format::kIndexEntrySizeBytes;
    for (uint64_t s = 0; s * segment_bytes < index_bytes; ++s) {
      uint64_t n = std::min(segment_bytes, index_bytes - s * segment_bytes);
      StoreLe<uint64_t>(file.data() + segments_offset + s * format::kSegmentChecksumSizeBytes,
                        Checksum64({file.data() + index_offset + s * segment_bytes, n}));
    }
    trailer.tables_checksum = Checksum64({file.data() + trailer.metadata_offset_bytes, tables});
  }
  format::EncodeTrailer(trailer, header_checksum,
                        std::span<uint8_t, format::kTrailerSizeBytes>(
                            file.data() + file.size() - format::kTrailerSizeBytes,
                            format::kTrailerSizeBytes));
}

std::vector<uint8_t> WithExtraSection(std::vector<uint8_t> file, uint32_t type, uint16_t flags) {
  SnapshotLayout layout = LayoutOf(file);
  format::Section section;
  section.type = type;
  section.flags = flags;
  section.offset_bytes = format::kHeaderSizeBytes;
  section.length_bytes = 16;
  section.checksum = Checksum64({file.data() + section.offset_bytes, section.length_bytes});
  uint8_t entry[format::kSectionEntrySizeBytes];
  format::EncodeSection(section, entry);
  file.insert(file.begin() + layout.segments_offset, entry, entry + sizeof(entry));
  format::Trailer trailer = layout.trailer;
  trailer.section_count += 1;
  trailer.metadata_length_bytes += format::kSectionEntrySizeBytes;
  Reseal(file, &trailer);
  return file;
}

std::string RunfilesPath(std::string_view relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  std::error_code error;
  if (srcdir != nullptr) {
    std::string in_runfiles = std::string(srcdir) + "/lazysnap/" + std::string(relative);
    if (std::filesystem::exists(in_runfiles, error)) return in_runfiles;
  }
  return std::string(relative);
}

std::vector<std::string> FilesIn(const std::string& directory, std::error_code& error) {
  std::vector<std::string> files;
  for (std::filesystem::directory_iterator it(directory, error), end; !error && it != end;
       it.increment(error)) {
    if (it->is_regular_file(error)) files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::string> ValidSeeds(const std::string& directory, std::error_code& error) {
  std::vector<std::string> seeds;
  for (const std::string& file : FilesIn(directory, error)) {
    if (std::filesystem::path(file).filename().string().rfind("seed-valid_", 0) == 0) {
      seeds.push_back(file);
    }
  }
  return seeds;
}

absl::Status ReplayCorpus(const std::string& directory, int (*target)(const uint8_t*, size_t)) {
  std::error_code error;
  std::vector<std::string> files = FilesIn(directory, error);
  if (error) return absl::InternalError(absl::StrFormat("%s: %s", directory, error.message()));
  if (files.empty()) return absl::NotFoundError(directory + " holds no corpus files");
  for (const std::string& file : files) {
    std::fprintf(stderr, "replaying %s\n", file.c_str());
    auto bytes = ReadFileToString(file);
    if (!bytes.ok()) return bytes.status();
    target(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> DecodeFlatImage(const SnapshotReader& reader) {
  std::vector<uint8_t> image(reader.image_size_bytes());
  auto summary = DecodeImage(reader, {.threads = 2},
                             [&](const ChunkLocation& location, std::span<const uint8_t> bytes) {
                               std::memcpy(image.data() + location.image_offset_bytes,
                                           bytes.data(), bytes.size());
                               return absl::OkStatus();
                             });
  if (!summary.ok()) return summary.status();
  return image;
}

void PatchIndexEntry(std::vector<uint8_t>& file, uint64_t chunk,
                     const std::function<void(format::IndexEntry&)>& edit) {
  SnapshotLayout layout = LayoutOf(file);
  uint8_t* p = file.data() + layout.index_offset + chunk * format::kIndexEntrySizeBytes;
  format::IndexEntry entry = format::DecodeIndexEntryUnchecked(p);
  edit(entry);
  format::EncodeIndexEntry(entry, std::span<uint8_t, format::kIndexEntrySizeBytes>(
                                      p, format::kIndexEntrySizeBytes));
  Reseal(file);
}

namespace {

uint8_t* SectionEntry(std::vector<uint8_t>& file, uint32_t index) {
  return file.data() + LayoutOf(file).sections_offset +
         uint64_t{index} * format::kSectionEntrySizeBytes;
}

format::Section SectionAt(std::vector<uint8_t>& file, uint32_t index) {
  auto section = format::DecodeSection(
      std::span<const uint8_t, format::kSectionEntrySizeBytes>(SectionEntry(file, index),
                                                               format::kSectionEntrySizeBytes),
      index, "test");
  if (!section.ok()) std::abort();
  return *section;
}

void StoreSection(std::vector<uint8_t>& file, uint32_t index, const format::Section& section) {
  format::EncodeSection(section, std::span<uint8_t, format::kSectionEntrySizeBytes>(
                                     SectionEntry(file, index), format::kSectionEntrySizeBytes));
}

}  // namespace

void PatchSection(std::vector<uint8_t>& file, uint32_t index,
                  const std::function<void(format::Section&)>& edit) {
  format::Section section = SectionAt(file, index);
  edit(section);
  StoreSection(file, index, section);
  Reseal(file);
}

void PatchSectionPayload(std::vector<uint8_t>& file, format::SectionType type,
                         const std::function<void(std::span<uint8_t>)>& edit) {
  const uint32_t count = LayoutOf(file).trailer.section_count;
  for (uint32_t i = 0; i < count; ++i) {
    format::Section section = SectionAt(file, i);
    if (section.type != static_cast<uint32_t>(type)) continue;
    std::span<uint8_t> payload(file.data() + section.offset_bytes, section.length_bytes);
    edit(payload);
    section.checksum = Checksum64(payload);
    StoreSection(file, i, section);
    Reseal(file);
    return;
  }
  std::abort();  // the test's file has no such section
}

void PatchParentReference(std::vector<uint8_t>& file,
                          const std::function<void(format::ParentReference&)>& edit) {
  PatchSectionPayload(file, format::SectionType::kParent, [&](std::span<uint8_t> payload) {
    auto parent = format::DecodeParentSection(payload, "test");
    if (!parent.ok()) std::abort();
    edit(*parent);
    std::vector<uint8_t> encoded = format::EncodeParentSection(*parent);
    if (encoded.size() != payload.size()) std::abort();
    std::copy(encoded.begin(), encoded.end(), payload.begin());
  });
}

}  // namespace lazysnap::testing
