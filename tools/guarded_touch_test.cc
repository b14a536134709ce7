#include "tools/guarded_touch.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace lazysnap::cli {
namespace {

constexpr uint64_t kPage = 4096;

// A mapping of a one-page file that is 4 pages long: touching pages 1..3 raises SIGBUS.
class ShortFileMapping {
 public:
  ShortFileMapping() {
    const char* dir = std::getenv("TEST_TMPDIR");
    std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/short_file";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd_, 0);
    EXPECT_EQ(::ftruncate(fd_, kPage), 0);
    data_ = static_cast<uint8_t*>(::mmap(nullptr, 4 * kPage, PROT_READ, MAP_SHARED, fd_, 0));
    EXPECT_NE(data_, MAP_FAILED);
  }
  ~ShortFileMapping() {
    ::munmap(data_, 4 * kPage);
    ::close(fd_);
  }
  MemoryView view() const { return {{data_, 4 * kPage}}; }
  uint8_t* data() const { return data_; }

 private:
  int fd_ = -1;
  uint8_t* data_ = nullptr;
};

TEST(TouchGuard, TouchesEveryPlannedPage) {
  std::vector<uint8_t> memory(64 * kPage);
  MemoryView view = {memory};
  auto plan = PlanTouches(view, *AccessPattern::Parse("random"), 3);
  auto guard = TouchGuard::Create();
  ASSERT_TRUE(guard.ok()) << guard.status();
  GuardedTouchResult result = (*guard)->Touch(view, plan);
  EXPECT_EQ(result.pages, 64u);
  EXPECT_FALSE(result.aborted);
  EXPECT_EQ(result.sigbus_code, 0);
  for (size_t t = 0; t < plan.size(); ++t) EXPECT_EQ(result.pages_done[t], plan[t].size());
}

TEST(TouchGuard, SigbusStopsTheTouchingAndNamesTheAddress) {
  ShortFileMapping mapping;
  MemoryView view = mapping.view();
  // Thread 0 touches page 0 then page 2 (SIGBUS); thread 1 only page 0, many times.
  std::vector<std::vector<PageRef>> plan = {{{0, 0}, {0, 2}, {0, 0}}, {}};
  for (int i = 0; i < 1000; ++i) plan[1].push_back({0, 0});
  auto guard = TouchGuard::Create();
  ASSERT_TRUE(guard.ok()) << guard.status();
  GuardedTouchResult result = (*guard)->Touch(view, plan);
  EXPECT_EQ(result.pages_done[0], 1u);
  EXPECT_EQ(result.sigbus_address, reinterpret_cast<uint64_t>(mapping.data() + 2 * kPage));
  EXPECT_NE(result.sigbus_code, 0);
  EXPECT_TRUE(result.aborted);
  // The guard is reusable: nothing is left armed.
  guard->reset();
  auto again = TouchGuard::Create();
  ASSERT_TRUE(again.ok()) << again.status();
}

TEST(TouchGuard, AbortBeforeTouchTouchesNothing) {
  std::vector<uint8_t> memory(8 * kPage);
  MemoryView view = {memory};
  auto guard = TouchGuard::Create();
  ASSERT_TRUE(guard.ok());
  (*guard)->Abort();
  GuardedTouchResult result = (*guard)->Touch(view, PlanTouches(view, {}, 2));
  EXPECT_EQ(result.pages, 0u);
  EXPECT_TRUE(result.aborted);
}

TEST(TouchGuard, OnlyOneGuardAtATimeAndHandlersAreRestored) {
  struct sigaction before;
  ASSERT_EQ(::sigaction(SIGBUS, nullptr, &before), 0);
  {
    auto first = TouchGuard::Create();
    ASSERT_TRUE(first.ok());
    EXPECT_TRUE(absl::IsFailedPrecondition(TouchGuard::Create().status()));
  }
  struct sigaction after;
  ASSERT_EQ(::sigaction(SIGBUS, nullptr, &after), 0);
  EXPECT_EQ(before.sa_handler, after.sa_handler);
}

TEST(TouchGuard, SigbusOutsideATouchStillEndsTheProcess) {
  EXPECT_EXIT(
      {
        ShortFileMapping mapping;
        auto guard = TouchGuard::Create();
        volatile uint8_t sink = mapping.data()[3 * kPage];  // not a guarded touch
        (void)sink;
        std::exit(0);
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

}  // namespace
}  // namespace lazysnap::cli
