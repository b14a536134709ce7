// Golden snapshots: files written by an earlier lazysnap and committed under
// testdata/golden/ (see its README.md). The valid ones must decode to the image they were
// written from; each must-fail one must be refused with the same code, for the same
// reason. A format or reader change that breaks this breaks compatibility with files
// that already exist: change FORMAT.md's version instead of the expectations below.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "base/checksum.h"
#include "snapshot_format/image_decoder.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/test_util.h"

namespace lazysnap {
namespace {

struct ValidGolden {
  const char* file;
  uint64_t image_size_bytes;
  uint64_t image_xxh3;  // XXH3-64 of the flat image (holes and zero chunks read as zero)
  uint64_t chunks;
  uint64_t zero_chunks;
  uint64_t compressed_chunks;
  uint64_t raw_chunks;
  uint64_t duplicate_chunks;
  uint64_t dictionary_chunks;
};

// Image sizes and checksums as printed by make_golden when the files were written.
constexpr ValidGolden kValid[] = {
    // Two regions with a hole, every chunk kind, a short raw last chunk.
    {"valid_mixed.lzs", 24876, 0x92e9ffd013ab996a, 5, 1, 2, 1, 1, 0},
    // Compressed with a trained zstd dictionary (section type 1, slot 1).
    {"valid_dictionary.lzs", 16384, 0x0744ed5ef689d708, 4, 1, 3, 0, 0, 3},
    // The same, the dictionary stored compressed (format 1.2, section type 4).
    {"valid_compressed_dictionary.lzs", 16384, 0x0744ed5ef689d708, 4, 1, 3, 0, 0, 3},
    // Two index segments; the last chunk duplicates chunk 0 across them.
    {"valid_multi_segment.lzs", 8396800, 0x1f650097d7ab65f4, 2050, 2047, 2, 0, 1, 0},
    // No regions at all.
    {"valid_empty.lzs", 0, 0x2d06800538d394c2, 0, 0, 0, 0, 0, 0},
    // valid_mixed plus an optional section of a type no reader knows: must be skipped.
    {"valid_unknown_optional_section.lzs", 24876, 0x92e9ffd013ab996a, 5, 1, 2, 1, 1, 0},
};

struct MustFailGolden {
  const char* file;
  absl::StatusCode code;
  // Whether Open (with the default, eager index validation) refuses the file; if not,
  // decoding the image does.
  bool refused_at_open;
  const char* reason;  // a part of the error message that names the reason
};

constexpr MustFailGolden kMustFail[] = {
    {"bad_header_checksum.lzs", absl::StatusCode::kDataLoss, true, "header: checksum mismatch"},
    {"not_a_snapshot.lzs", absl::StatusCode::kInvalidArgument, true, "not a lazysnap snapshot"},
    {"newer_major_version.lzs", absl::StatusCode::kUnimplemented, true, "version 2.0 is newer"},
    {"older_major_version.lzs", absl::StatusCode::kInvalidArgument, true,
     "major version 0 is not supported"},
    {"newer_minor_version.lzs", absl::StatusCode::kUnimplemented, true, "version 1.3 is newer"},
    {"unknown_incompatible_flag.lzs", absl::StatusCode::kUnimplemented, true,
     "incompatible feature flags 0x1"},
    {"truncated.lzs", absl::StatusCode::kDataLoss, true, "end magic"},
    {"appended_byte.lzs", absl::StatusCode::kDataLoss, true, "end magic"},
    {"index_entry_outside_file.lzs", absl::StatusCode::kDataLoss, true,
     "chunk 0 (region 0, image offset 0): index entry: stored bytes at offset"},
    {"duplicate_of_zero_chunk.lzs", absl::StatusCode::kDataLoss, true,
     "duplicate of chunk 1, which is zero"},
    {"index_segment_checksum_mismatch.lzs", absl::StatusCode::kDataLoss, true,
     "index segment 1 (chunks 2048 to 2049): checksum mismatch"},
    {"duplicate_checksum_differs.lzs", absl::StatusCode::kDataLoss, true,
     "duplicate of chunk 0, whose length or checksum differs"},
    {"chunk_checksum_mismatch.lzs", absl::StatusCode::kDataLoss, false, "chunk 4 (raw"},
    {"chunk_two_zstd_frames.lzs", absl::StatusCode::kDataLoss, false,
     "not exactly one zstd frame"},
    {"unknown_required_section.lzs", absl::StatusCode::kUnimplemented, true,
     "type 1000, which this reader does not know"},
    {"parent_section.lzs", absl::StatusCode::kUnimplemented, true, "incremental"},
    {"dictionary_checksum_mismatch.lzs", absl::StatusCode::kDataLoss, true,
     "dictionary checksum mismatch"},
    {"dictionary_not_zstd.lzs", absl::StatusCode::kDataLoss, true, "not a zstd dictionary"},
    {"dictionary_id_mismatch.lzs", absl::StatusCode::kDataLoss, false,
     "the frame needs dictionary id"},
    {"compressed_dictionary_in_1_0_file.lzs", absl::StatusCode::kDataLoss, true,
     "compressed dictionary section in a format 1.0 file"},
    {"compressed_dictionary_checksum_mismatch.lzs", absl::StatusCode::kDataLoss, true,
     "dictionary checksum mismatch"},
    {"compressed_dictionary_too_large.lzs", absl::StatusCode::kDataLoss, true,
     "the frame says 16777217 bytes"},
    {"compressed_dictionary_no_content_size.lzs", absl::StatusCode::kDataLoss, true,
     "does not record its content size"},
};

std::string GoldenDirectory() { return testing::RunfilesPath("snapshot_format/testdata/golden"); }

std::string GoldenPath(const char* file) { return GoldenDirectory() + "/" + file; }

// DecodeFlatImage decodes every chunk of `reader` into an image of `image_size_bytes`.
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

// FirstFailure opens `path` (eagerly or lazily) and decodes it; returns the first error.
absl::Status FirstFailure(const std::string& path, OpenOptions options) {
  auto reader = SnapshotReader::Open(path, options);
  if (!reader.ok()) return reader.status();
  return DecodeFlatImage(**reader).status();
}

TEST(GoldenSnapshots, EveryFileHasAnExpectation) {
  std::set<std::string> expected;
  for (const ValidGolden& golden : kValid) expected.insert(golden.file);
  for (const MustFailGolden& golden : kMustFail) expected.insert(golden.file);
  std::set<std::string> found;
  std::error_code error;
  for (std::filesystem::directory_iterator it(GoldenDirectory(), error), end;
       !error && it != end; it.increment(error)) {
    if (it->path().extension() == ".lzs") found.insert(it->path().filename().string());
  }
  ASSERT_FALSE(error) << GoldenDirectory() << ": " << error.message();
  EXPECT_EQ(found, expected);
}

TEST(GoldenSnapshots, ValidFilesDecodeToTheImageTheyWereWrittenFrom) {
  for (const ValidGolden& golden : kValid) {
    SCOPED_TRACE(golden.file);
    for (bool validate_index : {true, false}) {
      auto reader = SnapshotReader::Open(GoldenPath(golden.file),
                                         {.validate_index = validate_index});
      ASSERT_TRUE(reader.ok()) << reader.status();
      ASSERT_EQ((*reader)->image_size_bytes(), golden.image_size_bytes);
      EXPECT_EQ((*reader)->chunk_count(), golden.chunks);
      auto image = DecodeFlatImage(**reader);
      ASSERT_TRUE(image.ok()) << image.status();
      EXPECT_EQ(Checksum64(*image), golden.image_xxh3);
      ASSERT_TRUE((*reader)->ValidateIndex().ok());
      const IndexSummary& summary = (*reader)->summary();
      EXPECT_EQ(summary.zero_chunks, golden.zero_chunks);
      EXPECT_EQ(summary.compressed_chunks, golden.compressed_chunks);
      EXPECT_EQ(summary.raw_chunks, golden.raw_chunks);
      EXPECT_EQ(summary.duplicate_chunks, golden.duplicate_chunks);
      EXPECT_EQ(summary.dictionary_chunks, golden.dictionary_chunks);
    }
  }
}

TEST(GoldenSnapshots, MustFailFilesAreRefusedWithTheExpectedCodeAndReason) {
  for (const MustFailGolden& golden : kMustFail) {
    SCOPED_TRACE(golden.file);
    const std::string path = GoldenPath(golden.file);
    auto reader = SnapshotReader::Open(path);
    EXPECT_EQ(!reader.ok(), golden.refused_at_open) << reader.status();
    // Whether refused by Open or while decoding, eagerly or lazily, it is the same
    // error: a lazily validated index fails when the damaged entry is first used.
    for (bool validate_index : {true, false}) {
      absl::Status status = FirstFailure(path, {.validate_index = validate_index});
      EXPECT_EQ(status.code(), golden.code) << status;
      EXPECT_NE(status.message().find(golden.reason), absl::string_view::npos)
          << status << "\n  expected the reason: " << golden.reason;
      EXPECT_NE(status.message().find(path), absl::string_view::npos)
          << status << "\n  the message does not name the file";
    }
  }
}

}  // namespace
}  // namespace lazysnap
