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
  uint64_t parent_chunks = 0;  // format 1.1: stored in the parent
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
    // valid_mixed as format 1.1 without a parent section (was newer_minor_version.lzs
    // when the reader knew only 1.0).
    {"valid_minor_version_1.lzs", 24876, 0x92e9ffd013ab996a, 5, 1, 2, 1, 1, 0},
    // Format 1.1 chains. A child of valid_mixed: chunk 0 rewritten; chunk 2 in the parent
    // (a duplicate there), 3 and 4 in the parent.
    {"valid_child.lzs", 24876, 0x0e88fe2f70f55224, 5, 1, 1, 0, 0, 0, 3},
    // A child of valid_child: chunk 1 new, chunk 3 zeroed; chunk 0 from valid_child,
    // chunks 2 and 4 from valid_mixed through valid_child.
    {"valid_grandchild.lzs", 24876, 0xea1d0e9811fcdb3d, 5, 1, 1, 0, 0, 0, 3},
    // A child of valid_dictionary with a dictionary of its own: chunks 1 and 3 decode with
    // the child's, chunk 0 with the parent's.
    {"valid_dictionary_child.lzs", 16384, 0xf2ac177f0ae10674, 4, 1, 2, 0, 0, 2, 1},
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
    {"appended_byte.lzs", absl::StatusCode::kDataLoss, true, "1 byte was appended after the snapshot"},
    {"index_entry_outside_file.lzs", absl::StatusCode::kDataLoss, true,
     "chunk 0 (region 0, image offset 0): index entry: stored bytes at offset"},
    {"duplicate_of_zero_chunk.lzs", absl::StatusCode::kDataLoss, true,
     "duplicate of chunk 1, which is zero"},
    {"index_segment_checksum_mismatch.lzs", absl::StatusCode::kDataLoss, true,
     "index segment 1 (chunks 2048 to 2049): checksum mismatch"},
    {"parent_chunk_without_parent_section.lzs", absl::StatusCode::kDataLoss, true,
     "chunk 0 (region 0, image offset 0): index entry: a parent chunk in a snapshot without "
     "a parent section"},
    {"duplicate_checksum_differs.lzs", absl::StatusCode::kDataLoss, true,
     "duplicate of chunk 0, whose length or checksum differs"},
    {"chunk_checksum_mismatch.lzs", absl::StatusCode::kDataLoss, false, "chunk 4 (raw"},
    {"chunk_two_zstd_frames.lzs", absl::StatusCode::kDataLoss, false,
     "not exactly one zstd frame"},
    {"unknown_required_section.lzs", absl::StatusCode::kUnimplemented, true,
     "type 1000, which this reader does not know"},
    // Was refused as Unimplemented ("incremental") by the 1.0 reader.
    {"parent_section.lzs", absl::StatusCode::kDataLoss, true,
     "a parent section requires format 1.1, the header says 1.0"},
    {"dictionary_checksum_mismatch.lzs", absl::StatusCode::kDataLoss, true,
     "dictionary checksum mismatch"},
    {"dictionary_not_zstd.lzs", absl::StatusCode::kDataLoss, true, "not a zstd dictionary"},
    {"dictionary_id_mismatch.lzs", absl::StatusCode::kDataLoss, false,
     "the frame needs dictionary id"},
    // Format 1.1 chains: finding the parent.
    {"child_parent_missing.lzs", absl::StatusCode::kNotFound, true,
     "its parent snapshot (id a0a1a2a3a4a5a6a7a8a9aaabacadaeaf, recorded as "
     "\"missing_parent.lzs\") cannot be found"},
    {"child_parent_replaced.lzs", absl::StatusCode::kFailedPrecondition, true,
     "valid_grandchild.lzs is not the parent of"},
    {"child_parent_rewritten.lzs", absl::StatusCode::kFailedPrecondition, true,
     "it has the same snapshot id, but it is 3251 bytes, the parent was 3219"},
    {"child_parent_header_differs.lzs", absl::StatusCode::kFailedPrecondition, true,
     "it has the same snapshot id, but its header or trailer checksum"},
    {"grandchild_of_orphan.lzs", absl::StatusCode::kNotFound, true,
     "child_parent_missing.lzs: its parent snapshot (id a0a1a2a3a4a5a6a7a8a9aaabacadaeaf, "
     "recorded as \"missing_parent.lzs\") cannot be found"},
    {"child_cycle.lzs", absl::StatusCode::kFailedPrecondition, true,
     "the chain has a cycle: its parent section names its own snapshot id"},
    {"child_chain_depth_wrong.lzs", absl::StatusCode::kDataLoss, true,
     "broken chain: its parent"},
    // The parent section on its own.
    {"child_chain_depth_beyond_limit.lzs", absl::StatusCode::kDataLoss, true,
     "chain depth 32 is not in [1, 31]"},
    {"child_minor_version_0.lzs", absl::StatusCode::kDataLoss, true,
     "a parent section requires format 1.1, the header says 1.0"},
    {"child_parent_section_reserved.lzs", absl::StatusCode::kDataLoss, true,
     "reserved bytes 48-63 are not zero"},
    {"child_parent_name_absolute.lzs", absl::StatusCode::kDataLoss, true,
     "the name is an absolute path"},
    {"child_parent_section_not_required.lzs", absl::StatusCode::kDataLoss, true,
     "a parent section must be flagged required"},
    {"child_two_parent_sections.lzs", absl::StatusCode::kDataLoss, true,
     "a second parent section"},
    // Parent chunks (chunk 3 of valid_child).
    {"child_parent_chunk_checksum_differs.lzs", absl::StatusCode::kDataLoss, true,
     "chunk 3 (region 1, image offset 20480): index entry: names chunk 3 of its parent"},
    {"child_parent_chunk_out_of_range.lzs", absl::StatusCode::kDataLoss, true,
     "which has 5 chunks"},
    {"child_parent_chunk_is_zero.lzs", absl::StatusCode::kDataLoss, true,
     "names chunk 1 of its parent"},
    {"child_parent_chunk_stored_length.lzs", absl::StatusCode::kDataLoss, true,
     "a parent chunk must have length and stored checksum 0"},
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

// FirstFailure opens `path` (eagerly or lazily) and decodes it; returns the first error.
absl::Status FirstFailure(const std::string& path, OpenOptions options) {
  auto reader = SnapshotReader::Open(path, options);
  if (!reader.ok()) return reader.status();
  return testing::DecodeFlatImage(**reader).status();
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
      auto image = testing::DecodeFlatImage(**reader);
      ASSERT_TRUE(image.ok()) << image.status();
      EXPECT_EQ(Checksum64(*image), golden.image_xxh3);
      ASSERT_TRUE((*reader)->ValidateIndex().ok());
      const IndexSummary& summary = (*reader)->summary();
      EXPECT_EQ(summary.zero_chunks, golden.zero_chunks);
      EXPECT_EQ(summary.compressed_chunks, golden.compressed_chunks);
      EXPECT_EQ(summary.raw_chunks, golden.raw_chunks);
      EXPECT_EQ(summary.duplicate_chunks, golden.duplicate_chunks);
      EXPECT_EQ(summary.dictionary_chunks, golden.dictionary_chunks);
      EXPECT_EQ(summary.parent_chunks, golden.parent_chunks);
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
