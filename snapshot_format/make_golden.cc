// make_golden: writes the golden snapshots of snapshot_format/testdata/golden/ (valid
// files and must-fail variants, checked by golden_test) and the seed inputs
// ("seed-*") of snapshot_format/testdata/fuzz_corpus/ (replayed by
// reader_fuzzer_corpus_test and used to start reader_fuzzer).
//
//   tools/bazel run //snapshot_format:make_golden -- "$PWD/snapshot_format/testdata/golden"
//       "$PWD/snapshot_format/testdata/fuzz_corpus"   (one command line)
//
//   (a third directory, snapshot_format/testdata/chain_fuzz_corpus, also writes the chain
//   fuzz target's seeds: each file of a chain together with its ancestors)
//
// The output does not depend on the time or on randomness (creation time and snapshot id
// are fixed), only on the writer and zstd. It prints, for each valid file, the image size
// and XXH3 that golden_test expects. Regenerating the golden files is a deliberate act
// (see testdata/golden/README.md): they exist to show that files written earlier still
// read the same.
#include <zdict.h>
#include <zstd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "base/byte_order.h"
#include "base/checksum.h"
#include "base/status_macros.h"
#include "snapshot_format/chunk_codec.h"
#include "snapshot_format/format.h"
#include "snapshot_format/chain_fuzz_input.h"
#include "snapshot_format/parent_resolver.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/snapshot_writer.h"
#include "snapshot_format/test_util.h"

namespace lazysnap {
namespace {

constexpr uint32_t kChunkBytes = 4096;
// Fixed so that regenerating writes the same bytes: 2026-11-28T00:00:00Z.
constexpr uint64_t kCreatedUnixSeconds = 1795824000;

// Image: a flat memory image (holes between regions are zero) and its regions.
struct Image {
  std::vector<uint8_t> bytes;
  std::vector<format::Region> regions;
};

// TextBytes: `length` bytes that look like the text-heavy memory of a process (they
// compress well and share phrases, so a dictionary helps); `seed` varies the numbers.
std::vector<uint8_t> TextBytes(size_t length, uint64_t seed) {
  static constexpr const char* kWords[] = {"restore", "page",  "fault",   "region", "chunk",
                                           "memory",  "guest", "lazily",  "touch",  "index",
                                           "zstd",    "frame", "segment", "slot",   "image"};
  std::string text;
  uint64_t state = seed * 0x9e3779b97f4a7c15ull + 1;
  while (text.size() < length) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    text += absl::StrFormat("%08x lazysnap %s %s at 0x%x: %s\n", state & 0xffffffff,
                            kWords[state % 15], kWords[(state >> 8) % 15], (state >> 16) & 0xfffff,
                            kWords[(state >> 32) % 15]);
  }
  return std::vector<uint8_t>(text.begin(), text.begin() + length);
}

std::vector<uint8_t> RandomBytes(size_t length, uint64_t seed) {
  std::vector<uint8_t> bytes(length);
  uint64_t state = seed * 0x9e3779b97f4a7c15ull + 1;
  for (uint8_t& b : bytes) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    b = static_cast<uint8_t>(state >> 24);
  }
  return bytes;
}

void Put(Image& image, uint64_t image_offset, const std::vector<uint8_t>& bytes) {
  std::memcpy(image.bytes.data() + image_offset, bytes.data(), bytes.size());
}

// MixedImage: every chunk kind in two regions with a hole between them and a short last
// chunk. Region 0 (chunks 0-2): text, zero, a copy of chunk 0 (duplicate). Region 1 at
// 20 KiB (chunks 3-4): other text, then 300 random bytes (raw, short).
Image MixedImage() {
  Image image;
  image.bytes.resize(5 * kChunkBytes + kChunkBytes + 300);
  image.regions = {{0, 3 * kChunkBytes, 0x100000}, {5 * kChunkBytes, kChunkBytes + 300, 0x200000}};
  std::vector<uint8_t> text = TextBytes(kChunkBytes, 1);
  Put(image, 0, text);
  Put(image, 2 * kChunkBytes, text);
  Put(image, 5 * kChunkBytes, TextBytes(kChunkBytes, 2));
  Put(image, 6 * kChunkBytes, RandomBytes(300, 3));
  return image;
}

// DictionaryImage: one region of text chunks and a zero chunk, for a dictionary.
Image DictionaryImage() {
  Image image;
  image.bytes.resize(4 * kChunkBytes);
  image.regions = {{0, 4 * kChunkBytes, 0}};
  Put(image, 0, TextBytes(kChunkBytes, 10));
  Put(image, kChunkBytes, TextBytes(kChunkBytes, 11));
  Put(image, 3 * kChunkBytes, TextBytes(kChunkBytes, 12));
  return image;
}

// MultiSegmentImage: two chunks more than one index segment holds, so that the index has
// two segments; chunk 2048 is text and chunk 2049 (both in segment 1) duplicates chunk 0
// (segment 0); all others are zero.
Image MultiSegmentImage() {
  const uint64_t chunks = format::kIndexSegmentEntries + 2;
  Image image;
  image.bytes.resize(chunks * kChunkBytes);
  image.regions = {{0, chunks * kChunkBytes, 0}};
  std::vector<uint8_t> text = TextBytes(kChunkBytes, 20);
  Put(image, 0, text);
  Put(image, format::kIndexSegmentEntries * kChunkBytes, TextBytes(kChunkBytes, 21));
  Put(image, (chunks - 1) * kChunkBytes, text);
  return image;
}

// Images of incremental snapshots (format 1.1), each an edit of its parent's image.
// ChildImage (parent MixedImage): chunk 0 rewritten; chunk 2 still holds the parent's old
// chunk 0 (a duplicate in the parent); chunks 3 and 4 unchanged.
Image ChildImage(const Image& mixed) {
  Image image = mixed;
  Put(image, 0, TextBytes(kChunkBytes, 30));
  return image;
}

// GrandchildImage (parent ChildImage): chunk 1 (zero before) now text, chunk 3 zeroed;
// chunk 0 comes from the child, chunks 2 and 4 from the root.
Image GrandchildImage(const Image& child) {
  Image image = child;
  Put(image, kChunkBytes, TextBytes(kChunkBytes, 31));
  Put(image, 5 * kChunkBytes, std::vector<uint8_t>(kChunkBytes, 0));
  return image;
}

// DictionaryChildImage (parent DictionaryImage): chunks 1 (zero before) and 3 rewritten,
// compressed with a dictionary of the child's own; chunk 0 stays with the parent's.
Image DictionaryChildImage(const Image& dictionary_image) {
  Image image = dictionary_image;
  Put(image, kChunkBytes, TextBytes(kChunkBytes, 13));
  Put(image, 3 * kChunkBytes, TextBytes(kChunkBytes, 14));
  return image;
}

// TrainDictionary trains a small zstd dictionary on text like the dictionary image's;
// `first_seed` varies the samples (so that two dictionaries differ).
absl::StatusOr<std::shared_ptr<const CompressionDictionary>> TrainDictionary(
    uint64_t first_seed = 100) {
  std::vector<uint8_t> samples;
  std::vector<size_t> sample_sizes;
  for (uint64_t seed = first_seed; seed < first_seed + 200; ++seed) {
    std::vector<uint8_t> sample = TextBytes(1024, seed);
    samples.insert(samples.end(), sample.begin(), sample.end());
    sample_sizes.push_back(sample.size());
  }
  std::vector<uint8_t> dictionary(2048);
  size_t n = ZDICT_trainFromBuffer(dictionary.data(), dictionary.size(), samples.data(),
                                   sample_sizes.data(), static_cast<unsigned>(sample_sizes.size()));
  if (ZDICT_isError(n)) {
    return absl::InternalError(
        absl::StrFormat("ZDICT_trainFromBuffer: %s", ZDICT_getErrorName(n)));
  }
  dictionary.resize(n);
  return CompressionDictionary::Create(dictionary, kDefaultCompressionLevel);
}

// Snapshot ids: 16 bytes counting up from a first byte; every 1.0 golden file has 0xa0
// (they were written before chains existed), each member of a chain its own.
constexpr uint8_t kRootId = 0xa0;
constexpr uint8_t kChildId = 0xb0;
constexpr uint8_t kGrandchildId = 0xc0;
constexpr uint8_t kDictionaryChildId = 0xd0;

// Write writes `image` as a snapshot and returns the file's bytes, with the creation
// time and snapshot id (from `id`) fixed and the checksums resealed.
absl::StatusOr<std::vector<uint8_t>> Write(const Image& image, WriterOptions options,
                                           uint8_t id = kRootId) {
  options.chunk_size_bytes = kChunkBytes;
  options.page_size_bytes = 4096;
  options.threads = 1;
  testing::MemoryImageSource source(image.bytes, image.regions);
  const std::string path = testing::TempPath("make_golden");
  LAZYSNAP_RETURN_IF_ERROR(WriteSnapshot(source, path, options).status());
  std::vector<uint8_t> file = testing::ReadFileBytes(path);
  if (std::remove(path.c_str()) != 0) {
    return absl::InternalError(absl::StrFormat("cannot remove %s", path));
  }
  StoreLe<uint64_t>(file.data() + 32, kCreatedUnixSeconds);
  for (size_t i = 0; i < 16; ++i) file[40 + i] = static_cast<uint8_t>(id + i);
  testing::Reseal(file);
  return file;
}

// WriteChild writes `image` as a child of the snapshot `parent` (file bytes, opened in
// memory; its own parents are found among `ancestors`), recording `parent_name`.
absl::StatusOr<std::vector<uint8_t>> WriteChild(
    const Image& image, const std::vector<uint8_t>& parent, std::string parent_name, uint8_t id,
    WriterOptions options = {}, std::vector<std::vector<uint8_t>> ancestors = {}) {
  std::vector<std::shared_ptr<const RandomAccessFile>> files;
  for (std::vector<uint8_t>& ancestor : ancestors) {
    files.push_back(std::make_shared<testing::MemoryFile>("ancestor", std::move(ancestor)));
  }
  LAZYSNAP_ASSIGN_OR_RETURN(
      std::unique_ptr<SnapshotReader> reader,
      SnapshotReader::Open(std::make_shared<testing::MemoryFile>(parent_name, parent),
                           {.resolve_parent = ParentSearchList(std::move(files))}));
  options.parent = reader.get();
  options.parent_name = std::move(parent_name);
  return Write(image, options, id);
}

// SectionIndex returns the index of the first section of `type` in `file`.
uint32_t SectionIndex(const std::vector<uint8_t>& file, format::SectionType type) {
  testing::SnapshotLayout layout = testing::LayoutOf(file);
  for (uint32_t i = 0; i < layout.trailer.section_count; ++i) {
    const uint8_t* entry = file.data() + layout.sections_offset + i * format::kSectionEntrySizeBytes;
    if (LoadLe<uint32_t>(entry) == static_cast<uint32_t>(type)) return i;
  }
  std::abort();
}


// FirstSection decodes section 0 of `file`.
format::Section FirstSection(const std::vector<uint8_t>& file) {
  testing::SnapshotLayout layout = testing::LayoutOf(file);
  return format::DecodeSection(std::span<const uint8_t, format::kSectionEntrySizeBytes>(
                                   file.data() + layout.sections_offset,
                                   format::kSectionEntrySizeBytes),
                               0, "golden")
      .value();
}

// IndexEntryAt decodes index entry `chunk` of `file`.
format::IndexEntry IndexEntryAt(const std::vector<uint8_t>& file, uint64_t chunk) {
  testing::SnapshotLayout layout = testing::LayoutOf(file);
  return format::DecodeIndexEntryUnchecked(file.data() + layout.index_offset +
                                           chunk * format::kIndexEntrySizeBytes);
}

// WithStoredBytes makes `stored` the stored bytes of `chunk`: they are appended to the
// data area (moving the metadata block back), the index entry is pointed at them with
// their length and checksum, and the file is resealed.
std::vector<uint8_t> WithStoredBytes(std::vector<uint8_t> file, uint64_t chunk,
                                     const std::vector<uint8_t>& stored) {
  testing::SnapshotLayout layout = testing::LayoutOf(file);
  const uint64_t location = layout.trailer.metadata_offset_bytes;
  file.insert(file.begin() + location, stored.begin(), stored.end());
  format::Trailer trailer = layout.trailer;
  trailer.metadata_offset_bytes += stored.size();
  testing::Reseal(file, &trailer);
  testing::PatchIndexEntry(file, chunk, [&](format::IndexEntry& e) {
    e.location = location;
    e.stored_length_bytes = static_cast<uint32_t>(stored.size());
    e.stored_checksum = Checksum64(stored);
  });
  return file;
}

// WithDictionaryPayload replaces section 0's payload with `payload`: it is appended to
// the data area (moving the metadata block back), the section entry is pointed at it
// with its length and checksum, and the file is resealed.
std::vector<uint8_t> WithDictionaryPayload(std::vector<uint8_t> file,
                                           const std::vector<uint8_t>& payload) {
  testing::SnapshotLayout layout = testing::LayoutOf(file);
  const uint64_t location = layout.trailer.metadata_offset_bytes;
  file.insert(file.begin() + location, payload.begin(), payload.end());
  format::Trailer trailer = layout.trailer;
  trailer.metadata_offset_bytes += payload.size();
  testing::Reseal(file, &trailer);
  layout = testing::LayoutOf(file);
  format::Section section = FirstSection(file);
  section.offset_bytes = location;
  section.length_bytes = payload.size();
  section.checksum = Checksum64(payload);
  format::EncodeSection(section, std::span<uint8_t, format::kSectionEntrySizeBytes>(
                                     file.data() + layout.sections_offset,
                                     format::kSectionEntrySizeBytes));
  testing::Reseal(file);
  return file;
}

// TwoFrames compresses the two halves of `bytes` as two zstd frames, one after the other.
absl::StatusOr<std::vector<uint8_t>> TwoFrames(std::span<const uint8_t> bytes) {
  LAZYSNAP_ASSIGN_OR_RETURN(ChunkCompressor compressor,
                            ChunkCompressor::Create(kDefaultCompressionLevel));
  std::vector<uint8_t> out;
  const size_t half = bytes.size() / 2;
  for (std::span<const uint8_t> part : {bytes.first(half), bytes.subspan(half)}) {
    std::vector<uint8_t> frame(MaxCompressedSize(part.size()));
    LAZYSNAP_ASSIGN_OR_RETURN(size_t n, compressor.Compress(part, frame, nullptr));
    out.insert(out.end(), frame.begin(), frame.begin() + n);
  }
  return out;
}

struct Output {
  std::string name;
  std::vector<uint8_t> bytes;
  const Image* image = nullptr;  // set for valid files
  // Whether the file is also a fuzz seed. A large file that only repeats what a smaller
  // seed holds would only slow the fuzzer down.
  bool fuzz_seed = true;
  // For files of a chain: the rest of the chain, root last (names of other outputs), so
  // that the chain fuzz target gets the whole chain as one input.
  std::vector<std::string> ancestors;
};

struct Images {
  Image mixed = MixedImage();
  Image dictionary = DictionaryImage();
  Image multi_segment = MultiSegmentImage();
  Image child = ChildImage(mixed);
  Image grandchild = GrandchildImage(child);
  Image dictionary_child = DictionaryChildImage(dictionary);
};

// MakeChains adds the 1.1 files: valid chains and every rule of a child broken once.
absl::Status MakeChains(const Images& images, const std::vector<uint8_t>& valid_mixed,
                        const std::vector<uint8_t>& valid_dictionary, std::vector<Output>& out) {
  LAZYSNAP_ASSIGN_OR_RETURN(std::vector<uint8_t> valid_child,
                            WriteChild(images.child, valid_mixed, "valid_mixed.lzs", kChildId));
  LAZYSNAP_ASSIGN_OR_RETURN(
      std::vector<uint8_t> valid_grandchild,
      WriteChild(images.grandchild, valid_child, "valid_child.lzs", kGrandchildId, {},
                 {valid_mixed}));
  LAZYSNAP_ASSIGN_OR_RETURN(auto other_dictionary, TrainDictionary(/*first_seed=*/300));
  WriterOptions own_dictionary;
  own_dictionary.dictionary = other_dictionary;
  LAZYSNAP_ASSIGN_OR_RETURN(std::vector<uint8_t> valid_dictionary_child,
                            WriteChild(images.dictionary_child, valid_dictionary,
                                       "valid_dictionary.lzs", kDictionaryChildId, own_dictionary));
  const std::vector<std::string> child_chain = {"valid_mixed.lzs"};
  out.push_back({"valid_child.lzs", valid_child, &images.child, true, child_chain});
  out.push_back({"valid_grandchild.lzs", valid_grandchild, &images.grandchild, true,
                 {"valid_child.lzs", "valid_mixed.lzs"}});
  out.push_back({"valid_dictionary_child.lzs", valid_dictionary_child, &images.dictionary_child,
                 true, {"valid_dictionary.lzs"}});

  // Finding the parent: valid_child's content, recording other names.
  auto child_named = [&](std::string name, std::string parent_name) -> absl::Status {
    LAZYSNAP_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                              WriteChild(images.child, valid_mixed, parent_name, kChildId));
    out.push_back({std::move(name), std::move(bytes), nullptr, true, child_chain});
    return absl::OkStatus();
  };
  LAZYSNAP_RETURN_IF_ERROR(child_named("child_parent_missing.lzs", "missing_parent.lzs"));
  const std::vector<uint8_t> orphan = out.back().bytes;
  // Another snapshot (another id) where the parent should be.
  LAZYSNAP_RETURN_IF_ERROR(child_named("child_parent_replaced.lzs", "valid_grandchild.lzs"));
  // valid_unknown_optional_section has valid_mixed's id and chunks, but other tables: the
  // parent rewritten. valid_minor_version_1 has its id and size, but another header.
  LAZYSNAP_RETURN_IF_ERROR(
      child_named("child_parent_rewritten.lzs", "valid_unknown_optional_section.lzs"));
  LAZYSNAP_RETURN_IF_ERROR(
      child_named("child_parent_header_differs.lzs", "valid_minor_version_1.lzs"));
  // A middle link whose own parent is missing.
  LAZYSNAP_ASSIGN_OR_RETURN(std::vector<uint8_t> grandchild_of_orphan,
                            WriteChild(images.grandchild, orphan, "child_parent_missing.lzs",
                                       kGrandchildId, {}, {valid_mixed}));
  out.push_back({"grandchild_of_orphan.lzs", std::move(grandchild_of_orphan), nullptr, true,
                 {"child_parent_missing.lzs"}});

  auto variant = [&](std::string name, const std::function<void(std::vector<uint8_t>&)>& edit) {
    std::vector<uint8_t> bytes = valid_child;
    edit(bytes);
    out.push_back({std::move(name), std::move(bytes), nullptr, true, child_chain});
  };
  // The parent section.
  variant("child_cycle.lzs", [](auto& f) {
    testing::PatchParentReference(f, [](format::ParentReference& p) {
      for (size_t i = 0; i < 16; ++i) p.snapshot_id[i] = static_cast<uint8_t>(kChildId + i);
    });
  });
  variant("child_chain_depth_wrong.lzs", [](auto& f) {
    testing::PatchParentReference(f, [](format::ParentReference& p) { p.chain_depth = 2; });
  });
  variant("child_chain_depth_beyond_limit.lzs", [](auto& f) {
    testing::PatchParentReference(
        f, [](format::ParentReference& p) { p.chain_depth = format::kMaxChainDepth + 1; });
  });
  variant("child_minor_version_0.lzs", [](auto& f) {
    StoreLe<uint16_t>(f.data() + 10, format::kBaseMinorVersion);
    testing::Reseal(f);
  });
  variant("child_parent_section_reserved.lzs", [](auto& f) {
    testing::PatchSectionPayload(f, format::SectionType::kParent,
                                 [](std::span<uint8_t> payload) { payload[48] = 1; });
  });
  variant("child_parent_name_absolute.lzs", [](auto& f) {
    testing::PatchSectionPayload(f, format::SectionType::kParent,
                                 [](std::span<uint8_t> payload) { payload[64] = '/'; });
  });
  variant("child_parent_section_not_required.lzs", [](auto& f) {
    testing::PatchSection(f, SectionIndex(f, format::SectionType::kParent),
                          [](format::Section& section) { section.flags = 0; });
  });
  variant("child_two_parent_sections.lzs", [](auto& f) {
    f = testing::WithExtraSection(f, static_cast<uint32_t>(format::SectionType::kParent),
                                  format::kSectionFlagRequired);
  });
  // Parent chunks: chunk 3 of valid_child is one (the parent's compressed chunk 3).
  variant("child_parent_chunk_checksum_differs.lzs", [](auto& f) {
    testing::PatchIndexEntry(f, 3, [](format::IndexEntry& e) { e.checksum ^= 1; });
  });
  variant("child_parent_chunk_out_of_range.lzs", [](auto& f) {
    testing::PatchIndexEntry(f, 3, [](format::IndexEntry& e) { e.location = 5; });
  });
  variant("child_parent_chunk_is_zero.lzs", [](auto& f) {
    testing::PatchIndexEntry(f, 3, [](format::IndexEntry& e) { e.location = 1; });
  });
  variant("child_parent_chunk_stored_length.lzs", [](auto& f) {
    testing::PatchIndexEntry(f, 3, [](format::IndexEntry& e) { e.stored_length_bytes = 1; });
  });
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Output>> MakeAll(const Images& images) {
  const Image& mixed = images.mixed;
  const Image& dictionary_image = images.dictionary;
  const Image& multi_segment = images.multi_segment;
  std::vector<Output> out;
  LAZYSNAP_ASSIGN_OR_RETURN(std::vector<uint8_t> valid_mixed, Write(mixed, {}));
  LAZYSNAP_ASSIGN_OR_RETURN(auto dictionary, TrainDictionary());
  WriterOptions with_dictionary;
  with_dictionary.dictionary = dictionary;
  LAZYSNAP_ASSIGN_OR_RETURN(std::vector<uint8_t> valid_dictionary,
                            Write(dictionary_image, with_dictionary));
  WriterOptions with_compressed_dictionary = with_dictionary;
  with_compressed_dictionary.dictionary_storage = WriterOptions::DictionaryStorage::kCompressed;
  LAZYSNAP_ASSIGN_OR_RETURN(std::vector<uint8_t> valid_compressed_dictionary,
                            Write(dictionary_image, with_compressed_dictionary));
  LAZYSNAP_ASSIGN_OR_RETURN(std::vector<uint8_t> valid_multi_segment, Write(multi_segment, {}));
  static const Image kEmpty;
  LAZYSNAP_ASSIGN_OR_RETURN(std::vector<uint8_t> valid_empty, Write(kEmpty, {}));

  out.push_back({"valid_mixed.lzs", valid_mixed, &mixed});
  out.push_back({"valid_dictionary.lzs", valid_dictionary, &dictionary_image});
  out.push_back({"valid_compressed_dictionary.lzs", valid_compressed_dictionary,
                 &dictionary_image});
  out.push_back({"valid_multi_segment.lzs", valid_multi_segment, &multi_segment});
  out.push_back({"valid_empty.lzs", valid_empty, &kEmpty});
  out.push_back({"valid_unknown_optional_section.lzs",
                 testing::WithExtraSection(valid_mixed, 1000, 0), &mixed});

  auto variant = [&](std::string name, const std::vector<uint8_t>& base,
                     const std::function<void(std::vector<uint8_t>&)>& edit) {
    std::vector<uint8_t> bytes = base;
    edit(bytes);
    out.push_back({std::move(name), std::move(bytes), nullptr});
  };
  // Header.
  variant("bad_header_checksum.lzs", valid_mixed, [](auto& f) { f[32] ^= 0x01; });
  variant("not_a_snapshot.lzs", valid_mixed, [](auto& f) { f[1] = 'X'; });
  variant("newer_major_version.lzs", valid_mixed, [](auto& f) {
    StoreLe<uint16_t>(f.data() + 8, format::kMajorVersion + 1);
    testing::Reseal(f);
  });
  variant("older_major_version.lzs", valid_mixed, [](auto& f) {
    StoreLe<uint16_t>(f.data() + 8, 0);
    testing::Reseal(f);
  });
  // Format 1.1 without a parent section: what 1.0 files are, under a newer number.
  out.push_back({"valid_minor_version_1.lzs", valid_mixed, &mixed});
  StoreLe<uint16_t>(out.back().bytes.data() + 10, format::kParentMinorVersion);
  testing::Reseal(out.back().bytes);
  variant("newer_minor_version.lzs", valid_mixed, [](auto& f) {
    StoreLe<uint16_t>(f.data() + 10, format::kMinorVersion + 1);
    testing::Reseal(f);
  });
  variant("unknown_incompatible_flag.lzs", valid_mixed, [](auto& f) {
    StoreLe<uint32_t>(f.data() + 28, 1);
    testing::Reseal(f);
  });
  // Trailer and layout.
  variant("truncated.lzs", valid_mixed, [](auto& f) { f.resize(f.size() / 2); });
  variant("appended_byte.lzs", valid_mixed, [](auto& f) { f.push_back(0); });
  // Index.
  const uint64_t file_size = valid_mixed.size();
  variant("index_entry_outside_file.lzs", valid_mixed, [&](auto& f) {
    testing::PatchIndexEntry(f, 0, [&](format::IndexEntry& e) { e.location = file_size + 4096; });
  });
  variant("duplicate_of_zero_chunk.lzs", valid_mixed, [](auto& f) {
    testing::PatchIndexEntry(f, 2, [](format::IndexEntry& e) { e.location = 1; });
  });
  variant("index_segment_checksum_mismatch.lzs", valid_multi_segment, [](auto& f) {
    // Chunk 2048's location, in segment 1, without resealing.
    testing::SnapshotLayout layout = testing::LayoutOf(f);
    f[layout.index_offset + format::kIndexSegmentEntries * format::kIndexEntrySizeBytes + 8] ^= 1;
  });
  out.back().fuzz_seed = false;  // the fuzzer flips bytes of seed-valid_multi_segment itself
  variant("parent_chunk_without_parent_section.lzs", valid_mixed, [](auto& f) {
    StoreLe<uint16_t>(f.data() + 10, format::kParentMinorVersion);
    testing::PatchIndexEntry(f, 0, [](format::IndexEntry& e) {
      e.kind = format::ChunkKind::kParent;
      e.location = 0;
      e.stored_length_bytes = 0;
      e.stored_checksum = 0;
      e.dictionary_slot = 0;
    });
  });
  variant("duplicate_checksum_differs.lzs", valid_mixed, [](auto& f) {
    testing::PatchIndexEntry(f, 2, [](format::IndexEntry& e) { e.checksum ^= 1; });
  });
  // Chunk content: only found when the chunk is read.
  variant("chunk_checksum_mismatch.lzs", valid_mixed, [&](auto& f) {
    format::IndexEntry raw = IndexEntryAt(f, 4);
    f[raw.location + raw.stored_length_bytes / 2] ^= 0x40;
  });
  // Chunk 0's text as two frames: zstd would decode both, the format allows one.
  LAZYSNAP_ASSIGN_OR_RETURN(
      std::vector<uint8_t> two_frames,
      TwoFrames(std::span<const uint8_t>(mixed.bytes.data(), kChunkBytes)));
  out.push_back({"chunk_two_zstd_frames.lzs", WithStoredBytes(valid_mixed, 0, two_frames)});
  // Sections.
  variant("unknown_required_section.lzs", valid_mixed, [](auto& f) {
    f = testing::WithExtraSection(f, 1000, format::kSectionFlagRequired);
  });
  variant("parent_section.lzs", valid_mixed, [](auto& f) {
    f = testing::WithExtraSection(f, static_cast<uint32_t>(format::SectionType::kParent),
                         format::kSectionFlagRequired);
  });
  variant("dictionary_checksum_mismatch.lzs", valid_dictionary, [](auto& f) {
    format::Section section = FirstSection(f);
    f[section.offset_bytes + section.length_bytes / 2] ^= 0x08;
  });
  variant("dictionary_not_zstd.lzs", valid_dictionary, [](auto& f) {
    // The dictionary's magic is damaged and the section checksum recomputed, so only
    // zstd's own check of the dictionary can refuse it.
    format::Section section = FirstSection(f);
    f[section.offset_bytes] ^= 0xff;
    section.checksum = Checksum64({f.data() + section.offset_bytes, section.length_bytes});
    testing::SnapshotLayout layout = testing::LayoutOf(f);
    format::EncodeSection(section, std::span<uint8_t, format::kSectionEntrySizeBytes>(
                                       f.data() + layout.sections_offset,
                                       format::kSectionEntrySizeBytes));
    testing::Reseal(f);
  });
  variant("dictionary_id_mismatch.lzs", valid_dictionary, [](auto& f) {
    // Chunk 0's frame was compressed with the dictionary; the index now says "none".
    testing::PatchIndexEntry(f, 0, [](format::IndexEntry& e) { e.dictionary_slot = 0; });
  });
  // Compressed dictionary sections (format 1.2).
  variant("compressed_dictionary_in_1_0_file.lzs", valid_compressed_dictionary, [](auto& f) {
    StoreLe<uint16_t>(f.data() + 10, 0);
    testing::Reseal(f);
  });
  variant("compressed_dictionary_checksum_mismatch.lzs", valid_compressed_dictionary,
          [](auto& f) {
            format::Section section = FirstSection(f);
            f[section.offset_bytes + section.length_bytes / 2] ^= 0x08;
          });
  {
    // A frame that says it holds one byte more than a dictionary may have (16 MiB of
    // zeros compress to a few hundred bytes): refused before anything is allocated.
    std::vector<uint8_t> zeros(format::kMaxDictionarySizeBytes + 1);
    std::vector<uint8_t> frame(ZSTD_compressBound(zeros.size()));
    frame.resize(ZSTD_compress(frame.data(), frame.size(), zeros.data(), zeros.size(), 1));
    out.push_back({"compressed_dictionary_too_large.lzs",
                   WithDictionaryPayload(valid_compressed_dictionary, frame)});
  }
  {
    // A frame that does not record its content size (a streamed frame).
    format::Section section = FirstSection(valid_dictionary);
    std::span<const uint8_t> dictionary(valid_dictionary.data() + section.offset_bytes,
                                        section.length_bytes);
    ZSTD_CCtx* context = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 0);
    std::vector<uint8_t> frame(ZSTD_compressBound(dictionary.size()));
    ZSTD_outBuffer output = {frame.data(), frame.size(), 0};
    ZSTD_inBuffer input = {dictionary.data(), dictionary.size(), 0};
    ZSTD_compressStream2(context, &output, &input, ZSTD_e_end);
    ZSTD_freeCCtx(context);
    frame.resize(output.pos);
    out.push_back({"compressed_dictionary_no_content_size.lzs",
                   WithDictionaryPayload(valid_compressed_dictionary, frame)});
  }
  LAZYSNAP_RETURN_IF_ERROR(MakeChains(images, valid_mixed, valid_dictionary, out));
  return out;
}

// WriteAll writes the outputs to `directory`: all of them as golden files, or the fuzz
// seeds among them, named "seed-<name>" (aborts when a file cannot be written).
void WriteAll(const std::vector<Output>& outputs, const std::string& directory,
              bool as_fuzz_seeds) {
  for (const Output& output : outputs) {
    if (as_fuzz_seeds && !output.fuzz_seed) continue;
    testing::WriteFileBytes(directory + "/" + (as_fuzz_seeds ? "seed-" : "") + output.name,
                            output.bytes);
  }
}

// WriteChainSeeds writes each file of a chain, with the rest of its chain, as one input of
// the chain fuzz target ("seed-<name>"; the layout is in chain_fuzzer.cc).
void WriteChainSeeds(const std::vector<Output>& outputs, const std::string& directory) {
  auto find = [&](const std::string& name) -> const std::vector<uint8_t>& {
    for (const Output& output : outputs) {
      if (output.name == name) return output.bytes;
    }
    std::abort();
  };
  for (const Output& output : outputs) {
    if (output.ancestors.empty()) continue;
    std::vector<const std::vector<uint8_t>*> files = {&output.bytes};
    for (const std::string& name : output.ancestors) files.push_back(&find(name));
    testing::WriteFileBytes(directory + "/seed-" + output.name, EncodeChainInput(files));
  }
}

int Main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::fprintf(stderr, "usage: %s GOLDEN_DIR [FUZZ_CORPUS_DIR [CHAIN_FUZZ_CORPUS_DIR]]\n",
                 argv[0]);
    return 2;
  }
  const Images images;
  auto outputs = MakeAll(images);
  if (!outputs.ok()) {
    std::fprintf(stderr, "make_golden: %s\n", std::string(outputs.status().ToString()).c_str());
    return 1;
  }
  WriteAll(*outputs, argv[1], /*as_fuzz_seeds=*/false);
  if (argc >= 3) WriteAll(*outputs, argv[2], /*as_fuzz_seeds=*/true);
  if (argc == 4) WriteChainSeeds(*outputs, argv[3]);
  for (const Output& output : *outputs) {
    std::printf("%-40s %6zu bytes", output.name.c_str(), output.bytes.size());
    if (output.image != nullptr) {
      std::printf("  image %zu bytes, XXH3 0x%016llx", output.image->bytes.size(),
                  static_cast<unsigned long long>(Checksum64(output.image->bytes)));
    }
    std::printf("\n");
  }
  return 0;
}

}  // namespace
}  // namespace lazysnap

int main(int argc, char** argv) { return lazysnap::Main(argc, argv); }
