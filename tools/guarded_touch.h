// GuardedTouch: touch lazily restored memory from several threads so that a refused
// chunk ends the touching with a report instead of ending the process.
//
// A restore session never installs a chunk that fails its checksum or cannot be read.
// Where the kernel has UFFDIO_POISON, touching its pages raises SIGBUS (si_code
// BUS_MCEERR_AR) in the touching thread; without poison, the touching thread stays
// blocked in the fault until the session closes. Either way the session reports the
// first such error through RestoreOptions::on_error. TouchGuard turns both into a
// defined outcome: each toucher runs its plan under sigsetjmp; a SIGBUS raised by one of
// its touches jumps back out of the touch, and Abort (called from on_error) sends every
// toucher a signal, which interrupts a thread blocked in a userfaultfd fault (the kernel
// sleeps there interruptibly) and jumps it out too. Touching stops at the first problem,
// and the caller learns how far each thread got.
#ifndef LAZYSNAP_TOOLS_GUARDED_TOUCH_H_
#define LAZYSNAP_TOOLS_GUARDED_TOUCH_H_

#include <signal.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "workload/access_pattern.h"

namespace lazysnap::cli {

struct GuardedTouchResult {
  double seconds = 0;
  uint64_t pages = 0;                  // pages whose touch completed
  std::vector<uint64_t> pages_done;    // per thread: the prefix of its plan touched
  bool aborted = false;                // Abort() stopped the touching
  // The first touch that raised SIGBUS: its address and si_code (0: none did).
  uint64_t sigbus_address = 0;
  int sigbus_code = 0;
};

// TouchGuard installs its signal handlers when created and puts the previous ones back
// when destroyed; at most one exists at a time in a process. Create it before the
// restore session (in SIGBUS serving mode the session's own handler then passes it the
// SIGBUS of a refused chunk), and destroy it after the session is closed.
class TouchGuard {
 public:
  // Create: FailedPrecondition when another TouchGuard exists; errors from sigaction.
  static absl::StatusOr<std::unique_ptr<TouchGuard>> Create();
  ~TouchGuard();
  TouchGuard(const TouchGuard&) = delete;
  TouchGuard& operator=(const TouchGuard&) = delete;

  // Touch reads one byte of each planned page, one thread per plan, all starting
  // together, until every plan is done, a touch raises SIGBUS, or Abort is called.
  GuardedTouchResult Touch(const MemoryView& memory,
                           const std::vector<std::vector<PageRef>>& plan,
                           uint32_t page_bytes = 4096);

  // Abort stops Touch: touchers finish no further page, and one blocked in a fault is
  // interrupted. Callable from any thread (not from a signal handler), at any time,
  // also before Touch; Touch then touches nothing.
  void Abort();

 private:
  TouchGuard() = default;
  struct sigaction previous_sigbus_ = {};
  struct sigaction previous_interrupt_ = {};
  std::atomic<bool> aborted_{false};
  std::mutex threads_mutex_;
  std::vector<pthread_t> running_;  // touchers that may still be signalled
};

}  // namespace lazysnap::cli

#endif  // LAZYSNAP_TOOLS_GUARDED_TOUCH_H_
