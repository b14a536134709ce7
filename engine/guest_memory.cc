// GuestMemory: anonymous mappings.
#include "engine/guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include "base/status_macros.h"

namespace lazysnap {

absl::StatusOr<std::shared_ptr<GuestMemory>> GuestMemory::MapAnonymous(Kernel& kernel,
                                                                       uint64_t length_bytes) {
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t length = (length_bytes + page - 1) / page * page;
  if (length == 0) return std::shared_ptr<GuestMemory>(new GuestMemory(kernel, nullptr, 0));
  LAZYSNAP_ASSIGN_OR_RETURN(void* address,
                            kernel.MmapAnonymous(length, PROT_READ | PROT_WRITE,
                                                 MAP_PRIVATE | MAP_NORESERVE));
  return std::shared_ptr<GuestMemory>(new GuestMemory(kernel, address, length));
}

GuestMemory::~GuestMemory() {
  if (address_ != nullptr) kernel_.Munmap(address_, length_bytes_).IgnoreError();
}

}  // namespace lazysnap
