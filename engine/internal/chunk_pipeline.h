// ChunkPipeline: the one path every chunk takes from the snapshot into memory, whoever
// serves it (a handler thread, a chunk worker, a SIGBUS handler):
//
//   Start     locate the chunk (duplicates resolved); zero chunks need no read
//   Attach    pick buffers: stored bytes are read into the thread's buffer (raw chunks
//             straight into the destination); the destination is where the install
//             target wants the decoded bytes (a private buffer, or shared memory)
//   OnRead    account a read's completion; short reads continue where they stopped
//   Decode    verify the stored checksum, decompress, verify the content checksum, zero
//             the tail of a region's last page
//   Publish   wait out pending events, install through the install target, finish the
//             chunk's state, count
//
// How reads are issued (several in flight through a ChunkReader, or one synchronous
// ChunkSource::ReadQuietly) is the server's business; everything else happens here.
// A pipeline is used by one thread. Nothing allocates on success. A quiet pipeline (the
// SIGBUS server's) never builds a message: failures refuse the chunk quietly and are
// reported later from an ordinary thread.
#ifndef LAZYSNAP_ENGINE_INTERNAL_CHUNK_PIPELINE_H_
#define LAZYSNAP_ENGINE_INTERNAL_CHUNK_PIPELINE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "engine/internal/serving_context.h"
#include "snapshot_format/chunk_codec.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::internal {

// JobKind: why a chunk is being served; decides what Publish counts.
enum class JobKind : uint8_t {
  kDemand,      // a fault waits for it: its latency is recorded
  kReadahead,   // predicted by sequential readahead
  kBackground,  // the background populator
  kFinish,      // Close's finish-restore
};

// ChunkBuffers: one job's memory: the stored bytes, and a private buffer for decoded
// bytes (used when the install target does not provide a destination of its own).
struct ChunkBuffers {
  explicit ChunkBuffers(const SnapshotReader& snapshot);
  std::unique_ptr<uint8_t[]> stored;
  std::unique_ptr<uint8_t[]> scratch;
};

// ChunkJob: one claimed chunk on its way through the pipeline.
struct ChunkJob {
  // kReading: a read is in flight; kReadDone: read, waiting to be decoded (readahead
  // waits so that faults are served first); kDecoded: decoded (or a zero chunk), its
  // install must be retried (the mappings were changing).
  enum class State : uint8_t { kFree, kReading, kReadDone, kDecoded };

  State state = State::kFree;
  JobKind kind = JobKind::kDemand;
  uint64_t chunk = 0;
  uint64_t fault_ns = 0;  // kDemand: when the fault was seen
  ChunkLocation location;
  uint32_t bytes_read = 0;
  uint8_t* read_into = nullptr;    // where the stored bytes are read
  uint8_t* destination = nullptr;  // where the decoded bytes are written

  bool zero() const { return location.stored.kind == format::ChunkKind::kZero; }
};

class ChunkPipeline {
 public:
  ChunkPipeline(ServingContext& ctx, bool quiet) : ctx_(ctx), quiet_(quiet) {}
  // Init creates the pipeline's decoder.
  absl::Status Init();

  enum class StartResult { kRead, kZero, kRefused };
  // Start prepares `job` for `chunk`, which the caller has claimed (ChunkMap::TryClaim).
  // kRead: call Attach, then read UnreadBytes; kZero: call Publish; kRefused: the chunk
  // was refused (its index entry is corrupt) and is finished.
  StartResult Start(ChunkJob& job, uint64_t chunk, JobKind kind, uint64_t fault_ns);

  // Attach points `job` at `buffers` and at the install target's destination.
  void Attach(ChunkJob& job, ChunkBuffers& buffers);

  // UnreadBytes is the part of the stored bytes not read yet.
  std::span<uint8_t> UnreadBytes(const ChunkJob& job) const;

  enum class ReadResult { kComplete, kMore, kRefused };
  // OnRead accounts a read of `job`'s stored bytes that returned `result` (bytes or
  // -errno; `detail` is the source's description of a failure). kMore: read
  // UnreadBytes again; kRefused: the chunk was refused and is finished.
  ReadResult OnRead(ChunkJob& job, int64_t result, std::string_view detail = {});

  // Decode decodes a completely read job into its destination. False: the chunk was
  // refused (checksum, corrupt frame) and is finished.
  bool Decode(ChunkJob& job);

  enum class PublishResult { kDone, kRetry };
  // Publish installs a decoded job (or a zero chunk) and finishes the chunk: installed,
  // gone or refused (kDone), or kRetry: the mappings are changing, call Publish again
  // once the pending event has been read.
  PublishResult Publish(ChunkJob& job);

  // Refuse refuses `job`'s chunk and finishes it: loudly with the status `describe()`
  // returns, or quietly (without calling it) in a quiet pipeline.
  template <typename Describe>
  void Refuse(const ChunkJob& job, Describe describe) {
    if (quiet_) {
      ctx_.RefuseQuietly(job.chunk);
    } else {
      ctx_.FailChunk(job.chunk, describe());
    }
  }

 private:
  ServingContext& ctx_;
  const bool quiet_;
  std::unique_ptr<ChunkDecoder> decoder_;
};

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_ENGINE_INTERNAL_CHUNK_PIPELINE_H_
