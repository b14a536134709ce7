// RemoteChunkSource: the engine's ChunkSource for a snapshot in object storage.
//
// A read is served from the host's chunk cache when the chunk is there (checked against
// its checksum), joins a fetch of the same bytes already in flight (from any thread or
// session sharing the source), or starts one. A miss also fetches the other chunks of
// its aligned group (`group_chunks`, that are neither cached nor in flight) in the same
// request, the way object-store restores fetch 512 KiB or 4 MiB units, and puts them in
// the cache for the faults to come. Requests go to the object's RangeFetcher: many in
// flight, adjacent ones merged, retries, version pinning. Completions arrive out of
// order, signalled on each reader's eventfd, so a slow request holds up nothing else.
//
// A chunk that cannot be fetched completes with -errno (ENOENT for 404, EACCES for 403,
// ESTALE when the object changed, ETIMEDOUT, ECONNREFUSED, EIO), and ErrorDetail names
// the URL, the chunk, the byte range and the HTTP status: the engine then refuses the
// chunk as it refuses a corrupt one.
#ifndef LAZYSNAP_REMOTE_REMOTE_CHUNK_SOURCE_H_
#define LAZYSNAP_REMOTE_REMOTE_CHUNK_SOURCE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/chunk_source.h"
#include "remote/chunk_cache.h"
#include "remote/remote_file.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::remote {

struct RemoteChunkSourceOptions {
  // A miss fetches its aligned group of this many chunks (a power of two up to 2048;
  // 1: only the chunk asked for). Only with a cache, where the others are kept.
  uint32_t group_chunks = 8;
  // Fetched chunks waiting to be written to the cache are dropped past this many bytes.
  uint64_t max_pending_cache_bytes = 256 << 20;
};

struct RemoteSourceStats {
  uint64_t reads = 0;             // chunk reads asked for by readers
  uint64_t cache_hits = 0;        // of those, served from the host cache
  uint64_t joined = 0;            // of those, served by a fetch already in flight
  uint64_t fetched = 0;           // of those, that started a fetch
  uint64_t group_chunks_fetched = 0;  // other chunks of a group fetched with a miss
  uint64_t bytes_fetched = 0;     // stored bytes of every chunk fetched
  uint64_t failed = 0;            // reads completed with an error
  uint64_t cache_writes = 0;
  uint64_t cache_writes_dropped = 0;  // not written: the cache fell behind or failed
};

class RemoteChunkSource final : public ChunkSource {
 public:
  // Create serves `snapshot`, whose file is `file`. `cache` may be null (no host cache:
  // then group_chunks is 1).
  static std::shared_ptr<RemoteChunkSource> Create(std::shared_ptr<RemoteFile> file,
                                                   std::shared_ptr<const SnapshotReader> snapshot,
                                                   std::shared_ptr<ChunkCache> cache,
                                                   const RemoteChunkSourceOptions& options = {});
  ~RemoteChunkSource() override;

  const std::string& name() const override { return file_->name(); }
  absl::StatusOr<std::unique_ptr<ChunkReader>> NewReader(uint32_t max_in_flight) override;
  bool can_read_quietly() const override { return false; }
  int64_t ReadQuietly(const StoredChunk&, std::span<uint8_t>) override { return -ENOTSUP; }

  RemoteSourceStats stats() const;
  const std::shared_ptr<ChunkCache>& cache() const { return cache_; }
  const std::shared_ptr<RemoteFile>& file() const { return file_; }

  class Reader;

 private:
  struct Waiter {
    Reader* reader;
    std::span<uint8_t> buffer;
    uint64_t tag;
  };
  // Inflight: one chunk's stored bytes being fetched (or fetched and waiting to be
  // written to the cache), keyed by file offset.
  struct Inflight {
    StoredChunk chunk;
    std::vector<uint8_t> bytes;
    FetchRequest request;
    bool fetched = false;
    bool keyed = true;  // in inflight_ (false: a partial read, in direct_)
    std::vector<Waiter> waiters;
  };

  RemoteChunkSource(std::shared_ptr<RemoteFile> file, std::shared_ptr<const SnapshotReader> snapshot,
                    std::shared_ptr<ChunkCache> cache, const RemoteChunkSourceOptions& options);
  // Read serves one chunk read for `reader` (from Reader::Submit).
  void Read(Reader* reader, const StoredChunk& chunk, uint32_t offset_in_chunk,
            std::span<uint8_t> buffer, uint64_t tag);
  Inflight* NewInflightLocked(const StoredChunk& chunk, bool keyed);
  void OnFetched(Inflight* inflight);
  void Forget(Reader* reader);
  void WriteBehind();

  std::shared_ptr<RemoteFile> file_;
  std::shared_ptr<const SnapshotReader> snapshot_;
  std::shared_ptr<ChunkCache> cache_;
  RemoteChunkSourceOptions options_;

  std::mutex mutex_;  // guards inflight_, the waiters and the write-behind queue
  std::unordered_map<uint64_t, std::unique_ptr<Inflight>> inflight_;
  std::unordered_map<Inflight*, std::unique_ptr<Inflight>> direct_;
  uint64_t fetches_in_flight_ = 0;
  std::condition_variable fetches_done_;
  std::deque<Inflight*> to_write_;
  uint64_t to_write_bytes_ = 0;
  bool stopping_ = false;
  std::condition_variable write_wanted_;
  std::thread writer_;

  std::atomic<uint64_t> reads_{0}, cache_hits_{0}, joined_{0}, fetched_{0}, group_fetched_{0},
      bytes_fetched_{0}, failed_{0}, cache_writes_{0}, cache_writes_dropped_{0};
};

}  // namespace lazysnap::remote

#endif  // LAZYSNAP_REMOTE_REMOTE_CHUNK_SOURCE_H_
