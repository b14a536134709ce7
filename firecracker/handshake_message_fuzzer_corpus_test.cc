// Replays the committed corpus of the handshake parser's fuzz target (seeds, and every
// input that once found a bug) with the normal toolchain; seeds named "seed-valid_*" are
// messages the parser must accept, so that the fuzzer mutates messages that get past the
// JSON layer.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "base/file_io.h"
#include "firecracker/handshake_message.h"
#include "snapshot_format/test_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace lazysnap::firecracker {
namespace {

std::vector<std::string> CorpusFiles() {
  const std::string directory = testing::RunfilesPath("firecracker/testdata/handshake_corpus");
  std::vector<std::string> files;
  std::error_code error;
  for (std::filesystem::directory_iterator it(directory, error), end; !error && it != end;
       it.increment(error)) {
    if (it->is_regular_file(error)) files.push_back(it->path().string());
  }
  EXPECT_FALSE(error) << directory << ": " << error.message();
  std::sort(files.begin(), files.end());
  return files;
}

TEST(HandshakeMessageFuzzerCorpus, EveryInputRunsWithoutCrashing) {
  std::vector<std::string> files = CorpusFiles();
  ASSERT_FALSE(files.empty());
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    auto bytes = ReadFileToString(file);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
  }
}

TEST(HandshakeMessageFuzzerCorpus, ValidSeedsParse) {
  int valid = 0;
  for (const std::string& file : CorpusFiles()) {
    if (std::filesystem::path(file).filename().string().rfind("seed-valid_", 0) != 0) continue;
    ++valid;
    auto bytes = ReadFileToString(file);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    auto message = ParseHandshakeMessage(*bytes);
    EXPECT_TRUE(message.ok()) << file << ": " << message.status();
  }
  EXPECT_GT(valid, 0);
}

}  // namespace
}  // namespace lazysnap::firecracker
