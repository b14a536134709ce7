// RestoreSession: restores a snapshot into memory lazily; the heart of lazysnap's public
// API (see docs/ARCHITECTURE.md, "The public surface"). Start returns as soon as the
// memory is registered with userfaultfd and the serving threads run (time to ready does
// not grow with the image: only the snapshot's tables have been read); every page is
// filled the first time anything touches it, from the snapshot's chunk source (io_uring
// reads of the local file by default), through zstd, installed with UFFDIO_COPY (or
// UFFDIO_ZEROPAGE for zero chunks).
//
// Failure policy: a chunk that cannot be read or fails its checksum is never installed.
// Where the kernel has UFFDIO_POISON, its pages are poisoned and touching them raises
// SIGBUS; otherwise the threads touching it stay blocked until the session closes. Either
// way the first such error is reported once through RestoreOptions::on_error and status().
//
// Closing (Close or the destructor) never leaves a thread blocked in a fault and never
// unmaps memory someone still holds: with CloseMode::kFinishRestore every chunk not yet
// installed is installed first, so the memory stays correct; the registration is then
// dropped, which wakes any thread still waiting. A refused chunk's pages stay poisoned;
// without poison, in-process memory of a refused chunk is made inaccessible (touching it
// raises SIGSEGV) rather than reading as zeros.
#ifndef LAZYSNAP_ENGINE_RESTORE_SESSION_H_
#define LAZYSNAP_ENGINE_RESTORE_SESSION_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "engine/guest_memory.h"
#include "engine/restore_options.h"
#include "engine/restore_stats.h"
#include "engine/uffd_features.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap {

class RestoreSession;
namespace internal {
class SessionState;
struct StartRequest;
// The one way sessions start (engine/internal/session_start.h): the public Start
// functions, and tests that put fakes under a session.
absl::StatusOr<std::unique_ptr<RestoreSession>> StartSession(StartRequest request);
}  // namespace internal

// SessionFeatures: how a session serves, as decided when it started.
struct SessionFeatures {
  // How the userfaultfd was obtained: "/dev/userfaultfd", "userfaultfd(2)",
  // "userfaultfd(2) with UFFD_USER_MODE_ONLY", or "handed over".
  std::string userfaultfd;
  // The features negotiated (0 for a handed-over userfaultfd: its owner negotiated them
  // and lazysnap learns what the range allows by trying).
  FeatureSet enabled_features = 0;
  // False for UFFD_USER_MODE_ONLY: faults the kernel raises itself (KVM, read(2) into the
  // memory) are not served.
  bool serves_kernel_faults = true;
  int handler_threads = 0;  // serving threads (kHandlerThreads), 0 in SIGBUS mode
  std::string reader;   // how chunks are read: "io_uring", "pread", ...
  std::string install;  // how pages go in: "copy"
  // Whether refused chunks are poisoned: "yes", "no", or "unknown" until first tried
  // (a handed-over userfaultfd).
  std::string poison;
};

class RestoreSession {
 public:
  // Start maps private anonymous memory (MAP_NORESERVE) for every region of `snapshot`,
  // one after the other, and restores into it. Errors: FailedPrecondition or
  // PermissionDenied when userfaultfd cannot be used here (the message says how to fix
  // it), ResourceExhausted when the memory cannot be mapped.
  static absl::StatusOr<std::unique_ptr<RestoreSession>> Start(
      std::shared_ptr<const SnapshotReader> snapshot, const RestoreOptions& options);

  // StartInto restores into memory the caller owns in this process: region i at
  // region_addresses[i] (page aligned, at least the region's length rounded up to pages,
  // not yet touched: pages already present are left as they are). The memory must stay
  // mapped until the session is closed.
  static absl::StatusOr<std::unique_ptr<RestoreSession>> StartInto(
      std::shared_ptr<const SnapshotReader> snapshot, std::vector<uint64_t> region_addresses,
      const RestoreOptions& options);

  // StartWithUserfaultfd serves memory of another process whose userfaultfd was handed
  // over (the Firecracker-style external handler): that process already negotiated the
  // API and registered region i at region_addresses[i] (addresses in its address space)
  // in MISSING mode. What the ranges allow (UFFDIO_ZEROPAGE, UFFDIO_POISON) is learned
  // from the first attempt. kHandlerThreads only (InvalidArgument otherwise).
  static absl::StatusOr<std::unique_ptr<RestoreSession>> StartWithUserfaultfd(
      std::shared_ptr<const SnapshotReader> snapshot, std::vector<uint64_t> region_addresses,
      UniqueFd uffd, const RestoreOptions& options);

  // The destructor closes with options.close_mode.
  ~RestoreSession();
  RestoreSession(const RestoreSession&) = delete;
  RestoreSession& operator=(const RestoreSession&) = delete;

  // memory is the mapping Start made (nullptr for StartInto / StartWithUserfaultfd).
  // Holding it keeps the memory mapped after the session is gone.
  std::shared_ptr<GuestMemory> memory() const;
  // region_memory is region i's memory in this process (empty for another process's).
  std::span<uint8_t> region_memory(uint32_t region) const;

  // stats can be called at any time from any thread, also after Close.
  RestoreStats stats() const;
  // features says how this session serves.
  SessionFeatures features() const;
  // status is OK, or the first fatal error.
  absl::Status status() const;

  // Close stops serving as `mode` says (see the file comment) and returns status().
  // Idempotent; thread-safe; must not be called from RestoreOptions::on_error.
  absl::Status Close(CloseMode mode);

 private:
  friend absl::StatusOr<std::unique_ptr<RestoreSession>> internal::StartSession(
      internal::StartRequest request);
  explicit RestoreSession(std::unique_ptr<internal::SessionState> state);
  std::unique_ptr<internal::SessionState> state_;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_ENGINE_RESTORE_SESSION_H_
