#include "tools/cli.h"

#include <gtest/gtest.h>

namespace lazysnap::cli {
namespace {

const CommandSpec kSpec = {.name = "t",
                           .synopsis = "A [B]",
                           .summary = "test",
                           .min_positional = 1,
                           .max_positional = 2,
                           .flags = {{"output", "FILE", "out", false, 'o'},
                                     {"level", "N", "level"},
                                     {"region", "R", "region", true},
                                     {"json", "", "json"}}};

absl::StatusOr<ParsedArgs> ParseWords(std::vector<std::string> words) {
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  return Parse(kSpec, static_cast<int>(argv.size()), argv.data());
}

TEST(Parse, FlagsInAnyFormAndPositionals) {
  auto args = ParseWords({"t", "in", "-o", "out", "--level=3", "--region", "a", "--region", "b",
                          "--json", "extra"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->positional(), (std::vector<std::string>{"in", "extra"}));
  EXPECT_EQ(args->Value("output"), "out");
  EXPECT_EQ(args->Value("level"), "3");
  EXPECT_EQ(args->Values("region"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(args->Has("json"));
  EXPECT_FALSE(args->Has("nothing"));
}

TEST(Parse, UsageErrorsAreOneLineInvalidArgument) {
  for (auto words : std::vector<std::vector<std::string>>{
           {"t", "in", "--bogus"},
           {"t", "in", "--level"},
           {"t", "in", "--json=1"},
           {"t", "in", "--level", "1", "--level", "2"},
           {"t"},
           {"t", "a", "b", "c"}}) {
    auto args = ParseWords(words);
    EXPECT_TRUE(absl::IsInvalidArgument(args.status())) << words.back();
    EXPECT_EQ(args.status().message().find('\n'), absl::string_view::npos);
  }
  EXPECT_NE(ParseWords({"t", "in", "--bogus"}).status().message().find("--bogus"),
            absl::string_view::npos);
}

TEST(ParseSize, BinarySuffixes) {
  EXPECT_EQ(*ParseSize("4096"), 4096u);
  EXPECT_EQ(*ParseSize("64K"), 65536u);
  EXPECT_EQ(*ParseSize("64KiB"), 65536u);
  EXPECT_EQ(*ParseSize("1m"), 1u << 20);
  EXPECT_EQ(*ParseSize("2G"), 2ull << 30);
  EXPECT_FALSE(ParseSize("").ok());
  EXPECT_FALSE(ParseSize("12Q").ok());
  EXPECT_FALSE(ParseSize("K").ok());
  EXPECT_FALSE(ParseSize("99999999999999999999T").ok());
}

TEST(ParseIntList, CommaSeparatedWithinBounds) {
  EXPECT_EQ(*ParseIntList("levels", "-5,3,,19", -7, 22), (std::vector<int64_t>{-5, 3, 19}));
  EXPECT_FALSE(ParseIntList("levels", "", -7, 22).ok());
  EXPECT_FALSE(ParseIntList("levels", "3,x", -7, 22).ok());
  absl::Status out_of_range = ParseIntList("chunk_kib", "4,9999", 4, 4096).status();
  EXPECT_TRUE(absl::IsInvalidArgument(out_of_range));
  EXPECT_NE(out_of_range.message().find("--chunk_kib"), absl::string_view::npos);
}

TEST(HelpText, NamesTheProgram) {
  CommandSpec own = kSpec;
  own.program = "";
  own.name = "format_sweep";
  EXPECT_EQ(HelpText(own).rfind("usage: format_sweep A [B]", 0), 0u);
  EXPECT_EQ(HelpText(kSpec).rfind("usage: lazysnap t A [B]", 0), 0u);
}

TEST(Format, BytesRatesDurations) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1536), "1.50 KiB");
  EXPECT_EQ(FormatBytes(1ull << 30), "1.00 GiB");
  EXPECT_EQ(FormatRate(523e6), "523 MB/s");
  EXPECT_EQ(FormatRate(1.5e9), "1.50 GB/s");
  EXPECT_EQ(FormatDuration(0.000850), "850 us");
  EXPECT_EQ(FormatDuration(0.0123), "12.3 ms");
  EXPECT_EQ(FormatDuration(1.52), "1.52 s");
}

TEST(Fail, EveryFailedOperationExitsOneAndJsonGetsADocument) {
  // A missing input file is a failed operation, not a usage error.
  for (const absl::Status& status :
       {absl::NotFoundError("open x: No such file"), absl::PermissionDeniedError("denied"),
        absl::DataLossError("chunk 3"), absl::InvalidArgumentError("not a snapshot")}) {
    ::testing::internal::CaptureStderr();
    EXPECT_EQ(Fail("t", status), kExitFailure) << status;
    EXPECT_EQ(::testing::internal::GetCapturedStderr(),
              "lazysnap t: " + std::string(status.message()) + "\n");
  }
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(Fail("t", absl::NotFoundError("open \"x\""), /*json=*/true), kExitFailure);
  ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(::testing::internal::GetCapturedStdout(),
            "{\"error\":\"open \\\"x\\\"\",\"code\":\"NOT_FOUND\"}\n");
}

}  // namespace
}  // namespace lazysnap::cli
