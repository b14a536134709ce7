#include "engine/restore_options.h"

#include <gtest/gtest.h>

namespace lazysnap {
namespace {

constexpr uint64_t kMib = 1 << 20;

TEST(RestoreBufferBytes, CountsEveryBufferPairTheServersAllocate) {
  RestoreOptions options;
  options.handler_threads = 2;
  options.reads_in_flight = 8;
  // 2 handlers x 8 slots, plus one pair per closing worker.
  EXPECT_EQ(RestoreBufferBytes(options, 4 * kMib, 4 * kMib, 16), (2 * 8 + 2) * 8 * kMib);
  options.handler_threads = 0;  // one per CPU
  EXPECT_EQ(RestoreBufferBytes(options, kMib, kMib, 3), (3 * 8 + 3) * 2 * kMib);
  options.background_populate = true;
  EXPECT_EQ(RestoreBufferBytes(options, kMib, kMib, 3), (3 * 8 + 3 + 1) * 2 * kMib);
  RestoreOptions sigbus;
  sigbus.serving = ServingMode::kSigbus;
  sigbus.handler_threads = 4;
  EXPECT_EQ(RestoreBufferBytes(sigbus, kMib, kMib, 1), (2 * 4 + 2) * 2 * kMib);
}

TEST(ValidateRestoreOptions, RefusesInRangeValuesThatMultiplyBeyondTheBudget) {
  RestoreOptions options;
  options.handler_threads = 256;
  options.reads_in_flight = 4096;
  absl::Status status = ValidateRestoreOptions(options, 4 * kMib, 4 * kMib + 1024, 2, 1024 * kMib);
  ASSERT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_NE(status.message().find("handler_threads 256 x reads_in_flight 4096"),
            absl::string_view::npos)
      << status;
  EXPECT_NE(status.message().find("a 4194304-byte chunk"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("need 8799314509824 bytes"), absl::string_view::npos) << status;
  options.handler_threads = 2;
  options.reads_in_flight = 8;
  EXPECT_TRUE(ValidateRestoreOptions(options, 4 * kMib, 4 * kMib + 1024, 2, 1024 * kMib).ok());
}

TEST(ValidateRestoreOptions, RefusesValuesOutOfRange) {
  for (auto mutate : std::vector<void (*)(RestoreOptions&)>{
           [](RestoreOptions& o) { o.handler_threads = -1; },
           [](RestoreOptions& o) { o.handler_threads = 1025; },
           [](RestoreOptions& o) { o.reads_in_flight = 0; },
           [](RestoreOptions& o) { o.reads_in_flight = 4097; },
           [](RestoreOptions& o) { o.readahead_chunks = 1 << 20; },
           [](RestoreOptions& o) { o.handler_nice = -21; }}) {
    RestoreOptions options;
    mutate(options);
    EXPECT_TRUE(absl::IsInvalidArgument(
        ValidateRestoreOptions(options, 32 << 10, 33 << 10, 2, uint64_t{1} << 40)));
  }
}

}  // namespace
}  // namespace lazysnap
