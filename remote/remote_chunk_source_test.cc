// RemoteChunkSource through the engine's ChunkReader interface, against nginx and the
// misbehaving server: byte-exact reads with many in flight, the host cache (miss, hit,
// corrupted entry, shared by a second source), group fetches, and failures that name the
// URL, the chunk and the HTTP status.
#include "remote/remote_chunk_source.h"

#include <filesystem>
#include <fstream>
#include <thread>

#include "base/random_access_file.h"
#include "gtest/gtest.h"
#include "remote/snapshot_location.h"
#include "remote/testing/test_servers.h"
#include "remote/testing/test_snapshot.h"
#include "snapshot_format/test_util.h"

namespace lazysnap::remote {
namespace {

using lazysnap::testing::TempPath;

class RemoteChunkSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = TempPath("www");
    std::filesystem::create_directories(root_);
    auto snapshot = testing::MakeTestSnapshot(root_ + "/snap.lzs", 4 << 20);
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    snapshot_ = *snapshot;
    auto local = LocalFile::Open(snapshot_.path);
    ASSERT_TRUE(local.ok());
    local_ = std::move(*local);
  }

  SnapshotLocationOptions Options(const std::string& cache_dir, uint32_t group = 8) {
    return testing::QuickRetryOptions(cache_dir, group);
  }

  // ExpectStoredBytes checks reads against the local file's stored bytes.
  void ExpectStoredBytes(const SnapshotReader& reader, const std::vector<uint64_t>& chunks,
                         const std::vector<testing::ChunkReadResult>& results) {
    ASSERT_EQ(chunks.size(), results.size());
    for (size_t i = 0; i < chunks.size(); ++i) {
      auto location = reader.Locate(chunks[i]);
      ASSERT_TRUE(location.ok());
      ASSERT_EQ(results[i].result, location->stored.stored_length_bytes)
          << "chunk " << chunks[i] << ": " << results[i].detail;
      std::vector<uint8_t> expected(location->stored.stored_length_bytes);
      ASSERT_TRUE(local_->ReadAt(location->stored.file_offset_bytes, expected).ok());
      EXPECT_EQ(results[i].bytes, expected) << "chunk " << chunks[i];
    }
  }

  std::string root_;
  testing::TestSnapshot snapshot_;
  std::unique_ptr<LocalFile> local_;
};

TEST_F(RemoteChunkSourceTest, EveryChunkByteExactWithManyReadsInFlight) {
  if (testing::NginxPath().empty()) GTEST_SKIP() << "nginx is not installed";
  auto server = testing::StartNginx(root_, TempPath("nginx"));
  ASSERT_TRUE(server.ok()) << server.status();
  for (uint32_t group : {1u, 8u}) {
    SCOPED_TRACE(group);
    auto opened = OpenSnapshot(server->base_url() + "/snap.lzs",
                               Options(TempPath("cache_" + std::to_string(group)), group));
    ASSERT_TRUE(opened.ok()) << opened.status();
    const std::vector<uint64_t> chunks = testing::StoredChunksOf(*opened->reader);
    ASSERT_GT(chunks.size(), 50u);
    auto results = testing::ReadChunksThrough(*opened->chunk_source, *opened->reader, chunks, 16);
    ASSERT_TRUE(results.ok()) << results.status();
    ExpectStoredBytes(*opened->reader, chunks, *results);
    const RemoteSourceStats stats = opened->remote_source->stats();
    EXPECT_EQ(stats.reads, chunks.size());
    EXPECT_EQ(stats.failed, 0u);
    if (group == 1) {
      EXPECT_EQ(stats.group_chunks_fetched, 0u);
    } else {
      EXPECT_GT(stats.group_chunks_fetched, 0u);
    }
  }
}

TEST_F(RemoteChunkSourceTest, HostCacheMissThenHitAcrossSourcesAndCorruptionRefetched) {
  if (testing::NginxPath().empty()) GTEST_SKIP() << "nginx is not installed";
  auto server = testing::StartNginx(root_, TempPath("nginx"));
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string cache_dir = TempPath("shared_cache");
  const std::string url = server->base_url() + "/snap.lzs";
  std::vector<uint64_t> chunks;
  {
    auto first = OpenSnapshot(url, Options(cache_dir));
    ASSERT_TRUE(first.ok()) << first.status();
    chunks = testing::StoredChunksOf(*first->reader);
    auto results = testing::ReadChunksThrough(*first->chunk_source, *first->reader, chunks, 8);
    ASSERT_TRUE(results.ok()) << results.status();
    ExpectStoredBytes(*first->reader, chunks, *results);
    // Group fetches put later chunks in the cache before they were asked for.
    const RemoteSourceStats stats = first->remote_source->stats();
    EXPECT_EQ(stats.cache_hits + stats.joined + stats.fetched, chunks.size());
    EXPECT_LT(stats.fetched, chunks.size() / 4);
  }  // the source writes everything it fetched to the cache before it goes
  auto second = OpenSnapshot(url, Options(cache_dir));
  ASSERT_TRUE(second.ok()) << second.status();
  // Damage one cached chunk: it is detected, dropped and fetched again.
  auto victim = second->reader->Locate(chunks[3]);
  ASSERT_TRUE(victim.ok());
  const std::string victim_path = second->remote_source->cache()->PathOf(ChunkKey::Of(victim->stored));
  ASSERT_TRUE(std::filesystem::exists(victim_path));
  {
    std::fstream f(victim_path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(7);
    char c;
    f.seekg(7);
    f.get(c);
    f.seekp(7);
    f.put(static_cast<char>(c ^ 1));
  }
  const uint64_t requests_before = second->remote_file->fetcher().stats().http_requests;
  auto results = testing::ReadChunksThrough(*second->chunk_source, *second->reader, chunks, 8);
  ASSERT_TRUE(results.ok()) << results.status();
  ExpectStoredBytes(*second->reader, chunks, *results);
  const RemoteSourceStats stats = second->remote_source->stats();
  EXPECT_EQ(stats.cache_hits, chunks.size() - 1);
  EXPECT_EQ(stats.fetched, 1u);
  EXPECT_EQ(second->remote_source->cache()->stats().corrupt, 1u);
  EXPECT_LE(second->remote_file->fetcher().stats().http_requests - requests_before, 2u);
}

TEST_F(RemoteChunkSourceTest, SnapshotReplacedMidRestoreFailsChunksWithUrlAndStatus) {
  auto server = testing::StartMisbehavingServer(root_, TempPath("mis"));
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string url = server->base_url() + "/ok/snap.lzs";
  auto opened = OpenSnapshot(url, Options("", 1));
  ASSERT_TRUE(opened.ok()) << opened.status();
  const std::vector<uint64_t> chunks = testing::StoredChunksOf(*opened->reader);
  std::vector<uint64_t> first_half(chunks.begin(), chunks.begin() + chunks.size() / 2);
  std::vector<uint64_t> second_half(chunks.begin() + chunks.size() / 2, chunks.end());
  auto before = testing::ReadChunksThrough(*opened->chunk_source, *opened->reader, first_half, 4);
  ASSERT_TRUE(before.ok());
  ExpectStoredBytes(*opened->reader, first_half, *before);
  // Another snapshot is uploaded under the same name.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(testing::MakeTestSnapshot(root_ + "/snap.lzs", 4 << 20, 32 << 10, 99).ok());
  auto after = testing::ReadChunksThrough(*opened->chunk_source, *opened->reader, second_half, 4);
  ASSERT_TRUE(after.ok());
  for (size_t i = 0; i < second_half.size(); ++i) {
    EXPECT_EQ(after->at(i).result, -ESTALE);
    const std::string& detail = after->at(i).detail;
    EXPECT_NE(detail.find(url), std::string::npos) << detail;
    EXPECT_NE(detail.find("HTTP 412"), std::string::npos) << detail;
  }
}

TEST_F(RemoteChunkSourceTest, DeletedSnapshotFailsChunksWith404) {
  auto server = testing::StartMisbehavingServer(root_, TempPath("mis"));
  ASSERT_TRUE(server.ok()) << server.status();
  auto opened = OpenSnapshot(server->base_url() + "/ok/snap.lzs", Options("", 1));
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::filesystem::remove(root_ + "/snap.lzs");
  const std::vector<uint64_t> chunks = {testing::StoredChunksOf(*opened->reader)[2]};
  auto results = testing::ReadChunksThrough(*opened->chunk_source, *opened->reader, chunks, 1);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ(results->at(0).result, -ENOENT);
  EXPECT_NE(results->at(0).detail.find("HTTP 404 (NoSuchKey)"), std::string::npos)
      << results->at(0).detail;
  EXPECT_NE(results->at(0).detail.find("attempt 1 of 2"), std::string::npos)
      << "a 404 is not retried: " << results->at(0).detail;
}

TEST_F(RemoteChunkSourceTest, OpenFetchesOnlyBothEndsAndTheTables) {
  if (testing::NginxPath().empty()) GTEST_SKIP() << "nginx is not installed";
  auto server = testing::StartNginx(root_, TempPath("nginx"));
  ASSERT_TRUE(server.ok()) << server.status();
  SnapshotLocationOptions options = Options("");
  options.prefetch_index = false;
  auto opened = OpenSnapshot(server->base_url() + "/snap.lzs", options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  const FetchStats stats = opened->remote_file->fetcher().stats();
  // Head and tail in parallel; the small snapshot's tables sit inside the tail.
  EXPECT_LE(stats.http_requests, 3u);
  EXPECT_LT(stats.bytes_received, (128 << 10) + (64 << 10) + 4096);
}

}  // namespace
}  // namespace lazysnap::remote
