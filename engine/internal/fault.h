// Fault: one page fault as the serving policy sees it, with the kernel's flags kept
// (write, write-protect, minor) so that policies that need them (write tracking, minor
// faults) get them.
#ifndef LAZYSNAP_ENGINE_INTERNAL_FAULT_H_
#define LAZYSNAP_ENGINE_INTERNAL_FAULT_H_

#include <cstdint>

#include "engine/uffd_abi.h"

namespace lazysnap::internal {

struct Fault {
  uint64_t address = 0;    // the faulting address (not page aligned)
  uint64_t flags = 0;      // UFFD_PAGEFAULT_FLAG_* bits
  uint32_t thread_id = 0;  // the faulting thread's id, with UFFD_FEATURE_THREAD_ID; else 0
  uint64_t seen_ns = 0;    // when the server first saw it (NowNanoseconds)

  bool write() const { return (flags & UFFD_PAGEFAULT_FLAG_WRITE) != 0; }
  bool write_protect() const { return (flags & UFFD_PAGEFAULT_FLAG_WP) != 0; }
  bool minor() const { return (flags & UFFD_PAGEFAULT_FLAG_MINOR) != 0; }

  // FromMessage reads a UFFD_EVENT_PAGEFAULT message.
  static Fault FromMessage(const uffd_msg& message, uint64_t now_ns) {
    Fault fault;
    fault.address = message.arg.pagefault.address;
    fault.flags = message.arg.pagefault.flags;
    fault.thread_id = message.arg.pagefault.feat.ptid;
    fault.seen_ns = now_ns;
    return fault;
  }
};

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_ENGINE_INTERNAL_FAULT_H_
