#include "remote/chunk_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "base/checksum.h"
#include "gtest/gtest.h"
#include "snapshot_format/test_util.h"

namespace lazysnap::remote {
namespace {

std::vector<uint8_t> Bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

ChunkKey KeyFor(const std::vector<uint8_t>& bytes) {
  const uint64_t sum = Checksum64(bytes);
  return {sum, sum ^ 1, static_cast<uint32_t>(bytes.size())};
}

std::shared_ptr<ChunkCache> OpenCache(const std::string& dir, uint64_t max_bytes = 1 << 30) {
  auto cache = ChunkCache::Open({.directory = dir, .max_bytes = max_bytes,
                                 .refresh_after_seconds = 0});
  EXPECT_TRUE(cache.ok()) << cache.status();
  return cache.ok() ? *cache : nullptr;
}

TEST(ChunkCache, MissThenHitAfterInsert) {
  auto cache = OpenCache(testing::TempPath("cache_hit"));
  const auto bytes = Bytes(5000, 1);
  const ChunkKey key = KeyFor(bytes);
  std::vector<uint8_t> out(bytes.size());
  EXPECT_FALSE(cache->Read(key, out));
  EXPECT_FALSE(cache->Contains(key));
  ASSERT_TRUE(cache->Insert(key, bytes).ok());
  EXPECT_TRUE(cache->Contains(key));
  ASSERT_TRUE(cache->Read(key, out));
  EXPECT_EQ(out, bytes);
  EXPECT_EQ(cache->stats().hits, 1u);
  EXPECT_EQ(cache->stats().misses, 1u);
}

TEST(ChunkCache, SharedByAnotherInstanceAndSurvivesReopening) {
  const std::string dir = testing::TempPath("cache_shared");
  const auto bytes = Bytes(3000, 2);
  {
    auto writer = OpenCache(dir);
    ASSERT_TRUE(writer->Insert(KeyFor(bytes), bytes).ok());
  }
  auto reader = OpenCache(dir);
  std::vector<uint8_t> out(bytes.size());
  ASSERT_TRUE(reader->Read(KeyFor(bytes), out));
  EXPECT_EQ(out, bytes);
}

TEST(ChunkCache, KeyedByContentNotBySnapshot) {
  // The same bytes with another content checksum (another dictionary) are another entry.
  auto cache = OpenCache(testing::TempPath("cache_key"));
  const auto bytes = Bytes(100, 3);
  ChunkKey key = KeyFor(bytes);
  ASSERT_TRUE(cache->Insert(key, bytes).ok());
  ChunkKey other = key;
  other.checksum ^= 0xff;
  std::vector<uint8_t> out(bytes.size());
  EXPECT_FALSE(cache->Read(other, out));
  EXPECT_TRUE(cache->Read(key, out));
}

TEST(ChunkCache, CorruptedEntryIsNeverServedAndIsRemoved) {
  auto cache = OpenCache(testing::TempPath("cache_corrupt"));
  const auto bytes = Bytes(4096, 4);
  const ChunkKey key = KeyFor(bytes);
  ASSERT_TRUE(cache->Insert(key, bytes).ok());
  {
    std::fstream f(cache->PathOf(key), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put(static_cast<char>(bytes[100] ^ 0x40));
  }
  std::vector<uint8_t> out(bytes.size());
  EXPECT_FALSE(cache->Read(key, out));
  EXPECT_EQ(cache->stats().corrupt, 1u);
  EXPECT_FALSE(cache->Contains(key)) << "a corrupt entry is deleted";
  ASSERT_TRUE(cache->Insert(key, bytes).ok());
  EXPECT_TRUE(cache->Read(key, out));
}

TEST(ChunkCache, TornEntryFromACrashIsAMiss) {
  // A power cut after the rename but before the data reached the disk leaves a short
  // file under the key's name.
  auto cache = OpenCache(testing::TempPath("cache_torn"));
  const auto bytes = Bytes(8192, 5);
  const ChunkKey key = KeyFor(bytes);
  const std::string path = cache->PathOf(key);
  std::filesystem::create_directories(path.substr(0, path.rfind('/')));
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), 1000);
  }
  std::vector<uint8_t> out(bytes.size());
  EXPECT_FALSE(cache->Read(key, out));
  EXPECT_EQ(cache->stats().corrupt, 1u);
}

TEST(ChunkCache, InsertRefusesBytesThatDoNotMatchTheKey) {
  auto cache = OpenCache(testing::TempPath("cache_refuse"));
  const auto bytes = Bytes(100, 6);
  ChunkKey key = KeyFor(bytes);
  key.stored_checksum ^= 1;
  EXPECT_TRUE(absl::IsInvalidArgument(cache->Insert(key, bytes)));
  EXPECT_FALSE(cache->Contains(key));
}

TEST(ChunkCache, EvictsOldestEntriesToStayUnderItsBound) {
  const std::string dir = testing::TempPath("cache_evict");
  // Room for a bit more than four 10 KB entries.
  auto cache = OpenCache(dir, 45000);
  std::vector<std::vector<uint8_t>> entries;
  for (int i = 0; i < 4; ++i) {
    entries.push_back(Bytes(10000, static_cast<uint8_t>(10 + i)));
    ASSERT_TRUE(cache->Insert(KeyFor(entries[i]), entries[i]).ok());
    // Distinct modification times, oldest first.
    const auto when = std::filesystem::file_time_type::clock::now() - std::chrono::hours(10 - i);
    std::filesystem::last_write_time(cache->PathOf(KeyFor(entries[i])), when);
  }
  // A hit refreshes entry 0: it is now the newest.
  std::vector<uint8_t> out(10000);
  ASSERT_TRUE(cache->Read(KeyFor(entries[0]), out));
  entries.push_back(Bytes(10000, 20));
  ASSERT_TRUE(cache->Insert(KeyFor(entries[4]), entries[4]).ok());
  // 50 KB is over the bound: evicted down to 90% of it (40.5 KB), oldest first: entry 1.
  EXPECT_TRUE(cache->Contains(KeyFor(entries[0])));
  EXPECT_FALSE(cache->Contains(KeyFor(entries[1])));
  EXPECT_TRUE(cache->Contains(KeyFor(entries[2])));
  EXPECT_TRUE(cache->Contains(KeyFor(entries[3])));
  EXPECT_TRUE(cache->Contains(KeyFor(entries[4])));
  EXPECT_EQ(cache->stats().evicted_entries, 1u);
  // A smaller bound evicts the next oldest (2, then 3) and keeps the refreshed entry.
  auto total = cache->Evict(25000);
  ASSERT_TRUE(total.ok());
  EXPECT_EQ(*total, 20000u);
  EXPECT_FALSE(cache->Contains(KeyFor(entries[2])));
  EXPECT_FALSE(cache->Contains(KeyFor(entries[3])));
  EXPECT_TRUE(cache->Contains(KeyFor(entries[0])));
  EXPECT_TRUE(cache->Contains(KeyFor(entries[4])));
}

TEST(ChunkCache, EvictionRemovesTemporaryFilesOfCrashedWriters) {
  const std::string dir = testing::TempPath("cache_tmp");
  auto cache = OpenCache(dir);
  const std::string stale = dir + "/v1/tmp/999.1.tmp";
  const std::string fresh = dir + "/v1/tmp/999.2.tmp";
  std::ofstream(stale) << "partial";
  std::ofstream(fresh) << "partial";
  std::filesystem::last_write_time(
      stale, std::filesystem::file_time_type::clock::now() - std::chrono::hours(2));
  ASSERT_TRUE(cache->Evict(1 << 30).ok());
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(fresh)) << "a writer may still be writing it";
}

TEST(ChunkCache, ConcurrentWritersAndReadersOfTheSameKeys) {
  const std::string dir = testing::TempPath("cache_concurrent");
  auto a = OpenCache(dir);
  auto b = OpenCache(dir);
  std::vector<std::vector<uint8_t>> entries;
  for (int i = 0; i < 32; ++i) entries.push_back(Bytes(2048, static_cast<uint8_t>(i)));
  std::vector<std::thread> threads;
  for (auto* cache : {&a, &b}) {
    threads.emplace_back([&, cache] {
      for (int round = 0; round < 4; ++round) {
        for (const auto& e : entries) {
          EXPECT_TRUE((*cache)->Insert(KeyFor(e), e).ok());
          std::vector<uint8_t> out(e.size());
          if ((*cache)->Read(KeyFor(e), out)) {
            EXPECT_EQ(out, e);
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(a->stats().corrupt + b->stats().corrupt, 0u);
}

}  // namespace
}  // namespace lazysnap::remote
