// Replays the committed chain fuzz corpus (each input a child with its ancestors) through
// the chain fuzz target built with the normal toolchain, as reader_fuzzer_corpus_test
// does for single files.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "base/file_io.h"
#include "snapshot_format/chain_fuzz_input.h"
#include "snapshot_format/parent_resolver.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/test_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace lazysnap {
namespace {

std::string CorpusDirectory() {
  return testing::RunfilesPath("snapshot_format/testdata/chain_fuzz_corpus");
}

TEST(ChainFuzzerCorpus, EveryInputRunsWithoutCrashing) {
  absl::Status replayed = testing::ReplayCorpus(CorpusDirectory(), &LLVMFuzzerTestOneInput);
  EXPECT_TRUE(replayed.ok()) << replayed;
}

// Seeds named "seed-valid_*" hold a valid chain: its first file must open with the rest
// as its ancestors, so that the fuzzer starts from chains that reach every check.
TEST(ChainFuzzerCorpus, ValidSeedsOpenAsChains) {
  const std::string directory = CorpusDirectory();
  std::error_code error;
  std::vector<std::string> seeds = testing::ValidSeeds(directory, error);
  ASSERT_FALSE(error) << directory << ": " << error.message();
  EXPECT_FALSE(seeds.empty()) << "no seed-valid_* files in " << directory;
  for (const std::string& file : seeds) {
    SCOPED_TRACE(file);
    auto bytes = ReadFileToString(file);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    std::vector<std::shared_ptr<const RandomAccessFile>> chain;
    for (std::span<const uint8_t> member : DecodeChainInput(
             {reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()})) {
      chain.push_back(std::make_shared<testing::MemoryFile>(
          "member", std::vector<uint8_t>(member.begin(), member.end())));
    }
    ASSERT_GE(chain.size(), 2u);
    auto reader = SnapshotReader::Open(
        chain[0], {.resolve_parent = ParentSearchList({chain.begin() + 1, chain.end()})});
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_EQ((*reader)->chain_length(), chain.size());
  }
}

}  // namespace
}  // namespace lazysnap
