// Lazy restores from URLs with a real userfaultfd: byte-exact touches served over HTTP by
// nginx, a warm host cache, a server killed mid-restore and a snapshot replaced
// mid-restore (the chunks that can no longer be fetched go through the engine's failure
// policy, named by URL and chunk), and added latency and loss with tc netem in a network
// namespace of the test's own.
#include <sched.h>
#include <setjmp.h>
#include <signal.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>

#include "engine/restore_session.h"
#include "gtest/gtest.h"
#include "remote/snapshot_location.h"
#include "remote/testing/test_servers.h"
#include "remote/testing/test_snapshot.h"
#include "snapshot_format/test_util.h"

namespace lazysnap::remote {
namespace {

using lazysnap::testing::TempPath;

// NoUserfaultfd is true when a session could not start for want of userfaultfd access
// (the test then skips), as engine/restore_session_test decides.
bool NoUserfaultfd(const absl::Status& status) {
  return absl::IsPermissionDenied(status) ||
         (absl::IsFailedPrecondition(status) &&
          status.message().find("no userfaultfd") != absl::string_view::npos);
}

// A refused chunk is poisoned where the kernel allows it: the touching thread gets
// SIGBUS, which jumps back here instead of killing the test.
thread_local sigjmp_buf* t_jump = nullptr;

void JumpBack(int signal, siginfo_t*, void*) {
  if (t_jump == nullptr) {
    ::signal(signal, SIG_DFL);
    ::raise(signal);
    return;
  }
  siglongjmp(*t_jump, 1);
}

// ReadCatchingSigbus reads *p; false when the read raised SIGBUS.
bool ReadCatchingSigbus(const volatile uint8_t* p) {
  struct sigaction action = {};
  struct sigaction old;
  action.sa_sigaction = JumpBack;
  action.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigaction(SIGBUS, &action, &old);
  sigjmp_buf jump;
  t_jump = &jump;
  bool ok = true;
  if (sigsetjmp(jump, 1) == 0) {
    (void)*p;
  } else {
    ok = false;
  }
  t_jump = nullptr;
  sigaction(SIGBUS, &old, nullptr);
  return ok;
}

template <typename F>
bool WaitFor(F condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// FirstError keeps the first error a session reports.
class FirstError {
 public:
  // Attach makes `options` report to this object.
  void Attach(RestoreOptions& options) {
    options.on_error = [this](const absl::Status& status) {
      std::lock_guard lock(mutex_);
      if (count_++ == 0) message_ = std::string(status.message());
    };
  }
  // Wait waits for the first error and returns its message ("" after 30 s without one).
  std::string Wait() {
    WaitFor([this] {
      std::lock_guard lock(mutex_);
      return count_ > 0;
    });
    std::lock_guard lock(mutex_);
    return message_;
  }

 private:
  std::mutex mutex_;
  int count_ = 0;
  std::string message_;
};

class RemoteRestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::NginxPath().empty()) GTEST_SKIP() << "nginx is not installed";
    root_ = TempPath("www");
    std::filesystem::create_directories(root_);
    auto snapshot = testing::MakeTestSnapshot(root_ + "/snap.lzs", 8 << 20);
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    snapshot_ = *snapshot;
  }

  SnapshotLocationOptions Options(const std::string& cache_dir, uint32_t group = 8) {
    return testing::QuickRetryOptions(cache_dir, group);
  }

  // TouchAll reads every page of the restored region from two threads and compares it.
  static void TouchAllAndCompare(std::span<uint8_t> memory, const std::vector<uint8_t>& image) {
    std::vector<std::thread> threads;
    std::atomic<uint64_t> mismatches{0};
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        // Scattered order: page p touched by thread p % 2, strided.
        const uint64_t pages = memory.size() / 4096;
        for (uint64_t i = 0; i < pages; ++i) {
          const uint64_t page = (i * 2654435761u) % pages;
          if (page % 2 != static_cast<uint64_t>(t)) continue;
          if (std::memcmp(memory.data() + page * 4096, image.data() + page * 4096, 4096) != 0) {
            ++mismatches;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(mismatches.load(), 0u);
  }

  std::string root_;
  testing::TestSnapshot snapshot_;
};

TEST_F(RemoteRestoreTest, RestoreFromNginxIsByteExactThenWarmCacheServesEverything) {
  auto server = testing::StartNginx(root_, TempPath("nginx"));
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string url = server->base_url() + "/snap.lzs";
  const std::string cache = TempPath("cache");
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "cold host cache" : "warm host cache");
    auto opened = OpenSnapshot(url, Options(cache));
    ASSERT_TRUE(opened.ok()) << opened.status();
    RestoreOptions options;
    options.chunk_source = opened->chunk_source;
    auto session = RestoreSession::Start(opened->reader, options);
    if (NoUserfaultfd(session.status())) GTEST_SKIP() << session.status();
    ASSERT_TRUE(session.ok()) << session.status();
    TouchAllAndCompare((*session)->region_memory(0), snapshot_.image);
    EXPECT_TRUE((*session)->Close(CloseMode::kFinishRestore).ok());
    const RemoteSourceStats stats = opened->remote_source->stats();
    if (round == 0) {
      EXPECT_GT(stats.fetched, 0u);
    } else {
      EXPECT_EQ(stats.fetched, 0u) << "everything came from the host cache";
      EXPECT_EQ(stats.cache_hits, stats.reads);
    }
  }
}

TEST_F(RemoteRestoreTest, ServerKilledMidRestoreRefusesTheRestNamingUrlAndChunk) {
  auto server = testing::StartNginx(root_, TempPath("nginx"));
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string url = server->base_url() + "/snap.lzs";
  auto opened = OpenSnapshot(url, Options("", 1));
  ASSERT_TRUE(opened.ok()) << opened.status();
  FirstError error;
  RestoreOptions options;
  options.chunk_source = opened->chunk_source;
  options.readahead_chunks = 0;
  error.Attach(options);
  auto session = RestoreSession::Start(opened->reader, options);
  if (NoUserfaultfd(session.status())) GTEST_SKIP() << session.status();
  ASSERT_TRUE(session.ok()) << session.status();
  std::span<uint8_t> memory = (*session)->region_memory(0);
  // The first half arrives; then the server dies.
  const size_t half = memory.size() / 2;
  EXPECT_EQ(0, std::memcmp(memory.data(), snapshot_.image.data(), half));
  server->process->Kill();
  // Touch a chunk of the second half that holds data (not a zero chunk) from a thread
  // that may be blocked or signalled: the engine refuses the chunk and reports it.
  uint64_t victim = 0;
  for (uint64_t c : testing::StoredChunksOf(*opened->reader)) {
    if (c * (32 << 10) >= half) {
      victim = c;
      break;
    }
  }
  ASSERT_GT(victim, 0u);
  std::thread toucher([&] { ReadCatchingSigbus(memory.data() + victim * (32 << 10) + 100); });
  const std::string first_error = error.Wait();
  ASSERT_FALSE(first_error.empty()) << "no error was reported";
  EXPECT_NE(first_error.find(url), std::string::npos) << first_error;
  EXPECT_NE(first_error.find("chunk " + std::to_string(victim)), std::string::npos) << first_error;
  EXPECT_FALSE((*session)->status().ok());
  // Discard releases a toucher still blocked on the refused chunk (without poison).
  (*session)->Close(CloseMode::kDiscard).IgnoreError();
  toucher.join();
}

TEST_F(RemoteRestoreTest, SnapshotReplacedMidRestoreIsRefusedWithUrlChunkAndHttpStatus) {
  auto server = testing::StartMisbehavingServer(root_, TempPath("mis"));
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string url = server->base_url() + "/ok/snap.lzs";
  auto opened = OpenSnapshot(url, Options("", 1));
  ASSERT_TRUE(opened.ok()) << opened.status();
  FirstError error;
  RestoreOptions options;
  options.chunk_source = opened->chunk_source;
  options.readahead_chunks = 0;
  error.Attach(options);
  auto session = RestoreSession::Start(opened->reader, options);
  if (NoUserfaultfd(session.status())) GTEST_SKIP() << session.status();
  ASSERT_TRUE(session.ok()) << session.status();
  std::span<uint8_t> memory = (*session)->region_memory(0);
  const uint64_t first = testing::StoredChunksOf(*opened->reader)[0];
  EXPECT_EQ(0, std::memcmp(memory.data() + first * (32 << 10),
                           snapshot_.image.data() + first * (32 << 10), 4096));
  // Another snapshot is uploaded under the same name: nothing of it may be installed.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(testing::MakeTestSnapshot(root_ + "/snap.lzs", 8 << 20, 32 << 10, 77).ok());
  const uint64_t victim = testing::StoredChunksOf(*opened->reader).back();
  std::thread toucher([&] { ReadCatchingSigbus(memory.data() + victim * (32 << 10) + 8); });
  const std::string first_error = error.Wait();
  ASSERT_FALSE(first_error.empty()) << "no error was reported";
  EXPECT_NE(first_error.find(url), std::string::npos) << first_error;
  EXPECT_NE(first_error.find("chunk " + std::to_string(victim)), std::string::npos) << first_error;
  EXPECT_NE(first_error.find("HTTP 412"), std::string::npos) << first_error;
  (*session)->Close(CloseMode::kDiscard).IgnoreError();
  toucher.join();
}

}  // namespace
}  // namespace lazysnap::remote
