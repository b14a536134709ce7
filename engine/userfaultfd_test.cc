// The handshake against fake kernels of many eras: what is enabled, which fallbacks are
// chosen, that no request ever carries a bit the kernel did not report, and that errors
// name the feature or the open path.
#include "engine/userfaultfd.h"

#include <gtest/gtest.h>

#include "engine/fake_kernel.h"

namespace lazysnap {
namespace {

// What the engine asks for in a plain in-process restore.
FeatureRequest EngineRequest() {
  FeatureRequest request;
  request.wanted = Bit(UffdFeature::kEventRemove) | Bit(UffdFeature::kEventUnmap) |
                   Bit(UffdFeature::kThreadId) | Bit(UffdFeature::kPoison) |
                   Bit(UffdFeature::kMinorShmem);
  return request;
}

class Personality : public ::testing::TestWithParam<FakeKernelConfig> {};

TEST_P(Personality, HandshakeRequestsOnlyReportedBitsOnAFreshFd) {
  const FakeKernelConfig& config = GetParam();
  FakeKernel kernel(config);
  UffdOptions options;
  options.features = EngineRequest();
  auto uffd = Userfaultfd::Open(kernel, options);
  ASSERT_TRUE(uffd.ok()) << config.name << ": " << uffd.status();
  const UffdCapabilities& caps = uffd->capabilities();

  // Enabled is exactly wanted ∩ supported.
  EXPECT_EQ(caps.enabled, EngineRequest().wanted & config.supported) << config.name;
  EXPECT_EQ(caps.reported, config.supported);
  for (FeatureSet request : kernel.api_requests()) {
    EXPECT_EQ(request & ~config.supported, 0u)
        << config.name << ": requested unreported bits " << FeatureNames(request);
  }
  // The probe and the real request went to different descriptors.
  EXPECT_EQ(kernel.api_requests().size(), 2u);
  EXPECT_EQ(kernel.max_api_calls_on_one_fd(), 1) << config.name;
  // Every wanted feature is either enabled or has its fallback chosen.
  for (const FeatureDecision& d : caps.decisions) {
    const bool wanted = (EngineRequest().wanted & Bit(d.feature)) != 0;
    const bool supported = (config.supported & Bit(d.feature)) != 0;
    EXPECT_EQ(d.supported, supported);
    if (wanted) {
      EXPECT_EQ(d.state, supported ? FeatureState::kEnabled : FeatureState::kFallback)
          << config.name << " " << InfoOf(d.feature).name;
    } else {
      EXPECT_EQ(d.state, FeatureState::kNotRequested);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, Personality, ::testing::ValuesIn(FakeKernelPersonalities()),
                         [](const ::testing::TestParamInfo<FakeKernelConfig>& info) {
                           return "kernel_" + std::to_string(info.index);
                         });

TEST(Handshake, OldKernelGetsAnEmptyRequestAndFallbacks) {
  FakeKernel kernel(FakeKernelPersonalities()[0]);  // 4.9
  UffdOptions options;
  options.features = EngineRequest();
  auto uffd = Userfaultfd::Open(kernel, options);
  ASSERT_TRUE(uffd.ok()) << uffd.status();
  EXPECT_EQ(uffd->capabilities().enabled, 0u);
  EXPECT_FALSE(uffd->capabilities().Enabled(UffdFeature::kEventRemove));
  EXPECT_EQ(kernel.api_requests(), (std::vector<FeatureSet>{0, 0}));
}

TEST(Handshake, MissingRequiredFeatureNamesIt) {
  FakeKernel kernel(FakeKernelPersonalities()[0]);  // 4.9: no MISSING_SHMEM
  UffdOptions options;
  options.features.required = Bit(UffdFeature::kMissingShmem);
  auto uffd = Userfaultfd::Open(kernel, options);
  ASSERT_TRUE(absl::IsFailedPrecondition(uffd.status())) << uffd.status();
  EXPECT_NE(uffd.status().message().find("MISSING_SHMEM"), absl::string_view::npos);
  // Nothing but the probe was sent.
  EXPECT_EQ(kernel.api_requests(), (std::vector<FeatureSet>{0}));
}

TEST(Handshake, WrongApiVersionIsFailedPrecondition) {
  FakeKernel kernel({.name = "speaks 0xAB", .accepted_api = 0xAB});
  auto uffd = Userfaultfd::Open(kernel, UffdOptions{});
  ASSERT_TRUE(absl::IsFailedPrecondition(uffd.status())) << uffd.status();
  EXPECT_NE(uffd.status().message().find("UFFDIO_API version 0xaa"), absl::string_view::npos)
      << uffd.status();
}

TEST(Handshake, ReplyThatDropsARequestedBitIsRefusedNamingIt) {
  FakeKernelConfig config{.name = "drops POISON from its reply",
                          .supported = kKnownFeatures,
                          .reply_drops = Bit(UffdFeature::kPoison)};
  FakeKernel kernel(config);
  UffdOptions options;
  options.features = EngineRequest();
  auto uffd = Userfaultfd::Open(kernel, options);
  ASSERT_TRUE(absl::IsFailedPrecondition(uffd.status())) << uffd.status();
  EXPECT_NE(uffd.status().message().find("did not acknowledge requested features POISON"),
            absl::string_view::npos)
      << uffd.status();
}

TEST(OpenPaths, DeviceNodeIsUsedWhenTheSyscallIsRefused) {
  FakeKernel kernel({.name = "sandboxed", .syscall_errno = EPERM, .supported = kKnownFeatures});
  auto uffd = Userfaultfd::Open(kernel, UffdOptions{});
  ASSERT_TRUE(uffd.ok()) << uffd.status();
  EXPECT_EQ(uffd->capabilities().open_path, UffdOpenPath::kDevice);
  EXPECT_TRUE(uffd->capabilities().ServesKernelFaults());
}

TEST(OpenPaths, SyscallIsUsedWithoutTheDeviceNode) {
  FakeKernel kernel({.name = "5.15", .device_open_errno = ENOENT, .supported = kKnownFeatures});
  auto uffd = Userfaultfd::Open(kernel, UffdOptions{});
  ASSERT_TRUE(uffd.ok()) << uffd.status();
  EXPECT_EQ(uffd->capabilities().open_path, UffdOpenPath::kSyscall);
}

TEST(OpenPaths, UserModeOnlyWhenNothingElseWorksAndAllowed) {
  FakeKernel kernel({.name = "unprivileged", .device_open_errno = EACCES,
                     .syscall_errno = EPERM, .supported = kKnownFeatures});
  auto uffd = Userfaultfd::Open(kernel, UffdOptions{});
  ASSERT_TRUE(uffd.ok()) << uffd.status();
  EXPECT_EQ(uffd->capabilities().open_path, UffdOpenPath::kUserModeOnly);
  EXPECT_FALSE(uffd->capabilities().ServesKernelFaults());
}

TEST(OpenPaths, ForbiddenUserModeOnlyExplainsHowToFix) {
  FakeKernel kernel({.name = "unprivileged", .device_open_errno = EACCES,
                     .syscall_errno = EPERM, .supported = kKnownFeatures});
  UffdOptions options;
  options.allow_user_mode_only = false;
  auto uffd = Userfaultfd::Open(kernel, options);
  ASSERT_TRUE(absl::IsFailedPrecondition(uffd.status())) << uffd.status();
  const std::string message(uffd.status().message());
  for (const char* needle : {"/dev/userfaultfd", "EACCES", "EPERM", "vm.unprivileged_userfaultfd",
                             "CAP_SYS_PTRACE", "UFFD_USER_MODE_ONLY", "would work", "KVM"}) {
    EXPECT_NE(message.find(needle), std::string::npos) << needle << " missing from: " << message;
  }
}

TEST(OpenPaths, NothingWorksIsPermissionDeniedListingEveryPath) {
  FakeKernel kernel({.name = "locked down", .device_open_errno = EACCES,
                     .syscall_errno = EPERM, .user_mode_only_errno = EPERM});
  auto uffd = Userfaultfd::Open(kernel, UffdOptions{});
  ASSERT_TRUE(absl::IsPermissionDenied(uffd.status())) << uffd.status();
  const std::string message(uffd.status().message());
  EXPECT_NE(message.find("open /dev/userfaultfd"), std::string::npos) << message;
  EXPECT_NE(message.find("userfaultfd(0)"), std::string::npos) << message;
  EXPECT_NE(message.find("userfaultfd(UFFD_USER_MODE_ONLY)"), std::string::npos) << message;
}

TEST(OpenPaths, KernelWithoutUserfaultfdIsFailedPrecondition) {
  FakeKernel kernel({.name = "no CONFIG_USERFAULTFD", .device_open_errno = ENOENT,
                     .syscall_errno = ENOSYS, .user_mode_only_errno = ENOSYS});
  auto uffd = Userfaultfd::Open(kernel, UffdOptions{});
  EXPECT_TRUE(absl::IsFailedPrecondition(uffd.status())) << uffd.status();
}

TEST(FailingCalls, EveryCallFailingIsReportedNotIgnored) {
  // Fail each call of a successful handshake in turn: the handshake must report an
  // error (never succeed on a half-done handshake, never crash).
  FakeKernelConfig base{.name = "6.18", .supported = kKnownFeatures};
  FakeKernel counting(base);
  UffdOptions options;
  options.features = EngineRequest();
  ASSERT_TRUE(Userfaultfd::Open(counting, options).ok());
  const int calls = counting.calls();
  ASSERT_GE(calls, 4);  // open device, ioctl, (probe) open device, ioctl, 2 x API
  for (int n = 1; n <= calls; ++n) {
    FakeKernelConfig config = base;
    config.fail_call = n;
    config.fail_errno = EMFILE;
    FakeKernel kernel(config);
    auto uffd = Userfaultfd::Open(kernel, options);
    if (uffd.ok()) {
      // Only an open that has another path to fall back on may succeed.
      EXPECT_NE(uffd->capabilities().open_path, UffdOpenPath::kDevice) << "call " << n;
    } else {
      EXPECT_FALSE(uffd.status().message().empty());
    }
  }
}

TEST(Register, RangeIoctlsSayWhatMayBeCalled) {
  FakeKernel kernel({.name = "6.18", .supported = kKnownFeatures,
                     .range_ioctls = static_cast<uint64_t>(RangeIoctl::kCopy) |
                                     static_cast<uint64_t>(RangeIoctl::kWake) |
                                     static_cast<uint64_t>(RangeIoctl::kPoison)});
  auto uffd = Userfaultfd::Open(kernel, UffdOptions{});
  ASSERT_TRUE(uffd.ok());
  auto range = uffd->Register(0x10000, 0x10000, UFFDIO_REGISTER_MODE_MISSING);
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_TRUE(range->Allows(RangeIoctl::kPoison));
  EXPECT_FALSE(range->Allows(RangeIoctl::kZeropage));
  EXPECT_EQ(RangeIoctlNames(range->ioctls()), "WAKE|COPY|POISON");
}

TEST(Register, RangeWithoutCopyIsRefused) {
  FakeKernel kernel({.name = "odd", .supported = kKnownFeatures,
                     .range_ioctls = static_cast<uint64_t>(RangeIoctl::kWake)});
  auto uffd = Userfaultfd::Open(kernel, UffdOptions{});
  ASSERT_TRUE(uffd.ok());
  auto range = uffd->Register(0x10000, 0x10000, UFFDIO_REGISTER_MODE_MISSING);
  EXPECT_TRUE(absl::IsFailedPrecondition(range.status())) << range.status();
}

TEST(Probe, ReportIncludesFailuresWithoutFailing) {
  FakeKernel kernel({.name = "locked down", .device_open_errno = EACCES,
                     .syscall_errno = EPERM, .user_mode_only_errno = EPERM, .io_uring = false});
  UffdProbeReport report = ProbeUserfaultfd(kernel, UffdOptions{});
  EXPECT_FALSE(report.can_restore);
  EXPECT_EQ(report.open_attempts.size(), 3u);
  EXPECT_FALSE(report.io_uring.available);
  EXPECT_EQ(report.kernel_release, "6.18.0-fake");
}

}  // namespace
}  // namespace lazysnap
