// SigbusServer: the process-wide SIGBUS handler and in-thread fault service.
#include "engine/internal/sigbus_server.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>

#include <cstring>
#include <mutex>

#include "absl/strings/str_format.h"

namespace lazysnap::internal {
namespace {

constexpr int kMaxServers = 64;

// The process-wide table of active servers, and how many handlers are running: a server
// is destroyed only once no handler can still be looking at it.
std::atomic<SigbusServer*> g_servers[kMaxServers];
std::atomic<int> g_handlers_inside{0};
std::mutex g_install_mutex;
bool g_installed = false;
void OnSigbus(int signal, siginfo_t* info, void* context);
struct sigaction g_previous;

void ChainToPrevious(int signal, siginfo_t* info, void* context) {
  if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(signal, info, context);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN &&
      g_previous.sa_handler != nullptr) {
    g_previous.sa_handler(signal);
    return;
  }
  // Default action: restore it and return; the access faults again and the process
  // ends as it would have without lazysnap (a SIGBUS cannot usefully be ignored).
  struct sigaction default_action = {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  sigaction(signal, &default_action, nullptr);
}

void OnSigbus(int signal, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  g_handlers_inside.fetch_add(1, std::memory_order_seq_cst);
  bool handled = false;
  const uint64_t address = reinterpret_cast<uint64_t>(info->si_addr);
  // A poisoned page (UFFDIO_POISON) is a refused chunk: its SIGBUS is the application's.
  if (info->si_code != BUS_MCEERR_AR) {
    for (int i = 0; i < kMaxServers && !handled; ++i) {
      SigbusServer* server = g_servers[i].load(std::memory_order_acquire);
      if (server != nullptr && server->Contains(address)) {
        handled = server->Serve(address);
        break;
      }
    }
  }
  g_handlers_inside.fetch_sub(1, std::memory_order_seq_cst);
  errno = saved_errno;
  if (!handled) ChainToPrevious(signal, info, context);
}

absl::Status InstallHandler() {
  std::lock_guard<std::mutex> lock(g_install_mutex);
  struct sigaction current;
  if (sigaction(SIGBUS, nullptr, &current) != 0) {
    return absl::InternalError(absl::StrFormat("sigaction(SIGBUS): %s", std::strerror(errno)));
  }
  // Installed and still in place? Someone may have replaced it since: then install it
  // again, passing foreign signals to whoever is there now.
  if (g_installed && (current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == OnSigbus) {
    return absl::OkStatus();
  }
  struct sigaction action = {};
  action.sa_sigaction = OnSigbus;
  action.sa_flags = SA_SIGINFO;
  // Nothing else runs in this thread while a fault is served: a signal whose handler
  // touched restored memory could otherwise wait forever on the chunk this one holds.
  sigfillset(&action.sa_mask);
  if (sigaction(SIGBUS, &action, &g_previous) != 0) {
    return absl::InternalError(absl::StrFormat("sigaction(SIGBUS): %s", std::strerror(errno)));
  }
  g_installed = true;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SigbusServer>> SigbusServer::Create(ServingContext& ctx,
                                                                   int workers) {
  std::unique_ptr<SigbusServer> server(new SigbusServer(ctx));
  for (int i = 0; i < workers; ++i) {
    auto worker = std::make_unique<Worker>();
    auto decoder = ChunkDecoder::Create();
    if (!decoder.ok()) return decoder.status();
    worker->decoder = std::make_unique<ChunkDecoder>(std::move(*decoder));
    worker->buffers = std::make_unique<ChunkBuffers>(ctx.snapshot);
    server->workers_.push_back(std::move(worker));
  }
  auto event = ctx.kernel.CreateEventFd();
  if (!event.ok()) return event.status();
  server->refused_event_ = std::move(*event);
  absl::Status installed = InstallHandler();
  if (!installed.ok()) return installed;
  for (int i = 0; i < kMaxServers; ++i) {
    SigbusServer* empty = nullptr;
    if (g_servers[i].compare_exchange_strong(empty, server.get(), std::memory_order_acq_rel)) {
      server->slot_ = i;
      return server;
    }
  }
  return absl::ResourceExhaustedError(
      absl::StrFormat("more than %d SIGBUS-mode restore sessions at once", kMaxServers));
}

SigbusServer::~SigbusServer() {
  if (slot_ >= 0) g_servers[slot_].store(nullptr, std::memory_order_seq_cst);
  while (g_handlers_inside.load(std::memory_order_seq_cst) != 0) sched_yield();
}

bool SigbusServer::Contains(uint64_t address) const {
  uint64_t chunk;
  return ctx_.map.ChunkAt(address, &chunk);
}

SigbusServer::Worker& SigbusServer::ClaimWorker() {
  while (true) {
    for (auto& worker : workers_) {
      bool expected = false;
      if (!worker->busy.load(std::memory_order_relaxed) &&
          worker->busy.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
        return *worker;
      }
    }
    sched_yield();  // more faulting threads than workers: wait for one to finish
  }
}

void SigbusServer::RefuseQuietly(uint64_t chunk) {
  SessionCounters::Add(ctx_.counters.chunks_failed);
  if (ctx_.poisons()) ctx_.installer.PoisonChunk(chunk);
  ctx_.Finish(chunk, kFailed);
  uint64_t none = UINT64_MAX;
  first_refused_chunk_.compare_exchange_strong(none, chunk);
  refused_count_.fetch_add(1, std::memory_order_release);
  ctx_.kernel.SignalEventFd(refused_event_.get()).IgnoreError();
}

bool SigbusServer::Fetch(Worker& worker, uint64_t chunk) {
  auto location = ctx_.snapshot.Locate(chunk);  // the index is validated: cannot fail
  if (!location.ok()) {
    RefuseQuietly(chunk);
    return false;
  }
  const StoredChunk& stored = location->stored;
  InstallResult result;
  if (stored.kind == format::ChunkKind::kZero) {
    while ((result = ctx_.installer.InstallZeroChunk(chunk)).outcome == InstallOutcome::kRetry) {
      sched_yield();
    }
    SessionCounters::Add(ctx_.counters.faults_zero);
  } else {
    uint8_t* target = stored.kind == format::ChunkKind::kRaw ? worker.buffers->decoded.get()
                                                             : worker.buffers->stored.get();
    const int64_t n = ctx_.source.ReadQuietly(stored, {target, stored.stored_length_bytes});
    if (n != static_cast<int64_t>(stored.stored_length_bytes)) {
      RefuseQuietly(chunk);
      return false;
    }
    SessionCounters::Add(ctx_.counters.bytes_read, stored.stored_length_bytes);
    const std::span<const uint8_t> stored_bytes(target, stored.stored_length_bytes);
    if (worker.decoder->DecodeQuietly(stored, stored_bytes,
                                      {worker.buffers->decoded.get(), stored.length_bytes},
                                      ctx_.snapshot.dictionary(stored.dictionary_slot)) !=
        DecodeError::kNone) {
      RefuseQuietly(chunk);
      return false;
    }
    if (stored.kind == format::ChunkKind::kCompressed) {
      SessionCounters::Add(ctx_.counters.bytes_decompressed, stored.length_bytes);
    }
    const uint32_t install_length = ctx_.map.InstallLengthOf(chunk);
    if (install_length > stored.length_bytes) {
      std::memset(worker.buffers->decoded.get() + stored.length_bytes, 0,
                  install_length - stored.length_bytes);
    }
    ctx_.barrier.Wait();
    while ((result = ctx_.installer.InstallChunk(chunk, worker.buffers->decoded.get())).outcome ==
           InstallOutcome::kRetry) {
      // A mapping change is pending; the event thread reads it, then installs go through.
      sched_yield();
      ctx_.barrier.Wait();
    }
    SessionCounters::Add(ctx_.counters.faults_fetched);
  }
  if (result.outcome == InstallOutcome::kError) {
    RefuseQuietly(chunk);
    return false;
  }
  SessionCounters::Add(ctx_.counters.chunks_installed);
  ctx_.Finish(chunk, kInstalled);
  return true;
}

bool SigbusServer::Serve(uint64_t address) {
  uint64_t chunk;
  if (!ctx_.map.ChunkAt(address, &chunk)) return false;
  const uint64_t start = NowNanoseconds();
  SessionCounters::Add(ctx_.counters.faults);
  const uint64_t page = address & ~static_cast<uint64_t>(ctx_.map.page_size_bytes() - 1);
  while (true) {
    switch (ctx_.map.state(chunk)) {
      case kInstalled: {
        // Dropped since it was installed (or installed meanwhile): zeros are right.
        SessionCounters::Add(ctx_.map.IsRemoved(page) ? ctx_.counters.faults_after_remove
                                                      : ctx_.counters.faults_stale);
        while (ctx_.installer.ZeroPage(page).outcome == InstallOutcome::kRetry) sched_yield();
        return true;
      }
      case kFailed:
        return false;
      case kInFlight:
        // Another thread is serving it: sleep until it is done (spinning here could keep
        // that thread off the CPU until the next scheduler tick), then retry the access.
        SessionCounters::Add(ctx_.counters.faults_joined);
        ctx_.WaitWhileInFlight(chunk);
        return true;
      case kAbsent:
        if (!ctx_.map.TryClaim(chunk)) continue;
        Worker& worker = ClaimWorker();
        const bool served = Fetch(worker, chunk);
        worker.busy.store(false, std::memory_order_release);
        if (served) ctx_.counters.latency.Record(NowNanoseconds() - start);
        return served;
    }
  }
}

void SigbusServer::ReportRefused() {
  const uint64_t count = refused_count_.load(std::memory_order_acquire);
  if (count == reported_count_) return;
  reported_count_ = count;
  const uint64_t chunk = first_refused_chunk_.load();
  // Outside the signal handler now: read the chunk again to say why it was refused.
  std::string reason = "it could not be read";
  auto location = ctx_.snapshot.Locate(chunk);
  if (location.ok()) {
    auto decoder = ChunkDecoder::Create();
    std::vector<uint8_t> scratch;
    std::vector<uint8_t> out(location->stored.length_bytes);
    if (decoder.ok()) {
      absl::Status status = ctx_.snapshot.ReadChunk(chunk, *decoder, scratch, out);
      if (!status.ok()) reason = std::string(status.message());
    }
  }
  ctx_.ReportError(absl::DataLossError(absl::StrFormat(
      "chunk %d at address 0x%x (%d bytes) was not installed: %s; %s", chunk,
      ctx_.map.AddressOf(chunk), ctx_.map.InstallLengthOf(chunk), reason,
      ctx_.poisons() ? "its pages are poisoned: touching them raises SIGBUS"
                     : "touching it raises SIGBUS (the fault is passed on)")));
}

void SigbusServer::RunEventLoop() {
  uffd_msg messages[16];
  while (!ctx_.stopping.load(std::memory_order_acquire)) {
    pollfd fds[3] = {{ctx_.uffd, POLLIN, 0}, {ctx_.stop_fd, POLLIN, 0},
                     {refused_event_.get(), POLLIN, 0}};
    auto ready = ctx_.kernel.Poll(fds, -1);
    if (!ready.ok()) {
      ctx_.ReportError(ready.status());
      return;
    }
    if (fds[2].revents != 0) {
      ctx_.kernel.ResetEventFd(refused_event_.get());
      ReportRefused();
    }
    ctx_.barrier.Enter(0);
    auto n = ctx_.kernel.ReadUffdMessages(ctx_.uffd, messages);
    for (size_t i = 0; n.ok() && i < *n; ++i) {
      // With UFFD_FEATURE_SIGBUS no fault messages come; only events.
      if (messages[i].event != UFFD_EVENT_PAGEFAULT) ctx_.HandleEvent(messages[i]);
    }
    ctx_.barrier.Exit(0);
  }
  ReportRefused();
}

}  // namespace lazysnap::internal
