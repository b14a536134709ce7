// SigbusServer: the process-wide SIGBUS handler and in-thread fault service.
#include "engine/internal/sigbus_server.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>

#include <cstring>
#include <mutex>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"

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
  // The handler is process-wide and outlives any session (and any fake kernel a test
  // installed it through): restore through the real kernel.
  LinuxKernel().Sigaction(signal, &default_action, nullptr);
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

absl::Status InstallHandler(Kernel& kernel) {
  std::lock_guard<std::mutex> lock(g_install_mutex);
  struct sigaction current;
  if (int error = kernel.Sigaction(SIGBUS, nullptr, &current); error != 0) {
    return ErrnoToStatus(error, "sigaction(SIGBUS)");
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
  if (int error = kernel.Sigaction(SIGBUS, &action, &g_previous); error != 0) {
    return ErrnoToStatus(error, "sigaction(SIGBUS)");
  }
  g_installed = true;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SigbusServer>> SigbusServer::Create(ServingContext& ctx,
                                                                   int workers) {
  if (!ctx.source.can_read_quietly()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: SIGBUS mode needs a chunk source that can be read in a signal handler",
        ctx.source.name()));
  }
  std::unique_ptr<SigbusServer> server(new SigbusServer(ctx));
  for (int i = 0; i < workers; ++i) {
    auto worker = std::make_unique<Worker>(ctx);
    absl::Status init = worker->pipeline.Init();
    if (!init.ok()) return init;
    worker->buffers = std::make_unique<ChunkBuffers>(ctx.snapshot);
    server->workers_.push_back(std::move(worker));
  }
  absl::Status installed = InstallHandler(ctx.kernel);
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

bool SigbusServer::Fetch(Worker& worker, uint64_t chunk, uint64_t fault_ns) {
  ChunkPipeline& pipeline = worker.pipeline;
  ChunkJob job;
  switch (pipeline.Start(job, chunk, JobKind::kDemand, fault_ns)) {
    case ChunkPipeline::StartResult::kRefused:
      return false;
    case ChunkPipeline::StartResult::kZero:
      break;
    case ChunkPipeline::StartResult::kRead: {
      pipeline.Attach(job, *worker.buffers);
      ChunkPipeline::ReadResult read;
      do {
        read = pipeline.OnRead(job, ctx_.source.ReadQuietly(job.location.stored,
                                                            pipeline.UnreadBytes(job)));
      } while (read == ChunkPipeline::ReadResult::kMore);
      if (read == ChunkPipeline::ReadResult::kRefused || !pipeline.Decode(job)) return false;
      break;
    }
  }
  // A mapping change is pending; the event thread reads it, then installs go through.
  while (pipeline.Publish(job) == ChunkPipeline::PublishResult::kRetry) sched_yield();
  return ctx_.map.state(chunk) == kInstalled;
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
        while (ctx_.target.ZeroPage(page).outcome == InstallOutcome::kRetry) sched_yield();
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
        const bool served = Fetch(worker, chunk, start);
        worker.busy.store(false, std::memory_order_release);
        return served;
    }
  }
}

void SigbusServer::RunEventLoop() {
  uffd_msg messages[16];
  while (!ctx_.stopping.load(std::memory_order_acquire)) {
    pollfd fds[3] = {{ctx_.uffd, POLLIN, 0}, {ctx_.stop_fd, POLLIN, 0},
                     {ctx_.refused_event_fd(), POLLIN, 0}};
    auto ready = ctx_.kernel.Poll(fds, -1);
    if (!ready.ok()) {
      ctx_.ReportError(ready.status());
      return;
    }
    if (fds[2].revents != 0) {
      ctx_.kernel.ResetEventFd(ctx_.refused_event_fd());
      ctx_.ReportRefused();
    }
    ctx_.barrier.Enter(0);
    auto n = ctx_.kernel.ReadUffdMessages(ctx_.uffd, messages);
    for (size_t i = 0; n.ok() && i < *n; ++i) {
      // With UFFD_FEATURE_SIGBUS no fault messages come; only events.
      if (messages[i].event != UFFD_EVENT_PAGEFAULT) ctx_.HandleEvent(messages[i]);
    }
    ctx_.barrier.Exit(0);
  }
  ctx_.ReportRefused();
}

}  // namespace lazysnap::internal
