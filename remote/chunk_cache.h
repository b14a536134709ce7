// ChunkCache: a host-wide cache of stored chunks on local disk, keyed by content, so that
// every restore on the host (any snapshot, any process) finds a chunk that any of them
// fetched before, and identical chunks of different snapshots are fetched once.
//
// One file per chunk, named by its key (DIR/v1/xx/<stored checksum><checksum>-<length>),
// holding the chunk's stored bytes. Files are written under a temporary name and renamed
// into place, so a crash never leaves a partial file under a key's name; and since a
// rename can still meet a power cut before the data reaches the disk, every read checks
// the bytes against the key's checksum and deletes an entry that fails (it is then a
// miss). The directory is the only shared state: processes see each other's entries at
// once, and eviction (oldest modification time first, a hit refreshes it) keeps the total
// under a size bound, give or take what concurrent writers add between two scans.
#ifndef LAZYSNAP_REMOTE_CHUNK_CACHE_H_
#define LAZYSNAP_REMOTE_CHUNK_CACHE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "snapshot_format/chunk_codec.h"

namespace lazysnap::remote {

// ChunkKey: what identifies a chunk's stored bytes and the content they decode to.
struct ChunkKey {
  uint64_t stored_checksum = 0;
  uint64_t checksum = 0;
  uint32_t stored_length_bytes = 0;

  static ChunkKey Of(const StoredChunk& chunk) {
    return {chunk.stored_checksum, chunk.checksum, chunk.stored_length_bytes};
  }
};

struct ChunkCacheOptions {
  std::string directory;
  // Eviction keeps the entries' total under this.
  uint64_t max_bytes = uint64_t{8} << 30;
  // A hit refreshes an entry's modification time (its age for eviction) when it is
  // older than this.
  uint32_t refresh_after_seconds = 60;
};

struct ChunkCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t corrupt = 0;   // entries that failed their checksum (deleted)
  uint64_t inserts = 0;
  uint64_t insert_failures = 0;
  uint64_t evicted_entries = 0;
  uint64_t evicted_bytes = 0;
};

// ChunkCache is thread-safe; any number of processes may share a directory.
class ChunkCache {
 public:
  // Open creates the directory (and its layout) when needed. Errors name it.
  static absl::StatusOr<std::shared_ptr<ChunkCache>> Open(const ChunkCacheOptions& options);

  // Read fills `out` (exactly key.stored_length_bytes) with the entry's bytes and returns
  // true, when there is an entry and its bytes match key.stored_checksum; an entry that
  // does not match is deleted and counted as corrupt. False on a miss.
  bool Read(const ChunkKey& key, std::span<uint8_t> out);

  // Contains is true when an entry exists (unchecked: for deciding what to fetch).
  bool Contains(const ChunkKey& key) const;

  // Insert stores `bytes` under `key` unless an entry exists, then evicts old entries if
  // the total passed the bound. InvalidArgument when the bytes do not match the key.
  absl::Status Insert(const ChunkKey& key, std::span<const uint8_t> bytes);

  // Evict scans the directory and deletes the oldest entries (and temporary files of
  // crashed writers older than an hour) until the total is under `max_bytes`; returns the
  // total left.
  absl::StatusOr<uint64_t> Evict(uint64_t max_bytes);

  // PathOf is the entry's file name (for tests that damage an entry).
  std::string PathOf(const ChunkKey& key) const;
  const std::string& directory() const { return root_; }
  ChunkCacheStats stats() const;

 private:
  ChunkCache() = default;
  std::string root_;  // DIR/v1
  ChunkCacheOptions options_;
  std::atomic<uint64_t> hits_{0}, misses_{0}, corrupt_{0}, inserts_{0}, insert_failures_{0},
      evicted_entries_{0}, evicted_bytes_{0};
  // Estimated total of the directory: exact after a scan, plus what this process added.
  std::mutex size_mutex_;
  bool size_known_ = false;
  uint64_t size_bytes_ = 0;
  uint64_t temp_salt_ = 0;
  std::atomic<uint64_t> temp_counter_{0};
};

}  // namespace lazysnap::remote

#endif  // LAZYSNAP_REMOTE_CHUNK_CACHE_H_
