// Replays the committed fuzz corpus (seeds and every input that once found a bug)
// through the reader fuzz target, built with the normal toolchain: a regression shows up
// as a crash or an abort from the target's consistency checks. Under --config=asan the
// replay also catches the memory errors libFuzzer's build would.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "base/file_io.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/test_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace lazysnap {
namespace {

std::string CorpusDirectory() { return testing::RunfilesPath("snapshot_format/testdata/fuzz_corpus"); }

TEST(ReaderFuzzerCorpus, EveryInputRunsWithoutCrashing) {
  absl::Status replayed = testing::ReplayCorpus(CorpusDirectory(), &LLVMFuzzerTestOneInput);
  EXPECT_TRUE(replayed.ok()) << replayed;
}

// Seeds named "seed-valid_*" are snapshots the reader must accept: if a change made
// them invalid, the fuzzer would be left mutating files that stop at the first check.
TEST(ReaderFuzzerCorpus, ValidSeedsOpen) {
  const std::string directory = CorpusDirectory();
  std::error_code error;
  std::vector<std::string> seeds = testing::ValidSeeds(directory, error);
  ASSERT_FALSE(error) << directory << ": " << error.message();
  EXPECT_FALSE(seeds.empty()) << "no seed-valid_* files in " << directory;
  for (const std::string& file : seeds) {
    // A valid child opens with its parent, the seed of the name it records.
    auto reader = SnapshotReader::Open(
        file, {.resolve_parent = [](const RandomAccessFile& child,
                                    const format::ParentReference& parent)
                   -> absl::StatusOr<std::shared_ptr<const RandomAccessFile>> {
          auto found = LocalFile::Open(ResolveRelativeName(child.name(), "seed-" + parent.name));
          if (!found.ok()) return found.status();
          return std::shared_ptr<const RandomAccessFile>(std::move(*found));
        }});
    EXPECT_TRUE(reader.ok()) << file << ": " << reader.status();
  }
}

}  // namespace
}  // namespace lazysnap
