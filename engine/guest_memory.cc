// GuestMemory: anonymous mappings, through the kernel seam.
#include "engine/guest_memory.h"

#include <sys/mman.h>

#include "base/status_macros.h"
#include "engine/kernel.h"

namespace lazysnap {

absl::StatusOr<std::shared_ptr<GuestMemory>> GuestMemory::MapAnonymous(uint64_t length_bytes) {
  Kernel& kernel = LinuxKernel();
  const uint64_t page = kernel.PageSize();
  const uint64_t length = (length_bytes + page - 1) / page * page;
  if (length == 0) return std::shared_ptr<GuestMemory>(new GuestMemory(nullptr, 0));
  LAZYSNAP_ASSIGN_OR_RETURN(void* address,
                            kernel.MmapAnonymous(length, PROT_READ | PROT_WRITE,
                                                 MAP_PRIVATE | MAP_NORESERVE));
  return std::shared_ptr<GuestMemory>(new GuestMemory(address, length));
}

GuestMemory::~GuestMemory() {
  if (address_ != nullptr) LinuxKernel().Munmap(address_, length_bytes_).IgnoreError();
}

}  // namespace lazysnap
