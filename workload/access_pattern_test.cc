#include "workload/access_pattern.h"

#include <set>

#include <gtest/gtest.h>

#include "workload/synthetic_image.h"

namespace lazysnap {
namespace {

TEST(AccessPattern, ParsesAndPrints) {
  EXPECT_EQ(AccessPattern::Parse("seq")->ToString(), "seq");
  EXPECT_EQ(AccessPattern::Parse("random")->ToString(), "random");
  EXPECT_EQ(AccessPattern::Parse("ws:10")->ToString(), "ws:10");
  EXPECT_TRUE(absl::IsInvalidArgument(AccessPattern::Parse("ws:0").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(AccessPattern::Parse("ws:150").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(AccessPattern::Parse("zigzag").status()));
}

TEST(PlanTouches, SequentialCoversEveryPageOnceInSlices) {
  std::vector<uint8_t> a(10 * 4096), b(3 * 4096 + 1);
  MemoryView memory = {a, b};
  auto plan = PlanTouches(memory, *AccessPattern::Parse("seq"), 3);
  ASSERT_EQ(plan.size(), 3u);
  std::set<std::pair<uint32_t, uint64_t>> seen;
  for (const auto& thread : plan) {
    for (size_t i = 1; i < thread.size(); ++i) {
      EXPECT_TRUE(thread[i - 1].region < thread[i].region ||
                  (thread[i - 1].region == thread[i].region && thread[i - 1].page + 1 == thread[i].page));
    }
    for (const PageRef& p : thread) EXPECT_TRUE(seen.insert({p.region, p.page}).second);
  }
  EXPECT_EQ(seen.size(), 10u + 4u);
}

TEST(PlanTouches, WorkingSetTouchesThatShareOfDistinctPages) {
  std::vector<uint8_t> a(1000 * 4096);
  MemoryView memory = {a};
  AccessPattern pattern = *AccessPattern::Parse("ws:10");
  auto plan = PlanTouches(memory, pattern, 2);
  std::set<uint64_t> seen;
  for (const auto& thread : plan) {
    for (const PageRef& p : thread) EXPECT_TRUE(seen.insert(p.page).second);
  }
  EXPECT_EQ(seen.size(), 100u);
  // The same seed gives the same plan.
  EXPECT_EQ(PlanTouches(memory, pattern, 2)[0][5].page, plan[0][5].page);
}

TEST(TouchPages, ReadsEveryPlannedPage) {
  std::vector<uint8_t> a(64 * 4096);
  for (size_t p = 0; p < 64; ++p) a[p * 4096] = static_cast<uint8_t>(p);
  MemoryView memory = {a};
  auto plan = PlanTouches(memory, *AccessPattern::Parse("random"), 4);
  TouchResult result = TouchPages(memory, plan, /*record_latency=*/true);
  EXPECT_EQ(result.pages, 64u);
  EXPECT_EQ(result.checksum, 63u * 64 / 2);
  EXPECT_EQ(result.page_latencies_ns.size(), 64u);
}

TEST(SyntheticImage, IsDeterministicAndMemoryLike) {
  SyntheticImageOptions options;
  std::vector<uint8_t> whole(8 << 20), piece(100000);
  FillSyntheticImage(options, 0, whole);
  FillSyntheticImage(options, 12345, piece);
  EXPECT_EQ(0, std::memcmp(piece.data(), whole.data() + 12345, piece.size()));
  size_t zero_pages = 0;
  for (size_t p = 0; p < whole.size(); p += 4096) {
    bool zero = true;
    for (size_t i = 0; i < 4096 && zero; ++i) zero = whole[p + i] == 0;
    zero_pages += zero;
  }
  const double zero_share = static_cast<double>(zero_pages) / (whole.size() / 4096);
  EXPECT_GT(zero_share, 0.2);
  EXPECT_LT(zero_share, 0.6);
}

}  // namespace
}  // namespace lazysnap
