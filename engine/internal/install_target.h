// InstallTarget: where a chunk's decoded bytes go and how they are made visible to the
// memory being restored, the second seam of the chunk pipeline (ChunkSource, in
// engine/chunk_source.h, is the first). The target in use today decodes into a private
// buffer and installs with UFFDIO_COPY / UFFDIO_ZEROPAGE (copy_install_target.h); a
// target may instead hand out the chunk's place in a shared-memory alias to decode into
// and install with UFFDIO_CONTINUE, or install write-protected. Tests use fakes
// (engine/fake_install_target.h).
//
// Every method may be called from several serving threads at once (on different chunks,
// or on pages of chunks already installed) and from a SIGBUS handler: implementations
// neither allocate nor lock on success.
#ifndef LAZYSNAP_ENGINE_INTERNAL_INSTALL_TARGET_H_
#define LAZYSNAP_ENGINE_INTERNAL_INSTALL_TARGET_H_

#include <cstdint>

#include "absl/status/status.h"

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

class InstallTarget {
 public:
  virtual ~InstallTarget() = default;

  // name is the mechanism, for reports: "copy", "continue", ...
  virtual const char* name() const = 0;

  // register_mode is the UFFDIO_REGISTER mode the target's memory must be registered
  // with (UFFDIO_REGISTER_MODE_MISSING for copy targets).
  virtual uint64_t register_mode() const = 0;

  // Destination returns where `chunk`'s decoded bytes must be written before Install:
  // `scratch` (the caller's private buffer of at least the chunk size) for targets that
  // copy, or the chunk's own place in shared memory for targets that install in place.
  virtual uint8_t* Destination(uint64_t chunk, uint8_t* scratch) = 0;

  // Install makes `chunk`'s decoded bytes visible and wakes the threads faulting on it.
  // `bytes` is what Destination returned, holding the chunk's install length (its
  // length rounded up to the page size, zero-padded). Pages dropped since the chunk was
  // claimed (ChunkMap::IsRemoved) are installed as zeros.
  virtual InstallResult Install(uint64_t chunk, const uint8_t* bytes) = 0;
  // InstallZero installs a chunk that is all zeros.
  virtual InstallResult InstallZero(uint64_t chunk) = 0;
  // ZeroPage installs one page as zeros unless it is present, then wakes whoever waits
  // on it (a fault on a page of an installed chunk: it was dropped, or the fault was
  // resolved meanwhile).
  virtual InstallResult ZeroPage(uint64_t page_address) = 0;
  // Poison makes touching the chunk raise SIGBUS, for a chunk that must never be
  // installed; kError (InvalidArgument / Unimplemented) where the range cannot.
  virtual InstallResult Poison(uint64_t chunk) = 0;
  // can_poison is false once the target knows Poison cannot work on its range.
  virtual bool can_poison() const = 0;
};

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_ENGINE_INTERNAL_INSTALL_TARGET_H_
