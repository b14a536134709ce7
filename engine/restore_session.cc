// RestoreSession: setting up memory, userfaultfd and the serving threads, and closing.
#include "engine/restore_session.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "engine/internal/chunk_map.h"
#include "engine/internal/counters.h"
#include "engine/internal/installer.h"
#include "engine/internal/serving.h"
#include "engine/internal/sigbus_server.h"

namespace lazysnap {
namespace internal {

// SessionState: everything a session owns, in destruction-safe order (threads last
// declared, so they are joined before what they use is destroyed).
class SessionState {
 public:
  Kernel* kernel = nullptr;
  RestoreOptions options;
  std::shared_ptr<const SnapshotReader> snapshot;
  std::shared_ptr<GuestMemory> memory;  // when the session mapped it
  bool in_process = true;               // memory is in this address space
  std::vector<uint64_t> addresses;
  std::optional<Userfaultfd> uffd;
  std::vector<RangeRegistration> registrations;
  std::shared_ptr<ChunkSource> source;
  UniqueFd stop_fd;
  std::unique_ptr<ChunkMap> map;
  SessionCounters counters;
  std::unique_ptr<Installer> installer;
  std::unique_ptr<ServingContext> context;
  std::vector<std::unique_ptr<HandlerThread>> handlers;
  std::unique_ptr<SigbusServer> sigbus;
  int worker_count = 1;  // handler threads, or SIGBUS workers
  std::vector<std::thread> threads;

  std::mutex close_mutex;
  bool closed = false;

  absl::Status Serve(uint64_t range_ioctls);
  void StopThreads();
  void FinishRestore();
  void ProtectFailedChunks();
};

absl::Status SessionState::Serve(uint64_t range_ioctls) {
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  if (snapshot->chunk_size_bytes() % page != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: chunk size %d is not a multiple of this host's page size %d", snapshot->path(),
        snapshot->chunk_size_bytes(), page));
  }
  source = options.chunk_source != nullptr
               ? options.chunk_source
               : DefaultChunkSource(*snapshot, {.use_io_uring = options.use_io_uring});
  if (options.serving == ServingMode::kSigbus && !source->can_read_quietly()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: ServingMode::kSigbus needs a source that can be read from a signal handler (a "
        "local file); use kHandlerThreads",
        source->name()));
  }
  LAZYSNAP_ASSIGN_OR_RETURN(stop_fd, kernel->CreateEventFd());
  map = std::make_unique<ChunkMap>(*snapshot, addresses, static_cast<uint32_t>(page));
  const bool can_zeropage = (range_ioctls & static_cast<uint64_t>(RangeIoctl::kZeropage)) != 0;
  const bool can_poison = (range_ioctls & static_cast<uint64_t>(RangeIoctl::kPoison)) != 0 &&
                          uffd->capabilities().Enabled(UffdFeature::kPoison);
  installer = std::make_unique<Installer>(*kernel, uffd->fd(), *map, counters, can_zeropage,
                                          can_poison);
  worker_count = options.handler_threads > 0 ? options.handler_threads : kernel->online_cpus();
  // Barrier slots: the handler threads (or the SIGBUS event thread), then Close's
  // finish-restore workers.
  context = std::make_unique<ServingContext>(*kernel, uffd->fd(), *snapshot, *source,
                                             *map, *installer, counters, options, stop_fd.get(),
                                             2 * worker_count);
  if (options.serving == ServingMode::kSigbus) {
    // Faulting threads serve themselves; one thread reads events and reports errors.
    LAZYSNAP_ASSIGN_OR_RETURN(sigbus, SigbusServer::Create(*context, 2 * worker_count + 2));
    threads.emplace_back([s = sigbus.get()] { s->RunEventLoop(); });
  } else {
    for (int i = 0; i < worker_count; ++i) {
      handlers.push_back(std::make_unique<HandlerThread>(*context, i));
      LAZYSNAP_RETURN_IF_ERROR(handlers.back()->Init());
    }
    for (auto& handler : handlers) threads.emplace_back([h = handler.get()] { h->Run(); });
  }
  if (options.background_populate) {
    threads.emplace_back([this] {
      kernel->SetCurrentThreadIdle().IgnoreError();
      ChunkWorker worker(*context, /*drains_events=*/false, /*reader=*/0);
      if (!worker.Init().ok()) return;
      for (uint64_t chunk = 0; chunk < map->chunk_count(); ++chunk) {
        if (context->stopping.load(std::memory_order_relaxed)) return;
        if (!worker.Serve(chunk, /*include_zero=*/false, &counters.chunks_background)) return;
      }
    });
  }
  return absl::OkStatus();
}

void SessionState::StopThreads() {
  if (context == nullptr) return;
  context->stopping.store(true, std::memory_order_release);
  kernel->SignalEventFd(stop_fd.get()).IgnoreError();
  for (std::thread& t : threads) t.join();
  threads.clear();
}

void SessionState::FinishRestore() {
  // Every chunk not yet installed is installed now, by as many workers as there were
  // handler threads; zero chunks are left alone (once unregistered, untouched anonymous
  // memory reads as zeros anyway).
  std::atomic<uint64_t> next{0};
  auto work = [&](int index) {
    ChunkWorker worker(*context, /*drains_events=*/true, /*reader=*/worker_count + index);
    if (!worker.Init().ok()) return;
    for (uint64_t chunk = next++; chunk < map->chunk_count(); chunk = next++) {
      if (!worker.Serve(chunk, /*include_zero=*/false, nullptr)) return;
    }
  };
  std::vector<std::thread> workers;
  for (int i = 1; i < worker_count; ++i) workers.emplace_back(work, i);
  work(0);
  for (std::thread& t : workers) t.join();
}

void SessionState::ProtectFailedChunks() {
  // Without poison, a refused chunk's pages would read as zeros once unregistered: make
  // them inaccessible instead, so the memory never silently holds wrong bytes.
  if (!in_process || context->poisons()) return;
  const uint64_t page = map->page_size_bytes();
  for (uint64_t chunk = 0; chunk < map->chunk_count(); ++chunk) {
    if (map->state(chunk) != kFailed) continue;
    const uint64_t address = map->AddressOf(chunk);
    const uint64_t length = (map->InstallLengthOf(chunk) + page - 1) / page * page;
    kernel->Mprotect(reinterpret_cast<void*>(address), length, PROT_NONE).IgnoreError();
  }
}

}  // namespace internal

namespace {

absl::Status CheckAddresses(const SnapshotReader& snapshot, const std::vector<uint64_t>& addresses) {
  if (addresses.size() != snapshot.regions().size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d region addresses given for a snapshot with %d regions", addresses.size(),
        snapshot.regions().size()));
  }
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (size_t i = 0; i < addresses.size(); ++i) {
    if (addresses[i] % page != 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("region %d address 0x%x is not page aligned", i, addresses[i]));
    }
    const uint64_t length = (snapshot.regions()[i].length_bytes + page - 1) / page * page;
    spans.push_back({addresses[i], addresses[i] + length});
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].first < spans[i - 1].second) {
      return absl::InvalidArgumentError("region addresses overlap");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<internal::SessionState>> NewState(
    std::shared_ptr<const SnapshotReader> snapshot, const RestoreOptions& options) {
  if (snapshot == nullptr) return absl::InvalidArgumentError("no snapshot given");
  auto state = std::make_unique<internal::SessionState>();
  state->options = options;
  state->kernel = options.kernel != nullptr ? options.kernel : &LinuxKernel();
  state->snapshot = std::move(snapshot);
  if (options.serving == ServingMode::kSigbus) {
    // The SIGBUS handler must not allocate, so nothing may be loaded lazily under it:
    // validate the whole index now (this makes time to ready grow with the index).
    LAZYSNAP_RETURN_IF_ERROR(state->snapshot->ValidateIndex());
  }
  return state;
}

absl::Status OpenAndRegister(internal::SessionState& state, uint64_t* range_ioctls) {
  UffdOptions uffd_options;
  uffd_options.features = FeatureRequestFor(state.options);
  uffd_options.allow_user_mode_only = !state.options.require_kernel_faults;
  LAZYSNAP_ASSIGN_OR_RETURN(Userfaultfd uffd, Userfaultfd::Open(*state.kernel, uffd_options));
  state.uffd.emplace(std::move(uffd));
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  *range_ioctls = ~0ull;
  for (size_t i = 0; i < state.addresses.size(); ++i) {
    const uint64_t length = (state.snapshot->regions()[i].length_bytes + page - 1) / page * page;
    auto registration = state.uffd->Register(state.addresses[i], length, UFFDIO_REGISTER_MODE_MISSING);
    if (!registration.ok()) {
      return absl::Status(registration.status().code(),
                          absl::StrFormat("registering region %d at 0x%x (%d bytes): %s", i,
                                          state.addresses[i], length,
                                          registration.status().message()));
    }
    *range_ioctls &= registration->ioctls();
    state.registrations.push_back(std::move(*registration));
  }
  return absl::OkStatus();
}

}  // namespace

RestoreSession::RestoreSession(std::unique_ptr<internal::SessionState> state)
    : state_(std::move(state)) {}

absl::StatusOr<std::unique_ptr<RestoreSession>> RestoreSession::Start(
    std::shared_ptr<const SnapshotReader> snapshot, const RestoreOptions& options) {
  const uint64_t start = internal::NowNanoseconds();
  LAZYSNAP_ASSIGN_OR_RETURN(auto state, NewState(std::move(snapshot), options));
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  uint64_t total = 0;
  std::vector<uint64_t> offsets;
  for (const format::Region& region : state->snapshot->regions()) {
    offsets.push_back(total);
    total += (region.length_bytes + page - 1) / page * page;
  }
  LAZYSNAP_ASSIGN_OR_RETURN(state->memory, GuestMemory::MapAnonymous(*state->kernel, total));
  for (uint64_t offset : offsets) state->addresses.push_back(state->memory->address() + offset);
  uint64_t range_ioctls;
  LAZYSNAP_RETURN_IF_ERROR(OpenAndRegister(*state, &range_ioctls));
  LAZYSNAP_RETURN_IF_ERROR(state->Serve(range_ioctls));
  state->counters.time_to_ready_ns = internal::NowNanoseconds() - start;
  return std::unique_ptr<RestoreSession>(new RestoreSession(std::move(state)));
}

absl::StatusOr<std::unique_ptr<RestoreSession>> RestoreSession::StartInto(
    std::shared_ptr<const SnapshotReader> snapshot, std::vector<uint64_t> region_addresses,
    const RestoreOptions& options) {
  const uint64_t start = internal::NowNanoseconds();
  LAZYSNAP_ASSIGN_OR_RETURN(auto state, NewState(std::move(snapshot), options));
  LAZYSNAP_RETURN_IF_ERROR(CheckAddresses(*state->snapshot, region_addresses));
  state->addresses = std::move(region_addresses);
  uint64_t range_ioctls;
  LAZYSNAP_RETURN_IF_ERROR(OpenAndRegister(*state, &range_ioctls));
  LAZYSNAP_RETURN_IF_ERROR(state->Serve(range_ioctls));
  state->counters.time_to_ready_ns = internal::NowNanoseconds() - start;
  return std::unique_ptr<RestoreSession>(new RestoreSession(std::move(state)));
}

absl::StatusOr<std::unique_ptr<RestoreSession>> RestoreSession::StartWithUserfaultfd(
    std::shared_ptr<const SnapshotReader> snapshot, std::vector<uint64_t> region_addresses,
    Userfaultfd uffd, uint64_t range_ioctls, const RestoreOptions& options) {
  const uint64_t start = internal::NowNanoseconds();
  if (options.serving == ServingMode::kSigbus) {
    return absl::InvalidArgumentError(
        "ServingMode::kSigbus serves faults of this process only; another process's memory "
        "needs kHandlerThreads");
  }
  LAZYSNAP_ASSIGN_OR_RETURN(auto state, NewState(std::move(snapshot), options));
  LAZYSNAP_RETURN_IF_ERROR(CheckAddresses(*state->snapshot, region_addresses));
  state->addresses = std::move(region_addresses);
  state->in_process = false;
  state->uffd.emplace(std::move(uffd));
  LAZYSNAP_RETURN_IF_ERROR(state->Serve(range_ioctls));
  state->counters.time_to_ready_ns = internal::NowNanoseconds() - start;
  return std::unique_ptr<RestoreSession>(new RestoreSession(std::move(state)));
}

RestoreSession::~RestoreSession() { Close(state_->options.close_mode).IgnoreError(); }

std::shared_ptr<GuestMemory> RestoreSession::memory() const { return state_->memory; }

std::span<uint8_t> RestoreSession::region_memory(uint32_t region) const {
  if (!state_->in_process || region >= state_->addresses.size()) return {};
  return {reinterpret_cast<uint8_t*>(state_->addresses[region]),
          state_->snapshot->regions()[region].length_bytes};
}

RestoreStats RestoreSession::stats() const { return state_->counters.Snapshot(); }

const UffdCapabilities& RestoreSession::capabilities() const {
  return state_->uffd->capabilities();
}

const char* RestoreSession::reader_name() const {
  if (state_->sigbus != nullptr) return "pread (in the faulting thread)";
  return state_->handlers.empty() ? "none" : state_->handlers.front()->reader_name();
}

absl::Status RestoreSession::status() const {
  return state_->context != nullptr ? state_->context->first_error() : absl::OkStatus();
}

absl::Status RestoreSession::Close(CloseMode mode) {
  internal::SessionState& s = *state_;
  std::lock_guard<std::mutex> lock(s.close_mutex);
  if (s.closed) return status();
  s.closed = true;
  s.StopThreads();
  if (s.context != nullptr) {
    if (mode == CloseMode::kFinishRestore && !s.context->gone.load()) s.FinishRestore();
    s.ProtectFailedChunks();
  }
  // Unregistering wakes every thread still waiting in a fault; with the chunks
  // installed they find their pages, otherwise anonymous memory's zeros.
  s.registrations.clear();
  // No more SIGBUS can come from unregistered memory; wait out handlers still running.
  s.sigbus.reset();
  s.uffd.reset();
  return status();
}

}  // namespace lazysnap
