// Fault serving: handler threads and the synchronous chunk worker.
#include "engine/internal/serving.h"

#include <poll.h>
#include <sched.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/file_io.h"

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
    InstallResult poisoned = installer.PoisonChunk(chunk);
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
    default:
      // FORK and REMAP are never requested.
      break;
  }
}

bool ServingContext::FinishInstall(uint64_t chunk, const InstallResult& result) {
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
      FailChunk(chunk, result.status);
      return true;
  }
  return true;
}

ChunkBuffers::ChunkBuffers(const SnapshotReader& snapshot)
    : stored(new uint8_t[snapshot.max_stored_length_bytes()]),
      decoded(new uint8_t[snapshot.chunk_size_bytes()]) {}

absl::Status DecodeInto(ServingContext& ctx, ChunkDecoder& decoder, const ChunkLocation& location,
                        ChunkBuffers& buffers, uint32_t install_length) {
  const StoredChunk& stored = location.stored;
  std::span<const uint8_t> stored_bytes =
      stored.kind == format::ChunkKind::kRaw
          ? std::span<const uint8_t>(buffers.decoded.get(), stored.stored_length_bytes)
          : std::span<const uint8_t>(buffers.stored.get(), stored.stored_length_bytes);
  absl::Status status =
      decoder.Decode(stored, stored_bytes, {buffers.decoded.get(), stored.length_bytes},
                     ctx.snapshot.dictionary(stored.dictionary_slot), ctx.snapshot.path());
  if (!status.ok()) return status;
  if (stored.kind == format::ChunkKind::kCompressed) {
    SessionCounters::Add(ctx.counters.bytes_decompressed, stored.length_bytes);
  }
  if (install_length > stored.length_bytes) {
    // A region's last chunk may end inside a page; the rest of that page is zero.
    std::memset(buffers.decoded.get() + stored.length_bytes, 0,
                install_length - stored.length_bytes);
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// HandlerThread

namespace {
constexpr size_t kMessagesPerRead = 16;
constexpr size_t kWaitingCapacity = 1024;
}  // namespace

HandlerThread::HandlerThread(ServingContext& ctx, int index) : ctx_(ctx), index_(index) {}

absl::Status HandlerThread::Init() {
  const uint32_t depth = std::max<uint32_t>(1, ctx_.options.reads_in_flight);
  auto reader = ctx_.source.NewReader(depth);
  if (!reader.ok()) return reader.status();
  reader_ = std::move(*reader);
  auto decoder = ChunkDecoder::Create();
  if (!decoder.ok()) return decoder.status();
  decoder_ = std::make_unique<ChunkDecoder>(std::move(*decoder));
  slots_.resize(depth);
  for (Slot& slot : slots_) slot.buffers = std::make_unique<ChunkBuffers>(ctx_.snapshot);
  messages_.resize(kMessagesPerRead);
  completions_.resize(depth);
  waiting_.resize(kWaitingCapacity);
  pending_zero_.resize(kWaitingCapacity);
  joined_.resize(kWaitingCapacity);
  return absl::OkStatus();
}

int HandlerThread::FreeSlots() const {
  int n = 0;
  for (const Slot& slot : slots_) n += slot.busy ? 0 : 1;
  return n;
}

bool HandlerThread::Busy() const {
  if (waiting_count_ > 0 || pending_zero_count_ > 0 || joined_count_ > 0) return true;
  for (const Slot& slot : slots_) {
    if (slot.busy) return true;
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
    const bool stopping = ctx_.stopping.load(std::memory_order_acquire);
    bool progressed = false;
    if (!stopping) progressed |= ReadMessages();
    progressed |= ReapCompletions(/*wait=*/false);
    progressed |= RetryPending();
    progressed |= StartWaiting();
    // Readahead only when this pass found no demand work, and one chunk at a time.
    if (!progressed) progressed |= ServeOneReadahead();
    if (stopping && !Busy()) return;
    if (ctx_.gone.load(std::memory_order_relaxed) && !Busy()) return;
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
    if (!stopping) fds[n++] = {ctx_.uffd, POLLIN, 0};
    fds[n++] = {ctx_.stop_fd, POLLIN, 0};
    bool reads_pending = false;
    bool installs_pending = pending_zero_count_ > 0 || joined_count_ > 0;
    for (const Slot& slot : slots_) {
      reads_pending |= slot.busy && !slot.decoded && !slot.read_done;
      installs_pending |= slot.busy && (slot.decoded || slot.read_done);
    }
    if (reads_pending && reader_->poll_fd() >= 0) fds[n++] = {reader_->poll_fd(), POLLIN, 0};
    // A retry waits for a pending event to be read (by us or another thread): poll
    // briefly rather than forever.
    const int timeout_ms = installs_pending || (reads_pending && reader_->poll_fd() < 0) ? 1 : -1;
    auto ready = ctx_.kernel.Poll({fds, static_cast<size_t>(n)}, timeout_ms);
    if (!ready.ok()) {
      ctx_.ReportError(ready.status());
      return;
    }
    idle_since = NowNanoseconds();
  }
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
      HandleFault(messages_[i].arg.pagefault.address, now);
    }
  }
  return true;
}

void HandlerThread::HandleFault(uint64_t address, uint64_t now_ns) {
  SessionCounters& counters = ctx_.counters;
  SessionCounters::Add(counters.faults);
  uint64_t chunk;
  if (!ctx_.map.ChunkAt(address, &chunk)) {
    // Registered but not in the snapshot (a VMM registered more memory than the snapshot
    // holds): memory the snapshot does not describe reads as zeros.
    SessionCounters::Add(counters.faults_outside);
    const uint64_t page = address & ~static_cast<uint64_t>(ctx_.map.page_size_bytes() - 1);
    InstallResult r = ctx_.installer.ZeroPage(page);
    if (r.outcome == InstallOutcome::kRetry && pending_zero_count_ < pending_zero_.size()) {
      pending_zero_[pending_zero_count_++] = page;
    } else if (r.outcome == InstallOutcome::kError) {
      ctx_.ReportError(r.status);
    }
    return;
  }
  switch (ctx_.map.state(chunk)) {
    case kInstalled: {
      // The chunk is in place, so this page was dropped since (madvise), or the fault
      // was resolved while its message waited: either way, zeros are right (a present
      // page is left alone).
      const uint64_t page = address & ~static_cast<uint64_t>(ctx_.map.page_size_bytes() - 1);
      SessionCounters::Add(ctx_.map.IsRemoved(page) ? counters.faults_after_remove
                                                    : counters.faults_stale);
      InstallResult r = ctx_.installer.ZeroPage(page);
      if (r.outcome == InstallOutcome::kRetry) {
        // An event is pending (a mapping change): the kernel lets the zero page through
        // once it is read. Keep the page and retry from the main loop.
        if (pending_zero_count_ < pending_zero_.size()) {
          pending_zero_[pending_zero_count_++] = page;
        } else {
          ctx_.ReportError(absl::ResourceExhaustedError(
              absl::StrFormat("too many faults waiting for a mapping change (page 0x%x)", page)));
        }
      } else if (r.outcome == InstallOutcome::kError) {
        ctx_.ReportError(r.status);
      }
      return;
    }
    case kInFlight:
      // Another fault is fetching it, and its UFFDIO_COPY wakes this thread too, unless
      // that copy already happened and this page was dropped right after (the state
      // turns installed only after the copy). Keep the page to look at again once the
      // chunk is installed.
      SessionCounters::Add(counters.faults_joined);
      Join(address & ~static_cast<uint64_t>(ctx_.map.page_size_bytes() - 1), chunk);
      return;
    case kFailed:
      return;
    case kAbsent:
      break;
  }
  if (!ctx_.map.TryClaim(chunk)) {
    SessionCounters::Add(counters.faults_joined);
    Join(address & ~static_cast<uint64_t>(ctx_.map.page_size_bytes() - 1), chunk);
    return;
  }
  if (!Fetch(chunk, /*demand=*/true, now_ns)) {
    if (waiting_count_ == waiting_.size()) {
      // Every slot busy and the waiting ring full: complete reads until a slot frees.
      while (FreeSlots() == 0) ReapCompletions(/*wait=*/true);
      StartWaiting();
    }
    waiting_[(waiting_head_ + waiting_count_) % waiting_.size()] = {chunk, now_ns};
    ++waiting_count_;
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
    if (!Fetch(next, /*demand=*/false, 0)) {
      ctx_.Finish(next, kAbsent);  // cannot happen with a free slot; release the claim
      return;
    }
  }
}

bool HandlerThread::Fetch(uint64_t chunk, bool demand, uint64_t fault_ns) {
  auto location = ctx_.snapshot.Locate(chunk);
  if (!location.ok()) {
    ctx_.FailChunk(chunk, location.status());
    return true;
  }
  if (location->stored.kind == format::ChunkKind::kZero) {
    InstallResult r = ctx_.installer.InstallZeroChunk(chunk);
    if (ctx_.FinishInstall(chunk, r)) {
      if (demand) {
        SessionCounters::Add(ctx_.counters.faults_zero);
        ctx_.counters.latency.Record(NowNanoseconds() - fault_ns);
      }
      return true;
    }
    // The mappings are changing: fall through and park it in a slot for a retry.
  }
  Slot* slot = nullptr;
  for (Slot& s : slots_) {
    if (!s.busy) {
      slot = &s;
      break;
    }
  }
  if (slot == nullptr) return false;
  slot->busy = true;
  slot->demand = demand;
  slot->readahead = !demand;
  slot->decoded = false;
  slot->read_done = false;
  slot->chunk = chunk;
  slot->fault_ns = fault_ns;
  slot->bytes_read = 0;
  slot->location = *location;
  if (location->stored.kind == format::ChunkKind::kZero) {
    slot->decoded = true;  // retry the zero install from RetryPending
    return true;
  }
  QueueRead(*slot);
  absl::Status submitted = reader_->Submit();
  if (!submitted.ok()) Complete(*slot, -EIO);
  return true;
}

void HandlerThread::QueueRead(Slot& slot) {
  const StoredChunk& stored = slot.location.stored;
  uint8_t* target = stored.kind == format::ChunkKind::kRaw ? slot.buffers->decoded.get()
                                                           : slot.buffers->stored.get();
  absl::Status queued = reader_->Queue(
      stored, slot.bytes_read,
      {target + slot.bytes_read, stored.stored_length_bytes - slot.bytes_read},
      static_cast<uint64_t>(&slot - slots_.data()));
  if (!queued.ok()) Complete(slot, -EIO);
}

bool HandlerThread::ReapCompletions(bool wait) {
  auto n = reader_->Reap(completions_, wait);
  if (!n.ok()) {
    ctx_.ReportError(n.status());
    return false;
  }
  for (size_t i = 0; i < *n; ++i) Complete(slots_[completions_[i].tag], completions_[i].result);
  return *n > 0;
}

void HandlerThread::Complete(Slot& slot, int64_t result) {
  const StoredChunk& stored = slot.location.stored;
  if (result < 0 || (result == 0 && slot.bytes_read < stored.stored_length_bytes)) {
    ctx_.FailChunk(slot.chunk,
                   absl::DataLossError(absl::StrFormat(
                       "%s: chunk %d: reading %d bytes at offset %d: %s", ctx_.source.name(),
                       slot.chunk, stored.stored_length_bytes, stored.file_offset_bytes,
                       result < 0 ? std::strerror(static_cast<int>(-result))
                                  : "unexpected end of file")));
    Release(slot);
    return;
  }
  SessionCounters::Add(ctx_.counters.bytes_read, static_cast<uint64_t>(result));
  slot.bytes_read += static_cast<uint32_t>(result);
  if (slot.bytes_read < stored.stored_length_bytes) {
    QueueRead(slot);  // a short read: ask for the rest
    reader_->Submit().IgnoreError();
    return;
  }
  if (!slot.demand) {
    // Readahead waits: decoding it now would hold up faults that arrive meanwhile (a
    // chunk takes tens of microseconds). The main loop decodes one at a time between
    // looks at the userfaultfd.
    slot.read_done = true;
    return;
  }
  DecodeAndInstall(slot);
}

void HandlerThread::DecodeAndInstall(Slot& slot) {
  absl::Status decoded = DecodeInto(ctx_, *decoder_, slot.location, *slot.buffers,
                                    ctx_.map.InstallLengthOf(slot.chunk));
  if (!decoded.ok()) {
    ctx_.FailChunk(slot.chunk, decoded);
    Release(slot);
    return;
  }
  slot.decoded = true;
  Install(slot);
}

bool HandlerThread::Install(Slot& slot) {
  ctx_.barrier.Wait();
  InstallResult r = slot.location.stored.kind == format::ChunkKind::kZero
                        ? ctx_.installer.InstallZeroChunk(slot.chunk)
                        : ctx_.installer.InstallChunk(slot.chunk, slot.buffers->decoded.get());
  if (!ctx_.FinishInstall(slot.chunk, r)) return false;  // retry later
  if (r.outcome == InstallOutcome::kDone) {
    if (slot.demand) {
      SessionCounters::Add(slot.location.stored.kind == format::ChunkKind::kZero
                               ? ctx_.counters.faults_zero
                               : ctx_.counters.faults_fetched);
      ctx_.counters.latency.Record(NowNanoseconds() - slot.fault_ns);
    } else if (slot.readahead) {
      SessionCounters::Add(ctx_.counters.chunks_readahead);
    }
  }
  Release(slot);
  return true;
}

void HandlerThread::Join(uint64_t page, uint64_t chunk) {
  if (joined_count_ == joined_.size()) {
    // Full: settle the oldest by waiting for its chunk (microseconds: it is in flight).
    while (ctx_.map.state(joined_[0].chunk) == kInFlight) {
      ReapCompletions(/*wait=*/false);
      RetryPending();
      sched_yield();
    }
    RetryPending();
  }
  joined_[joined_count_++] = {page, chunk};
}

bool HandlerThread::ServeOneReadahead() {
  for (Slot& slot : slots_) {
    if (slot.busy && slot.read_done && !slot.decoded) {
      slot.read_done = false;
      DecodeAndInstall(slot);
      return true;
    }
  }
  return false;
}

bool HandlerThread::RetryPending() {
  bool progressed = false;
  for (size_t i = 0; i < joined_count_;) {
    const ChunkState state = ctx_.map.state(joined_[i].chunk);
    if (state == kInFlight) {
      ++i;
      continue;
    }
    if (state == kInstalled) {
      // Usually the page is present and this only wakes (nobody waits any more); if it
      // was dropped after the copy, it becomes a zero page, as it must.
      InstallResult r = ctx_.installer.ZeroPage(joined_[i].page);
      if (r.outcome == InstallOutcome::kRetry) {
        ++i;
        continue;
      }
      if (r.outcome == InstallOutcome::kError) ctx_.ReportError(r.status);
    }
    joined_[i] = joined_[--joined_count_];
    progressed = true;
  }
  for (size_t i = 0; i < pending_zero_count_;) {
    InstallResult r = ctx_.installer.ZeroPage(pending_zero_[i]);
    if (r.outcome == InstallOutcome::kRetry) {
      ++i;
      continue;
    }
    if (r.outcome == InstallOutcome::kError) ctx_.ReportError(r.status);
    pending_zero_[i] = pending_zero_[--pending_zero_count_];
    progressed = true;
  }
  for (Slot& slot : slots_) {
    if (slot.busy && slot.decoded) progressed |= Install(slot);
  }
  return progressed;
}

bool HandlerThread::StartWaiting() {
  bool progressed = false;
  while (waiting_count_ > 0) {
    const WaitingFault& w = waiting_[waiting_head_];
    if (!Fetch(w.chunk, /*demand=*/true, w.fault_ns)) break;
    waiting_head_ = (waiting_head_ + 1) % waiting_.size();
    --waiting_count_;
    progressed = true;
  }
  return progressed;
}

void HandlerThread::Release(Slot& slot) {
  slot.busy = false;
  slot.decoded = false;
  slot.read_done = false;
}

// ---------------------------------------------------------------------------------------
// ChunkWorker

ChunkWorker::ChunkWorker(ServingContext& ctx, bool drains_events, int reader)
    : ctx_(ctx), drains_events_(drains_events), reader_(reader) {}

absl::Status ChunkWorker::Init() {
  auto reader = ctx_.source.NewReader(1);
  if (!reader.ok()) return reader.status();
  chunk_reader_ = std::move(*reader);
  auto decoder = ChunkDecoder::Create();
  if (!decoder.ok()) return decoder.status();
  decoder_ = std::make_unique<ChunkDecoder>(std::move(*decoder));
  buffers_ = std::make_unique<ChunkBuffers>(ctx_.snapshot);
  return absl::OkStatus();
}

absl::Status ChunkWorker::ReadWhole(const StoredChunk& stored, uint8_t* target) {
  uint32_t done = 0;
  while (done < stored.stored_length_bytes) {
    absl::Status status = chunk_reader_->Queue(stored, done,
                                         {target + done, stored.stored_length_bytes - done}, 0);
    if (status.ok()) status = chunk_reader_->Submit();
    ReadCompletion completion;
    size_t n = 0;
    while (status.ok() && n == 0) {
      auto reaped = chunk_reader_->Reap({&completion, 1}, /*wait=*/true);
      if (!reaped.ok()) status = reaped.status();
      else n = *reaped;
    }
    if (!status.ok()) return status;
    if (completion.result <= 0) {
      return absl::DataLossError(absl::StrFormat(
          "%s: reading %d bytes at offset %d: %s", ctx_.source.name(),
          stored.stored_length_bytes, stored.file_offset_bytes,
          completion.result < 0 ? std::strerror(static_cast<int>(-completion.result))
                                : "unexpected end of file"));
    }
    done += static_cast<uint32_t>(completion.result);
  }
  return absl::OkStatus();
}

void ChunkWorker::DrainEvents() {
  uffd_msg messages[kMessagesPerRead];
  ctx_.barrier.Enter(reader_);
  auto n = ctx_.kernel.ReadUffdMessages(ctx_.uffd, {messages, kMessagesPerRead});
  for (size_t i = 0; n.ok() && i < *n; ++i) {
    if (messages[i].event != UFFD_EVENT_PAGEFAULT) ctx_.HandleEvent(messages[i]);
  }
  ctx_.barrier.Exit(reader_);
}

bool ChunkWorker::Serve(uint64_t chunk, bool include_zero, SessionCounters::Counter* tally) {
  if (ctx_.gone.load(std::memory_order_relaxed)) return false;
  if (ctx_.map.state(chunk) != kAbsent) return true;
  auto location = ctx_.snapshot.Locate(chunk);
  if (!location.ok()) {
    if (ctx_.map.TryClaim(chunk)) ctx_.FailChunk(chunk, location.status());
    return true;
  }
  const StoredChunk& stored = location->stored;
  const bool zero = stored.kind == format::ChunkKind::kZero;
  if (zero && !include_zero) return true;
  if (!ctx_.map.TryClaim(chunk)) return true;
  if (!zero) {
    uint8_t* target = stored.kind == format::ChunkKind::kRaw ? buffers_->decoded.get()
                                                             : buffers_->stored.get();
    absl::Status read = ReadWhole(stored, target);
    if (read.ok()) {
      SessionCounters::Add(ctx_.counters.bytes_read, stored.stored_length_bytes);
      read = DecodeInto(ctx_, *decoder_, *location, *buffers_, ctx_.map.InstallLengthOf(chunk));
    }
    if (!read.ok()) {
      ctx_.FailChunk(chunk, absl::DataLossError(absl::StrFormat("chunk %d: %s", chunk,
                                                                read.message())));
      return true;
    }
  }
  while (true) {
    if (!zero) ctx_.barrier.Wait();
    InstallResult r = zero ? ctx_.installer.InstallZeroChunk(chunk)
                           : ctx_.installer.InstallChunk(chunk, buffers_->decoded.get());
    if (ctx_.FinishInstall(chunk, r)) {
      if (r.outcome == InstallOutcome::kDone && tally != nullptr) SessionCounters::Add(*tally);
      return !ctx_.gone.load(std::memory_order_relaxed);
    }
    // An event is pending: it must be read before the kernel lets installs through.
    if (drains_events_) DrainEvents();
    sched_yield();
  }
}

}  // namespace lazysnap::internal
