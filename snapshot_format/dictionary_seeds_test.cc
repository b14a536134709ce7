// The dictionary fuzz seeds (testdata/dictionary_seeds) stay valid: each opens, has a
// dictionary that its compressed chunks use, and decodes with every checksum right. A
// seed the reader refuses would only exercise the check it fails first.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "snapshot_format/image_decoder.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/test_util.h"

namespace lazysnap {
namespace {

std::string SeedPath(const std::string& name) {
  return testing::RunfilesPath("snapshot_format/testdata/dictionary_seeds/" + name);
}

class DictionarySeed : public ::testing::TestWithParam<const char*> {};

TEST_P(DictionarySeed, OpensAndDecodesWithItsDictionary) {
  auto reader = SnapshotReader::Open(SeedPath(GetParam()));
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ((*reader)->sections().size(), 1u);
  ASSERT_NE((*reader)->dictionary(1), nullptr);
  EXPECT_GT((*reader)->summary().dictionary_chunks, 0u);
  EXPECT_EQ((*reader)->summary().dictionary_chunks, (*reader)->summary().compressed_chunks);
  auto decoded = DecodeImage(**reader, {.threads = 1},
                             [](const ChunkLocation&, std::span<const uint8_t>) {
                               return absl::OkStatus();
                             });
  EXPECT_TRUE(decoded.ok()) << decoded.status();
}

INSTANTIATE_TEST_SUITE_P(Seeds, DictionarySeed,
                         ::testing::Values("valid_dictionary_one_region.lzs",
                                           "valid_dictionary_mixed_kinds.lzs"));

}  // namespace
}  // namespace lazysnap
