// Corruption: every damaged snapshot is refused with the right code and a message that
// names the file, the structure or chunk, and the reason; no damaged byte is ever
// returned as chunk content.
#include <cstring>

#include <gtest/gtest.h>

#include "absl/strings/str_format.h"
#include "base/checksum.h"
#include "base/file_io.h"
#include "snapshot_format/image_decoder.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/snapshot_writer.h"
#include "snapshot_format/test_util.h"

namespace lazysnap {
namespace {

using testing::Fill;

struct Written {
  std::vector<uint8_t> image;
  std::vector<uint8_t> file;
};

// SmallSnapshot: 12 chunks of 4 KiB covering every kind, in two regions.
Written SmallSnapshot(uint32_t chunk = 4096) {
  Written w;
  w.image = testing::MixedImage(12 * chunk + 100, chunk,
                                {Fill::kText, Fill::kZero, Fill::kRandom, Fill::kCopyOfFirstText});
  testing::MemoryImageSource source(w.image, {{0, 4 * chunk, 0}, {4 * chunk, 8 * chunk + 100, 0}});
  std::string path = testing::TempPath("small");
  WriterOptions options;
  options.chunk_size_bytes = chunk;
  auto summary = WriteSnapshot(source, path, options);
  EXPECT_TRUE(summary.ok()) << summary.status();
  w.file = testing::ReadFileBytes(path);
  return w;
}

// OpenBytes writes `file` to a temporary path and opens it.
absl::StatusOr<std::unique_ptr<SnapshotReader>> OpenBytes(const std::vector<uint8_t>& file,
                                                          std::string* path_out = nullptr) {
  std::string path = testing::TempPath("corrupt");
  testing::WriteFileBytes(path, file);
  if (path_out != nullptr) *path_out = path;
  return SnapshotReader::Open(path);
}

// ReadAll reads every chunk; returns the first error, or OK when all bytes match `image`
// (a mismatch without an error is a test failure: wrong bytes were handed out).
absl::Status ReadAll(const SnapshotReader& reader, const std::vector<uint8_t>& image) {
  auto decoder = ChunkDecoder::Create();
  std::vector<uint8_t> scratch;
  for (uint64_t chunk = 0; chunk < reader.chunk_count(); ++chunk) {
    ChunkLocation location = reader.Locate(chunk).value();
    std::vector<uint8_t> out(location.stored.length_bytes);
    absl::Status status = reader.ReadChunk(chunk, *decoder, scratch, out);
    if (!status.ok()) return status;
    EXPECT_EQ(0, std::memcmp(out.data(), image.data() + location.image_offset_bytes, out.size()))
        << "chunk " << chunk << " returned wrong bytes without an error";
  }
  return absl::OkStatus();
}

TEST(Corruption, EveryFlippedByteIsDetected) {
  Written w = SmallSnapshot();
  ASSERT_GT(w.file.size(), 1000u);
  for (size_t at = 0; at < 2 * w.file.size(); ++at) {
    std::vector<uint8_t> file = w.file;
    file[at % file.size()] ^= at < file.size() ? 0x10 : 0x81;
    auto reader = OpenBytes(file);
    absl::Status status = reader.ok() ? ReadAll(**reader, w.image) : reader.status();
    ASSERT_FALSE(status.ok()) << "flipping byte " << at % w.file.size() << " of " << w.file.size()
                              << " went unnoticed";
    EXPECT_TRUE(absl::IsDataLoss(status) || absl::IsInvalidArgument(status) ||
                absl::IsUnimplemented(status))
        << "byte " << at << ": " << status;
  }
}

TEST(Corruption, FlippedChunkByteNamesTheChunkAndVerifyReportsTheFirst) {
  Written w = SmallSnapshot();
  std::string path;
  auto good = OpenBytes(w.file, &path);
  ASSERT_TRUE(good.ok());
  // Damage chunks 2 and 6 (stored ones); verify must name chunk 2.
  std::vector<uint8_t> file = w.file;
  for (uint64_t chunk : {6, 2}) {
    ChunkLocation location = (*good)->Locate(chunk).value();
    ASSERT_NE(location.stored.kind, format::ChunkKind::kZero);
    ASSERT_FALSE(location.is_duplicate);
    file[location.stored.file_offset_bytes + location.stored.stored_length_bytes / 2] ^= 0xff;
  }
  auto reader = OpenBytes(file, &path);
  ASSERT_TRUE(reader.ok()) << "chunk bytes are only checked when read: " << reader.status();
  auto summary = DecodeImage(**reader, {.threads = 2},
                             [](const ChunkLocation&, std::span<const uint8_t>) {
                               return absl::OkStatus();
                             });
  ASSERT_TRUE(absl::IsDataLoss(summary.status())) << summary.status();
  EXPECT_NE(summary.status().message().find(path + ": chunk 2 "), absl::string_view::npos)
      << summary.status();
  // Verify's help promises the image offset too.
  const ChunkLocation second = (*good)->Locate(2).value();
  EXPECT_NE(summary.status().message().find(
                absl::StrFormat("holds image offset %d", second.image_offset_bytes)),
            absl::string_view::npos)
      << summary.status();
}

TEST(Corruption, TruncatedFilesAreDataLoss) {
  Written w = SmallSnapshot();
  for (size_t length : {size_t{0}, size_t{5}, size_t{64}, size_t{127}, w.file.size() / 2,
                        w.file.size() - 65, w.file.size() - 1}) {
    std::vector<uint8_t> file(w.file.begin(), w.file.begin() + length);
    auto reader = OpenBytes(file);
    EXPECT_FALSE(reader.ok()) << length;
    if (length >= 8) {
      EXPECT_TRUE(absl::IsDataLoss(reader.status())) << length << ": " << reader.status();
    } else {
      EXPECT_TRUE(absl::IsInvalidArgument(reader.status())) << length << ": " << reader.status();
    }
  }
  // Appended garbage moves the trailer: also refused.
  std::vector<uint8_t> longer = w.file;
  longer.push_back(0);
  EXPECT_TRUE(absl::IsDataLoss(OpenBytes(longer).status()));
  // ... and named as what it is, not as a truncation.
  longer.resize(w.file.size() + 3000, 0x41);
  auto appended = OpenBytes(longer);
  EXPECT_TRUE(absl::IsDataLoss(appended.status()));
  EXPECT_NE(appended.status().message().find("3000 bytes were appended after the snapshot"),
            absl::string_view::npos)
      << appended.status();
  // A truncated file holds no complete trailer: still "truncated".
  std::vector<uint8_t> shorter(w.file.begin(), w.file.end() - 1);
  EXPECT_EQ(OpenBytes(shorter).status().message().find("appended after the snapshot,"),
            absl::string_view::npos);
}

TEST(Corruption, IndexEntryPointingOutsideTheFileIsDataLoss) {
  Written w = SmallSnapshot();
  auto check = [&](uint64_t chunk, std::function<void(format::IndexEntry&)> edit,
                   std::string_view expected) {
    std::vector<uint8_t> file = w.file;
    testing::PatchIndexEntry(file, chunk, edit);
    std::string path;
    auto reader = OpenBytes(file, &path);
    ASSERT_TRUE(absl::IsDataLoss(reader.status())) << reader.status();
    EXPECT_NE(reader.status().message().find(path + ": chunk " + std::to_string(chunk)),
              absl::string_view::npos)
        << reader.status();
    EXPECT_NE(reader.status().message().find(std::string(expected)), absl::string_view::npos)
        << reader.status();
  };
  // Chunk 0 is compressed text, 1 zero, 2 random (raw), 3 a duplicate of 0.
  check(0, [&](format::IndexEntry& e) { e.location = w.file.size() + 4096; }, "outside");
  check(0, [&](format::IndexEntry& e) { e.location = UINT64_MAX - 10; }, "outside");
  check(0, [&](format::IndexEntry& e) { e.location = 10; }, "outside");
  check(0, [&](format::IndexEntry& e) { e.stored_length_bytes = 1 << 30; }, "compress bound");
  check(0, [&](format::IndexEntry& e) { e.stored_length_bytes = 0; }, "compressed length");
  check(2, [&](format::IndexEntry& e) { e.stored_length_bytes -= 1; }, "raw length");
  check(1, [&](format::IndexEntry& e) { e.stored_length_bytes = 5; }, "zero chunk");
  check(3, [&](format::IndexEntry& e) { e.location = 7; }, "earlier chunk");
  check(3, [&](format::IndexEntry& e) { e.location = 1; }, "zero");
  check(3, [&](format::IndexEntry& e) { e.checksum ^= 1; }, "differs");
  check(0, [&](format::IndexEntry& e) { e.dictionary_slot = 4; }, "dictionary slot 4");
  check(0, [&](format::IndexEntry& e) { e.kind = static_cast<format::ChunkKind>(9); }, "kind 9");
}

TEST(Corruption, NewerVersionsAreUnimplemented) {
  Written w = SmallSnapshot();
  for (auto [major, minor] : {std::pair<uint16_t, uint16_t>{2, 0}, {1, 5}}) {
    std::vector<uint8_t> file = w.file;
    file[8] = static_cast<uint8_t>(major);
    file[10] = static_cast<uint8_t>(minor);
    testing::Reseal(file);
    auto reader = OpenBytes(file);
    EXPECT_TRUE(absl::IsUnimplemented(reader.status())) << reader.status();
    EXPECT_NE(reader.status().message().find("newer"), absl::string_view::npos);
  }
}


TEST(Corruption, UnknownSectionsAreSkippedUnlessRequired) {
  Written w = SmallSnapshot();
  auto optional = OpenBytes(testing::WithExtraSection(w.file, 1000, 0));
  ASSERT_TRUE(optional.ok()) << optional.status();
  EXPECT_TRUE(ReadAll(**optional, w.image).ok());

  auto required = OpenBytes(testing::WithExtraSection(w.file, 1000, format::kSectionFlagRequired));
  EXPECT_TRUE(absl::IsUnimplemented(required.status())) << required.status();

  auto parent = OpenBytes(testing::WithExtraSection(
      w.file, static_cast<uint32_t>(format::SectionType::kParent), format::kSectionFlagRequired));
  // Format 1.0 has no parent encoding: a 1.1 reader refuses the section in a 1.0 file.
  EXPECT_TRUE(absl::IsDataLoss(parent.status())) << parent.status();
  EXPECT_NE(parent.status().message().find("requires format 1.1"), absl::string_view::npos);

  auto working_set = OpenBytes(testing::WithExtraSection(
      w.file, static_cast<uint32_t>(format::SectionType::kWorkingSet), 0));
  EXPECT_TRUE(working_set.ok()) << working_set.status();
}

TEST(Corruption, LazyValidationRefusesOnlyTheDamagedSegment) {
  const uint32_t chunk = 4096;
  const uint64_t chunks = 3 * format::kIndexSegmentEntries + 5;
  std::vector<uint8_t> image =
      testing::MixedImage(chunks * chunk, chunk, {Fill::kText, Fill::kZero, Fill::kZero});
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  std::string path = testing::TempPath("segments");
  WriterOptions options;
  options.chunk_size_bytes = chunk;
  ASSERT_TRUE(WriteSnapshot(source, path, options).ok());
  std::vector<uint8_t> file = testing::ReadFileBytes(path);
  testing::SnapshotLayout layout = testing::LayoutOf(file);
  // Damage an entry in segment 1 without resealing.
  file[layout.index_offset + (format::kIndexSegmentEntries + 3) * format::kIndexEntrySizeBytes +
       17] ^= 1;
  path = testing::TempPath("segments_damaged");
  testing::WriteFileBytes(path, file);
  auto eager = SnapshotReader::Open(path);
  EXPECT_TRUE(absl::IsDataLoss(eager.status())) << eager.status();
  // Opening without validating the index does not read it; each segment is checked
  // when first used.
  auto reopened = SnapshotReader::Open(path, {.validate_index = false});
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_TRUE((*reopened)->Locate(0).ok());
  EXPECT_TRUE((*reopened)->Locate(3 * format::kIndexSegmentEntries + 4).ok());
  auto damaged = (*reopened)->Locate(format::kIndexSegmentEntries + 100);
  EXPECT_TRUE(absl::IsDataLoss(damaged.status())) << damaged.status();
  EXPECT_NE(damaged.status().message().find("index segment 1"), absl::string_view::npos);
  // The failure is remembered, not retried into success.
  EXPECT_TRUE(absl::IsDataLoss((*reopened)->Locate(format::kIndexSegmentEntries).status()));
  EXPECT_TRUE(absl::IsDataLoss((*reopened)->ValidateIndex()));
}

// DictionarySnapshot: 64 chunks of 4 KiB records compressed with a trained dictionary
// of at most 4 KiB (section 0, slot 1), stored as `storage` says.
Written DictionarySnapshot(
    WriterOptions::DictionaryStorage storage = WriterOptions::DictionaryStorage::kAuto) {
  Written w;
  const uint32_t chunk = 4096;
  w.image = testing::MixedImage(64 * chunk, chunk, {Fill::kRecords, Fill::kRecords, Fill::kZero});
  testing::MemoryImageSource source(w.image, {{0, w.image.size(), 0}});
  std::string path = testing::TempPath("dictionary");
  WriterOptions options;
  options.chunk_size_bytes = chunk;
  options.train_dictionary.dictionary_size_bytes = 4096;
  options.dictionary_storage = storage;
  auto summary = WriteSnapshot(source, path, options);
  EXPECT_TRUE(summary.ok()) << summary.status();
  EXPECT_GT(summary->dictionary_bytes, 0u) << summary->dictionary_note;
  EXPECT_EQ(summary->dictionary_compressed,
            storage == WriterOptions::DictionaryStorage::kCompressed);
  w.file = testing::ReadFileBytes(path);
  return w;
}

format::Section SectionOf(const std::vector<uint8_t>& file, uint32_t index) {
  testing::SnapshotLayout layout = testing::LayoutOf(file);
  return format::DecodeSection(
             std::span<const uint8_t, format::kSectionEntrySizeBytes>(
                 file.data() + layout.sections_offset + index * format::kSectionEntrySizeBytes,
                 format::kSectionEntrySizeBytes),
             index, "test")
      .value();
}

// ResealSection recomputes section `index`'s payload checksum after a test edited the
// payload, then the tables and trailer, so that only the dictionary's own checks can fail.
void ResealSection(std::vector<uint8_t>& file, uint32_t index) {
  testing::SnapshotLayout layout = testing::LayoutOf(file);
  format::Section section = SectionOf(file, index);
  section.checksum = Checksum64({file.data() + section.offset_bytes, section.length_bytes});
  format::EncodeSection(section, std::span<uint8_t, format::kSectionEntrySizeBytes>(
                                     file.data() + layout.sections_offset +
                                         index * format::kSectionEntrySizeBytes,
                                     format::kSectionEntrySizeBytes));
  testing::Reseal(file);
}

TEST(Corruption, DamagedDictionaryIsRefusedAtOpenBeforeAnyChunkIsServed) {
  Written w = DictionarySnapshot();
  auto sound = OpenBytes(w.file);
  ASSERT_TRUE(sound.ok()) << sound.status();
  ASSERT_TRUE(ReadAll(**sound, w.image).ok());
  const format::Section section = SectionOf(w.file, 0);
  ASSERT_EQ(section.type, static_cast<uint32_t>(format::SectionType::kDictionary));
  for (uint64_t at = 0; at < section.length_bytes; at += 61) {
    std::vector<uint8_t> file = w.file;
    file[section.offset_bytes + at] ^= 0x04;
    std::string path;
    testing::WriteFileBytes(path = testing::TempPath("dictionary_flipped"), file);
    // Even a restore that validates nothing else up front checks the dictionary.
    auto reader = SnapshotReader::Open(path, {.validate_index = false});
    ASSERT_TRUE(absl::IsDataLoss(reader.status())) << "byte " << at << ": " << reader.status();
    EXPECT_NE(reader.status().message().find("dictionary checksum mismatch"),
              absl::string_view::npos)
        << reader.status();
  }
}

TEST(Corruption, DictionarySectionThatIsNotAZstdDictionaryIsDataLoss) {
  Written w = DictionarySnapshot();
  std::vector<uint8_t> file = w.file;
  file[SectionOf(file, 0).offset_bytes] ^= 0xff;  // the dictionary magic
  ResealSection(file, 0);
  auto reader = OpenBytes(file);
  EXPECT_TRUE(absl::IsDataLoss(reader.status())) << reader.status();
  EXPECT_NE(reader.status().message().find("not a zstd dictionary"), absl::string_view::npos)
      << reader.status();
}

TEST(Corruption, ChunkWhoseDictionaryIdDoesNotMatchIsRefused) {
  Written w = DictionarySnapshot();
  // The index says "no dictionary" for a chunk compressed with one.
  {
    std::vector<uint8_t> file = w.file;
    testing::PatchIndexEntry(file, 0, [](format::IndexEntry& e) {
      ASSERT_EQ(e.kind, format::ChunkKind::kCompressed);
      ASSERT_EQ(e.dictionary_slot, 1);
      e.dictionary_slot = 0;
    });
    auto reader = OpenBytes(file);
    ASSERT_TRUE(reader.ok()) << reader.status();
    absl::Status status = ReadAll(**reader, w.image);
    EXPECT_TRUE(absl::IsDataLoss(status)) << status;
    EXPECT_NE(status.message().find("chunk 0"), absl::string_view::npos) << status;
    EXPECT_NE(status.message().find("needs dictionary id"), absl::string_view::npos) << status;
  }
  // The section holds a dictionary with another id (a sound dictionary, checksum and
  // all, but not the one the chunks were compressed with).
  {
    std::vector<uint8_t> file = w.file;
    file[SectionOf(file, 0).offset_bytes + 4] ^= 0x01;  // dictionary id, bytes 4..7
    ResealSection(file, 0);
    auto reader = OpenBytes(file);
    ASSERT_TRUE(reader.ok()) << reader.status();
    absl::Status status = ReadAll(**reader, w.image);
    EXPECT_TRUE(absl::IsDataLoss(status)) << status;
    EXPECT_NE(status.message().find("needs dictionary id"), absl::string_view::npos) << status;
  }
}

// CompressedDictionarySnapshot: DictionarySnapshot with the dictionary stored compressed
// (format 1.2, section type 4).
Written CompressedDictionarySnapshot() {
  return DictionarySnapshot(WriterOptions::DictionaryStorage::kCompressed);
}

TEST(Corruption, CompressedDictionaryReadsAndNeedsFormat12) {
  Written w = CompressedDictionarySnapshot();
  EXPECT_EQ(w.file[10], format::kMinorVersionCompressedDictionary);  // minor version
  ASSERT_EQ(SectionOf(w.file, 0).type,
            static_cast<uint32_t>(format::SectionType::kCompressedDictionary));
  auto sound = OpenBytes(w.file);
  ASSERT_TRUE(sound.ok()) << sound.status();
  EXPECT_TRUE(ReadAll(**sound, w.image).ok());
  // The same file labelled 1.0: a 1.0 writer could not have written it.
  std::vector<uint8_t> file = w.file;
  file[10] = 0;
  testing::Reseal(file);
  auto old = OpenBytes(file);
  EXPECT_TRUE(absl::IsDataLoss(old.status())) << old.status();
  EXPECT_NE(old.status().message().find("needs 1.2"), absl::string_view::npos) << old.status();
}

TEST(Corruption, DamagedCompressedDictionaryIsRefusedAtOpen) {
  Written w = CompressedDictionarySnapshot();
  const format::Section section = SectionOf(w.file, 0);
  for (uint64_t at = 0; at < section.length_bytes; at += 7) {
    std::vector<uint8_t> file = w.file;
    file[section.offset_bytes + at] ^= 0x10;
    std::string path;
    testing::WriteFileBytes(path = testing::TempPath("compressed_dictionary_flipped"), file);
    auto reader = SnapshotReader::Open(path, {.validate_index = false});
    ASSERT_TRUE(absl::IsDataLoss(reader.status())) << "byte " << at << ": " << reader.status();
    EXPECT_NE(reader.status().message().find("dictionary checksum mismatch"),
              absl::string_view::npos)
        << reader.status();
    // With the checksum resealed the frame's own checks (or zstd's, or the decoded
    // dictionary's, or a chunk's dictionary id) must refuse it: no wrong byte comes out.
    ResealSection(file, 0);
    auto resealed = OpenBytes(file);
    if (resealed.ok()) {
      absl::Status status = ReadAll(**resealed, w.image);
      EXPECT_TRUE(status.ok() || absl::IsDataLoss(status)) << status;
    } else {
      EXPECT_TRUE(absl::IsDataLoss(resealed.status())) << resealed.status();
    }
  }
  // Cut short: not one whole frame.
  std::vector<uint8_t> file = w.file;
  testing::SnapshotLayout layout = testing::LayoutOf(file);
  format::Section shorter = section;
  shorter.length_bytes -= 1;
  shorter.checksum = Checksum64({file.data() + shorter.offset_bytes, shorter.length_bytes});
  format::EncodeSection(shorter, std::span<uint8_t, format::kSectionEntrySizeBytes>(
                                     file.data() + layout.sections_offset,
                                     format::kSectionEntrySizeBytes));
  testing::Reseal(file);
  auto reader = OpenBytes(file);
  EXPECT_TRUE(absl::IsDataLoss(reader.status())) << reader.status();
  EXPECT_NE(reader.status().message().find("not exactly one zstd frame"), absl::string_view::npos)
      << reader.status();
}

TEST(Corruption, NotASnapshotIsInvalidArgument) {
  std::vector<uint8_t> text(4096, 'a');
  auto reader = OpenBytes(text);
  EXPECT_TRUE(absl::IsInvalidArgument(reader.status())) << reader.status();
  EXPECT_NE(reader.status().message().find("not a lazysnap snapshot"), absl::string_view::npos);
  EXPECT_TRUE(absl::IsNotFound(SnapshotReader::Open("/nonexistent.lzs").status()));
}

}  // namespace
}  // namespace lazysnap
