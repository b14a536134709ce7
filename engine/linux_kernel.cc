// LinuxKernel: the real system calls behind the Kernel interface.
#include <fcntl.h>
#include <linux/futex.h>
#include <liburing.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "engine/kernel.h"

namespace lazysnap {
namespace {

// Retry runs `call` until it does not fail with EINTR; returns its result (errno is set
// when it is -1).
template <typename F>
auto Retry(F call) -> decltype(call()) {
  decltype(call()) result;
  do {
    result = call();
  } while (result == -1 && errno == EINTR);
  return result;
}

// UffdIoctlStatus runs an ioctl; `what` describes it and is only called on failure, so
// that a successful call (UFFDIO_WAKE is on the fault path, and may run in a signal
// handler) builds no string.
template <typename Describe>
absl::Status UffdIoctlStatus(int uffd, unsigned long request, void* argument, Describe what) {
  if (Retry([&] { return ::ioctl(uffd, request, argument); }) != 0) {
    const int error = errno;
    return ErrnoToStatus(error, what());
  }
  return absl::OkStatus();
}

// RangeResult turns a range ioctl's return and its "bytes done" field into a result. The
// kernel stores the bytes handled, or a negative errno when none were, in that field.
UffdIoctlResult RangeResult(int rc, int saved_errno, int64_t done) {
  if (rc == 0) return {0, done};
  return {saved_errno, done > 0 ? done : 0};
}

class LinuxKernelImpl : public Kernel {
 public:
  absl::StatusOr<UniqueFd> OpenDevice(const char* path, int flags) override {
    int fd = Retry([&] { return ::open(path, flags | O_CLOEXEC); });
    if (fd < 0) return ErrnoToStatus(errno, absl::StrFormat("open %s", path));
    return UniqueFd(fd);
  }

  absl::StatusOr<UniqueFd> UserfaultfdFromDevice(int device_fd, int uffd_flags) override {
    int fd = Retry([&] { return ::ioctl(device_fd, USERFAULTFD_IOC_NEW, uffd_flags); });
    if (fd < 0) {
      return ErrnoToStatus(errno, "ioctl(/dev/userfaultfd, USERFAULTFD_IOC_NEW)");
    }
    return UniqueFd(fd);
  }

  absl::StatusOr<UniqueFd> UserfaultfdSyscall(int uffd_flags) override {
    int fd = static_cast<int>(Retry([&] { return ::syscall(SYS_userfaultfd, uffd_flags); }));
    if (fd < 0) {
      return ErrnoToStatus(errno, absl::StrFormat("userfaultfd(%s)",
                                                  (uffd_flags & UFFD_USER_MODE_ONLY)
                                                      ? "UFFD_USER_MODE_ONLY"
                                                      : "0"));
    }
    return UniqueFd(fd);
  }

  absl::Status UffdApi(int uffd, uffdio_api* api) override {
    const uint64_t features = api->features;
    return UffdIoctlStatus(uffd, UFFDIO_API, api, [features] {
      return absl::StrFormat("ioctl(UFFDIO_API, features=0x%x)", features);
    });
  }

  absl::Status UffdRegister(int uffd, uffdio_register* reg) override {
    return UffdIoctlStatus(uffd, UFFDIO_REGISTER, reg, [reg] {
      return absl::StrFormat("ioctl(UFFDIO_REGISTER, [0x%x, +%d), mode 0x%x)", reg->range.start,
                             reg->range.len, reg->mode);
    });
  }

  absl::Status UffdUnregister(int uffd, uint64_t start, uint64_t length) override {
    uffdio_range range = {start, length};
    return UffdIoctlStatus(uffd, UFFDIO_UNREGISTER, &range, [start, length] {
      return absl::StrFormat("ioctl(UFFDIO_UNREGISTER, [0x%x, +%d))", start, length);
    });
  }

  absl::Status UffdWake(int uffd, uint64_t start, uint64_t length) override {
    uffdio_range range = {start, length};
    return UffdIoctlStatus(uffd, UFFDIO_WAKE, &range, [start, length] {
      return absl::StrFormat("ioctl(UFFDIO_WAKE, [0x%x, +%d))", start, length);
    });
  }

  UffdIoctlResult UffdCopy(int uffd, uint64_t destination, const void* source,
                           uint64_t length, bool wake) override {
    uffdio_copy copy = {};
    copy.dst = destination;
    copy.src = reinterpret_cast<uint64_t>(source);
    copy.len = length;
    copy.mode = wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE;
    int rc = Retry([&] { return ::ioctl(uffd, UFFDIO_COPY, &copy); });
    return RangeResult(rc, errno, copy.copy);
  }

  UffdIoctlResult UffdZeropage(int uffd, uint64_t start, uint64_t length, bool wake) override {
    uffdio_zeropage zero = {};
    zero.range = {start, length};
    zero.mode = wake ? 0 : UFFDIO_ZEROPAGE_MODE_DONTWAKE;
    int rc = Retry([&] { return ::ioctl(uffd, UFFDIO_ZEROPAGE, &zero); });
    return RangeResult(rc, errno, zero.zeropage);
  }

  UffdIoctlResult UffdPoison(int uffd, uint64_t start, uint64_t length, bool wake) override {
    uffdio_poison poison = {};
    poison.range = {start, length};
    poison.mode = wake ? 0 : UFFDIO_POISON_MODE_DONTWAKE;
    int rc = Retry([&] { return ::ioctl(uffd, UFFDIO_POISON, &poison); });
    return RangeResult(rc, errno, poison.updated);
  }

  absl::StatusOr<size_t> ReadUffdMessages(int uffd, std::span<uffd_msg> messages) override {
    ssize_t n = Retry([&] { return ::read(uffd, messages.data(), messages.size_bytes()); });
    if (n < 0) {
      if (errno == EAGAIN) return 0;
      return ErrnoToStatus(errno, "read(userfaultfd)");
    }
    return static_cast<size_t>(n) / sizeof(uffd_msg);
  }


  void FutexWait(const std::atomic<uint32_t>* word, uint32_t expected,
                 uint32_t timeout_us) override {
    timespec timeout = {static_cast<time_t>(timeout_us / 1000000),
                        static_cast<long>(timeout_us % 1000000) * 1000};
    ::syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected,
              &timeout, nullptr, 0);
  }

  void FutexWakeAll(const std::atomic<uint32_t>* word) override {
    ::syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT32_MAX,
              nullptr, nullptr, 0);
  }

  absl::StatusOr<int> Poll(std::span<pollfd> fds, int timeout_ms) override {
    int n = Retry([&] { return ::poll(fds.data(), fds.size(), timeout_ms); });
    if (n < 0) return ErrnoToStatus(errno, "poll");
    return n;
  }

  absl::StatusOr<void*> MmapAnonymous(uint64_t length, int prot, int flags) override {
    void* address = ::mmap(nullptr, length, prot, flags | MAP_ANONYMOUS, -1, 0);
    if (address == MAP_FAILED) {
      return ErrnoToStatus(errno, absl::StrFormat("mmap of %d anonymous bytes", length));
    }
    return address;
  }

  absl::Status Munmap(void* address, uint64_t length) override {
    if (::munmap(address, length) != 0) {
      return ErrnoToStatus(errno, absl::StrFormat("munmap(%p, %d)", address, length));
    }
    return absl::OkStatus();
  }

  absl::Status Madvise(void* address, uint64_t length, int advice) override {
    if (Retry([&] { return ::madvise(address, length, advice); }) != 0) {
      return ErrnoToStatus(errno,
                           absl::StrFormat("madvise(%p, %d, %d)", address, length, advice));
    }
    return absl::OkStatus();
  }

  absl::Status Mprotect(void* address, uint64_t length, int prot) override {
    if (::mprotect(address, length, prot) != 0) {
      return ErrnoToStatus(errno,
                           absl::StrFormat("mprotect(%p, %d, %d)", address, length, prot));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<UniqueFd> CreateEventFd() override {
    int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return ErrnoToStatus(errno, "eventfd");
    return UniqueFd(fd);
  }

  absl::Status SignalEventFd(int fd) override {
    uint64_t one = 1;
    if (Retry([&] { return ::write(fd, &one, sizeof(one)); }) < 0 && errno != EAGAIN) {
      return ErrnoToStatus(errno, "write(eventfd)");
    }
    return absl::OkStatus();
  }

  void ResetEventFd(int fd) override {
    uint64_t value;
    while (Retry([&] { return ::read(fd, &value, sizeof(value)); }) > 0) {
    }
  }

  absl::Status PinCurrentThread(int cpu) override {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (::sched_setaffinity(0, sizeof(set), &set) != 0) {
      return ErrnoToStatus(errno, absl::StrFormat("sched_setaffinity to CPU %d", cpu));
    }
    return absl::OkStatus();
  }

  absl::Status SetCurrentThreadIdle() override {
    sched_param param = {};
    if (::sched_setscheduler(0, SCHED_IDLE, &param) != 0) {
      return ErrnoToStatus(errno, "sched_setscheduler(SCHED_IDLE)");
    }
    return absl::OkStatus();
  }

  absl::Status SetCurrentThreadNice(int nice) override {
    if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice) != 0) {
      return ErrnoToStatus(errno, absl::StrFormat("setpriority(thread, %d)", nice));
    }
    return absl::OkStatus();
  }

  int online_cpus() override {
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<int>(n) : 1;
  }

  std::string KernelRelease() override {
    struct utsname name;
    if (::uname(&name) != 0) return "unknown";
    return name.release;
  }

  uint64_t PageSize() override { return static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)); }

  int Sigaction(int signal, const struct sigaction* action,
                struct sigaction* previous) override {
    return ::sigaction(signal, action, previous) == 0 ? 0 : errno;
  }

  IoUringSupport ProbeIoUring() override {
    io_uring ring;
    int rc = io_uring_queue_init(2, &ring, 0);
    if (rc < 0) {
      return {false, absl::StrFormat("io_uring_setup failed: %s (%s); reads fall back to "
                                     "pread",
                                     std::strerror(-rc), ErrnoName(-rc))};
    }
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    bool read_op = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_READ);
    if (probe != nullptr) io_uring_free_probe(probe);
    io_uring_queue_exit(&ring);
    if (!read_op) {
      return {false, "io_uring lacks IORING_OP_READ (Linux 5.6+); reads fall back to pread"};
    }
    return {true, "io_uring with IORING_OP_READ"};
  }


};

}  // namespace

Kernel& LinuxKernel() {
  static LinuxKernelImpl* kernel = new LinuxKernelImpl();
  return *kernel;
}

}  // namespace lazysnap
