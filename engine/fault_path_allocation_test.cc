// The fault path does not allocate: with handler threads and in SIGBUS mode, touching
// restored memory after the session has started makes no call to malloc or operator new
// anywhere in the process. malloc is interposed in this test binary to count calls.
#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "engine/restore_session.h"
#include "snapshot_format/snapshot_writer.h"
#include "snapshot_format/test_util.h"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);

std::atomic<uint64_t> g_allocations{0};

void* malloc(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
void* memalign(size_t alignment, size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(alignment, n);
}
}

namespace lazysnap {
namespace {

using testing::Fill;

class FaultPathAllocation : public ::testing::TestWithParam<ServingMode> {};

TEST_P(FaultPathAllocation, TouchingRestoredMemoryAllocatesNothing) {
  const uint32_t chunk = 65536;
  std::vector<uint8_t> image = testing::MixedImage(256 * chunk, chunk,
                                                   {Fill::kText, Fill::kZero, Fill::kRandom,
                                                    Fill::kCopyOfFirstText});
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  std::string path = testing::TempPath("alloc.lzs");
  ASSERT_TRUE(WriteSnapshot(source, path, WriterOptions{}).ok());
  auto reader = SnapshotReader::Open(path, {.validate_index = false});
  ASSERT_TRUE(reader.ok());
  // Load every index segment now: validating a segment on first use is allowed to
  // allocate nothing too, but this test is about the steady fault path.
  ASSERT_TRUE((*reader)->ValidateIndex().ok());
  RestoreOptions options;
  options.serving = GetParam();
  options.handler_threads = 2;
  options.readahead_chunks = 4;
  auto session = RestoreSession::Start(std::move(*reader), options);
  if (!session.ok()) GTEST_SKIP() << "userfaultfd is not available here: " << session.status();
  const uint8_t* memory = (*session)->region_memory(0).data();
  std::atomic<uint64_t> sum{0};
  std::atomic<int> ready{0};
  std::atomic<int> finished{0};
  std::atomic<bool> go{false};
  // Two threads touch every page (sequential and strided); they are created (which
  // allocates) before the count starts.
  std::thread a([&] {
    ++ready;
    while (!go) std::this_thread::yield();
    uint64_t s = 0;
    for (uint64_t at = 0; at < image.size(); at += 4096) s += memory[at];
    sum += s;
    ++finished;
  });
  std::thread b([&] {
    ++ready;
    while (!go) std::this_thread::yield();
    uint64_t s = 0;
    for (uint64_t at = image.size() - 4096; at >= 4096 * 37; at -= 4096 * 37) s += memory[at];
    sum += s;
    ++finished;
  });
  while (ready < 2) std::this_thread::yield();
  const uint64_t before = g_allocations.load();
  go = true;
  while (finished < 2) std::this_thread::yield();
  const uint64_t after = g_allocations.load();
  a.join();
  b.join();
  EXPECT_EQ(after - before, 0u) << "allocations during the touches";
  EXPECT_EQ(0, std::memcmp(memory, image.data(), image.size()));
  EXPECT_GT((*session)->stats().faults, 0u);
}

INSTANTIATE_TEST_SUITE_P(Modes, FaultPathAllocation,
                         ::testing::Values(ServingMode::kHandlerThreads, ServingMode::kSigbus));

}  // namespace
}  // namespace lazysnap
