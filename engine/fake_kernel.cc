// FakeKernel: userfaultfd personalities of kernels from 4.3 to 6.18.
#include "engine/fake_kernel.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"

namespace lazysnap {

FakeKernel::FakeKernel(FakeKernelConfig config) : config_(std::move(config)) {}
FakeKernel::~FakeKernel() = default;

std::vector<FeatureSet> FakeKernel::api_requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return api_requests_;
}

int FakeKernel::max_api_calls_on_one_fd() const {
  std::lock_guard<std::mutex> lock(mutex_);
  int most = 0;
  for (auto [fd, n] : api_calls_by_fd_) most = std::max(most, n);
  return most;
}

int FakeKernel::calls() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return calls_;
}

int FakeKernel::Count() {
  std::lock_guard<std::mutex> lock(mutex_);
  return ++calls_ == config_.fail_call ? config_.fail_errno : 0;
}

absl::StatusOr<UniqueFd> FakeKernel::NewFd(const char* what) {
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return ErrnoToStatus(errno, what);
  std::lock_guard<std::mutex> lock(mutex_);
  api_calls_by_fd_.erase(fd);  // a reused number is a new descriptor
  return UniqueFd(fd);
}

absl::StatusOr<UniqueFd> FakeKernel::OpenDevice(const char* path, int /*flags*/) {
  if (int e = Count(); e != 0) return ErrnoToStatus(e, absl::StrFormat("open %s", path));
  if (config_.device_open_errno != 0) {
    return ErrnoToStatus(config_.device_open_errno, absl::StrFormat("open %s", path));
  }
  return NewFd("fake device");
}

absl::StatusOr<UniqueFd> FakeKernel::UserfaultfdFromDevice(int /*device_fd*/, int /*flags*/) {
  const char* what = "ioctl(/dev/userfaultfd, USERFAULTFD_IOC_NEW)";
  if (int e = Count(); e != 0) return ErrnoToStatus(e, what);
  if (config_.device_ioctl_errno != 0) return ErrnoToStatus(config_.device_ioctl_errno, what);
  return NewFd(what);
}

absl::StatusOr<UniqueFd> FakeKernel::UserfaultfdSyscall(int uffd_flags) {
  const bool user_mode_only = (uffd_flags & UFFD_USER_MODE_ONLY) != 0;
  const char* what = user_mode_only ? "userfaultfd(UFFD_USER_MODE_ONLY)" : "userfaultfd(0)";
  if (int e = Count(); e != 0) return ErrnoToStatus(e, what);
  int error = user_mode_only ? config_.user_mode_only_errno : config_.syscall_errno;
  if (error != 0) return ErrnoToStatus(error, what);
  return NewFd(what);
}

absl::Status FakeKernel::UffdApi(int uffd, uffdio_api* api) {
  const std::string what = absl::StrFormat("ioctl(UFFDIO_API, features=0x%x)", api->features);
  int previous_calls;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    api_requests_.push_back(api->features);
    previous_calls = api_calls_by_fd_[uffd]++;
  }
  if (int e = Count(); e != 0) return ErrnoToStatus(e, what);
  if (api->api != config_.accepted_api) return ErrnoToStatus(EINVAL, what);
  if (previous_calls > 0 && config_.rejects_second_api) return ErrnoToStatus(EINVAL, what);
  if (config_.rejects_nonzero_request && api->features != 0) return ErrnoToStatus(EINVAL, what);
  if (config_.rejects_unknown_bits && (api->features & ~config_.supported) != 0) {
    return ErrnoToStatus(EINVAL, what);
  }
  // Current kernels reply with everything they support, whatever was asked.
  api->features = api->features != 0 ? config_.supported & ~config_.reply_drops
                                     : config_.supported;
  api->ioctls = (1ull << _UFFDIO_API) | (1ull << _UFFDIO_REGISTER) |
                (1ull << _UFFDIO_UNREGISTER);
  return absl::OkStatus();
}

absl::Status FakeKernel::UffdRegister(int /*uffd*/, uffdio_register* reg) {
  if (int e = Count(); e != 0) return ErrnoToStatus(e, "ioctl(UFFDIO_REGISTER)");
  reg->ioctls = config_.range_ioctls;
  return absl::OkStatus();
}

absl::Status FakeKernel::UffdUnregister(int, uint64_t, uint64_t) {
  if (int e = Count(); e != 0) return ErrnoToStatus(e, "ioctl(UFFDIO_UNREGISTER)");
  return absl::OkStatus();
}

absl::Status FakeKernel::UffdWake(int, uint64_t start, uint64_t length) {
  if (int e = Count(); e != 0) return ErrnoToStatus(e, "ioctl(UFFDIO_WAKE)");
  std::lock_guard<std::mutex> lock(mutex_);
  range_log_.push_back(absl::StrFormat("wake 0x%x %d", start, length));
  return absl::OkStatus();
}

UffdIoctlResult FakeKernel::Range(const char* op, uint64_t start, uint64_t length,
                                  const uint8_t* bytes) {
  if (int e = Count(); e != 0) return {e, 0};
  const uint64_t page = PageSize();
  std::lock_guard<std::mutex> lock(mutex_);
  range_log_.push_back(absl::StrFormat("%s 0x%x %d", op, start, length));
  auto& script = scripts_[op];
  if (!script.empty()) {
    UffdIoctlResult result = script.front();
    script.pop_front();
    return result;
  }
  for (uint64_t done = 0; done < length; done += page) {
    const uint64_t at = start + done;
    if (pages_.count(at) != 0 || poisoned_.count(at) != 0) {
      // The kernel stops at the first present page and reports what it did before it.
      return {EEXIST, static_cast<int64_t>(done)};
    }
    if (std::string_view(op) == "poison") {
      poisoned_.insert(at);
    } else if (bytes == nullptr) {
      pages_[at].assign(page, 0);
    } else {
      pages_[at].assign(bytes + done, bytes + done + page);
    }
  }
  return {0, static_cast<int64_t>(length)};
}

UffdIoctlResult FakeKernel::UffdCopy(int, uint64_t destination, const void* source,
                                     uint64_t length, bool) {
  return Range("copy", destination, length, static_cast<const uint8_t*>(source));
}

UffdIoctlResult FakeKernel::UffdZeropage(int, uint64_t start, uint64_t length, bool) {
  return Range("zero", start, length, nullptr);
}

UffdIoctlResult FakeKernel::UffdPoison(int, uint64_t start, uint64_t length, bool) {
  return Range("poison", start, length, nullptr);
}

absl::StatusOr<size_t> FakeKernel::ReadUffdMessages(int uffd, std::span<uffd_msg> messages) {
  if (int e = Count(); e != 0) return ErrnoToStatus(e, "read(userfaultfd)");
  std::lock_guard<std::mutex> lock(mutex_);
  auto& queue = messages_[uffd];
  size_t n = 0;
  while (n < messages.size() && !queue.empty()) {
    messages[n++] = queue.front();
    queue.pop_front();
  }
  if (queue.empty()) {
    uint64_t ignored;
    while (::read(uffd, &ignored, sizeof(ignored)) > 0) {
    }
  }
  return n;
}

void FakeKernel::PushMessage(int uffd, const uffd_msg& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  messages_[uffd].push_back(message);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(uffd, &one, sizeof(one));
}

void FakeKernel::PushFault(int uffd, uint64_t address, uint64_t flags) {
  uffd_msg message = {};
  message.event = UFFD_EVENT_PAGEFAULT;
  message.arg.pagefault.address = address;
  message.arg.pagefault.flags = flags;
  PushMessage(uffd, message);
}

void FakeKernel::PushRemove(int uffd, uint64_t start, uint64_t end) {
  uffd_msg message = {};
  message.event = UFFD_EVENT_REMOVE;
  message.arg.remove.start = start;
  message.arg.remove.end = end;
  PushMessage(uffd, message);
}

size_t FakeKernel::PendingMessages(int uffd) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = messages_.find(uffd);
  return it == messages_.end() ? 0 : it->second.size();
}

std::optional<std::vector<uint8_t>> FakeKernel::PageBytes(uint64_t page_address) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = pages_.find(page_address);
  if (it == pages_.end()) return std::nullopt;
  return it->second;
}

bool FakeKernel::IsPoisoned(uint64_t page_address) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return poisoned_.count(page_address) != 0;
}

void FakeKernel::Zap(uint64_t start, uint64_t length) {
  std::lock_guard<std::mutex> lock(mutex_);
  pages_.erase(pages_.lower_bound(start), pages_.lower_bound(start + length));
}

void FakeKernel::ScriptRange(const std::string& op, UffdIoctlResult result) {
  std::lock_guard<std::mutex> lock(mutex_);
  scripts_[op].push_back(result);
}

std::vector<std::string> FakeKernel::RangeLog() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return range_log_;
}

absl::StatusOr<int> FakeKernel::Poll(std::span<pollfd> fds, int timeout_ms) {
  if (int e = Count(); e != 0) return ErrnoToStatus(e, "poll");
  // Every descriptor is real (the fake userfaultfd polls readable while messages wait).
  return LinuxKernel().Poll(fds, timeout_ms);
}

absl::StatusOr<void*> FakeKernel::MmapAnonymous(uint64_t, int, int) {
  return absl::UnimplementedError("FakeKernel does not map memory");
}
absl::Status FakeKernel::Munmap(void*, uint64_t) { return absl::OkStatus(); }
absl::Status FakeKernel::Madvise(void*, uint64_t, int) { return absl::OkStatus(); }
absl::Status FakeKernel::Mprotect(void*, uint64_t, int) { return absl::OkStatus(); }

IoUringSupport FakeKernel::ProbeIoUring() {
  if (!config_.io_uring) return {false, "io_uring_setup failed: EPERM (fake)"};
  return {true, "io_uring with IORING_OP_READ (fake)"};
}


absl::StatusOr<UniqueFd> PersonalityKernel::OpenDevice(const char* path, int flags) {
  if (config_.device_open_errno != 0) {
    return ErrnoToStatus(config_.device_open_errno, absl::StrFormat("open %s", path));
  }
  return ForwardingKernel::OpenDevice(path, flags);
}

absl::StatusOr<UniqueFd> PersonalityKernel::UserfaultfdSyscall(int uffd_flags) {
  const bool user_mode_only = (uffd_flags & UFFD_USER_MODE_ONLY) != 0;
  const int error = user_mode_only ? config_.user_mode_only_errno : config_.syscall_errno;
  if (error != 0) {
    return ErrnoToStatus(error, user_mode_only ? "userfaultfd(UFFD_USER_MODE_ONLY)"
                                               : "userfaultfd(0)");
  }
  return ForwardingKernel::UserfaultfdSyscall(uffd_flags);
}

absl::Status PersonalityKernel::UffdApi(int uffd, uffdio_api* api) {
  const std::string what = absl::StrFormat("ioctl(UFFDIO_API, features=0x%x)", api->features);
  int previous_calls;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    previous_calls = api_calls_by_fd_[uffd]++;
  }
  if (previous_calls > 0 && config_.rejects_second_api) return ErrnoToStatus(EINVAL, what);
  if (config_.rejects_nonzero_request && api->features != 0) return ErrnoToStatus(EINVAL, what);
  if (config_.rejects_unknown_bits && (api->features & ~config_.supported) != 0) {
    return ErrnoToStatus(EINVAL, what);
  }
  const FeatureSet requested = api->features;
  api->features &= config_.supported;  // what this kernel would have acted on
  absl::Status real = ForwardingKernel::UffdApi(uffd, api);
  if (!real.ok()) return real;
  api->features &= requested != 0 ? config_.supported & ~config_.reply_drops : config_.supported;
  return absl::OkStatus();
}

absl::Status PersonalityKernel::UffdRegister(int uffd, uffdio_register* reg) {
  absl::Status real = ForwardingKernel::UffdRegister(uffd, reg);
  if (!real.ok()) return real;
  auto lacks = [&](UffdFeature feature) { return (config_.supported & Bit(feature)) == 0; };
  if (lacks(UffdFeature::kPoison)) reg->ioctls &= ~(1ull << _UFFDIO_POISON);
  if (lacks(UffdFeature::kMove)) reg->ioctls &= ~(1ull << _UFFDIO_MOVE);
  if (lacks(UffdFeature::kMinorShmem) && lacks(UffdFeature::kMinorHugetlbfs)) {
    reg->ioctls &= ~(1ull << _UFFDIO_CONTINUE);
  }
  if (lacks(UffdFeature::kPagefaultFlagWp)) reg->ioctls &= ~(1ull << _UFFDIO_WRITEPROTECT);
  return absl::OkStatus();
}

std::vector<FakeKernelConfig> FakeKernelPersonalities() {
  const FeatureSet k411 = Bit(UffdFeature::kEventFork) | Bit(UffdFeature::kEventRemap) |
                          Bit(UffdFeature::kEventRemove) | Bit(UffdFeature::kEventUnmap) |
                          Bit(UffdFeature::kMissingHugetlbfs) |
                          Bit(UffdFeature::kMissingShmem);
  const FeatureSet k414 = k411 | Bit(UffdFeature::kSigbus) | Bit(UffdFeature::kThreadId);
  const FeatureSet k510 = k414 | Bit(UffdFeature::kPagefaultFlagWp);
  const FeatureSet k618 = kKnownFeatures;
  std::vector<FakeKernelConfig> table;
  auto add = [&](FakeKernelConfig c) { table.push_back(std::move(c)); };

  FakeKernelConfig pre411{.name = "4.9: no features, rejects any non-zero request",
                          .release = "4.9.0",
                          .device_open_errno = ENOENT,
                          .user_mode_only_errno = EINVAL,
                          .supported = 0,
                          .rejects_nonzero_request = true,
                          .rejects_second_api = false,
                          .range_ioctls = (1ull << _UFFDIO_WAKE) | (1ull << _UFFDIO_COPY) |
                                          (1ull << _UFFDIO_ZEROPAGE),
                          .io_uring = false};
  add(pre411);
  add({.name = "4.11: events and shmem only", .release = "4.11.0",
       .device_open_errno = ENOENT, .user_mode_only_errno = EINVAL, .supported = k411,
       .rejects_unknown_bits = false, .rejects_second_api = false, .io_uring = false});
  add({.name = "5.10: no minor faults", .release = "5.10.0", .device_open_errno = ENOENT,
       .user_mode_only_errno = EINVAL, .supported = k510});
  add({.name = "5.4: no write-protect", .release = "5.4.0", .device_open_errno = ENOENT,
       .user_mode_only_errno = EINVAL, .supported = k414});
  add({.name = "lenient: ignores unknown bits", .release = "5.8.0",
       .device_open_errno = ENOENT, .supported = k510, .rejects_unknown_bits = false});
  add({.name = "6.18: strict, every feature", .release = "6.18.0", .supported = k618});
  add({.name = "6.5: no poison", .release = "6.5.0",
       .supported = k618 & ~(Bit(UffdFeature::kPoison) | Bit(UffdFeature::kWpAsync) |
                             Bit(UffdFeature::kMove))});
  return table;
}

}  // namespace lazysnap
