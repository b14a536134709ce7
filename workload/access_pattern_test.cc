#include "workload/access_pattern.h"

#include <sys/mman.h>

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
  EXPECT_EQ(AccessPattern::Parse("ws:0.5")->working_set_percent, 0.5);
  EXPECT_EQ(AccessPattern::Parse("ws:100")->working_set_percent, 100);
}

TEST(AccessPattern, RefusesPercentagesThatAreNotPlainDecimals) {
  for (const char* text : {"ws:nan", "ws:NaN", "ws:inf", "ws:-inf", "ws:", "ws:-0", "ws:-5",
                           "ws:0x10", "ws:1e1", "ws:50%", "ws: 5", "ws:5 ", "ws:.", "ws:1.2.3",
                           "ws:+5", "ws:100.0001", "ws:0", "ws:0.0"}) {
    auto pattern = AccessPattern::Parse(text);
    EXPECT_TRUE(absl::IsInvalidArgument(pattern.status())) << text;
  }
}

TEST(PlanTouches, AnyWorkingSetOfNonEmptyMemoryTouchesAtLeastOnePage) {
  std::vector<uint8_t> a(3041 * 4096);
  MemoryView memory = {a};
  for (const char* text : {"ws:0.001", "ws:0.00000001"}) {
    auto plan = PlanTouches(memory, *AccessPattern::Parse(text), 2);
    EXPECT_EQ(plan[0].size() + plan[1].size(), 1u) << text;
  }
  const std::vector<uint64_t> lengths = {a.size()};
  EXPECT_EQ(PlannedPageCount(lengths, *AccessPattern::Parse("ws:0.001")), 1u);
  // Rounded up: 25% of 3041 pages is 760.25 pages.
  EXPECT_EQ(PlannedPageCount(lengths, *AccessPattern::Parse("ws:25")), 761u);
  EXPECT_EQ(PlannedPageCount(lengths, *AccessPattern::Parse("random")), 3041u);
  EXPECT_EQ(PlannedPageCount({}, *AccessPattern::Parse("ws:50")), 0u);
}

TEST(PlanTouches, SmallWorkingSetOfATerabyteIsDrawnWithoutListingEveryPage) {
  // 1 TiB of address space, never touched: only its size is read.
  const uint64_t size = 1ull << 40;
  void* p = ::mmap(nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) GTEST_SKIP() << "cannot reserve 1 TiB of address space here";
  const uint64_t half = size / 2;
  MemoryView memory = {{static_cast<uint8_t*>(p), half}, {static_cast<uint8_t*>(p) + half, half}};
  AccessPattern pattern = *AccessPattern::Parse("ws:0.001");
  auto plan = PlanTouches(memory, pattern, 3);
  std::set<std::pair<uint32_t, uint64_t>> seen;
  for (const auto& thread : plan) {
    for (const PageRef& ref : thread) {
      ASSERT_LT(ref.region, 2u);
      ASSERT_LT(ref.page, half / 4096);
      EXPECT_TRUE(seen.insert({ref.region, ref.page}).second);
    }
  }
  EXPECT_EQ(seen.size(), 2685u);  // 0.001% of 2^28 pages, rounded up
  const std::vector<uint64_t> lengths = {half, half};
  EXPECT_EQ(seen.size(), PlannedPageCount(lengths, pattern));
  // Its scratch grows with the pages drawn, not with the terabyte.
  EXPECT_LT(PlanMemoryBytes(lengths, pattern), 1u << 20);
  EXPECT_GT(PlanMemoryBytes(lengths, *AccessPattern::Parse("random")), uint64_t{1} << 30);
  // Both regions are sampled, and the same seed gives the same plan.
  EXPECT_EQ(seen.begin()->first, 0u);
  EXPECT_EQ(seen.rbegin()->first, 1u);
  EXPECT_EQ(PlanTouches(memory, pattern, 3)[1][7].page, plan[1][7].page);
  ::munmap(p, size);
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
