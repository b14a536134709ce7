// Every restore strategy of the benchmark restores the right bytes: a benchmark that
// measured a wrong restore would measure nothing. Real userfaultfd; skipped, with the
// reason, where it is not available.
#include "bench/restore_strategy.h"

#include <chrono>
#include <thread>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/snapshot_writer.h"
#include "snapshot_format/test_util.h"
#include "workload/access_pattern.h"

namespace lazysnap::bench {
namespace {

using testing::Fill;

constexpr uint32_t kChunkBytes = 16 << 10;

struct Fixture {
  RawImage raw;
  std::string snapshot;
  std::vector<uint8_t> bytes;
};

// MakeFixture writes a 1 MiB raw image with every kind of chunk and three regions (one
// with a hole before it, one whose length is not a whole number of chunks), and its
// snapshot.
Fixture MakeFixture() {
  Fixture f;
  f.bytes = testing::MixedImage(1 << 20, kChunkBytes,
                                {Fill::kText, Fill::kZero, Fill::kRandom, Fill::kCopyOfFirstText});
  f.raw.path = testing::TempPath("image.raw");
  testing::WriteFileBytes(f.raw.path, f.bytes);
  f.raw.regions = {{.image_offset_bytes = 0, .length_bytes = 256 << 10},
                   {.image_offset_bytes = 320 << 10, .length_bytes = (384 << 10) + 4096},
                   {.image_offset_bytes = 768 << 10, .length_bytes = 256 << 10}};
  f.snapshot = testing::TempPath("image.lzsnap");
  auto source = FileImageSource::Open(f.raw.path, f.raw.regions);
  EXPECT_TRUE(source.ok()) << source.status();
  WriterOptions options;
  options.chunk_size_bytes = kChunkBytes;
  auto written = WriteSnapshot(**source, f.snapshot, options);
  EXPECT_TRUE(written.ok()) << written.status();
  return f;
}

bool UserfaultfdUnavailable(const absl::Status& status) {
  return absl::IsPermissionDenied(status) ||
         (absl::IsFailedPrecondition(status) &&
          status.message().find("userfaultfd") != absl::string_view::npos);
}

// RestoreTouchAndCompare restores with `strategy`, touches every page from two threads
// and compares every region with the raw image.
void RestoreTouchAndCompare(RestoreStrategy& strategy, const Fixture& f, bool uses_uffd) {
  auto memory = strategy.Restore();
  if (uses_uffd && UserfaultfdUnavailable(memory.status())) {
    GTEST_SKIP() << "userfaultfd is not available here: " << memory.status();
  }
  ASSERT_TRUE(memory.ok()) << memory.status();
  const MemoryView view = (*memory)->view();
  ASSERT_EQ(view.size(), f.raw.regions.size());
  for (int pattern = 0; pattern < 2; ++pattern) {
    // Random order first (faults in the middle of chunks), then everything.
    auto plan = PlanTouches(view, *AccessPattern::Parse(pattern == 0 ? "ws:30" : "seq"), 2);
    TouchPages(view, plan, /*record_latency=*/pattern == 0);
  }
  for (size_t r = 0; r < view.size(); ++r) {
    ASSERT_EQ(view[r].size(), f.raw.regions[r].length_bytes) << "region " << r;
    EXPECT_EQ(std::memcmp(view[r].data(), f.bytes.data() + f.raw.regions[r].image_offset_bytes,
                          view[r].size()),
              0)
        << strategy.name() << ": region " << r << " differs";
  }
  EXPECT_TRUE((*memory)->status().ok()) << (*memory)->status();
  const EngineReport report = (*memory)->Report();
  if (uses_uffd) {
    EXPECT_GT(report.faults, 0u);
    EXPECT_TRUE(report.has_service_latency);
  }
}

TEST(RestoreStrategy, EagerRestoresTheImage) {
  Fixture f = MakeFixture();
  auto strategy = NewEagerStrategy("eager", f.snapshot, 2);
  RestoreTouchAndCompare(*strategy, f, false);
}

TEST(RestoreStrategy, MmapRestoresTheImage) {
  Fixture f = MakeFixture();
  auto strategy = NewMmapStrategy("mmap", f.raw);
  RestoreTouchAndCompare(*strategy, f, false);
}

TEST(RestoreStrategy, UffdPageHandlerRestoresTheImage) {
  Fixture f = MakeFixture();
  auto strategy = NewUffdPageHandlerStrategy("uffd-4k", f.raw);
  RestoreTouchAndCompare(*strategy, f, true);
}

TEST(RestoreStrategy, UffdPageHandlerServesOneFaultPerPage) {
  Fixture f = MakeFixture();
  auto strategy = NewUffdPageHandlerStrategy("uffd-4k", f.raw);
  auto memory = strategy->Restore();
  if (UserfaultfdUnavailable(memory.status())) GTEST_SKIP() << memory.status();
  ASSERT_TRUE(memory.ok()) << memory.status();
  const MemoryView view = (*memory)->view();
  auto plan = PlanTouches(view, *AccessPattern::Parse("random"), 2);
  TouchResult touched = TouchPages(view, plan, false);
  // The handler counts a fault after its UFFDIO_COPY has woken the toucher, so the last
  // count may land just after the touches end: wait for it (bounded).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((*memory)->Report().faults < touched.pages && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ((*memory)->Report().faults, touched.pages);
}

TEST(RestoreStrategy, LazysnapRestoresTheImage) {
  Fixture f = MakeFixture();
  auto strategy = NewLazysnapStrategy("lazysnap", f.snapshot, RestoreOptions{});
  RestoreTouchAndCompare(*strategy, f, true);
}

TEST(RestoreStrategy, LazysnapSigbusRestoresTheImage) {
  Fixture f = MakeFixture();
  RestoreOptions options;
  options.serving = ServingMode::kSigbus;
  auto strategy = NewLazysnapStrategy("lazysnap-sigbus", f.snapshot, options);
  RestoreTouchAndCompare(*strategy, f, true);
}

TEST(RestoreStrategy, EachRestoreGetsFreshMemory) {
  Fixture f = MakeFixture();
  auto strategy = NewLazysnapStrategy("lazysnap", f.snapshot, RestoreOptions{});
  auto first = strategy->Restore();
  if (UserfaultfdUnavailable(first.status())) GTEST_SKIP() << first.status();
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = strategy->Restore();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE((*first)->view()[0].data(), (*second)->view()[0].data());
  // Touching the second does not fault in the first.
  auto plan = PlanTouches((*second)->view(), *AccessPattern::Parse("seq"), 1);
  TouchPages((*second)->view(), plan, false);
  EXPECT_EQ((*first)->Report().faults, 0u);
}

TEST(PackedRegionOffsets, RoundsEachRegionUpToPages) {
  std::vector<format::Region> regions = {{.image_offset_bytes = 0, .length_bytes = 4096},
                                         {.image_offset_bytes = 8192, .length_bytes = 100},
                                         {.image_offset_bytes = 12288, .length_bytes = 8192}};
  EXPECT_EQ(PackedRegionOffsets(regions, 4096), (std::vector<uint64_t>{0, 4096, 8192, 16384}));
  EXPECT_EQ(PackedRegionOffsets({}, 4096), (std::vector<uint64_t>{0}));
}

}  // namespace
}  // namespace lazysnap::bench
