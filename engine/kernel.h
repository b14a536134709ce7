// Kernel: the one narrow interface through which the engine talks to the kernel for
// userfaultfd, io_uring and memory mappings. Each method looks like the system call or
// ioctl it wraps. The Linux implementation (linux_kernel.cc) is the only code that makes
// these calls; decision logic (feature negotiation, fallbacks, error policy) lives above
// this interface and is tested against fake kernels (fake_kernel.h).
//
// Conventions: errno becomes a Status in the implementation (via ErrnoToStatus), after
// retrying EINTR. Outcomes the userfaultfd protocol expects (EEXIST, EAGAIN, ENOENT,
// ESRCH from a range ioctl) are returned as values in UffdIoctlResult, not as errors.
#ifndef LAZYSNAP_ENGINE_KERNEL_H_
#define LAZYSNAP_ENGINE_KERNEL_H_

#include <poll.h>
#include <signal.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "engine/uffd_abi.h"

namespace lazysnap {

// UffdIoctlResult: the outcome of UFFDIO_COPY / ZEROPAGE / POISON. `error` is 0 when the
// whole range was handled, else the errno; `bytes` is how many bytes were handled before
// the kernel stopped (0 or more, never negative).
struct UffdIoctlResult {
  int error = 0;
  int64_t bytes = 0;
};

// IoUringSupport: what a probe of io_uring found.
struct IoUringSupport {
  bool available = false;
  std::string detail;  // "io_uring with IORING_OP_READ" or why not
};

class Kernel {
 public:
  virtual ~Kernel() = default;

  // open(2) of a device node, O_CLOEXEC added.
  virtual absl::StatusOr<UniqueFd> OpenDevice(const char* path, int flags) = 0;
  // ioctl(device_fd, USERFAULTFD_IOC_NEW, uffd_flags): a userfaultfd from /dev/userfaultfd.
  virtual absl::StatusOr<UniqueFd> UserfaultfdFromDevice(int device_fd, int uffd_flags) = 0;
  // userfaultfd(2).
  virtual absl::StatusOr<UniqueFd> UserfaultfdSyscall(int uffd_flags) = 0;

  // ioctl(UFFDIO_API); on success *api holds the kernel's reply.
  virtual absl::Status UffdApi(int uffd, uffdio_api* api) = 0;
  // ioctl(UFFDIO_REGISTER); on success reg->ioctls holds the range's allowed ioctls.
  virtual absl::Status UffdRegister(int uffd, uffdio_register* reg) = 0;
  virtual absl::Status UffdUnregister(int uffd, uint64_t start, uint64_t length) = 0;
  virtual absl::Status UffdWake(int uffd, uint64_t start, uint64_t length) = 0;
  virtual UffdIoctlResult UffdCopy(int uffd, uint64_t destination, const void* source,
                                   uint64_t length, bool wake) = 0;
  virtual UffdIoctlResult UffdZeropage(int uffd, uint64_t start, uint64_t length,
                                       bool wake) = 0;
  virtual UffdIoctlResult UffdPoison(int uffd, uint64_t start, uint64_t length, bool wake) = 0;
  // read(2) of messages from a non-blocking userfaultfd. Returns how many were read: 0
  // when none is pending (EAGAIN).
  virtual absl::StatusOr<size_t> ReadUffdMessages(int uffd, std::span<uffd_msg> messages) = 0;

  // futex(2) on a 32-bit word of this process: wait while *word == expected (up to
  // timeout_us microseconds), and wake every waiter. No Status, no allocation: safe in
  // a signal handler. Spurious and early returns are allowed; callers re-check.
  virtual void FutexWait(const std::atomic<uint32_t>* word, uint32_t expected,
                         uint32_t timeout_us) = 0;
  virtual void FutexWakeAll(const std::atomic<uint32_t>* word) = 0;

  // poll(2). Returns the number of ready descriptors.
  virtual absl::StatusOr<int> Poll(std::span<pollfd> fds, int timeout_ms) = 0;

  // mmap(2) of anonymous memory; munmap(2); madvise(2); mprotect(2).
  virtual absl::StatusOr<void*> MmapAnonymous(uint64_t length, int prot, int flags) = 0;
  virtual absl::Status Munmap(void* address, uint64_t length) = 0;
  virtual absl::Status Madvise(void* address, uint64_t length, int advice) = 0;
  virtual absl::Status Mprotect(void* address, uint64_t length, int prot) = 0;

  // eventfd(2) (close-on-exec, non-blocking), a write of 1 to it, and a read that
  // resets it (no error when it was not signalled).
  virtual absl::StatusOr<UniqueFd> CreateEventFd() = 0;
  virtual absl::Status SignalEventFd(int fd) = 0;
  virtual void ResetEventFd(int fd) = 0;

  // The calling thread: sched_setaffinity(2) to one CPU; SCHED_IDLE (runs only when a
  // CPU has nothing else to do). online_cpus is sysconf(_SC_NPROCESSORS_ONLN).
  virtual absl::Status PinCurrentThread(int cpu) = 0;
  virtual absl::Status SetCurrentThreadIdle() = 0;
  // setpriority(2) of the calling thread: a negative nice needs CAP_SYS_NICE.
  virtual absl::Status SetCurrentThreadNice(int nice) = 0;
  virtual int online_cpus() = 0;

  // uname(2)'s release ("6.18.44").
  virtual std::string KernelRelease() = 0;
  // sysconf(_SC_PAGESIZE): the base page size of this host.
  virtual uint64_t PageSize() = 0;

  // sigaction(2): returns 0 or the errno. No Status, no allocation: safe in a signal
  // handler (the SIGBUS server restores the default action from one).
  virtual int Sigaction(int signal, const struct sigaction* action,
                        struct sigaction* previous) = 0;

  // io_uring: a probe for reports (snapshot reads go through the ChunkSource seam,
  // engine/chunk_source.h, never through this interface).
  virtual IoUringSupport ProbeIoUring() = 0;
};

// LinuxKernel returns the process-wide real kernel.
Kernel& LinuxKernel();

}  // namespace lazysnap

#endif  // LAZYSNAP_ENGINE_KERNEL_H_
