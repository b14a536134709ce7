// The /proc parsers and page cache helpers of the benchmarks.
#include "bench/process_metrics.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "snapshot_format/test_util.h"

namespace lazysnap::bench {
namespace {

TEST(ProcessMetrics, ParsesProcessIo) {
  auto io = ParseProcessIo(
      "rchar: 123\nwchar: 5\nsyscr: 7\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 0\n"
      "cancelled_write_bytes: 0\n");
  ASSERT_TRUE(io.ok()) << io.status();
  EXPECT_EQ(io->rchar, 123u);
  EXPECT_EQ(io->read_bytes, 4096u);
  EXPECT_FALSE(ParseProcessIo("wchar: 5\n").ok());
}

TEST(ProcessMetrics, ParsesSmapsRollup) {
  auto usage = ParseSmapsRollup(
      "55d0c0000000-7ffd00000000 ---p 00000000 00:00 0    [rollup]\n"
      "Rss:               10240 kB\nPss:                9000 kB\nAnonymous:          2048 kB\n");
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(usage->rss_bytes, 10240u << 10);
  EXPECT_EQ(usage->anonymous_bytes, 2048u << 10);
}

TEST(ProcessMetrics, SumsResidencyOfMappingsInRanges) {
  const char smaps[] =
      "1000-3000 rw-p 00000000 00:00 0 \n"
      "Size:                  8 kB\nRss:                   8 kB\nAnonymous:             8 kB\n"
      "VmFlags: rd wr mr mw me ac \n"
      "3000-5000 r--p 00000000 fd:00 12 /tmp/image.raw\n"
      "Size:                  8 kB\nRss:                   4 kB\nAnonymous:             0 kB\n"
      "5000-9000 rw-p 00000000 00:00 0 \n"
      "Size:                 16 kB\nRss:                  16 kB\nAnonymous:            16 kB\n";
  std::vector<AddressRange> ranges = {{0x1000, 0x5000}};
  RangeResidency r = ParseSmapsResidency(smaps, ranges);
  EXPECT_EQ(r.rss_bytes, 12u << 10);
  EXPECT_EQ(r.anonymous_bytes, 8u << 10);
  EXPECT_FALSE(r.partial_overlap);
  ranges = {{0x6000, 0x7000}};
  r = ParseSmapsResidency(smaps, ranges);
  EXPECT_EQ(r.rss_bytes, 16u << 10);
  EXPECT_TRUE(r.partial_overlap);
}

// ReadFaultsAreResident probes how this host accounts a read of untouched anonymous
// memory: most kernels map the shared zero page (nothing resident), some allocate a page
// (seen on a Linux 6.18 guest). Decided by measuring, with the method ReadResidency uses
// here, a mapping of its own; an error when the answer is neither.
absl::StatusOr<bool> ReadFaultsAreResident() {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t length = 16 * page;
  void* map = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) return absl::InternalError("mmap failed");
  ::madvise(map, length, MADV_NOHUGEPAGE);
  for (size_t i = 0; i < 8; ++i) {
    (void)*static_cast<volatile uint8_t*>(static_cast<uint8_t*>(map) + 2 * i * page);
  }
  const auto start = reinterpret_cast<uint64_t>(map);
  std::vector<AddressRange> ranges = {{start, start + length}};
  auto residency = ReadResidency(ranges);
  ::munmap(map, length);
  if (!residency.ok()) return residency.status();
  if (residency->rss_bytes == 0) return false;
  if (residency->rss_bytes == 8 * page) return true;
  return absl::FailedPreconditionError(absl::StrFormat(
      "8 pages read, %d bytes resident (%s): neither the zero page nor one page each",
      residency->rss_bytes, residency->method));
}

TEST(ProcessMetrics, ResidencyCountsTouchedPagesOfAMapping) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  auto reads_resident = ReadFaultsAreResident();
  if (!reads_resident.ok()) GTEST_SKIP() << "this host's accounting: " << reads_resident.status();
  const size_t length = 256 * page;
  void* map = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(map, MAP_FAILED);
  // No THP or mTHP folio may make one touch resident for many pages.
  ::madvise(map, length, MADV_NOHUGEPAGE);
  std::memset(map, 1, 64 * page);
  // Reading untouched anonymous memory: the shared zero page on most hosts (not resident
  // memory), a page of its own on others; the probe above said which.
  for (size_t i = 128; i < 160; ++i) {
    (void)*static_cast<volatile uint8_t*>(static_cast<uint8_t*>(map) + i * page);
  }
  const auto start = reinterpret_cast<uint64_t>(map);
  std::vector<AddressRange> ranges = {{start, start + length}};
  auto residency = ReadResidency(ranges);
  ASSERT_TRUE(residency.ok()) << residency.status();
  const uint64_t expected = (64 + (*reads_resident ? 32 : 0)) * page;
  EXPECT_EQ(residency->rss_bytes, expected) << residency->method;
  EXPECT_EQ(residency->anonymous_bytes, expected) << residency->method;
  // Pages only written are resident on every host.
  std::vector<AddressRange> written = {{start, start + 64 * page}};
  auto written_residency = ReadResidency(written);
  ASSERT_TRUE(written_residency.ok()) << written_residency.status();
  EXPECT_GE(written_residency->rss_bytes, 64 * page);
  ::munmap(map, length);
}

TEST(ProcessMetrics, EvictsAndWarmsAFile) {
  const std::string path = testing::TempPath("cached.bin");
  testing::WriteFileBytes(path, std::vector<uint8_t>(1 << 20, 7));
  auto allocated = AllocatedBytes(path);
  ASSERT_TRUE(allocated.ok()) << allocated.status();
  EXPECT_GE(*allocated, 1u << 20);
  ASSERT_TRUE(WarmPageCache(path).ok());
  auto cached = CachedFraction(path);
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(*cached, 1.0);
  ASSERT_TRUE(EvictFromPageCache(path).ok());
  cached = CachedFraction(path);
  ASSERT_TRUE(cached.ok()) << cached.status();
  // Eviction is advice: on tmpfs (no backing store) pages stay. Anything else drops them.
  if (*cached > 0.0) GTEST_SKIP() << "the file system kept the pages (tmpfs?)";
  EXPECT_EQ(*cached, 0.0);
}

}  // namespace
}  // namespace lazysnap::bench
