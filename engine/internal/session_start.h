// StartSession: the one way a restore session starts. RestoreSession's public Start
// functions fill a StartRequest with the real kernel; engine tests fill it with fakes
// (a FakeKernel personality, a kernel that fails the Nth call) to drive a whole session
// against kernels this host is not.
#ifndef LAZYSNAP_ENGINE_INTERNAL_SESSION_START_H_
#define LAZYSNAP_ENGINE_INTERNAL_SESSION_START_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "engine/kernel.h"
#include "engine/restore_options.h"
#include "engine/restore_session.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::internal {

struct StartRequest {
  enum class Memory {
    kMap,         // map anonymous memory for the regions (RestoreSession::Start)
    kInto,        // the caller's memory at `addresses` (StartInto)
    kHandedOver,  // another process's memory through `handed_over_uffd`
  };
  Memory memory = Memory::kMap;
  std::shared_ptr<const SnapshotReader> snapshot;
  std::vector<uint64_t> addresses;  // kInto, kHandedOver
  UniqueFd handed_over_uffd;        // kHandedOver
  RestoreOptions options;
  Kernel* kernel = nullptr;         // nullptr: LinuxKernel()
};

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_ENGINE_INTERNAL_SESSION_START_H_
