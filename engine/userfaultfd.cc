// Userfaultfd: open paths, the probe-then-request handshake, and registration.
#include "engine/userfaultfd.h"

#include <fcntl.h>

#include <optional>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace lazysnap {
namespace {

constexpr const char* kDevicePath = "/dev/userfaultfd";

struct OpenedFd {
  UniqueFd fd;
  UffdOpenPath path;
};

// OpenAttempts opens a userfaultfd by the first path that works (or only by `only`) and
// records what each path said.
class Opener {
 public:
  Opener(Kernel& kernel, const UffdOptions& options) : kernel_(kernel), options_(options) {}

  absl::StatusOr<OpenedFd> Open(std::optional<UffdOpenPath> only = std::nullopt) {
    const int flags = O_CLOEXEC | (options_.nonblocking ? O_NONBLOCK : 0);
    attempts_.clear();
    bool all_permission = true;
    bool user_mode_only_would_work = false;
    if (!only || *only == UffdOpenPath::kDevice) {
      auto device = kernel_.OpenDevice(kDevicePath, O_RDWR);
      if (device.ok()) {
        auto fd = kernel_.UserfaultfdFromDevice(device->get(), flags);
        if (fd.ok()) return OpenedFd{std::move(*fd), UffdOpenPath::kDevice};
        Note(fd.status(), &all_permission);
      } else {
        Note(device.status(), &all_permission);
      }
    }
    if (!only || *only == UffdOpenPath::kSyscall) {
      auto fd = kernel_.UserfaultfdSyscall(flags);
      if (fd.ok()) return OpenedFd{std::move(*fd), UffdOpenPath::kSyscall};
      Note(fd.status(), &all_permission);
    }
    if (!only || *only == UffdOpenPath::kUserModeOnly) {
      if (options_.allow_user_mode_only) {
        auto fd = kernel_.UserfaultfdSyscall(flags | UFFD_USER_MODE_ONLY);
        if (fd.ok()) return OpenedFd{std::move(*fd), UffdOpenPath::kUserModeOnly};
        Note(fd.status(), &all_permission);
      } else {
        // Find out whether it would have worked, to say so in the error.
        auto fd = kernel_.UserfaultfdSyscall(flags | UFFD_USER_MODE_ONLY);
        user_mode_only_would_work = fd.ok();
        attempts_.push_back(absl::StrFormat(
            "userfaultfd(UFFD_USER_MODE_ONLY): %s, but not allowed here: it cannot serve "
            "faults raised by the kernel (KVM accesses to guest memory, read(2) into the "
            "region)",
            fd.ok() ? "would work" : std::string(fd.status().message())));
      }
    }
    std::string message = absl::StrFormat(
        "no userfaultfd is available to this process. Tried: %s. To fix: give this user "
        "read-write access to /dev/userfaultfd (Linux 6.1+, e.g. a udev rule or group), or "
        "grant CAP_SYS_PTRACE, or set sysctl vm.unprivileged_userfaultfd=1; inside user "
        "namespaces (containers, Bazel's linux-sandbox) userfaultfd(2) is refused",
        absl::StrJoin(attempts_, "; "));
    if (user_mode_only_would_work) {
      return absl::FailedPreconditionError(message);
    }
    return all_permission ? absl::PermissionDeniedError(message)
                          : absl::FailedPreconditionError(message);
  }

  const std::vector<std::string>& attempts() const { return attempts_; }

 private:
  void Note(const absl::Status& status, bool* all_permission) {
    attempts_.push_back(std::string(status.message()));
    if (!absl::IsPermissionDenied(status)) *all_permission = false;
  }

  Kernel& kernel_;
  const UffdOptions& options_;
  std::vector<std::string> attempts_;
};

// Probe asks the kernel what it supports, on a throwaway fd from `path`.
absl::StatusOr<uffdio_api> Probe(Kernel& kernel, Opener& opener, UffdOpenPath path) {
  LAZYSNAP_ASSIGN_OR_RETURN(OpenedFd probe, opener.Open(path));
  uffdio_api api = {};
  api.api = UFFD_API;
  api.features = 0;
  absl::Status status = kernel.UffdApi(probe.fd.get(), &api);
  if (!status.ok()) {
    if (absl::IsInvalidArgument(status)) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "the kernel refused UFFDIO_API version 0x%x with no features (%s): it does not "
          "speak the userfaultfd API lazysnap knows",
          UFFD_API, status.message()));
    }
    return status;
  }
  if (api.api != UFFD_API) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the kernel answered UFFDIO_API with version 0x%x; lazysnap speaks 0x%x", api.api,
        UFFD_API));
  }
  return api;
}

constexpr uint64_t kBasicApiIoctls =
    (1ull << _UFFDIO_API) | (1ull << _UFFDIO_REGISTER) | (1ull << _UFFDIO_UNREGISTER);

}  // namespace

std::string_view UffdOpenPathName(UffdOpenPath path) {
  switch (path) {
    case UffdOpenPath::kDevice: return "/dev/userfaultfd";
    case UffdOpenPath::kSyscall: return "userfaultfd(2)";
    case UffdOpenPath::kUserModeOnly: return "userfaultfd(2) with UFFD_USER_MODE_ONLY";
    case UffdOpenPath::kAdopted: return "handed over by another process";
  }
  return "unknown";
}

std::string RangeIoctlNames(uint64_t ioctls) {
  static constexpr std::pair<RangeIoctl, const char*> kNames[] = {
      {RangeIoctl::kWake, "WAKE"},       {RangeIoctl::kCopy, "COPY"},
      {RangeIoctl::kZeropage, "ZEROPAGE"}, {RangeIoctl::kMove, "MOVE"},
      {RangeIoctl::kWriteprotect, "WRITEPROTECT"}, {RangeIoctl::kContinue, "CONTINUE"},
      {RangeIoctl::kPoison, "POISON"},
  };
  std::vector<std::string> names;
  for (auto [ioctl, name] : kNames) {
    if (ioctls & static_cast<uint64_t>(ioctl)) names.emplace_back(name);
  }
  return names.empty() ? "(none)" : absl::StrJoin(names, "|");
}

RangeRegistration& RangeRegistration::operator=(RangeRegistration&& other) noexcept {
  if (this != &other) {
    Reset();
    kernel_ = other.kernel_;
    uffd_ = other.uffd_;
    start_ = other.start_;
    length_ = other.length_;
    ioctls_ = other.ioctls_;
    other.kernel_ = nullptr;
  }
  return *this;
}

void RangeRegistration::Reset() {
  if (kernel_ != nullptr) kernel_->UffdUnregister(uffd_, start_, length_).IgnoreError();
  kernel_ = nullptr;
}

absl::StatusOr<Userfaultfd> Userfaultfd::Open(Kernel& kernel, const UffdOptions& options) {
  Opener opener(kernel, options);
  LAZYSNAP_ASSIGN_OR_RETURN(OpenedFd real, opener.Open());
  LAZYSNAP_ASSIGN_OR_RETURN(uffdio_api probe, Probe(kernel, opener, real.path));
  LAZYSNAP_ASSIGN_OR_RETURN(Negotiation negotiation,
                            NegotiateFeatures(options.features, probe.features));

  uffdio_api api = {};
  api.api = UFFD_API;
  api.features = negotiation.request;
  absl::Status status = kernel.UffdApi(real.fd.get(), &api);
  if (!status.ok()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the kernel refused features %s that it had reported as supported: %s",
        FeatureNames(negotiation.request), status.message()));
  }
  if (api.api != UFFD_API) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the kernel answered UFFDIO_API with version 0x%x; lazysnap speaks 0x%x", api.api,
        UFFD_API));
  }
  if (FeatureSet dropped = negotiation.request & ~api.features; dropped != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the kernel did not acknowledge requested features %s (requested %s, reply %s)",
        FeatureNames(dropped), FeatureNames(negotiation.request), FeatureNames(api.features)));
  }
  if ((api.ioctls & kBasicApiIoctls) != kBasicApiIoctls) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the kernel's UFFDIO_API reply lacks the REGISTER/UNREGISTER ioctls (ioctls 0x%x)",
        api.ioctls));
  }
  UffdCapabilities capabilities;
  capabilities.open_path = real.path;
  capabilities.reported = probe.features;
  capabilities.enabled = negotiation.request;
  capabilities.api_ioctls = api.ioctls;
  capabilities.decisions = std::move(negotiation.decisions);
  return Userfaultfd(&kernel, std::move(real.fd), std::move(capabilities));
}

Userfaultfd Userfaultfd::Adopt(Kernel& kernel, UniqueFd fd, UffdCapabilities capabilities) {
  capabilities.open_path = UffdOpenPath::kAdopted;
  return Userfaultfd(&kernel, std::move(fd), std::move(capabilities));
}

absl::StatusOr<RangeRegistration> Userfaultfd::Register(uint64_t start, uint64_t length,
                                                        uint64_t modes) {
  uffdio_register reg = {};
  reg.range.start = start;
  reg.range.len = length;
  reg.mode = modes;
  absl::Status status = kernel_->UffdRegister(fd_.get(), &reg);
  if (!status.ok()) {
    if (absl::IsInvalidArgument(status)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: the range must be page aligned and entirely mapped, and its memory type "
          "supported (anonymous; shmem needs MISSING_SHMEM, hugetlbfs MISSING_HUGETLBFS)",
          status.message()));
    }
    return status;
  }
  if ((reg.ioctls & static_cast<uint64_t>(RangeIoctl::kCopy)) == 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the registered range [0x%x, +%d) does not allow UFFDIO_COPY (allows %s)", start,
        length, RangeIoctlNames(reg.ioctls)));
  }
  return RangeRegistration(kernel_, fd_.get(), start, length, reg.ioctls);
}

UffdProbeReport ProbeUserfaultfd(Kernel& kernel, const UffdOptions& options) {
  UffdProbeReport report;
  report.kernel_release = kernel.KernelRelease();
  report.io_uring = kernel.ProbeIoUring();
  Opener opener(kernel, options);
  auto opened = opener.Open();
  report.open_attempts = opener.attempts();
  if (!opened.ok()) {
    report.open_status = opened.status();
    report.handshake_status = opened.status();
    return report;
  }
  report.open_path = opened->path;
  opened->fd.Reset();  // Userfaultfd::Open below opens its own
  auto uffd = Userfaultfd::Open(kernel, options);
  if (!uffd.ok()) {
    report.handshake_status = uffd.status();
    return report;
  }
  report.capabilities = uffd->capabilities();
  report.can_restore = true;
  return report;
}

}  // namespace lazysnap
