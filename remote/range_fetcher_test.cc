// RangeFetcher against real servers on loopback: nginx for correct range requests, and
// misbehaving_server.py for every way a server or a network can fail a range GET.
#include "remote/range_fetcher.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "remote/testing/test_servers.h"
#include "snapshot_format/test_util.h"

namespace lazysnap::remote {
namespace {

using lazysnap::testing::TempPath;
using testing::Server;

std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<uint8_t>(x);
  }
  return v;
}

FetchOptions FastRetries() {
  FetchOptions o;
  o.max_attempts = 3;
  o.backoff_initial_ms = 1;
  o.backoff_max_ms = 5;
  o.stall_timeout_ms = 1000;
  o.request_timeout_ms = 10000;
  return o;
}

class RangeFetcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = TempPath("www");
    std::filesystem::create_directories(root_);
    data_ = Pattern(3 << 20, 1);
    lazysnap::testing::WriteFileBytes(root_ + "/object.bin", data_);
  }

  absl::StatusOr<std::unique_ptr<RangeFetcher>> OpenAt(const std::string& url,
                                                        FetchOptions options = FastRetries()) {
    auto fetcher = RangeFetcher::Create({.url = url, .display_name = url}, options);
    if (!fetcher.ok()) return fetcher.status();
    auto ends = (*fetcher)->Open(4096, 8192);
    if (!ends.ok()) return ends.status();
    EXPECT_EQ(ends->head, std::vector<uint8_t>(data_.begin(), data_.begin() + 4096));
    EXPECT_EQ(ends->tail, std::vector<uint8_t>(data_.end() - 8192, data_.end()));
    return fetcher;
  }

  void ExpectRange(RangeFetcher& fetcher, uint64_t offset, size_t length) {
    std::vector<uint8_t> out(length);
    absl::Status s = fetcher.Fetch(offset, out);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_TRUE(std::equal(out.begin(), out.end(), data_.begin() + offset))
        << "bytes " << offset << "+" << length;
  }

  absl::StatusOr<Server> Misbehaving() { return testing::StartMisbehavingServer(root_, TempPath("mis")); }

  std::string root_;
  std::vector<uint8_t> data_;
};

TEST_F(RangeFetcherTest, NginxRangesAreByteExactAndConnectionsAreReused) {
  if (testing::NginxPath().empty()) GTEST_SKIP() << "nginx is not installed (tools/bazel installs nginx-light)";
  auto server = testing::StartNginx(root_, TempPath("nginx"));
  ASSERT_TRUE(server.ok()) << server.status();
  FetchOptions options = FastRetries();
  options.max_connections = 4;
  auto fetcher = OpenAt(server->base_url() + "/object.bin", options);
  ASSERT_TRUE(fetcher.ok()) << fetcher.status();
  EXPECT_EQ((*fetcher)->version().size_bytes, data_.size());
  EXPECT_FALSE((*fetcher)->version().etag.empty());
  for (uint64_t offset : {0ul, 1ul, 4095ul, 1000000ul, data_.size() - 1}) ExpectRange(**fetcher, offset, 1);
  ExpectRange(**fetcher, 12345, 700000);
  for (int i = 0; i < 100; ++i) ExpectRange(**fetcher, (i * 7919) % (data_.size() - 5000), 5000);
  const FetchStats stats = (*fetcher)->stats();
  EXPECT_LE(stats.connections_opened, 4u) << "keep-alive connections are reused";
  EXPECT_EQ(stats.failures, 0u);
}

TEST_F(RangeFetcherTest, AdjacentWaitingRequestsShareOneGet) {
  if (testing::NginxPath().empty()) GTEST_SKIP() << "nginx is not installed";
  auto server = testing::StartNginx(root_, TempPath("nginx"));
  ASSERT_TRUE(server.ok()) << server.status();
  FetchOptions options = FastRetries();
  options.max_connections = 1;
  options.max_request_bytes = 64 << 10;
  auto fetcher = OpenAt(server->base_url() + "/object.bin", options);
  ASSERT_TRUE(fetcher.ok()) << fetcher.status();
  const uint64_t gets_before = (*fetcher)->stats().http_requests;
  // 64 adjacent 4 KiB reads handed in together: 4 GETs of 64 KiB.
  constexpr int kReads = 64;
  std::vector<std::vector<uint8_t>> buffers(kReads, std::vector<uint8_t>(4096));
  std::vector<FetchRequest> requests(kReads);
  std::vector<FetchRequest*> pointers;
  std::mutex m;
  std::condition_variable cv;
  int done = 0;
  for (int i = 0; i < kReads; ++i) {
    requests[i].offset_bytes = 100000 + i * 4096;
    requests[i].buffer = buffers[i];
    requests[i].done = [&](FetchRequest&) {
      std::lock_guard lock(m);
      ++done;
      cv.notify_all();
    };
    pointers.push_back(&requests[i]);
  }
  (*fetcher)->Start(pointers);
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return done == kReads; });
  for (int i = 0; i < kReads; ++i) {
    ASSERT_EQ(requests[i].error_number, 0) << requests[i].error;
    EXPECT_TRUE(std::equal(buffers[i].begin(), buffers[i].end(), data_.begin() + 100000 + i * 4096));
  }
  const FetchStats stats = (*fetcher)->stats();
  EXPECT_EQ(stats.http_requests - gets_before, 4u);
  EXPECT_EQ(stats.coalesced, 64u);
}

TEST_F(RangeFetcherTest, NotFoundAndForbiddenAreNotRetried) {
  auto server = Misbehaving();
  ASSERT_TRUE(server.ok()) << server.status();
  for (int code : {404, 403}) {
    const std::string url = server->base_url() + "/status/" + std::to_string(code) + "/object.bin";
    auto fetcher = RangeFetcher::Create({.url = url, .display_name = url}, FastRetries());
    ASSERT_TRUE(fetcher.ok());
    auto opened = (*fetcher)->Open(4096, 4096);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.status().code(),
              code == 404 ? absl::StatusCode::kNotFound : absl::StatusCode::kPermissionDenied);
    const std::string message(opened.status().message());
    EXPECT_NE(message.find(url), std::string::npos) << message;
    EXPECT_NE(message.find("HTTP " + std::to_string(code)), std::string::npos) << message;
    EXPECT_NE(message.find(code == 404 ? "NoSuchKey" : "AccessDenied"), std::string::npos);
    EXPECT_EQ((*fetcher)->stats().retries, 0u);
  }
}

TEST_F(RangeFetcherTest, ServerErrorsAreRetriedThenReported) {
  auto server = Misbehaving();
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string url = server->base_url() + "/status/500/object.bin";
  auto fetcher = RangeFetcher::Create({.url = url, .display_name = url}, FastRetries());
  ASSERT_TRUE(fetcher.ok());
  auto opened = (*fetcher)->Open(4096, 4096);
  ASSERT_TRUE(absl::IsUnavailable(opened.status())) << opened.status();
  EXPECT_NE(opened.status().message().find("HTTP 500 (InternalError)"), std::string::npos);
  EXPECT_NE(opened.status().message().find("attempt 3 of 3"), std::string::npos) << opened.status();
}

TEST_F(RangeFetcherTest, TransientErrorsRecoverWithRetries) {
  auto server = Misbehaving();
  ASSERT_TRUE(server.ok()) << server.status();
  for (const char* mode : {"flaky/2", "truncate/2", "stall/1"}) {
    SCOPED_TRACE(mode);
    auto fetcher = OpenAt(server->base_url() + "/" + mode + "/object.bin");
    ASSERT_TRUE(fetcher.ok()) << fetcher.status();
    ExpectRange(**fetcher, 777, 300000);
    EXPECT_GE((*fetcher)->stats().retries, 1u);
  }
}

TEST_F(RangeFetcherTest, ServerThatIgnoresRangeStillGivesTheRightBytes) {
  auto server = Misbehaving();
  ASSERT_TRUE(server.ok()) << server.status();
  auto fetcher = OpenAt(server->base_url() + "/norange/object.bin");
  ASSERT_TRUE(fetcher.ok()) << fetcher.status();
  ExpectRange(**fetcher, 2000000, 10000);
  EXPECT_GE((*fetcher)->stats().range_ignored, 3u);
}

TEST_F(RangeFetcherTest, WrongContentRangeIsRefused) {
  auto server = Misbehaving();
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string url = server->base_url() + "/badrange/object.bin";
  auto fetcher = RangeFetcher::Create({.url = url, .display_name = url}, FastRetries());
  ASSERT_TRUE(fetcher.ok());
  auto opened = (*fetcher)->Open(4096, 4096);
  ASSERT_TRUE(absl::IsDataLoss(opened.status())) << opened.status();
  EXPECT_NE(opened.status().message().find("Content-Range"), std::string::npos);
}

TEST_F(RangeFetcherTest, ReplacedObjectIsDetectedNotMixed) {
  auto server = Misbehaving();
  ASSERT_TRUE(server.ok()) << server.status();
  auto fetcher = OpenAt(server->base_url() + "/ok/object.bin");
  ASSERT_TRUE(fetcher.ok()) << fetcher.status();
  ExpectRange(**fetcher, 0, 1000);
  // Same size, other bytes, new modification time: a new ETag.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  lazysnap::testing::WriteFileBytes(root_ + "/object.bin", Pattern(data_.size(), 2));
  std::vector<uint8_t> out(1000);
  absl::Status s = (*fetcher)->Fetch(5000, out);
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("changed"), std::string::npos) << s;
}

TEST_F(RangeFetcherTest, ServerKilledMidwayFailsAfterRetries) {
  if (testing::NginxPath().empty()) GTEST_SKIP() << "nginx is not installed";
  auto server = testing::StartNginx(root_, TempPath("nginx"));
  ASSERT_TRUE(server.ok()) << server.status();
  auto fetcher = OpenAt(server->base_url() + "/object.bin");
  ASSERT_TRUE(fetcher.ok()) << fetcher.status();
  ExpectRange(**fetcher, 0, 1000);
  server->process->Kill();
  std::vector<uint8_t> out(1000);
  absl::Status s = (*fetcher)->Fetch(5000, out);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("attempt 3 of 3"), std::string::npos) << s;
}

TEST_F(RangeFetcherTest, SlowRequestDoesNotHoldUpOthers) {
  auto server = Misbehaving();
  ASSERT_TRUE(server.ok()) << server.status();
  FetchOptions options = FastRetries();
  options.max_connections = 4;
  options.stall_timeout_ms = 10000;
  // The first request after Open's two waits 2 s on the server.
  auto fetcher = OpenAt(server->base_url() + "/slowfirst/2000/object.bin", options);
  ASSERT_TRUE(fetcher.ok()) << fetcher.status();
  std::vector<uint8_t> slow_buffer(1000);
  FetchRequest slow;
  slow.offset_bytes = 0;
  slow.buffer = slow_buffer;
  std::atomic<bool> slow_done{false};
  slow.done = [&](FetchRequest&) { slow_done = true; };
  FetchRequest* p = &slow;
  (*fetcher)->Start({&p, 1});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // Others, far from it (not merged with it), complete while it waits.
  for (int i = 1; i <= 5; ++i) ExpectRange(**fetcher, i * 500000, 1000);
  EXPECT_FALSE(slow_done.load()) << "the slow request finished first: nothing was tested";
  while (!slow_done) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(slow.error_number, 0) << slow.error;
}

}  // namespace
}  // namespace lazysnap::remote
