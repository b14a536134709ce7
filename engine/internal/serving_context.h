// ServingContext: what every server of a restore session shares: the kernel, the
// userfaultfd, the snapshot and its chunk source, the chunk map, the install target,
// counters, the stop signal, and the failure policy (the first error, refused chunks).
// Servers (handler threads, chunk workers, the SIGBUS server) each run their own
// ChunkPipeline over one context.
//
// Nothing here allocates or locks on the fault path except when reporting an error.
#ifndef LAZYSNAP_ENGINE_INTERNAL_SERVING_CONTEXT_H_
#define LAZYSNAP_ENGINE_INTERNAL_SERVING_CONTEXT_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "absl/status/status.h"
#include "base/unique_fd.h"
#include "engine/chunk_source.h"
#include "engine/internal/chunk_map.h"
#include "engine/internal/counters.h"
#include "engine/internal/install_target.h"
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

// ServingSetup: what a context is made of; the session owns every part.
struct ServingSetup {
  Kernel* kernel = nullptr;
  int uffd = -1;
  const SnapshotReader* snapshot = nullptr;
  ChunkSource* source = nullptr;
  ChunkMap* map = nullptr;
  InstallTarget* target = nullptr;
  SessionCounters* counters = nullptr;
  const RestoreOptions* options = nullptr;
  int stop_fd = -1;   // an eventfd that polls readable once stopping is set
  int readers = 1;    // EventBarrier slots
};

class ServingContext {
 public:
  // Create makes a context (and the eventfd that reports chunks refused in a signal
  // handler).
  static absl::StatusOr<std::unique_ptr<ServingContext>> Create(const ServingSetup& setup);

  Kernel& kernel;
  const int uffd;
  const SnapshotReader& snapshot;
  ChunkSource& source;
  ChunkMap& map;
  InstallTarget& target;
  SessionCounters& counters;
  const RestoreOptions& options;
  const int stop_fd;
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

  // poisons is true when refused chunks are poisoned (allowed and not turned off).
  bool poisons() const { return options.use_poison && target.can_poison(); }

  // ReportError records the first fatal error and calls options.on_error once.
  void ReportError(const absl::Status& status);
  absl::Status first_error() const;

  // FailChunk refuses a chunk that cannot be served: it is never installed. With
  // UFFDIO_POISON its pages raise SIGBUS when touched; without, its faulting threads stay
  // blocked until the session closes. Reports `status` with the chunk and its address.
  void FailChunk(uint64_t chunk, const absl::Status& status);

  // RefuseQuietly does what FailChunk does without building a message (signal-safe, for
  // the SIGBUS server); ReportRefused, called later from an ordinary thread, reads the
  // first refused chunk again to say why and reports it. refused_event_fd polls
  // readable when there is something to report.
  void RefuseQuietly(uint64_t chunk);
  void ReportRefused();
  int refused_event_fd() const { return refused_event_.get(); }

  // HandleEvent applies a non-fault message (REMOVE, UNMAP, ...).
  void HandleEvent(const uffd_msg& message);

  // FinishInstall records the outcome of installing `chunk`. Returns false when the
  // install must be retried later (the mappings are changing). Does not build a message
  // when `quiet` (a SIGBUS handler): an install error then refuses the chunk quietly.
  bool FinishInstall(uint64_t chunk, const InstallResult& result, bool quiet = false);

 private:
  explicit ServingContext(const ServingSetup& setup);

  mutable std::mutex error_mutex_;
  absl::Status first_error_;
  // Futex words, hashed by chunk: bumped when a chunk finishes; with waiter counts so
  // that finishing a chunk nobody waits for costs no system call.
  static constexpr int kWaitWords = 64;
  std::array<std::atomic<uint32_t>, kWaitWords> wait_words_ = {};
  std::array<std::atomic<uint32_t>, kWaitWords> waiters_ = {};
  // Quiet refusals.
  UniqueFd refused_event_;
  std::atomic<uint64_t> refused_count_{0};
  std::atomic<uint64_t> first_refused_chunk_{UINT64_MAX};
  std::mutex report_mutex_;
  uint64_t reported_count_ = 0;
};

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_ENGINE_INTERNAL_SERVING_CONTEXT_H_
