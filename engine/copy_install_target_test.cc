// CopyInstallTarget decisions against a scripted kernel: what happens on each outcome of the
// userfaultfd range ioctls (EEXIST, partial EAGAIN, EAGAIN without progress, ENOENT,
// ESRCH, an unexpected errno), how dropped pages split an install, and what a handed-over range allows learned from
// the first attempt.
#include "engine/internal/copy_install_target.h"

#include <deque>

#include <gtest/gtest.h>

#include "engine/fake_kernel.h"
#include "snapshot_format/snapshot_writer.h"
#include "snapshot_format/test_util.h"

namespace lazysnap::internal {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kBase = 0x7f0000000000;

struct Call {
  std::string op;
  uint64_t start;
  uint64_t length;
};

// ScriptedKernel answers range ioctls from a script (then success) and records them.
class ScriptedKernel : public ForwardingKernel {
 public:
  std::deque<UffdIoctlResult> script;
  std::vector<Call> calls;

  UffdIoctlResult Next(const char* op, uint64_t start, uint64_t length) {
    calls.push_back({op, start, length});
    if (script.empty()) return {0, static_cast<int64_t>(length)};
    UffdIoctlResult r = script.front();
    script.pop_front();
    return r;
  }
  UffdIoctlResult UffdCopy(int, uint64_t dst, const void*, uint64_t length, bool) override {
    return Next("copy", dst, length);
  }
  UffdIoctlResult UffdZeropage(int, uint64_t start, uint64_t length, bool) override {
    return Next("zero", start, length);
  }
  UffdIoctlResult UffdPoison(int, uint64_t start, uint64_t length, bool) override {
    return Next("poison", start, length);
  }
  absl::Status UffdWake(int, uint64_t start, uint64_t length) override {
    calls.push_back({"wake", start, length});
    return absl::OkStatus();
  }
};

class CopyInstallTargetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<uint8_t> image(4 * 65536, 7);
    testing::MemoryImageSource source(image, {{0, image.size(), 0}});
    std::string path = testing::TempPath("installer.lzs");
    WriterOptions options;
    options.chunk_size_bytes = 65536;
    ASSERT_TRUE(WriteSnapshot(source, path, options).ok());
    auto reader = SnapshotReader::Open(path);
    ASSERT_TRUE(reader.ok());
    reader_ = std::move(*reader);
    map_ = std::make_unique<ChunkMap>(*reader_, std::vector<uint64_t>{kBase}, kPage);
    bytes_.assign(65536, 1);
  }

  CopyInstallTarget Make(bool can_zeropage = true) {
    return Make(can_zeropage ? RangeCapability::kYes : RangeCapability::kNo, RangeCapability::kYes);
  }
  CopyInstallTarget Make(RangeCapability zeropage, RangeCapability poison) {
    return CopyInstallTarget(kernel_, /*uffd=*/-1, *map_, counters_, zeropage, poison);
  }

  ScriptedKernel kernel_;
  SessionCounters counters_;
  std::unique_ptr<SnapshotReader> reader_;
  std::unique_ptr<ChunkMap> map_;
  std::vector<uint8_t> bytes_;
};

TEST_F(CopyInstallTargetTest, PresentPageIsSkippedAndTheRestFilled) {
  kernel_.script = {{EEXIST, 0}};
  InstallResult r = Make().Install(1, bytes_.data());
  EXPECT_EQ(r.outcome, InstallOutcome::kDone);
  ASSERT_EQ(kernel_.calls.size(), 2u);
  EXPECT_EQ(kernel_.calls[0].start, kBase + 65536);
  EXPECT_EQ(kernel_.calls[1].start, kBase + 65536 + kPage);
  EXPECT_EQ(kernel_.calls[1].length, 65536 - kPage);
  EXPECT_EQ(counters_.copy_eexist.load(), 1u);
}

TEST_F(CopyInstallTargetTest, PartialCopyContinuesWhereItStopped) {
  kernel_.script = {{EAGAIN, 3 * kPage}, {EEXIST, 0}};
  InstallResult r = Make().Install(0, bytes_.data());
  EXPECT_EQ(r.outcome, InstallOutcome::kDone);
  ASSERT_EQ(kernel_.calls.size(), 3u);
  EXPECT_EQ(kernel_.calls[1].start, kBase + 3 * kPage);
  EXPECT_EQ(kernel_.calls[2].start, kBase + 4 * kPage);
  EXPECT_EQ(kernel_.calls[2].length, 65536 - 4 * kPage);
}

TEST_F(CopyInstallTargetTest, ChangingMappingsAskForARetry) {
  kernel_.script = {{EAGAIN, 0}};
  InstallResult r = Make().Install(0, bytes_.data());
  EXPECT_EQ(r.outcome, InstallOutcome::kRetry);
  EXPECT_EQ(kernel_.calls.size(), 1u);
  EXPECT_EQ(counters_.copy_eagain.load(), 1u);
}

TEST_F(CopyInstallTargetTest, UnmappedRangeOrExitedProcessIsGone) {
  for (int error : {ENOENT, ESRCH}) {
    kernel_.script = {{error, 0}};
    EXPECT_EQ(Make().Install(0, bytes_.data()).outcome, InstallOutcome::kGone) << error;
  }
}

TEST_F(CopyInstallTargetTest, UnexpectedErrorNamesTheOperationAndAddress) {
  kernel_.script = {{EAGAIN, kPage}, {EFAULT, 0}};
  InstallResult r = Make().Install(2, bytes_.data());
  ASSERT_EQ(r.outcome, InstallOutcome::kError);
  const std::string message(r.status.message());
  EXPECT_NE(message.find("UFFDIO_COPY at 0x7f0000021000"), std::string::npos) << message;
  EXPECT_NE(message.find("EFAULT"), std::string::npos) << message;
}

TEST_F(CopyInstallTargetTest, DroppedPagesAreZeroedNotCopied) {
  map_->MarkRemoved(kBase + 65536 + 2 * kPage, kBase + 65536 + 4 * kPage);
  InstallResult r = Make().Install(1, bytes_.data());
  EXPECT_EQ(r.outcome, InstallOutcome::kDone);
  ASSERT_EQ(kernel_.calls.size(), 3u);
  EXPECT_EQ(kernel_.calls[0].op, "copy");
  EXPECT_EQ(kernel_.calls[0].length, 2 * kPage);
  EXPECT_EQ(kernel_.calls[1].op, "zero");
  EXPECT_EQ(kernel_.calls[1].start, kBase + 65536 + 2 * kPage);
  EXPECT_EQ(kernel_.calls[1].length, 2 * kPage);
  EXPECT_EQ(kernel_.calls[2].op, "copy");
  EXPECT_EQ(kernel_.calls[2].start, kBase + 65536 + 4 * kPage);
}

TEST_F(CopyInstallTargetTest, RangesWithoutZeropageGetCopiesOfZeros) {
  InstallResult r = Make(/*can_zeropage=*/false).InstallZero(3);
  EXPECT_EQ(r.outcome, InstallOutcome::kDone);
  ASSERT_EQ(kernel_.calls.size(), 1u);
  EXPECT_EQ(kernel_.calls[0].op, "copy");
  EXPECT_EQ(kernel_.calls[0].length, 65536u);
}

TEST_F(CopyInstallTargetTest, ZeroPageWakesEvenWhenThePageWasPresent) {
  kernel_.script = {{EEXIST, 0}};
  InstallResult r = Make().ZeroPage(kBase + 5 * kPage);
  EXPECT_EQ(r.outcome, InstallOutcome::kDone);
  ASSERT_EQ(kernel_.calls.size(), 2u);
  EXPECT_EQ(kernel_.calls[1].op, "wake");
  EXPECT_EQ(kernel_.calls[1].start, kBase + 5 * kPage);
}

TEST(ChunkMap, AddressesChunksAndDroppedPages) {
  std::vector<uint8_t> image(10 * 65536, 3);
  testing::MemoryImageSource source(image, {{0, 3 * 65536 + 100, 0}, {4 * 65536, 5 * 65536, 0}});
  std::string path = testing::TempPath("map.lzs");
  WriterOptions options;
  options.chunk_size_bytes = 65536;
  ASSERT_TRUE(WriteSnapshot(source, path, options).ok());
  auto reader = SnapshotReader::Open(path);
  ASSERT_TRUE(reader.ok());
  // Region 1 placed below region 0.
  ChunkMap map(**reader, {0x20000000, 0x10000000}, kPage);
  uint64_t chunk;
  ASSERT_TRUE(map.ChunkAt(0x20000000 + 3 * 65536 + 10, &chunk));
  EXPECT_EQ(chunk, 3u);  // the partial last chunk of region 0
  EXPECT_EQ(map.InstallLengthOf(3), kPage);  // 100 bytes, rounded up to a page
  EXPECT_FALSE(map.ChunkAt(0x20000000 + 3 * 65536 + kPage, &chunk));  // past the region
  ASSERT_TRUE(map.ChunkAt(0x10000000 + 65536, &chunk));
  EXPECT_EQ(chunk, 5u);
  EXPECT_EQ(map.AddressOf(5), 0x10000000u + 65536);
  EXPECT_FALSE(map.ChunkAt(0x0fffffff, &chunk));
  EXPECT_TRUE(map.TryClaim(5));
  EXPECT_FALSE(map.TryClaim(5));
  EXPECT_EQ(map.state(5), kInFlight);
  map.MarkRemoved(0x10000000 + 65536 + kPage, 0x10000000 + 65536 + 2 * kPage);
  EXPECT_TRUE(map.IsRemoved(0x10000000 + 65536 + kPage));
  EXPECT_FALSE(map.IsRemoved(0x10000000 + 65536));
  EXPECT_TRUE(map.AnyRemoved(0x10000000 + 65536, 65536));
  EXPECT_FALSE(map.AnyRemoved(0x20000000, 3 * 65536));
}

TEST_F(CopyInstallTargetTest, HandedOverRangeLearnsThatZeropageIsRefused) {
  // A handed-over range whose registration lazysnap never saw: ZEROPAGE refused with
  // EINVAL means zeros are copied, then and from then on.
  CopyInstallTarget target = Make(RangeCapability::kUnknown, RangeCapability::kUnknown);
  kernel_.script.push_back({EINVAL, 0});
  InstallResult r = target.InstallZero(3);
  EXPECT_EQ(r.outcome, InstallOutcome::kDone);
  ASSERT_EQ(kernel_.calls.size(), 2u);
  EXPECT_EQ(kernel_.calls[0].op, "zero");
  EXPECT_EQ(kernel_.calls[1].op, "copy");
  kernel_.calls.clear();
  EXPECT_EQ(target.InstallZero(2).outcome, InstallOutcome::kDone);
  ASSERT_EQ(kernel_.calls.size(), 1u);
  EXPECT_EQ(kernel_.calls[0].op, "copy");
}

TEST_F(CopyInstallTargetTest, HandedOverRangeLearnsThatPoisonIsRefused) {
  CopyInstallTarget target = Make(RangeCapability::kUnknown, RangeCapability::kUnknown);
  EXPECT_TRUE(target.can_poison());
  kernel_.script.push_back({EINVAL, 0});
  EXPECT_EQ(target.Poison(1).outcome, InstallOutcome::kError);
  EXPECT_FALSE(target.can_poison());
  kernel_.calls.clear();
  EXPECT_EQ(target.Poison(1).outcome, InstallOutcome::kError);
  EXPECT_TRUE(kernel_.calls.empty()) << "a refused POISON is not tried again";
}

TEST_F(CopyInstallTargetTest, KnownZeropageIsNotGivenUpOnAnError) {
  // Where the registration said ZEROPAGE is allowed, EINVAL is an error, not a lesson.
  kernel_.script.push_back({EINVAL, 0});
  EXPECT_EQ(Make().InstallZero(3).outcome, InstallOutcome::kError);
}

}  // namespace
}  // namespace lazysnap::internal
