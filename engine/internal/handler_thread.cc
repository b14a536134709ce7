// HandlerThread: the message-driven serving loop and its policy.
#include "engine/internal/handler_thread.h"

#include <poll.h>
#include <sched.h>

#include <algorithm>

#include "absl/strings/str_format.h"

namespace lazysnap::internal {

HandlerThread::HandlerThread(ServingContext& ctx, int index)
    : ctx_(ctx), index_(index), pipeline_(ctx, /*quiet=*/false) {}

absl::Status HandlerThread::Init() {
  const uint32_t depth = std::max<uint32_t>(1, ctx_.options.reads_in_flight);
  auto reader = ctx_.source.NewReader(depth);
  if (!reader.ok()) return reader.status();
  reader_ = std::move(*reader);
  absl::Status pipeline = pipeline_.Init();
  if (!pipeline.ok()) return pipeline;
  slots_.resize(depth);
  for (Slot& slot : slots_) slot.buffers = std::make_unique<ChunkBuffers>(ctx_.snapshot);
  messages_.resize(kMessagesPerRead);
  completions_.resize(depth);
  return absl::OkStatus();
}

HandlerThread::Slot* HandlerThread::FreeSlot() {
  for (Slot& slot : slots_) {
    if (slot.free()) return &slot;
  }
  return nullptr;
}

int HandlerThread::FreeSlots() const {
  int n = 0;
  for (const Slot& slot : slots_) n += slot.free() ? 1 : 0;
  return n;
}

bool HandlerThread::Busy() const {
  if (held_faults() > 0) return true;
  for (const Slot& slot : slots_) {
    if (!slot.free()) return true;
  }
  return false;
}

void HandlerThread::Run() {
  if (ctx_.options.pin_handler_threads) {
    ctx_.kernel.PinCurrentThread(index_ % ctx_.kernel.online_cpus()).IgnoreError();
  }
  if (ctx_.options.handler_nice != 0) {
    ctx_.kernel.SetCurrentThreadNice(ctx_.options.handler_nice).IgnoreError();
  }
  uint64_t idle_since = NowNanoseconds();
  const uint64_t spin_ns = uint64_t{ctx_.options.spin_before_sleep_us} * 1000;
  while (true) {
    const bool progressed = Step();
    const bool stopping = ctx_.stopping.load(std::memory_order_acquire);
    if ((stopping || ctx_.gone.load(std::memory_order_relaxed)) && !Busy()) return;
    const uint64_t now = NowNanoseconds();
    if (progressed) {
      idle_since = now;
      continue;
    }
    if (now - idle_since < spin_ns) {
      // Stay awake but let a runnable thread on this CPU (likely the one whose fault we
      // just served) run first.
      sched_yield();
      continue;
    }
    pollfd fds[3];
    int n = 0;
    // Without room for a batch, messages stay in the kernel's queue: polling the
    // userfaultfd would only wake us for nothing.
    if (!stopping && HasRoomForBatch()) fds[n++] = {ctx_.uffd, POLLIN, 0};
    fds[n++] = {ctx_.stop_fd, POLLIN, 0};
    bool reads_pending = false;
    bool installs_pending = !joined_.empty() || !retries_.empty();
    for (const Slot& slot : slots_) {
      reads_pending |= slot.job.state == ChunkJob::State::kReading;
      installs_pending |= slot.job.state == ChunkJob::State::kDecoded ||
                          slot.job.state == ChunkJob::State::kReadDone;
    }
    if (reads_pending && reader_->poll_fd() >= 0) fds[n++] = {reader_->poll_fd(), POLLIN, 0};
    // A retry waits for a pending event to be read (by us or another thread), a joined
    // fault for another thread's chunk: poll briefly rather than forever.
    const bool brief = installs_pending || !waiting_.empty() ||
                       (reads_pending && reader_->poll_fd() < 0);
    auto ready = ctx_.kernel.Poll({fds, static_cast<size_t>(n)}, brief ? 1 : -1);
    if (!ready.ok()) {
      ctx_.ReportError(ready.status());
      return;
    }
    idle_since = NowNanoseconds();
  }
}

bool HandlerThread::Step() {
  const bool stopping = ctx_.stopping.load(std::memory_order_acquire);
  bool progressed = false;
  // Once stopping, messages are still read while installs wait for a pending event:
  // only reading it lets them through.
  if ((!stopping || !retries_.empty()) && HasRoomForBatch()) progressed |= ReadMessages();
  progressed |= ReapCompletions(/*wait=*/false);
  progressed |= RetryPending();
  progressed |= StartWaiting();
  // Readahead only when this pass found no demand work, and one chunk at a time.
  if (!progressed) progressed |= DecodeOneReadahead();
  return progressed;
}

bool HandlerThread::ReadMessages() {
  ctx_.barrier.Enter(index_);
  auto n = ctx_.kernel.ReadUffdMessages(ctx_.uffd, messages_);
  if (n.ok()) {
    // Events first, inside the barrier span; faults after, outside it.
    for (size_t i = 0; i < *n; ++i) {
      if (messages_[i].event != UFFD_EVENT_PAGEFAULT) ctx_.HandleEvent(messages_[i]);
    }
  }
  ctx_.barrier.Exit(index_);
  if (!n.ok()) {
    ctx_.ReportError(n.status());
    ctx_.stopping.store(true);
    return false;
  }
  if (*n == 0) return false;
  const uint64_t now = NowNanoseconds();
  for (size_t i = 0; i < *n; ++i) {
    if (messages_[i].event == UFFD_EVENT_PAGEFAULT) {
      HandleFault(Fault::FromMessage(messages_[i], now));
    }
  }
  return true;
}

void HandlerThread::ZeroPageOrRetry(uint64_t page) {
  InstallResult r = ctx_.target.ZeroPage(page);
  if (r.outcome == InstallOutcome::kRetry) {
    // An event is pending (a mapping change): the kernel lets the zero page through
    // once it is read. Room was reserved before the message was read.
    retries_.Push({/*whole_chunk=*/false, page, JobKind::kDemand, 0});
  } else if (r.outcome == InstallOutcome::kError) {
    ctx_.ReportError(r.status);
  }
}

void HandlerThread::HandleFault(const Fault& fault) {
  SessionCounters& counters = ctx_.counters;
  SessionCounters::Add(counters.faults);
  if (fault.write()) SessionCounters::Add(counters.faults_write);
  const uint64_t page = fault.address & ~static_cast<uint64_t>(ctx_.map.page_size_bytes() - 1);
  uint64_t chunk;
  if (!ctx_.map.ChunkAt(fault.address, &chunk)) {
    // Registered but not in the snapshot (a VMM registered more memory than the snapshot
    // holds): memory the snapshot does not describe reads as zeros.
    SessionCounters::Add(counters.faults_outside);
    ZeroPageOrRetry(page);
    return;
  }
  switch (ctx_.map.state(chunk)) {
    case kInstalled:
      // The chunk is in place, so this page was dropped since (madvise), or the fault
      // was resolved while its message waited: either way, zeros are right (a present
      // page is left alone).
      SessionCounters::Add(ctx_.map.IsRemoved(page) ? counters.faults_after_remove
                                                    : counters.faults_stale);
      ZeroPageOrRetry(page);
      return;
    case kInFlight:
      // Another fault is fetching it, and its install wakes this thread too, unless that
      // install already happened and this page was dropped right after (the state turns
      // installed only after the install). Look at it again once the chunk is installed.
      SessionCounters::Add(counters.faults_joined);
      joined_.Push({page, chunk});
      return;
    case kFailed:
      return;
    case kAbsent:
      break;
  }
  if (!ctx_.map.TryClaim(chunk)) {
    SessionCounters::Add(counters.faults_joined);
    joined_.Push({page, chunk});
    return;
  }
  if (!StartChunk(chunk, JobKind::kDemand, fault.seen_ns)) {
    waiting_.Push({chunk, fault.seen_ns});
  }
  if (ctx_.options.readahead_chunks > 0) Readahead(chunk);
}

void HandlerThread::Readahead(uint64_t chunk) {
  // A fault right after a run of installed chunks looks sequential: install as many
  // chunks ahead as the run is long (up to the limit), leaving one slot for demand.
  const TargetRange& range = ctx_.map.RangeOf(chunk);
  const uint32_t limit = ctx_.options.readahead_chunks;
  uint32_t run = 0;
  while (run < limit && chunk > range.first_chunk + run &&
         ctx_.map.state(chunk - 1 - run) == kInstalled) {
    ++run;
  }
  if (run < 2) return;
  const uint64_t end = range.first_chunk + range.chunk_count;
  for (uint64_t next = chunk + 1; next <= chunk + run && next < end; ++next) {
    if (FreeSlots() < 2) return;
    if (ctx_.map.state(next) != kAbsent || !ctx_.map.TryClaim(next)) continue;
    if (!StartChunk(next, JobKind::kReadahead, 0)) {
      ctx_.Finish(next, kAbsent);  // cannot happen with a free slot; release the claim
      return;
    }
  }
}

bool HandlerThread::StartChunk(uint64_t chunk, JobKind kind, uint64_t fault_ns) {
  ChunkJob job;
  switch (pipeline_.Start(job, chunk, kind, fault_ns)) {
    case ChunkPipeline::StartResult::kRefused:
      return true;
    case ChunkPipeline::StartResult::kZero:
      // Zero chunks need no read and no slot, unless their install must be retried.
      if (pipeline_.Publish(job) == ChunkPipeline::PublishResult::kDone) return true;
      if (Slot* slot = FreeSlot()) {
        slot->job = job;  // kDecoded: RetryPending publishes it
      } else {
        retries_.Push({/*whole_chunk=*/true, chunk, kind, fault_ns});
      }
      return true;
    case ChunkPipeline::StartResult::kRead:
      break;
  }
  Slot* slot = FreeSlot();
  if (slot == nullptr) return false;
  slot->job = job;
  pipeline_.Attach(slot->job, *slot->buffers);
  QueueRead(*slot);
  if (absl::Status submitted = reader_->Submit(); !submitted.ok()) {
    Complete(*slot, -EIO, std::string(submitted.message()));
  }
  return true;
}

void HandlerThread::QueueRead(Slot& slot) {
  absl::Status queued =
      reader_->Queue(slot.job.location.stored, slot.job.bytes_read,
                     pipeline_.UnreadBytes(slot.job), static_cast<uint64_t>(&slot - slots_.data()));
  if (!queued.ok()) Complete(slot, -EIO, std::string(queued.message()));
}

bool HandlerThread::ReapCompletions(bool wait) {
  auto n = reader_->Reap(completions_, wait);
  if (!n.ok()) {
    ctx_.ReportError(n.status());
    return false;
  }
  for (size_t i = 0; i < *n; ++i) {
    const ReadCompletion& c = completions_[i];
    Complete(slots_[c.tag], c.result, c.result < 0 ? reader_->ErrorDetail(c.tag) : "");
  }
  return *n > 0;
}

void HandlerThread::Complete(Slot& slot, int64_t result, std::string_view detail) {
  switch (pipeline_.OnRead(slot.job, result, detail)) {
    case ChunkPipeline::ReadResult::kRefused:
      return;
    case ChunkPipeline::ReadResult::kMore:
      // A short read: ask for the rest.
      QueueRead(slot);
      reader_->Submit().IgnoreError();
      return;
    case ChunkPipeline::ReadResult::kComplete:
      break;
  }
  // Readahead waits: decoding it now would hold up faults that arrive meanwhile (a chunk
  // takes tens of microseconds). DecodeOneReadahead decodes one at a time between looks
  // at the userfaultfd.
  if (slot.job.kind == JobKind::kDemand) DecodeAndPublish(slot);
}

void HandlerThread::DecodeAndPublish(Slot& slot) {
  if (!pipeline_.Decode(slot.job)) return;
  // kRetry leaves the job decoded in its slot: RetryPending publishes it.
  pipeline_.Publish(slot.job);
}

bool HandlerThread::DecodeOneReadahead() {
  for (Slot& slot : slots_) {
    if (slot.job.state == ChunkJob::State::kReadDone) {
      DecodeAndPublish(slot);
      return true;
    }
  }
  return false;
}

bool HandlerThread::RetryPending() {
  bool progressed = false;
  for (size_t n = joined_.size(); n > 0; --n) {
    const JoinedFault joined = joined_.Pop();
    switch (ctx_.map.state(joined.chunk)) {
      case kInFlight:
        joined_.Push(joined);
        continue;
      case kInstalled: {
        // Usually the page is present and this only wakes (nobody waits any more); if it
        // was dropped after the install, it becomes a zero page, as it must.
        InstallResult r = ctx_.target.ZeroPage(joined.page);
        if (r.outcome == InstallOutcome::kRetry) {
          joined_.Push(joined);
          continue;
        }
        if (r.outcome == InstallOutcome::kError) ctx_.ReportError(r.status);
        break;
      }
      case kAbsent:
        // The claim was given back (a readahead that could not start): serve it as a
        // fault of its own, or look again next pass if someone else claimed it first.
        if (!ctx_.map.TryClaim(joined.chunk)) {
          joined_.Push(joined);
          continue;
        }
        if (!StartChunk(joined.chunk, JobKind::kDemand, NowNanoseconds())) {
          waiting_.Push({joined.chunk, NowNanoseconds()});
        }
        break;
      case kFailed:
        break;
    }
    progressed = true;
  }
  for (size_t n = retries_.size(); n > 0; --n) {
    const Retry retry = retries_.Pop();
    if (retry.whole_chunk) {
      ChunkJob job;
      if (pipeline_.Start(job, retry.page_or_chunk, retry.kind, retry.fault_ns) ==
              ChunkPipeline::StartResult::kZero &&
          pipeline_.Publish(job) == ChunkPipeline::PublishResult::kRetry) {
        retries_.Push(retry);
        continue;
      }
    } else {
      InstallResult r = ctx_.target.ZeroPage(retry.page_or_chunk);
      if (r.outcome == InstallOutcome::kRetry) {
        retries_.Push(retry);
        continue;
      }
      if (r.outcome == InstallOutcome::kError) ctx_.ReportError(r.status);
    }
    progressed = true;
  }
  for (Slot& slot : slots_) {
    if (slot.job.state == ChunkJob::State::kDecoded &&
        pipeline_.Publish(slot.job) == ChunkPipeline::PublishResult::kDone) {
      progressed = true;
    }
  }
  return progressed;
}

bool HandlerThread::StartWaiting() {
  bool progressed = false;
  while (!waiting_.empty()) {
    const WaitingChunk& w = waiting_.front();
    if (!StartChunk(w.chunk, JobKind::kDemand, w.fault_ns)) break;
    waiting_.Pop();
    progressed = true;
  }
  return progressed;
}

}  // namespace lazysnap::internal
