// ServingContext: the failure policy, chunk completion wake-ups and event handling.
#include "engine/internal/serving_context.h"

#include <sched.h>
#include <time.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"

namespace lazysnap::internal {

uint64_t NowNanoseconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// ---------------------------------------------------------------------------------------
// EventBarrier

EventBarrier::EventBarrier(int readers)
    : readers_(readers), spans_(new std::atomic<uint64_t>[readers]()) {}

void EventBarrier::Wait() const {
  for (int i = 0; i < readers_; ++i) {
    const uint64_t span = spans_[i].load(std::memory_order_acquire);
    if ((span & 1) == 0) continue;
    while (spans_[i].load(std::memory_order_acquire) == span) sched_yield();
  }
}

// ---------------------------------------------------------------------------------------
// ServingContext

ServingContext::ServingContext(const ServingSetup& setup)
    : kernel(*setup.kernel),
      uffd(setup.uffd),
      snapshot(*setup.snapshot),
      source(*setup.source),
      map(*setup.map),
      target(*setup.target),
      counters(*setup.counters),
      options(*setup.options),
      stop_fd(setup.stop_fd),
      barrier(setup.readers) {}

absl::StatusOr<std::unique_ptr<ServingContext>> ServingContext::Create(
    const ServingSetup& setup) {
  std::unique_ptr<ServingContext> context(new ServingContext(setup));
  auto event = context->kernel.CreateEventFd();
  if (!event.ok()) return event.status();
  context->refused_event_ = std::move(*event);
  return context;
}

void ServingContext::ReportError(const absl::Status& status) {
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    if (!first_error_.ok()) return;
    first_error_ = status;
  }
  if (options.on_error) options.on_error(status);
}

absl::Status ServingContext::first_error() const {
  std::lock_guard<std::mutex> lock(error_mutex_);
  return first_error_;
}

void ServingContext::Finish(uint64_t chunk, ChunkState state) {
  map.Finish(chunk, state);
  const int i = static_cast<int>(chunk % kWaitWords);
  wait_words_[i].fetch_add(1, std::memory_order_release);
  if (waiters_[i].load(std::memory_order_seq_cst) > 0) kernel.FutexWakeAll(&wait_words_[i]);
}

void ServingContext::WaitWhileInFlight(uint64_t chunk) {
  const int i = static_cast<int>(chunk % kWaitWords);
  waiters_[i].fetch_add(1, std::memory_order_seq_cst);
  while (true) {
    const uint32_t seen = wait_words_[i].load(std::memory_order_acquire);
    if (map.state(chunk) != kInFlight) break;
    // Chunks finished by a thread that cannot wake us (none today) would still be seen
    // within a millisecond.
    kernel.FutexWait(&wait_words_[i], seen, 1000);
  }
  waiters_[i].fetch_sub(1, std::memory_order_seq_cst);
}

void ServingContext::FailChunk(uint64_t chunk, const absl::Status& status) {
  SessionCounters::Add(counters.chunks_failed);
  const uint64_t address = map.AddressOf(chunk);
  std::string what = absl::StrFormat(
      "chunk %d at address 0x%x (%d bytes) was not installed: %s", chunk, address,
      map.InstallLengthOf(chunk), status.message());
  if (poisons()) {
    InstallResult poisoned = target.Poison(chunk);
    if (poisoned.outcome == InstallOutcome::kDone) {
      what += "; its pages are poisoned: touching them raises SIGBUS";
    } else {
      what += "; poisoning it failed, its faulting threads stay blocked until the session "
              "closes";
    }
  } else if (!options.use_poison) {
    what += "; poisoning is turned off, so its faulting threads stay blocked until the "
            "session closes";
  } else {
    what += "; this kernel cannot poison pages (UFFDIO_POISON, Linux 6.6), so its faulting "
            "threads stay blocked until the session closes";
  }
  Finish(chunk, kFailed);
  ReportError(absl::Status(status.code(), what));
}

void ServingContext::RefuseQuietly(uint64_t chunk) {
  SessionCounters::Add(counters.chunks_failed);
  if (poisons()) target.Poison(chunk);
  Finish(chunk, kFailed);
  uint64_t none = UINT64_MAX;
  first_refused_chunk_.compare_exchange_strong(none, chunk);
  refused_count_.fetch_add(1, std::memory_order_release);
  kernel.SignalEventFd(refused_event_.get()).IgnoreError();
}

void ServingContext::ReportRefused() {
  std::lock_guard<std::mutex> lock(report_mutex_);
  const uint64_t count = refused_count_.load(std::memory_order_acquire);
  if (count == reported_count_) return;
  reported_count_ = count;
  const uint64_t chunk = first_refused_chunk_.load();
  // Outside the signal handler now: read the chunk again to say why it was refused.
  std::string reason = "it could not be read, decoded or installed when it was faulted";
  auto location = snapshot.Locate(chunk);
  if (!location.ok()) {
    reason = std::string(location.status().message());
  } else if (location->stored.kind != format::ChunkKind::kZero) {
    const StoredChunk& stored = location->stored;
    std::vector<uint8_t> bytes(stored.stored_length_bytes);
    std::vector<uint8_t> out(stored.length_bytes);
    const int64_t n = source.ReadQuietly(stored, bytes);
    auto decoder = ChunkDecoder::Create();
    if (n != static_cast<int64_t>(bytes.size())) {
      reason = absl::StrFormat("%s: reading %d bytes at offset %d: %s", source.name(),
                               bytes.size(), stored.file_offset_bytes,
                               n < 0 ? std::strerror(static_cast<int>(-n))
                                     : "unexpected end of file");
    } else if (decoder.ok()) {
      absl::Status decoded = decoder->Decode(stored, bytes, out,
                                             snapshot.dictionary(stored.dictionary_slot),
                                             source.name());
      if (!decoded.ok()) reason = std::string(decoded.message());
    }
  }
  ReportError(absl::DataLossError(absl::StrFormat(
      "chunk %d at address 0x%x (%d bytes) was not installed: %s; %s", chunk,
      map.AddressOf(chunk), map.InstallLengthOf(chunk), reason,
      poisons() ? "its pages are poisoned: touching them raises SIGBUS"
                : "touching it raises SIGBUS (the fault is passed on)")));
}

void ServingContext::HandleEvent(const uffd_msg& message) {
  switch (message.event) {
    case UFFD_EVENT_REMOVE:
      // madvise(DONTNEED/REMOVE): the range must read as zeros from now on. Installed
      // chunks refault and are served zeros; chunks not installed yet skip these pages.
      SessionCounters::Add(counters.events_remove);
      map.MarkRemoved(message.arg.remove.start, message.arg.remove.end);
      break;
    case UFFD_EVENT_UNMAP:
      // munmap: nothing may be installed there any more (a copy would fail with ENOENT
      // anyway); treat like a removal so installs skip it.
      SessionCounters::Add(counters.events_unmap);
      map.MarkRemoved(message.arg.remove.start, message.arg.remove.end);
      break;
    case UFFD_EVENT_FORK:
      // lazysnap never asks for EVENT_FORK, but the owner of a handed-over userfaultfd
      // may have: the message carries a new descriptor, which must not leak into this
      // process. Closing it lets the child run without lazysnap (its faults fail).
      UniqueFd(static_cast<int>(message.arg.fork.ufd)).Reset();
      break;
    default:
      // REMAP is never requested; moving lazysnap's memory is not supported.
      break;
  }
}

bool ServingContext::FinishInstall(uint64_t chunk, const InstallResult& result, bool quiet) {
  switch (result.outcome) {
    case InstallOutcome::kDone:
      SessionCounters::Add(counters.chunks_installed);
      Finish(chunk, kInstalled);
      return true;
    case InstallOutcome::kRetry:
      return false;
    case InstallOutcome::kGone:
      // The range was unmapped, or its process exited: nothing left to serve there.
      Finish(chunk, kInstalled);
      if (!map.IsRemoved(map.AddressOf(chunk))) gone.store(true, std::memory_order_relaxed);
      return true;
    case InstallOutcome::kError:
      if (quiet) {
        RefuseQuietly(chunk);
      } else {
        FailChunk(chunk, result.status);
      }
      return true;
  }
  return true;
}

}  // namespace lazysnap::internal
