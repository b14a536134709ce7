// HandlerThread: a thread that serves faults from userfaultfd messages (ServingMode::
// kHandlerThreads). Several run per session, each reading the shared userfaultfd in
// batches, with its own ChunkReader (several reads in flight), ChunkPipeline (decoder)
// and read slots.
//
// The serving policy lives here:
//  - a fault on an absent chunk claims it and starts a read (the demand path);
//  - a fault on an in-flight chunk joins it: the winner's install wakes it, and it is
//    looked at again once the chunk is installed (a page dropped in between reads zero);
//  - a fault on an installed chunk means the page was dropped since (madvise): zeros;
//  - readahead: a fault right after a run of installed chunks also claims as many chunks
//    ahead as the run is long (up to the option), keeping one slot for demand; their
//    reads wait to be decoded until a pass finds no demand work;
//  - installs refused because the mappings are changing are retried after the pending
//    event is read.
//
// Every queue is bounded and nothing overflows: messages are read only when the queues
// have room for a whole batch; otherwise they wait in the kernel's queue, and the faults
// stay blocked there, until work completes (backpressure, not spinning).
//
// Step() performs one non-blocking pass; Run() loops over Step and sleeps in poll(2)
// when idle. Tests drive Step() against fake kernels and chunk sources.
#ifndef LAZYSNAP_ENGINE_INTERNAL_HANDLER_THREAD_H_
#define LAZYSNAP_ENGINE_INTERNAL_HANDLER_THREAD_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "engine/chunk_source.h"
#include "engine/internal/bounded_queue.h"
#include "engine/internal/chunk_pipeline.h"
#include "engine/internal/fault.h"
#include "engine/internal/serving_context.h"

namespace lazysnap::internal {

class HandlerThread {
 public:
  // Messages read at once, and the bound on faults held by one thread (waiting for a
  // slot, joined to an in-flight chunk, or waiting to retry a zero install).
  static constexpr size_t kMessagesPerRead = 16;
  static constexpr size_t kHeldFaults = 256;

  // `index` is the thread's EventBarrier slot.
  HandlerThread(ServingContext& ctx, int index);
  // Init creates the thread's reader, pipeline and buffers. Called before it runs.
  absl::Status Init();
  // Run serves until the context stops, then finishes what it has in flight.
  void Run();
  // Step does one pass without blocking; true when anything progressed.
  bool Step();
  // Busy: reads in flight, installs to retry or faults held.
  bool Busy() const;
  // held_faults: faults held now (for tests of the bound).
  size_t held_faults() const { return waiting_.size() + joined_.size() + retries_.size(); }
  const char* reader_name() const { return reader_ ? reader_->name() : "none"; }

 private:
  struct Slot {
    ChunkJob job;
    std::unique_ptr<ChunkBuffers> buffers;
    bool free() const { return job.state == ChunkJob::State::kFree; }
  };
  // A claimed demand chunk that found no free slot.
  struct WaitingChunk {
    uint64_t chunk;
    uint64_t fault_ns;
  };
  // A fault on a chunk another fault is serving, to be looked at again once it is done.
  struct JoinedFault {
    uint64_t page;
    uint64_t chunk;
  };
  // A zero install that found the mappings changing: a page, or a whole zero chunk.
  struct Retry {
    bool whole_chunk;
    uint64_t page_or_chunk;
    JobKind kind;
    uint64_t fault_ns;
  };

  bool HasRoomForBatch() const { return held_faults() + kMessagesPerRead <= kHeldFaults; }
  bool ReadMessages();
  void HandleFault(const Fault& fault);
  void ZeroPageOrRetry(uint64_t page);
  // StartChunk starts serving a claimed chunk. False when it needs a slot and none is
  // free (the chunk stays claimed; the caller keeps it).
  bool StartChunk(uint64_t chunk, JobKind kind, uint64_t fault_ns);
  void Readahead(uint64_t chunk);
  void QueueRead(Slot& slot);
  bool ReapCompletions(bool wait);
  void Complete(Slot& slot, int64_t result, std::string_view detail);
  void DecodeAndPublish(Slot& slot);
  bool RetryPending();
  bool StartWaiting();
  bool DecodeOneReadahead();
  Slot* FreeSlot();
  int FreeSlots() const;

  ServingContext& ctx_;
  const int index_;
  ChunkPipeline pipeline_;
  std::unique_ptr<ChunkReader> reader_;
  std::vector<Slot> slots_;
  std::vector<uffd_msg> messages_;
  std::vector<ReadCompletion> completions_;
  BoundedQueue<WaitingChunk> waiting_{kHeldFaults};
  BoundedQueue<JoinedFault> joined_{kHeldFaults};
  BoundedQueue<Retry> retries_{kHeldFaults};
};

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_ENGINE_INTERNAL_HANDLER_THREAD_H_
