// FakeKernel: a Kernel with a configurable userfaultfd personality, for testing the
// handshake and the engine's decisions against kernels we do not have: old ones, ones
// missing a feature, ones that refuse, ones that fail the Nth call. It also stands in for
// the memory a session serves, so that the serving policy can be tested deterministically:
// tests queue fault and event messages, and UFFDIO_COPY / ZEROPAGE / POISON act on a
// simulated memory of pages (a page already present refuses with EEXIST, as the kernel
// does), with scripted outcomes (EAGAIN, ENOENT, ...) on request.
//
// Descriptors it hands out are real eventfds, so that UniqueFd can close them and poll(2)
// works: a fake userfaultfd polls readable while messages are queued for it. It records
// every UFFDIO_API request per descriptor.
#ifndef LAZYSNAP_ENGINE_FAKE_KERNEL_H_
#define LAZYSNAP_ENGINE_FAKE_KERNEL_H_

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/kernel.h"
#include "engine/uffd_features.h"

namespace lazysnap {

struct FakeKernelConfig {
  std::string name;
  std::string release = "6.18.0-fake";
  // Open paths: 0 for success, else the errno each path fails with.
  int device_open_errno = 0;        // ENOENT: no node (Linux < 6.1); EACCES: no access
  int device_ioctl_errno = 0;       // USERFAULTFD_IOC_NEW
  int syscall_errno = 0;            // EPERM without privilege; ENOSYS without the config
  int user_mode_only_errno = 0;     // EINVAL before 5.11
  // UFFDIO_API behaviour.
  FeatureSet supported = 0;
  bool rejects_nonzero_request = false;  // kernels before 4.11
  bool rejects_unknown_bits = true;      // strict (6.x); false: lenient, ignores them
  bool rejects_second_api = true;        // current kernels: EINVAL on a second call
  uint64_t accepted_api = 0xAA;          // a kernel of another API version
  // Bits left out of the reply to a non-zero request, though the probe reported them
  // (a surprising kernel).
  FeatureSet reply_drops = 0;
  // Every call counts; call number `fail_call` (1-based, 0: never) fails with fail_errno.
  int fail_call = 0;
  int fail_errno = EIO;
  // UFFDIO_REGISTER's reply.
  uint64_t range_ioctls = (1ull << _UFFDIO_WAKE) | (1ull << _UFFDIO_COPY) |
                          (1ull << _UFFDIO_ZEROPAGE);
  bool io_uring = true;
};

class FakeKernel : public Kernel {
 public:
  explicit FakeKernel(FakeKernelConfig config);
  ~FakeKernel() override;

  // Messages: PushMessage queues `message` for ReadUffdMessages on `uffd`.
  void PushMessage(int uffd, const uffd_msg& message);
  void PushFault(int uffd, uint64_t address, uint64_t flags = 0);
  void PushRemove(int uffd, uint64_t start, uint64_t end);
  size_t PendingMessages(int uffd) const;

  // Simulated memory (page size PageSize()). PageBytes: a present page's bytes (zeros for
  // a zero page), nullopt when absent. Zap drops pages, as MADV_DONTNEED does (the test
  // queues the REMOVE event itself).
  std::optional<std::vector<uint8_t>> PageBytes(uint64_t page_address) const;
  bool IsPoisoned(uint64_t page_address) const;
  void Zap(uint64_t start, uint64_t length);

  // ScriptRange: the next range ioctl of `op` ("copy", "zero", "poison") returns
  // `result` instead of acting (then they act again).
  void ScriptRange(const std::string& op, UffdIoctlResult result);
  // RangeLog: every range ioctl and wake, in order: "copy 0x7f0000000000 65536".
  std::vector<std::string> RangeLog() const;

  // api_requests: the features of every UFFDIO_API call, in order.
  std::vector<FeatureSet> api_requests() const;
  // max_api_calls_on_one_fd: the most UFFDIO_API calls any one descriptor received.
  int max_api_calls_on_one_fd() const;
  int calls() const;

  absl::StatusOr<UniqueFd> OpenDevice(const char* path, int flags) override;
  absl::StatusOr<UniqueFd> UserfaultfdFromDevice(int device_fd, int uffd_flags) override;
  absl::StatusOr<UniqueFd> UserfaultfdSyscall(int uffd_flags) override;
  absl::Status UffdApi(int uffd, uffdio_api* api) override;
  absl::Status UffdRegister(int uffd, uffdio_register* reg) override;
  absl::Status UffdUnregister(int uffd, uint64_t start, uint64_t length) override;
  absl::Status UffdWake(int uffd, uint64_t start, uint64_t length) override;
  UffdIoctlResult UffdCopy(int uffd, uint64_t destination, const void* source, uint64_t length,
                           bool wake) override;
  UffdIoctlResult UffdZeropage(int uffd, uint64_t start, uint64_t length, bool wake) override;
  UffdIoctlResult UffdPoison(int uffd, uint64_t start, uint64_t length, bool wake) override;
  absl::StatusOr<size_t> ReadUffdMessages(int uffd, std::span<uffd_msg> messages) override;
  void FutexWait(const std::atomic<uint32_t>* word, uint32_t expected,
                 uint32_t timeout_us) override {
    LinuxKernel().FutexWait(word, expected, timeout_us);
  }
  void FutexWakeAll(const std::atomic<uint32_t>* word) override { LinuxKernel().FutexWakeAll(word); }
  absl::StatusOr<int> Poll(std::span<pollfd> fds, int timeout_ms) override;
  absl::StatusOr<void*> MmapAnonymous(uint64_t length, int prot, int flags) override;
  absl::Status Munmap(void* address, uint64_t length) override;
  absl::Status Madvise(void* address, uint64_t length, int advice) override;
  absl::Status Mprotect(void* address, uint64_t length, int prot) override;
  absl::StatusOr<UniqueFd> CreateEventFd() override { return LinuxKernel().CreateEventFd(); }
  absl::Status SignalEventFd(int fd) override { return LinuxKernel().SignalEventFd(fd); }
  void ResetEventFd(int fd) override { LinuxKernel().ResetEventFd(fd); }
  absl::Status PinCurrentThread(int) override { return absl::OkStatus(); }
  absl::Status SetCurrentThreadIdle() override { return absl::OkStatus(); }
  absl::Status SetCurrentThreadNice(int) override { return absl::OkStatus(); }
  int online_cpus() override { return 2; }
  std::string KernelRelease() override { return config_.release; }
  uint64_t PageSize() override { return LinuxKernel().PageSize(); }
  int Sigaction(int signal, const struct sigaction* action, struct sigaction* previous) override {
    return LinuxKernel().Sigaction(signal, action, previous);
  }
  IoUringSupport ProbeIoUring() override;

 private:
  // Count counts a call; returns the errno to fail it with, or 0.
  int Count();
  absl::StatusOr<UniqueFd> NewFd(const char* what);
  // Range runs a range ioctl on the simulated memory: `fill` gives a page's new bytes
  // (nullptr: poison).
  UffdIoctlResult Range(const char* op, uint64_t start, uint64_t length, const uint8_t* bytes);

  FakeKernelConfig config_;
  mutable std::mutex mutex_;
  int calls_ = 0;
  std::vector<FeatureSet> api_requests_;
  std::map<int, int> api_calls_by_fd_;
  std::map<int, std::deque<uffd_msg>> messages_;
  std::map<uint64_t, std::vector<uint8_t>> pages_;
  std::set<uint64_t> poisoned_;
  std::map<std::string, std::deque<UffdIoctlResult>> scripts_;
  std::vector<std::string> range_log_;
};

// ForwardingKernel passes every call to the real kernel; tests derive from it to change
// one behaviour (slow reads, a failing call) while the rest stays real.
class ForwardingKernel : public Kernel {
 public:
  absl::StatusOr<UniqueFd> OpenDevice(const char* path, int flags) override {
    return real().OpenDevice(path, flags);
  }
  absl::StatusOr<UniqueFd> UserfaultfdFromDevice(int device_fd, int uffd_flags) override {
    return real().UserfaultfdFromDevice(device_fd, uffd_flags);
  }
  absl::StatusOr<UniqueFd> UserfaultfdSyscall(int uffd_flags) override {
    return real().UserfaultfdSyscall(uffd_flags);
  }
  absl::Status UffdApi(int uffd, uffdio_api* api) override { return real().UffdApi(uffd, api); }
  absl::Status UffdRegister(int uffd, uffdio_register* reg) override {
    return real().UffdRegister(uffd, reg);
  }
  absl::Status UffdUnregister(int uffd, uint64_t start, uint64_t length) override {
    return real().UffdUnregister(uffd, start, length);
  }
  absl::Status UffdWake(int uffd, uint64_t start, uint64_t length) override {
    return real().UffdWake(uffd, start, length);
  }
  UffdIoctlResult UffdCopy(int uffd, uint64_t destination, const void* source, uint64_t length,
                           bool wake) override {
    return real().UffdCopy(uffd, destination, source, length, wake);
  }
  UffdIoctlResult UffdZeropage(int uffd, uint64_t start, uint64_t length, bool wake) override {
    return real().UffdZeropage(uffd, start, length, wake);
  }
  UffdIoctlResult UffdPoison(int uffd, uint64_t start, uint64_t length, bool wake) override {
    return real().UffdPoison(uffd, start, length, wake);
  }
  absl::StatusOr<size_t> ReadUffdMessages(int uffd, std::span<uffd_msg> messages) override {
    return real().ReadUffdMessages(uffd, messages);
  }
  void FutexWait(const std::atomic<uint32_t>* word, uint32_t expected,
                 uint32_t timeout_us) override {
    real().FutexWait(word, expected, timeout_us);
  }
  void FutexWakeAll(const std::atomic<uint32_t>* word) override { real().FutexWakeAll(word); }
  absl::StatusOr<int> Poll(std::span<pollfd> fds, int timeout_ms) override {
    return real().Poll(fds, timeout_ms);
  }
  absl::StatusOr<void*> MmapAnonymous(uint64_t length, int prot, int flags) override {
    return real().MmapAnonymous(length, prot, flags);
  }
  absl::Status Munmap(void* address, uint64_t length) override {
    return real().Munmap(address, length);
  }
  absl::Status Madvise(void* address, uint64_t length, int advice) override {
    return real().Madvise(address, length, advice);
  }
  absl::Status Mprotect(void* address, uint64_t length, int prot) override {
    return real().Mprotect(address, length, prot);
  }
  absl::StatusOr<UniqueFd> CreateEventFd() override { return real().CreateEventFd(); }
  absl::Status SignalEventFd(int fd) override { return real().SignalEventFd(fd); }
  void ResetEventFd(int fd) override { real().ResetEventFd(fd); }
  absl::Status PinCurrentThread(int cpu) override { return real().PinCurrentThread(cpu); }
  absl::Status SetCurrentThreadIdle() override { return real().SetCurrentThreadIdle(); }
  absl::Status SetCurrentThreadNice(int nice) override { return real().SetCurrentThreadNice(nice); }
  int online_cpus() override { return real().online_cpus(); }
  std::string KernelRelease() override { return real().KernelRelease(); }
  uint64_t PageSize() override { return real().PageSize(); }
  int Sigaction(int signal, const struct sigaction* action, struct sigaction* previous) override {
    return real().Sigaction(signal, action, previous);
  }
  IoUringSupport ProbeIoUring() override { return real().ProbeIoUring(); }

 private:
  static Kernel& real() { return LinuxKernel(); }
};

// PersonalityKernel is the real kernel wearing a FakeKernelConfig's userfaultfd
// personality: the open paths fail as configured, UFFDIO_API answers as that kernel
// would (only its features reported, its refusals), registered ranges allow only the
// ioctls that kernel would have. Everything else is real, so a whole session restores
// real memory "on" an old or limited kernel.
class PersonalityKernel : public ForwardingKernel {
 public:
  explicit PersonalityKernel(FakeKernelConfig config) : config_(std::move(config)) {}
  absl::StatusOr<UniqueFd> OpenDevice(const char* path, int flags) override;
  absl::StatusOr<UniqueFd> UserfaultfdSyscall(int uffd_flags) override;
  absl::Status UffdApi(int uffd, uffdio_api* api) override;
  absl::Status UffdRegister(int uffd, uffdio_register* reg) override;
  std::string KernelRelease() override { return config_.release; }

 private:
  FakeKernelConfig config_;
  std::mutex mutex_;
  std::map<int, int> api_calls_by_fd_;
};

// FakeKernelConfigs returns the table of personalities the handshake is tested against.
std::vector<FakeKernelConfig> FakeKernelPersonalities();

}  // namespace lazysnap

#endif  // LAZYSNAP_ENGINE_FAKE_KERNEL_H_
