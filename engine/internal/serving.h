// The fault-serving machinery shared by a restore session's threads:
//
//  - ServingContext: what every serving thread shares (kernel, uffd, snapshot, chunk map,
//    installer, counters, the stop signal and the first error);
//  - HandlerThread: reads fault and event messages, fetches chunks with several reads in
//    flight, decodes with its own zstd context into its own buffers, installs;
//  - ChunkWorker: the synchronous fetch-decode-install used by the background populator
//    and by Close's finish-restore.
//
// Nothing on the fault path allocates, takes a lock, or logs: buffers, decoders and
// readers are created when a thread starts; chunk states are atomics; counters relaxed.
#ifndef LAZYSNAP_ENGINE_INTERNAL_SERVING_H_
#define LAZYSNAP_ENGINE_INTERNAL_SERVING_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "base/unique_fd.h"
#include "engine/chunk_source.h"
#include "engine/internal/chunk_map.h"
#include "engine/internal/counters.h"
#include "engine/internal/installer.h"
#include "engine/kernel.h"
#include "engine/restore_options.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::internal {

// NowNanoseconds: CLOCK_MONOTONIC in nanoseconds (vDSO, no system call).
uint64_t NowNanoseconds();

// EventBarrier keeps faults ordered after the events read before them. Several threads
// read the userfaultfd; when one has read a REMOVE event but not yet applied it, another
// may already hold a fault that follows it (madvise returns as soon as the event is
// read). Each reader marks the span from before read(2) until its events are applied;
// before copying snapshot bytes into memory, a thread waits out every span in progress,
// so any event read before that moment has been applied. Spans are microseconds long:
// the wait almost never waits.
class EventBarrier {
 public:
  explicit EventBarrier(int readers);
  void Enter(int reader) { spans_[reader].fetch_add(1, std::memory_order_seq_cst); }
  void Exit(int reader) { spans_[reader].fetch_add(1, std::memory_order_release); }
  // Wait returns once every span that was open when it was called has closed.
  void Wait() const;
  int readers() const { return readers_; }

 private:
  int readers_;
  std::unique_ptr<std::atomic<uint64_t>[]> spans_;  // odd: inside a span
};

class ServingContext {
 public:
  ServingContext(Kernel& kernel, int uffd, const SnapshotReader& snapshot, ChunkSource& source,
                 ChunkMap& map, Installer& installer, SessionCounters& counters,
                 const RestoreOptions& options, int stop_fd, int readers)
      : kernel(kernel),
        uffd(uffd),
        snapshot(snapshot),
        source(source),
        map(map),
        installer(installer),
        counters(counters),
        options(options),
        stop_fd(stop_fd),
        barrier(readers) {}

  Kernel& kernel;
  const int uffd;
  const SnapshotReader& snapshot;
  ChunkSource& source;
  ChunkMap& map;
  Installer& installer;
  SessionCounters& counters;
  const RestoreOptions& options;
  const int stop_fd;  // an eventfd that polls readable once stopping is set
  std::atomic<bool> stopping{false};
  std::atomic<bool> gone{false};  // the memory's process exited: nothing more to serve
  EventBarrier barrier;

  // Finish ends a claimed chunk's flight (installed, failed, or back to absent) and wakes
  // threads waiting for it in WaitWhileInFlight.
  void Finish(uint64_t chunk, ChunkState state);
  // WaitWhileInFlight blocks (futex, a millisecond at a time) while another thread
  // serves `chunk`. Signal-safe: for SIGBUS handlers, which cannot wait in the kernel's
  // fault queue as message-based faults do.
  void WaitWhileInFlight(uint64_t chunk);

  // poisons is true when refused chunks are poisoned (allowed and not disabled).
  bool poisons() const { return options.use_poison && installer.can_poison(); }

  // ReportError records the first fatal error and calls options.on_error once.
  void ReportError(const absl::Status& status);
  absl::Status first_error() const;

  // FailChunk refuses a chunk that cannot be served: it is never installed. With
  // UFFDIO_POISON its pages raise SIGBUS when touched; without, its faulting threads stay
  // blocked until the session closes. Reports `status`.
  void FailChunk(uint64_t chunk, const absl::Status& status);

  // HandleEvent applies a non-fault message (REMOVE, UNMAP, ...).
  void HandleEvent(const uffd_msg& message);

  // FinishInstall records the outcome of installing `chunk`. Returns false when the
  // install must be retried later (the mappings are changing).
  bool FinishInstall(uint64_t chunk, const InstallResult& result);

 private:
  mutable std::mutex error_mutex_;
  absl::Status first_error_;
  // Futex words, hashed by chunk: bumped when a chunk finishes; with waiter counts so
  // that finishing a chunk nobody waits for costs no system call.
  static constexpr int kWaitWords = 64;
  std::array<std::atomic<uint32_t>, kWaitWords> wait_words_ = {};
  std::array<std::atomic<uint32_t>, kWaitWords> waiters_ = {};
};

// ChunkBuffers: one thread's buffers for one chunk: stored bytes and decoded bytes.
struct ChunkBuffers {
  explicit ChunkBuffers(const SnapshotReader& snapshot);
  std::unique_ptr<uint8_t[]> stored;
  std::unique_ptr<uint8_t[]> decoded;
};

// DecodeInto decodes `location`'s stored bytes (read into buffers.stored, or straight
// into buffers.decoded for raw chunks) into buffers.decoded and zero-pads it to
// `install_length`.
absl::Status DecodeInto(ServingContext& ctx, ChunkDecoder& decoder, const ChunkLocation& location,
                        ChunkBuffers& buffers, uint32_t install_length);

class HandlerThread {
 public:
  HandlerThread(ServingContext& ctx, int index);
  // Init creates the thread's reader (io_uring, or pread when unavailable), buffers and
  // decoder. Called before the thread runs.
  absl::Status Init();
  // Run serves until the context stops, then finishes what it has in flight.
  void Run();
  const char* reader_name() const { return reader_ ? reader_->name() : "none"; }

 private:
  struct Slot {
    bool busy = false;
    bool demand = false;          // a fault waits on it: its latency is recorded
    bool readahead = false;
    bool decoded = false;         // waiting to be installed (install said retry)
    bool read_done = false;       // readahead read, waiting to be decoded
    uint64_t chunk = 0;
    uint64_t fault_ns = 0;
    uint32_t bytes_read = 0;
    ChunkLocation location;
    std::unique_ptr<ChunkBuffers> buffers;
  };
  struct WaitingFault {
    uint64_t chunk;
    uint64_t fault_ns;
  };
  struct JoinedFault {
    uint64_t page;
    uint64_t chunk;
  };

  bool ReadMessages();
  void HandleFault(uint64_t address, uint64_t now_ns);
  // Fetch starts serving a chunk this thread has claimed. Returns false when no slot is
  // free (the caller keeps the chunk waiting).
  bool Fetch(uint64_t chunk, bool demand, uint64_t fault_ns);
  void QueueRead(Slot& slot);
  bool ReapCompletions(bool wait);
  void Complete(Slot& slot, int64_t result);
  void DecodeAndInstall(Slot& slot);
  // ServeOneReadahead decodes and installs one readahead chunk whose read is done.
  bool ServeOneReadahead();
  bool Install(Slot& slot);
  bool RetryPending();
  // Join remembers a fault on a chunk another fault is fetching, to be re-checked once
  // that chunk is installed.
  void Join(uint64_t page, uint64_t chunk);
  bool StartWaiting();
  void Readahead(uint64_t chunk);
  void Release(Slot& slot);
  int FreeSlots() const;
  bool Busy() const;

  ServingContext& ctx_;
  const int index_;
  std::unique_ptr<ChunkReader> reader_;
  std::unique_ptr<ChunkDecoder> decoder_;
  std::vector<Slot> slots_;
  std::vector<uffd_msg> messages_;
  std::vector<ReadCompletion> completions_;
  // A fixed ring of claimed chunks whose fault found no free slot.
  std::vector<WaitingFault> waiting_;
  size_t waiting_head_ = 0;
  size_t waiting_count_ = 0;
  // Pages of installed chunks whose zero fill must wait for a pending event.
  std::vector<uint64_t> pending_zero_;
  size_t pending_zero_count_ = 0;
  // Faults that joined an in-flight chunk (see Join).
  std::vector<JoinedFault> joined_;
  size_t joined_count_ = 0;
};

// ChunkWorker fetches, decodes and installs chunks synchronously (pread), for the
// background populator and Close's finish-restore.
class ChunkWorker {
 public:
  // `drains_events`: read pending messages when installs are blocked by a pending
  // event. Only when no handler thread runs, since fault messages read here are dropped.
  // `reader` is its EventBarrier slot (used when it drains events).
  ChunkWorker(ServingContext& ctx, bool drains_events, int reader);
  absl::Status Init();
  // Serve installs `chunk` if it is absent (claiming it); zero chunks only when
  // `include_zero`. Returns false when the session stopped or the process is gone.
  bool Serve(uint64_t chunk, bool include_zero, SessionCounters::Counter* tally);

 private:
  // DrainEvents reads pending messages so that a pending REMOVE/UNMAP stops blocking
  // installs (fault messages are dropped: their threads are woken by the installs or
  // by unregistering).
  void DrainEvents();
  // ReadWhole reads all of `stored`'s stored bytes into `target`.
  absl::Status ReadWhole(const StoredChunk& stored, uint8_t* target);
  ServingContext& ctx_;
  const bool drains_events_;
  const int reader_;
  std::unique_ptr<ChunkReader> chunk_reader_;
  std::unique_ptr<ChunkDecoder> decoder_;
  std::unique_ptr<ChunkBuffers> buffers_;
};

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_ENGINE_INTERNAL_SERVING_H_
