// RunRestore on snapshots with a refused chunk, on the real kernel: the run ends with the
// engine's error naming the chunk, never by SIGBUS and never by hanging, in both serving
// modes, with and without UFFDIO_POISON, and no touched page differs from the image.
#include "tools/restore_run.h"

#include <gtest/gtest.h>

#include "absl/strings/str_format.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/snapshot_writer.h"
#include "snapshot_format/test_util.h"

namespace lazysnap::cli {
namespace {

using testing::Fill;

constexpr uint32_t kChunk = 32 << 10;

struct Files {
  std::string image;
  std::string good;
  std::string bad;
  uint64_t bad_chunk = 0;
};

// MakeFiles writes a 4 MiB image, its snapshot, and a copy of the snapshot with one
// byte flipped in a stored chunk about a megabyte in.
Files MakeFiles() {
  Files files;
  std::vector<uint8_t> image = testing::MixedImage(
      4 << 20, kChunk, {Fill::kText, Fill::kRandom, Fill::kZero, Fill::kRecords}, 3);
  files.image = testing::TempPath("image.raw");
  testing::WriteFileBytes(files.image, image);
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  files.good = testing::TempPath("good.lzs");
  WriterOptions options;
  options.chunk_size_bytes = kChunk;
  options.train_dictionary.dictionary_size_bytes = 0;
  auto written = WriteSnapshot(source, files.good, options);
  EXPECT_TRUE(written.ok()) << written.status();
  auto reader = SnapshotReader::Open(files.good);
  EXPECT_TRUE(reader.ok()) << reader.status();
  for (uint64_t chunk = 32; chunk < (*reader)->chunk_count(); ++chunk) {
    auto location = (*reader)->Locate(chunk);
    if (location.ok() && location->stored.kind != format::ChunkKind::kZero &&
        location->stored.stored_length_bytes > 16) {
      std::vector<uint8_t> bytes = testing::ReadFileBytes(files.good);
      bytes[location->stored.file_offset_bytes + 7] ^= 0x5a;
      files.bad = testing::TempPath("bad.lzs");
      testing::WriteFileBytes(files.bad, bytes);
      files.bad_chunk = chunk;
      break;
    }
  }
  EXPECT_FALSE(files.bad.empty());
  return files;
}

struct Case {
  const char* name;
  ServingMode serving;
  bool poison;
  const char* access;
  bool background;
};

class RestoreRunRefusal : public ::testing::TestWithParam<Case> {};

TEST_P(RestoreRunRefusal, EndsWithTheChunksErrorNeitherKilledNorHung) {
  const Case& c = GetParam();
  static const Files files = MakeFiles();
  RestoreRunOptions options;
  options.pattern = *AccessPattern::Parse(c.access);
  options.touch_threads = 3;
  options.verify_image = files.image;
  options.restore.serving = c.serving;
  options.restore.use_poison = c.poison;
  options.restore.background_populate = c.background;
  options.restore.handler_threads = 2;
  // The probe: the same run on the sound snapshot.
  options.snapshot_path = files.good;
  auto good = RunRestore(options);
  if (absl::IsPermissionDenied(good.status()) || absl::IsFailedPrecondition(good.status())) {
    GTEST_SKIP() << "this mode of userfaultfd is not available here: " << good.status();
  }
  ASSERT_TRUE(good.ok()) << good.status();
  ASSERT_TRUE(good->session_status.ok()) << good->session_status;
  EXPECT_EQ(good->pages_touched, good->pages_planned);
  EXPECT_EQ(good->pages_mismatched, 0u);

  options.snapshot_path = files.bad;
  auto bad = RunRestore(options);
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_TRUE(absl::IsDataLoss(bad->session_status)) << bad->session_status;
  EXPECT_NE(bad->session_status.message().find(absl::StrFormat("chunk %d", files.bad_chunk)),
            absl::string_view::npos)
      << bad->session_status;
  EXPECT_NE(bad->session_status.message().find("checksum"), absl::string_view::npos)
      << bad->session_status;
  EXPECT_LT(bad->pages_touched, bad->pages_planned);
  EXPECT_EQ(bad->pages_mismatched, 0u);  // no wrong byte was ever read
  EXPECT_EQ(bad->pages_verified, bad->pages_touched);
  EXPECT_GE(bad->stats.chunks_failed, 1u);
}

INSTANTIATE_TEST_SUITE_P(
    ServingModesWithAndWithoutPoison, RestoreRunRefusal,
    ::testing::Values(Case{"ThreadsPoisonSeq", ServingMode::kHandlerThreads, true, "seq", false},
                      Case{"ThreadsPoisonRandom", ServingMode::kHandlerThreads, true, "random", false},
                      Case{"ThreadsNoPoisonSeq", ServingMode::kHandlerThreads, false, "seq", false},
                      Case{"ThreadsNoPoisonRandom", ServingMode::kHandlerThreads, false, "random", false},
                      Case{"ThreadsNoPoisonBackground", ServingMode::kHandlerThreads, false, "random", true},
                      Case{"SigbusPoisonRandom", ServingMode::kSigbus, true, "random", false},
                      Case{"SigbusNoPoisonRandom", ServingMode::kSigbus, false, "random", false}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace lazysnap::cli
