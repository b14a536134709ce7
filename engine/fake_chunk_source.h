// FakeChunkSource: a ChunkSource for tests that reads a snapshot's real bytes through its
// RandomAccessFile and then misbehaves on request: read errors, short reads, corrupt
// bytes, slow reads, and completions held back until the test releases them (so that a
// test decides the order in which reads finish).
#ifndef LAZYSNAP_ENGINE_FAKE_CHUNK_SOURCE_H_
#define LAZYSNAP_ENGINE_FAKE_CHUNK_SOURCE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/random_access_file.h"
#include "engine/chunk_source.h"

namespace lazysnap {

class FakeChunkSource : public ChunkSource {
 public:
  // What happens to reads of one chunk (by StoredChunk::chunk_number).
  struct Rule {
    int error = 0;                    // fail every read with -error
    uint32_t max_bytes_per_read = 0;  // deliver at most this many bytes per read (0: all)
    bool corrupt = false;             // flip a bit of the first byte delivered
    int remaining = -1;               // apply to this many reads, then stop (-1: always)
  };

  explicit FakeChunkSource(std::shared_ptr<const RandomAccessFile> file);
  ~FakeChunkSource() override;

  // SetRule applies `rule` to reads of `chunk_number`.
  void SetRule(uint64_t chunk_number, Rule rule);
  // SetDelay sleeps this long in every Submit and ReadQuietly.
  void SetDelay(std::chrono::microseconds delay);
  // Hold keeps completions back (Reap returns none, poll_fd stays unreadable) until
  // Release; Release lets every held completion through and stops holding.
  void Hold();
  void Release();
  // HeldCount: reads completed but held back.
  size_t HeldCount() const;
  // ReadOrder lists the chunk numbers of every read started, in order (continuations
  // after short reads included).
  std::vector<uint64_t> ReadOrder() const;
  // quiet_reads_allowed: whether can_read_quietly() says yes (default yes).
  void set_quiet_reads_allowed(bool allowed) { quiet_reads_allowed_ = allowed; }

  const std::string& name() const override { return file_->name(); }
  absl::StatusOr<std::unique_ptr<ChunkReader>> NewReader(uint32_t max_in_flight) override;
  bool can_read_quietly() const override { return quiet_reads_allowed_; }
  int64_t ReadQuietly(const StoredChunk& chunk, std::span<uint8_t> buffer) override;

 private:
  class Reader;
  // Read performs one read with the rules applied: bytes delivered or -errno.
  int64_t Read(const StoredChunk& chunk, uint32_t offset_in_chunk, std::span<uint8_t> buffer);
  void Sleep() const;

  std::shared_ptr<const RandomAccessFile> file_;
  bool quiet_reads_allowed_ = true;
  mutable std::mutex mutex_;
  std::condition_variable released_;
  std::map<uint64_t, Rule> rules_;
  std::chrono::microseconds delay_{0};
  bool holding_ = false;
  std::vector<uint64_t> read_order_;
  std::vector<Reader*> readers_;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_ENGINE_FAKE_CHUNK_SOURCE_H_
