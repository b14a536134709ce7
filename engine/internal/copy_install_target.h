// Installer: places bytes into the target memory with userfaultfd range ioctls, treating
// the protocol's expected outcomes as values: EEXIST (a page is already present: skip
// it and fill the rest), EAGAIN after partial progress (continue), EAGAIN without
// progress (the mappings are changing: retry after the pending event is read), ENOENT /
// ESRCH (the range or its process is gone).
#ifndef LAZYSNAP_ENGINE_INTERNAL_INSTALLER_H_
#define LAZYSNAP_ENGINE_INTERNAL_INSTALLER_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "engine/internal/chunk_map.h"
#include "engine/internal/counters.h"
#include "engine/kernel.h"

namespace lazysnap::internal {

enum class InstallOutcome {
  kDone,    // every page of the range is present (installed now or before)
  kRetry,   // the mappings are changing (an event is pending): call again later
  kGone,    // the range was unmapped or its process exited
  kError,   // see the status
};

struct InstallResult {
  InstallOutcome outcome = InstallOutcome::kDone;
  absl::Status status;  // set for kError
};

class Installer {
 public:
  // `can_zeropage` / `can_poison` come from the registered range's ioctls.
  Installer(Kernel& kernel, int uffd, ChunkMap& map, SessionCounters& counters,
            bool can_zeropage, bool can_poison);

  // InstallChunk installs a decoded chunk (`bytes` holds InstallLengthOf(chunk) bytes,
  // zero-padded past the chunk's own length). Pages dropped since (ChunkMap::IsRemoved)
  // are mapped as zeros instead.
  InstallResult InstallChunk(uint64_t chunk, const uint8_t* bytes);
  // InstallZeroChunk maps a zero chunk.
  InstallResult InstallZeroChunk(uint64_t chunk);
  // ZeroPage maps one page as zeros and wakes whoever waits on it (a fault on a page of
  // an installed chunk: it was dropped, or the fault was already resolved).
  InstallResult ZeroPage(uint64_t page_address);
  // Poison makes touching the chunk raise SIGBUS (when the range allows UFFDIO_POISON).
  InstallResult PoisonChunk(uint64_t chunk);
  bool can_poison() const { return can_poison_; }

 private:
  InstallResult Copy(uint64_t address, const uint8_t* bytes, uint64_t length);
  InstallResult Zero(uint64_t address, uint64_t length);

  Kernel& kernel_;
  int uffd_;
  ChunkMap& map_;
  SessionCounters& counters_;
  bool can_zeropage_;
  bool can_poison_;
  std::unique_ptr<uint8_t[]> zeros_;  // a chunk of zeros, for ranges without ZEROPAGE
};

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_ENGINE_INTERNAL_INSTALLER_H_
