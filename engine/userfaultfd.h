// Userfaultfd: opening a userfaultfd the way this host allows, the feature handshake,
// and range registration. The result is one capabilities value the rest of the engine
// asks questions of.
//
// The handshake (see NegotiateFeatures for the rule):
//   1. open the real fd: /dev/userfaultfd + USERFAULTFD_IOC_NEW, else userfaultfd(2),
//      else (when the caller allows it) userfaultfd(2) with UFFD_USER_MODE_ONLY;
//   2. probe on a throwaway fd from the same path with features = 0 (a second UFFDIO_API
//      on one fd is refused by current kernels, and kernels before 4.11 refuse any
//      non-zero request);
//   3. request exactly what is wanted and was reported, on the real fd;
//   4. check the reply: api 0xAA, every requested bit acknowledged, the basic ioctls.
#ifndef LAZYSNAP_ENGINE_USERFAULTFD_H_
#define LAZYSNAP_ENGINE_USERFAULTFD_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "engine/kernel.h"
#include "engine/uffd_features.h"

namespace lazysnap {

// UffdOpenPath: how the userfaultfd was obtained.
enum class UffdOpenPath {
  kDevice,        // /dev/userfaultfd (Linux 6.1+; access by file permission)
  kSyscall,       // userfaultfd(2) (privileged unless vm.unprivileged_userfaultfd=1)
  kUserModeOnly,  // userfaultfd(2) with UFFD_USER_MODE_ONLY: no kernel-mode faults
  kAdopted,       // handed over by another process, already set up by it
};
std::string_view UffdOpenPathName(UffdOpenPath path);

// RangeIoctl: bits of uffdio_register.ioctls, the ioctls a registered range allows.
enum class RangeIoctl : uint64_t {
  kWake = 1ull << _UFFDIO_WAKE,
  kCopy = 1ull << _UFFDIO_COPY,
  kZeropage = 1ull << _UFFDIO_ZEROPAGE,
  kMove = 1ull << _UFFDIO_MOVE,
  kWriteprotect = 1ull << _UFFDIO_WRITEPROTECT,
  kContinue = 1ull << _UFFDIO_CONTINUE,
  kPoison = 1ull << _UFFDIO_POISON,
};

// RangeIoctlNames renders a range's ioctl bits ("WAKE|COPY|ZEROPAGE").
std::string RangeIoctlNames(uint64_t ioctls);

// UffdCapabilities: what this userfaultfd can do. Plain value; copyable.
struct UffdCapabilities {
  UffdOpenPath open_path = UffdOpenPath::kSyscall;
  FeatureSet reported = 0;  // what the kernel reported on the probe
  FeatureSet enabled = 0;   // what was requested and acknowledged
  uint64_t api_ioctls = 0;  // uffdio_api.ioctls of the reply
  std::vector<FeatureDecision> decisions;

  bool Enabled(UffdFeature feature) const { return (enabled & Bit(feature)) != 0; }
  bool Supported(UffdFeature feature) const { return (reported & Bit(feature)) != 0; }
  // ServesKernelFaults is false for UFFD_USER_MODE_ONLY fds: faults raised by the kernel
  // itself (KVM touching guest memory, read(2) into the region, io_uring writing into it)
  // then fail with EFAULT instead of being served.
  bool ServesKernelFaults() const { return open_path != UffdOpenPath::kUserModeOnly; }
};

// UffdOptions: what the caller needs from the userfaultfd.
struct UffdOptions {
  FeatureRequest features;
  // A VM runtime must forbid user-mode-only fds: KVM's accesses to guest memory are
  // kernel-mode faults, which such an fd does not serve.
  bool allow_user_mode_only = true;
  bool nonblocking = true;
};

// RangeRegistration: the move-only owner of one registered range; unregisters it on
// destruction. The Userfaultfd it came from must outlive it.
class RangeRegistration {
 public:
  RangeRegistration() = default;
  RangeRegistration(Kernel* kernel, int uffd, uint64_t start, uint64_t length, uint64_t ioctls)
      : kernel_(kernel), uffd_(uffd), start_(start), length_(length), ioctls_(ioctls) {}
  RangeRegistration(RangeRegistration&& other) noexcept { *this = std::move(other); }
  RangeRegistration& operator=(RangeRegistration&& other) noexcept;
  RangeRegistration(const RangeRegistration&) = delete;
  RangeRegistration& operator=(const RangeRegistration&) = delete;
  ~RangeRegistration() { Reset(); }

  uint64_t start() const { return start_; }
  uint64_t length() const { return length_; }
  // ioctls: what the kernel allows on this range; these bits, not the feature word, say
  // which range ioctls may be called.
  uint64_t ioctls() const { return ioctls_; }
  bool Allows(RangeIoctl ioctl) const { return (ioctls_ & static_cast<uint64_t>(ioctl)) != 0; }

  // Reset unregisters now (errors ignored: the range may already be unmapped).
  void Reset();

 private:
  Kernel* kernel_ = nullptr;
  int uffd_ = -1;
  uint64_t start_ = 0;
  uint64_t length_ = 0;
  uint64_t ioctls_ = 0;
};

// Userfaultfd: the owner of a userfaultfd and of what its handshake established.
// Move-only. Thread-safe for concurrent ioctls (the kernel serialises what it must).
class Userfaultfd {
 public:
  // Open opens and negotiates. Errors: PermissionDenied or FailedPrecondition when no
  // open path works here (the message lists every path tried and how to fix each),
  // FailedPrecondition when a required feature is missing or the kernel answers the
  // handshake unexpectedly (naming the feature bits).
  static absl::StatusOr<Userfaultfd> Open(Kernel& kernel, const UffdOptions& options);

  // Adopt takes a userfaultfd another process created and set up (the Firecracker-style
  // handover). `capabilities` says what that process negotiated.
  static Userfaultfd Adopt(Kernel& kernel, UniqueFd fd, UffdCapabilities capabilities);

  Userfaultfd(Userfaultfd&&) = default;
  Userfaultfd& operator=(Userfaultfd&&) = default;

  int fd() const { return fd_.get(); }
  Kernel& kernel() const { return *kernel_; }
  const UffdCapabilities& capabilities() const { return capabilities_; }

  // Register registers [start, start + length) for `modes` (UFFDIO_REGISTER_MODE_*).
  // FailedPrecondition when the range does not allow UFFDIO_COPY (nothing could be
  // installed); otherwise the registration, whose ioctls say what else is allowed.
  absl::StatusOr<RangeRegistration> Register(uint64_t start, uint64_t length, uint64_t modes);

 private:
  Userfaultfd(Kernel* kernel, UniqueFd fd, UffdCapabilities capabilities)
      : kernel_(kernel), fd_(std::move(fd)), capabilities_(std::move(capabilities)) {}
  Kernel* kernel_;
  UniqueFd fd_;
  UffdCapabilities capabilities_;
};

// UffdProbeReport: what `lazysnap features` prints.
struct UffdProbeReport {
  std::string kernel_release;
  absl::Status open_status;            // OK when some path worked
  UffdOpenPath open_path = UffdOpenPath::kSyscall;
  std::vector<std::string> open_attempts;  // "/dev/userfaultfd: ok", "userfaultfd(2): EPERM"
  absl::Status handshake_status;       // OK when the negotiation succeeded
  UffdCapabilities capabilities;       // valid when handshake_status is OK
  IoUringSupport io_uring;
  bool can_restore = false;            // lazysnap can restore lazily on this host
};

// ProbeUserfaultfd runs the whole handshake with `options` and reports everything it
// learned, including failures, without returning an error.
UffdProbeReport ProbeUserfaultfd(Kernel& kernel, const UffdOptions& options);

}  // namespace lazysnap

#endif  // LAZYSNAP_ENGINE_USERFAULTFD_H_
