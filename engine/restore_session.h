// RestoreSession: restores a snapshot into memory lazily. Start returns as soon as the
// memory is registered with userfaultfd and the serving threads run (time to ready does
// not grow with the image: only the snapshot's tables have been read); every page is
// filled the first time anything touches it, from the snapshot file, through io_uring and
// zstd, installed with UFFDIO_COPY (or UFFDIO_ZEROPAGE for zero chunks).
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
#include <optional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/guest_memory.h"
#include "engine/restore_options.h"
#include "engine/restore_stats.h"
#include "engine/userfaultfd.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap {

namespace internal {
class SessionState;
}

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
  // API and registered region i at region_addresses[i] (addresses in its address space);
  // `range_ioctls` is what its UFFDIO_REGISTER reported. kHandlerThreads only.
  static absl::StatusOr<std::unique_ptr<RestoreSession>> StartWithUserfaultfd(
      std::shared_ptr<const SnapshotReader> snapshot, std::vector<uint64_t> region_addresses,
      Userfaultfd uffd, uint64_t range_ioctls, const RestoreOptions& options);

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
  const UffdCapabilities& capabilities() const;
  // reader_name is the chunk reader in use: "io_uring" or "pread".
  const char* reader_name() const;
  // status is OK, or the first fatal error.
  absl::Status status() const;

  // Close stops serving as `mode` says (see the file comment) and returns status().
  // Idempotent; thread-safe; must not be called from RestoreOptions::on_error.
  absl::Status Close(CloseMode mode);

 private:
  explicit RestoreSession(std::unique_ptr<internal::SessionState> state);
  std::unique_ptr<internal::SessionState> state_;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_ENGINE_RESTORE_SESSION_H_
