// The handshake and the kernel seam against the running kernel. Skipped, with the
// reason, where this process may not use userfaultfd.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "engine/kernel.h"
#include "engine/userfaultfd.h"

namespace lazysnap {
namespace {

constexpr uint64_t kPage = 4096;

FeatureRequest WantEverythingUseful() {
  FeatureRequest request;
  request.wanted = Bit(UffdFeature::kEventRemove) | Bit(UffdFeature::kEventUnmap) |
                   Bit(UffdFeature::kThreadId) | Bit(UffdFeature::kPoison);
  return request;
}

// OpenOrSkip opens a userfaultfd or skips the test saying why.
#define OPEN_OR_SKIP(uffd, options)                                                  \
  auto uffd = Userfaultfd::Open(LinuxKernel(), options);                             \
  if (absl::IsPermissionDenied(uffd.status()) ||                                     \
      (absl::IsFailedPrecondition(uffd.status()) &&                                  \
       uffd.status().message().find("no userfaultfd") != absl::string_view::npos)) { \
    GTEST_SKIP() << "userfaultfd is not available here: " << uffd.status();          \
  }                                                                                  \
  ASSERT_TRUE(uffd.ok()) << uffd.status()

struct AnonymousPages {
  explicit AnonymousPages(uint64_t pages) : length(pages * kPage) {
    address = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  }
  ~AnonymousPages() { ::munmap(address, length); }
  uint64_t start() const { return reinterpret_cast<uint64_t>(address); }
  void* address;
  uint64_t length;
};

TEST(RealKernel, HandshakeEnablesWhatTheKernelReports) {
  UffdOptions options;
  options.features = WantEverythingUseful();
  OPEN_OR_SKIP(uffd, options);
  const UffdCapabilities& caps = uffd->capabilities();
  EXPECT_EQ(caps.enabled, options.features.wanted & caps.reported)
      << "reported " << FeatureNames(caps.reported);
  EXPECT_EQ(caps.enabled & ~caps.reported, 0u);
  std::printf("kernel %s: %s; reported %s; enabled %s\n", LinuxKernel().KernelRelease().c_str(),
              std::string(UffdOpenPathName(caps.open_path)).c_str(),
              FeatureNames(caps.reported).c_str(), FeatureNames(caps.enabled).c_str());
}

TEST(RealKernel, RegisteredRangeReportsItsIoctls) {
  UffdOptions options;
  options.features = WantEverythingUseful();
  OPEN_OR_SKIP(uffd, options);
  AnonymousPages pages(4);
  auto range = uffd->Register(pages.start(), pages.length, UFFDIO_REGISTER_MODE_MISSING);
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_TRUE(range->Allows(RangeIoctl::kCopy));
  EXPECT_TRUE(range->Allows(RangeIoctl::kZeropage));
  EXPECT_TRUE(range->Allows(RangeIoctl::kWake));
  EXPECT_EQ(range->Allows(RangeIoctl::kPoison), uffd->capabilities().Supported(UffdFeature::kPoison))
      << RangeIoctlNames(range->ioctls());
}

TEST(RealKernel, UnalignedRegistrationIsInvalidArgument) {
  OPEN_OR_SKIP(uffd, UffdOptions{});
  AnonymousPages pages(2);
  auto range = uffd->Register(pages.start() + 100, kPage, UFFDIO_REGISTER_MODE_MISSING);
  EXPECT_TRUE(absl::IsInvalidArgument(range.status())) << range.status();
}

// ServeOneFault waits for one fault message on `uffd` and fills the page with `fill`.
void ServeOneFault(Userfaultfd& uffd, uint8_t fill, std::atomic<bool>& served) {
  Kernel& kernel = uffd.kernel();
  std::vector<uint8_t> page(kPage, fill);
  while (!served) {
    pollfd pfd = {uffd.fd(), POLLIN, 0};
    auto ready = kernel.Poll({&pfd, 1}, 100);
    ASSERT_TRUE(ready.ok()) << ready.status();
    uffd_msg message;
    auto n = kernel.ReadUffdMessages(uffd.fd(), {&message, 1});
    ASSERT_TRUE(n.ok()) << n.status();
    if (*n == 0) continue;
    ASSERT_EQ(message.event, UFFD_EVENT_PAGEFAULT);
    uint64_t address = message.arg.pagefault.address & ~(kPage - 1);
    UffdIoctlResult result = kernel.UffdCopy(uffd.fd(), address, page.data(), kPage, true);
    ASSERT_EQ(result.error, 0) << std::strerror(result.error);
    ASSERT_EQ(result.bytes, static_cast<int64_t>(kPage));
    served = true;
  }
}

TEST(RealKernel, UserFaultIsServedWithCopyAndASecondCopyIsEexist) {
  OPEN_OR_SKIP(uffd, UffdOptions{});
  AnonymousPages pages(2);
  auto range = uffd->Register(pages.start(), pages.length, UFFDIO_REGISTER_MODE_MISSING);
  ASSERT_TRUE(range.ok()) << range.status();
  std::atomic<bool> served{false};
  std::thread handler([&] { ServeOneFault(*uffd, 0x5a, served); });
  volatile uint8_t* p = static_cast<uint8_t*>(pages.address);
  EXPECT_EQ(p[123], 0x5a);
  handler.join();
  // Copying over a present page is an expected outcome, returned as a value.
  std::vector<uint8_t> page(kPage, 1);
  UffdIoctlResult again = LinuxKernel().UffdCopy(uffd->fd(), pages.start(), page.data(), kPage, true);
  EXPECT_EQ(again.error, EEXIST);
  EXPECT_EQ(again.bytes, 0);
  // A copy spanning a present and a missing page stops at the present one.
  UffdIoctlResult zero = LinuxKernel().UffdZeropage(uffd->fd(), pages.start() + kPage, kPage, true);
  EXPECT_EQ(zero.error, 0);
  EXPECT_EQ(p[kPage + 5], 0);
}

TEST(RealKernel, UserModeOnlyFdDoesNotServeKernelFaults) {
  Kernel& kernel = LinuxKernel();
  auto fd = kernel.UserfaultfdSyscall(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
  if (!fd.ok()) GTEST_SKIP() << "UFFD_USER_MODE_ONLY is not available: " << fd.status();
  uffdio_api api = {UFFD_API, 0, 0};
  ASSERT_TRUE(kernel.UffdApi(fd->get(), &api).ok());
  AnonymousPages pages(1);
  uffdio_register reg = {};
  reg.range = {pages.start(), pages.length};
  reg.mode = UFFDIO_REGISTER_MODE_MISSING;
  ASSERT_TRUE(kernel.UffdRegister(fd->get(), &reg).ok());
  // read(2) into the region faults in the kernel: with a user-mode-only fd that fault
  // is not handed to userspace, so the read fails instead of blocking.
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  ASSERT_EQ(::write(pipe_fds[1], "abc", 3), 3);
  ssize_t n = ::read(pipe_fds[0], pages.address, 3);
  EXPECT_EQ(n, -1);
  EXPECT_EQ(errno, EFAULT);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

TEST(RealKernel, ProbeReportCanRestore) {
  UffdProbeReport report = ProbeUserfaultfd(LinuxKernel(), UffdOptions{});
  if (!report.open_status.ok()) GTEST_SKIP() << report.open_status;
  EXPECT_TRUE(report.can_restore) << report.handshake_status;
  EXPECT_FALSE(report.kernel_release.empty());
}

}  // namespace
}  // namespace lazysnap
