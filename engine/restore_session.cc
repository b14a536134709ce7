// RestoreSession: setting up memory, userfaultfd and the serving threads, and closing.
#include "engine/restore_session.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "engine/internal/chunk_map.h"
#include "engine/internal/chunk_worker.h"
#include "engine/internal/copy_install_target.h"
#include "engine/internal/counters.h"
#include "engine/internal/handler_thread.h"
#include "engine/internal/serving_context.h"
#include "engine/internal/session_start.h"
#include "engine/internal/sigbus_server.h"
#include "engine/userfaultfd.h"

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
  uint64_t page_size = 0;  // of the memory being restored
  std::optional<Userfaultfd> uffd;
  std::vector<RangeRegistration> registrations;
  std::shared_ptr<ChunkSource> source;
  UniqueFd stop_fd;
  std::unique_ptr<ChunkMap> map;
  SessionCounters counters;
  std::unique_ptr<InstallTarget> target;
  std::unique_ptr<ServingContext> context;
  std::vector<std::unique_ptr<HandlerThread>> handlers;
  std::unique_ptr<SigbusServer> sigbus;
  int worker_count = 1;  // handler threads, or SIGBUS workers
  std::atomic<uint64_t> populate_cursor{0};  // next chunk for the eager populators
  std::vector<std::thread> threads;

  std::mutex close_mutex;
  bool closed = false;

  absl::Status Serve(RangeCapability zeropage, RangeCapability poison);
  void StopThreads();
  void FinishRestore();
  void ProtectFailedChunks();
};

absl::Status SessionState::Serve(RangeCapability zeropage, RangeCapability poison) {
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
  map = std::make_unique<ChunkMap>(*snapshot, addresses, static_cast<uint32_t>(page_size));
  target = std::make_unique<CopyInstallTarget>(*kernel, uffd->fd(), *map, counters, zeropage,
                                               poison);
  worker_count = options.handler_threads > 0 ? options.handler_threads : kernel->online_cpus();
  // Barrier slots: the handler threads (or the SIGBUS event thread), then Close's
  // finish-restore workers.
  ServingSetup setup;
  setup.kernel = kernel;
  setup.uffd = uffd->fd();
  setup.snapshot = snapshot.get();
  setup.source = source.get();
  setup.map = map.get();
  setup.target = target.get();
  setup.counters = &counters;
  setup.options = &options;
  setup.stop_fd = stop_fd.get();
  setup.readers = 2 * worker_count;
  LAZYSNAP_ASSIGN_OR_RETURN(context, ServingContext::Create(setup));
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
  if (options.populate_eagerly) {
    // Normal priority, several threads sharing one cursor, zero chunks included.
    const int populators =
        options.populate_threads > 0 ? options.populate_threads : kernel->online_cpus();
    for (int i = 0; i < populators; ++i) {
      threads.emplace_back([this] {
        ChunkWorker worker(*context, /*drains_events=*/false, /*reader=*/0);
        if (!worker.Init().ok()) return;
        for (uint64_t chunk = populate_cursor++; chunk < map->chunk_count();
             chunk = populate_cursor++) {
          if (context->stopping.load(std::memory_order_relaxed)) return;
          if (!worker.Serve(chunk, JobKind::kBackground, /*include_zero=*/true)) return;
        }
      });
    }
  } else if (options.background_populate) {
    threads.emplace_back([this] {
      kernel->SetCurrentThreadIdle().IgnoreError();
      ChunkWorker worker(*context, /*drains_events=*/false, /*reader=*/0);
      if (!worker.Init().ok()) return;
      for (uint64_t chunk = 0; chunk < map->chunk_count(); ++chunk) {
        if (context->stopping.load(std::memory_order_relaxed)) return;
        if (!worker.Serve(chunk, JobKind::kBackground, /*include_zero=*/false)) return;
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
      if (!worker.Serve(chunk, JobKind::kFinish, /*include_zero=*/false)) return;
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

namespace {

uint64_t RoundUp(uint64_t value, uint64_t page) { return (value + page - 1) / page * page; }

absl::Status CheckAddresses(const SnapshotReader& snapshot, const std::vector<uint64_t>& addresses,
                            uint64_t page) {
  if (addresses.size() != snapshot.regions().size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d region addresses given for a snapshot with %d regions", addresses.size(),
        snapshot.regions().size()));
  }
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (size_t i = 0; i < addresses.size(); ++i) {
    if (addresses[i] % page != 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("region %d address 0x%x is not page aligned", i, addresses[i]));
    }
    spans.push_back({addresses[i], addresses[i] + RoundUp(snapshot.regions()[i].length_bytes, page)});
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].first < spans[i - 1].second) {
      return absl::InvalidArgumentError("region addresses overlap");
    }
  }
  return absl::OkStatus();
}

// OpenAndRegister opens a userfaultfd for `state` and registers every region in the
// install target's mode; returns what every range allows.
absl::StatusOr<uint64_t> OpenAndRegister(SessionState& state, uint64_t register_mode) {
  UffdOptions uffd_options;
  uffd_options.features = FeatureRequestFor(state.options);
  uffd_options.allow_user_mode_only = !state.options.require_kernel_faults;
  LAZYSNAP_ASSIGN_OR_RETURN(Userfaultfd uffd, Userfaultfd::Open(*state.kernel, uffd_options));
  state.uffd.emplace(std::move(uffd));
  const uint64_t page = state.page_size;
  uint64_t range_ioctls = ~0ull;
  for (size_t i = 0; i < state.addresses.size(); ++i) {
    const uint64_t length = RoundUp(state.snapshot->regions()[i].length_bytes, page);
    auto registration = state.uffd->Register(state.addresses[i], length, register_mode);
    if (!registration.ok()) {
      return absl::Status(registration.status().code(),
                          absl::StrFormat("registering region %d at 0x%x (%d bytes): %s", i,
                                          state.addresses[i], length,
                                          registration.status().message()));
    }
    range_ioctls &= registration->ioctls();
    state.registrations.push_back(std::move(*registration));
  }
  return range_ioctls;
}

// PageSizeFor checks the page size of the memory being restored against the host and the
// snapshot: installs are whole pages, and a chunk must hold whole pages.
absl::StatusOr<uint64_t> PageSizeFor(Kernel& kernel, const SnapshotReader& snapshot,
                                     const RestoreOptions& options, StartRequest::Memory memory) {
  const uint64_t base = kernel.PageSize();
  const uint64_t page = options.page_size_bytes == 0 ? base : options.page_size_bytes;
  if (page < base || (page & (page - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "page size %d is not a power of two at least the host's base page size %d", page, base));
  }
  if (page != base && memory == StartRequest::Memory::kMap) {
    return absl::InvalidArgumentError(
        "a page size other than the host's applies to memory the caller provides (StartInto, "
        "StartWithUserfaultfd), not to memory the session maps");
  }
  if (snapshot.chunk_size_bytes() % page != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: chunk size %d is not a multiple of the memory's page size %d: installs are whole "
        "pages and a chunk must hold whole pages (make the snapshot with `lazysnap create "
        "--chunk-size %d` or larger)",
        snapshot.path(), snapshot.chunk_size_bytes(), page, page));
  }
  return page;
}

RangeCapability Allowed(bool allowed) {
  return allowed ? RangeCapability::kYes : RangeCapability::kNo;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RestoreSession>> StartSession(StartRequest request) {
  const uint64_t start = NowNanoseconds();
  if (request.snapshot == nullptr) return absl::InvalidArgumentError("no snapshot given");
  auto state = std::make_unique<SessionState>();
  state->options = std::move(request.options);
  state->kernel = request.kernel != nullptr ? request.kernel : &LinuxKernel();
  state->snapshot = std::move(request.snapshot);
  Kernel& kernel = *state->kernel;
  const SnapshotReader& snapshot = *state->snapshot;
  LAZYSNAP_ASSIGN_OR_RETURN(state->page_size,
                            PageSizeFor(kernel, snapshot, state->options, request.memory));
  const uint64_t page = state->page_size;
  if (state->options.serving == ServingMode::kSigbus) {
    if (request.memory == StartRequest::Memory::kHandedOver) {
      return absl::InvalidArgumentError(
          "ServingMode::kSigbus serves faults of this process only; another process's "
          "memory needs kHandlerThreads");
    }
    // The SIGBUS handler must not allocate, so nothing may be loaded lazily under it:
    // validate the whole index now (this makes time to ready grow with the index).
    LAZYSNAP_RETURN_IF_ERROR(snapshot.ValidateIndex());
  }
  RangeCapability zeropage = RangeCapability::kUnknown;
  RangeCapability poison = RangeCapability::kUnknown;
  switch (request.memory) {
    case StartRequest::Memory::kMap: {
      uint64_t total = 0;
      std::vector<uint64_t> offsets;
      for (const format::Region& region : snapshot.regions()) {
        offsets.push_back(total);
        total += RoundUp(region.length_bytes, page);
      }
      LAZYSNAP_ASSIGN_OR_RETURN(state->memory, GuestMemory::MapAnonymous(total));
      for (uint64_t offset : offsets) state->addresses.push_back(state->memory->address() + offset);
      break;
    }
    case StartRequest::Memory::kInto:
    case StartRequest::Memory::kHandedOver:
      LAZYSNAP_RETURN_IF_ERROR(CheckAddresses(snapshot, request.addresses, page));
      state->addresses = std::move(request.addresses);
      break;
  }
  if (request.memory == StartRequest::Memory::kHandedOver) {
    if (!request.handed_over_uffd.valid()) {
      return absl::InvalidArgumentError("no userfaultfd handed over");
    }
    state->in_process = false;
    state->uffd.emplace(Userfaultfd::Adopt(kernel, std::move(request.handed_over_uffd),
                                           UffdCapabilities{.open_path = UffdOpenPath::kAdopted}));
  } else {
    // Only the copy target exists so far; its registration mode is MISSING.
    LAZYSNAP_ASSIGN_OR_RETURN(const uint64_t ioctls,
                              OpenAndRegister(*state, UFFDIO_REGISTER_MODE_MISSING));
    zeropage = Allowed((ioctls & static_cast<uint64_t>(RangeIoctl::kZeropage)) != 0);
    poison = Allowed((ioctls & static_cast<uint64_t>(RangeIoctl::kPoison)) != 0 &&
                     state->uffd->capabilities().Enabled(UffdFeature::kPoison));
  }
  LAZYSNAP_RETURN_IF_ERROR(state->Serve(zeropage, poison));
  state->counters.time_to_ready_ns = NowNanoseconds() - start;
  return std::unique_ptr<RestoreSession>(new RestoreSession(std::move(state)));
}

}  // namespace internal

using internal::StartRequest;

RestoreSession::RestoreSession(std::unique_ptr<internal::SessionState> state)
    : state_(std::move(state)) {}

absl::StatusOr<std::unique_ptr<RestoreSession>> RestoreSession::Start(
    std::shared_ptr<const SnapshotReader> snapshot, const RestoreOptions& options) {
  StartRequest request;
  request.memory = StartRequest::Memory::kMap;
  request.snapshot = std::move(snapshot);
  request.options = options;
  return internal::StartSession(std::move(request));
}

absl::StatusOr<std::unique_ptr<RestoreSession>> RestoreSession::StartInto(
    std::shared_ptr<const SnapshotReader> snapshot, std::vector<uint64_t> region_addresses,
    const RestoreOptions& options) {
  StartRequest request;
  request.memory = StartRequest::Memory::kInto;
  request.snapshot = std::move(snapshot);
  request.addresses = std::move(region_addresses);
  request.options = options;
  return internal::StartSession(std::move(request));
}

absl::StatusOr<std::unique_ptr<RestoreSession>> RestoreSession::StartWithUserfaultfd(
    std::shared_ptr<const SnapshotReader> snapshot, std::vector<uint64_t> region_addresses,
    UniqueFd uffd, const RestoreOptions& options) {
  StartRequest request;
  request.memory = StartRequest::Memory::kHandedOver;
  request.snapshot = std::move(snapshot);
  request.addresses = std::move(region_addresses);
  request.handed_over_uffd = std::move(uffd);
  request.options = options;
  return internal::StartSession(std::move(request));
}

RestoreSession::~RestoreSession() { Close(state_->options.close_mode).IgnoreError(); }

std::shared_ptr<GuestMemory> RestoreSession::memory() const { return state_->memory; }

std::span<uint8_t> RestoreSession::region_memory(uint32_t region) const {
  if (!state_->in_process || region >= state_->addresses.size()) return {};
  return {reinterpret_cast<uint8_t*>(state_->addresses[region]),
          state_->snapshot->regions()[region].length_bytes};
}

RestoreStats RestoreSession::stats() const { return state_->counters.Snapshot(); }

SessionFeatures RestoreSession::features() const {
  const internal::SessionState& s = *state_;
  SessionFeatures features;
  const UffdCapabilities& caps = s.uffd->capabilities();
  features.userfaultfd = std::string(UffdOpenPathName(caps.open_path));
  features.enabled_features = caps.enabled;
  features.serves_kernel_faults = caps.open_path != UffdOpenPath::kUserModeOnly;
  features.handler_threads = static_cast<int>(s.handlers.size());
  if (s.sigbus != nullptr) {
    features.reader = "pread (in the faulting thread)";
  } else {
    features.reader = s.handlers.empty() ? "none" : s.handlers.front()->reader_name();
  }
  features.install = s.target->name();
  features.poison = !s.options.use_poison || !s.target->can_poison() ? "no"
                    : s.in_process                                  ? "yes"
                                                                    : "unknown";
  return features;
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
