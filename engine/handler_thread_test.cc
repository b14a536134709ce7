// The serving policy of handler threads, driven step by step against a fake kernel that
// delivers fault and event messages and a fake chunk source that holds, fails, shortens
// or corrupts reads: joining an in-flight chunk, readahead and demand-before-readahead,
// EAGAIN / EEXIST / ENOENT / ESRCH, REMOVE ordering, refused chunks, and the bound on held
// faults (backpressure, not overflow). No real userfaultfd is involved: these run
// anywhere, deterministically.
#include "engine/internal/handler_thread.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_format.h"

#include "engine/fake_chunk_source.h"
#include "engine/fake_kernel.h"
#include "engine/internal/copy_install_target.h"
#include "snapshot_format/snapshot_writer.h"
#include "snapshot_format/test_util.h"

namespace lazysnap::internal {
namespace {

using testing::Fill;

constexpr uint64_t kBase = 0x7f0000000000;
constexpr uint32_t kChunk = 16384;

// Harness: one handler thread over a snapshot, a FakeKernel and a FakeChunkSource.
class Harness {
 public:
  Harness(uint64_t chunks, const std::vector<Fill>& pattern, RestoreOptions options = {})
      : kernel_({.name = "6.18", .supported = kKnownFeatures}), options_(std::move(options)) {
    image_ = testing::MixedImage(chunks * kChunk, kChunk, pattern, 5);
    testing::MemoryImageSource source(image_, {{0, image_.size(), 0}});
    const std::string path = testing::TempPath("handler.lzs");
    WriterOptions writer;
    writer.chunk_size_bytes = kChunk;
    writer.train_dictionary.dictionary_size_bytes = 0;
    EXPECT_TRUE(WriteSnapshot(source, path, writer).ok());
    auto reader = SnapshotReader::Open(path);
    EXPECT_TRUE(reader.ok()) << reader.status();
    reader_ = std::move(*reader);
    source_ = std::make_shared<FakeChunkSource>(reader_->file());
    auto uffd = kernel_.UserfaultfdSyscall(0);
    EXPECT_TRUE(uffd.ok());
    uffd_ = std::move(*uffd);
    stop_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    map_ = std::make_unique<ChunkMap>(*reader_, std::vector<uint64_t>{kBase}, kernel_.PageSize());
    target_ = std::make_unique<CopyInstallTarget>(kernel_, uffd_.get(), *map_, counters_,
                                                  RangeCapability::kYes, RangeCapability::kYes);
    ServingSetup setup;
    setup.kernel = &kernel_;
    setup.uffd = uffd_.get();
    setup.snapshot = reader_.get();
    setup.source = source_.get();
    setup.map = map_.get();
    setup.target = target_.get();
    setup.counters = &counters_;
    setup.options = &options_;
    setup.stop_fd = stop_.get();
    setup.readers = 1;
    auto context = ServingContext::Create(setup);
    EXPECT_TRUE(context.ok());
    context_ = std::move(*context);
    handler_ = std::make_unique<HandlerThread>(*context_, 0);
    EXPECT_TRUE(handler_->Init().ok());
  }

  FakeKernel& kernel() { return kernel_; }
  FakeChunkSource& source() { return *source_; }
  HandlerThread& handler() { return *handler_; }
  ServingContext& context() { return *context_; }
  const ChunkMap& map() const { return *map_; }
  RestoreStats stats() const { return counters_.Snapshot(); }
  int uffd() const { return uffd_.get(); }

  uint64_t Address(uint64_t chunk, uint64_t offset = 0) const {
    return kBase + chunk * kChunk + offset;
  }
  void Fault(uint64_t chunk, uint64_t offset = 0, uint64_t flags = 0) {
    kernel_.PushFault(uffd_.get(), Address(chunk, offset), flags);
  }
  // Settle steps until a pass makes no progress and nothing is held back by a test.
  void Settle() {
    for (int i = 0; i < 10000 && (handler_->Step() || handler_->Busy()); ++i) {
      if (source_->HeldCount() > 0) return;
    }
  }
  // ChunkIsRestored: every page of `chunk` is present with the image's bytes.
  bool ChunkIsRestored(uint64_t chunk) const {
    const uint64_t page = kernel_.PageSize();
    for (uint64_t at = 0; at < kChunk; at += page) {
      auto bytes = kernel_.PageBytes(Address(chunk, at));
      if (!bytes.has_value() ||
          !std::equal(bytes->begin(), bytes->end(), image_.begin() + chunk * kChunk + at)) {
        return false;
      }
    }
    return true;
  }
  // Copies counts the UFFDIO_COPY calls that started at `chunk`.
  int CopiesOf(uint64_t chunk) const {
    const std::string prefix = absl::StrFormat("copy 0x%x ", Address(chunk));
    int n = 0;
    for (const std::string& entry : kernel_.RangeLog()) n += entry.rfind(prefix, 0) == 0;
    return n;
  }

 private:
  mutable FakeKernel kernel_;
  RestoreOptions options_;
  std::vector<uint8_t> image_;
  std::shared_ptr<const SnapshotReader> reader_;
  std::shared_ptr<FakeChunkSource> source_;
  UniqueFd uffd_;
  UniqueFd stop_;
  std::unique_ptr<ChunkMap> map_;
  SessionCounters counters_;
  std::unique_ptr<CopyInstallTarget> target_;
  std::unique_ptr<ServingContext> context_;
  std::unique_ptr<HandlerThread> handler_;
};

RestoreOptions NoReadahead() {
  RestoreOptions options;
  options.readahead_chunks = 0;
  return options;
}

TEST(HandlerThread, FaultOnAnAbsentChunkReadsDecodesAndInstallsIt) {
  Harness h(8, {Fill::kText}, NoReadahead());
  h.Fault(2, 5000);
  h.Settle();
  EXPECT_TRUE(h.ChunkIsRestored(2));
  EXPECT_EQ(h.map().state(2), kInstalled);
  EXPECT_EQ(h.source().ReadOrder(), std::vector<uint64_t>{2});
  const RestoreStats stats = h.stats();
  EXPECT_EQ(stats.faults, 1u);
  EXPECT_EQ(stats.faults_fetched, 1u);
  EXPECT_EQ(stats.chunks_installed, 1u);
  EXPECT_EQ(stats.latency_p50_ns > 0, true);
  EXPECT_FALSE(h.handler().Busy());
}

TEST(HandlerThread, FaultsOnAnInFlightChunkJoinItAndCostOneRead) {
  Harness h(8, {Fill::kText}, NoReadahead());
  h.source().Hold();
  h.Fault(1, 0);
  h.Fault(1, 4096);
  h.Fault(1, 3 * 4096 + 7);
  h.handler().Step();
  EXPECT_EQ(h.map().state(1), kInFlight);
  EXPECT_EQ(h.stats().faults_joined, 2u);
  EXPECT_EQ(h.handler().held_faults(), 2u);
  h.source().Release();
  h.Settle();
  EXPECT_TRUE(h.ChunkIsRestored(1));
  EXPECT_EQ(h.source().ReadOrder().size(), 1u);
  EXPECT_EQ(h.CopiesOf(1), 1);
  EXPECT_EQ(h.handler().held_faults(), 0u);
  // The joined faults were looked at again: their pages were present, so they only woke.
  EXPECT_GE(h.stats().copy_eexist, 2u);
}

TEST(HandlerThread, SequentialFaultsReadAheadAndDemandIsServedFirst) {
  RestoreOptions options;
  options.readahead_chunks = 3;
  options.reads_in_flight = 8;
  Harness h(32, {Fill::kText}, options);
  for (uint64_t chunk = 0; chunk < 2; ++chunk) {
    h.Fault(chunk);
    h.Settle();
  }
  EXPECT_EQ(h.stats().chunks_readahead, 0u);
  // Chunk 2 follows a run of 2 installed chunks: 3 and 4 are read ahead. Their reads and
  // a demand fault on chunk 20 complete together.
  h.source().Hold();
  h.Fault(2);
  h.handler().Step();
  h.Fault(20);
  h.handler().Step();
  EXPECT_EQ(h.source().ReadOrder(), (std::vector<uint64_t>{0, 1, 2, 3, 4, 20}));
  h.source().Release();
  h.handler().Step();
  // One pass installed both demand chunks and left the readahead chunks to be decoded
  // when a pass finds no demand work.
  EXPECT_TRUE(h.ChunkIsRestored(2));
  EXPECT_TRUE(h.ChunkIsRestored(20));
  EXPECT_EQ(h.map().state(3), kInFlight);
  EXPECT_EQ(h.map().state(4), kInFlight);
  h.Settle();
  for (uint64_t chunk : {3, 4}) EXPECT_TRUE(h.ChunkIsRestored(chunk)) << chunk;
  EXPECT_EQ(h.stats().chunks_readahead, 2u);
  EXPECT_EQ(h.stats().faults_fetched, 4u);
  std::vector<std::string> log = h.kernel().RangeLog();
  auto position = [&](uint64_t chunk) {
    const std::string entry = absl::StrFormat("copy 0x%x %d", h.Address(chunk), kChunk);
    return std::find(log.begin(), log.end(), entry) - log.begin();
  };
  EXPECT_LT(position(20), position(3));
  EXPECT_LT(position(20), position(4));
}

TEST(HandlerThread, ChangingMappingsRetryTheInstallWithoutReadingAgain) {
  Harness h(4, {Fill::kText}, NoReadahead());
  // EAGAIN without progress: an event is pending. The pass that decoded the chunk tries
  // again once (its retry step) and keeps the decoded chunk for a later pass.
  h.kernel().ScriptRange("copy", {EAGAIN, 0});
  h.kernel().ScriptRange("copy", {EAGAIN, 0});
  h.Fault(1);
  h.handler().Step();
  EXPECT_EQ(h.stats().copy_eagain, 2u);
  EXPECT_EQ(h.map().state(1), kInFlight);
  EXPECT_TRUE(h.handler().Busy());
  h.Settle();
  EXPECT_TRUE(h.ChunkIsRestored(1));
  EXPECT_EQ(h.CopiesOf(1), 3);
  EXPECT_EQ(h.source().ReadOrder().size(), 1u) << "a retried install does not read again";
}

TEST(HandlerThread, PartialCopyAndPresentPagesFillTheRest) {
  Harness h(4, {Fill::kText}, NoReadahead());
  // A page of chunk 2 is present already (another path installed it).
  std::vector<uint8_t> other(4096, 0x5A);
  ASSERT_EQ(h.kernel().UffdCopy(h.uffd(), h.Address(2, 8192), other.data(), 4096, true).error, 0);
  h.Fault(2);
  h.Settle();
  EXPECT_EQ(h.stats().copy_eexist, 1u);
  EXPECT_EQ(*h.kernel().PageBytes(h.Address(2, 8192)), other) << "a present page is left alone";
  EXPECT_EQ(h.map().state(2), kInstalled);
}

TEST(HandlerThread, RemoveReadBeforeTheFaultLeavesThosePagesZero) {
  Harness h(4, {Fill::kText}, NoReadahead());
  h.kernel().PushRemove(h.uffd(), h.Address(1, 4096), h.Address(1, 2 * 4096));
  h.Fault(1);
  h.Settle();
  EXPECT_EQ(h.stats().events_remove, 1u);
  EXPECT_EQ(*h.kernel().PageBytes(h.Address(1, 4096)), std::vector<uint8_t>(4096, 0));
  EXPECT_TRUE(h.kernel().PageBytes(h.Address(1, 0)).has_value());
  EXPECT_EQ(h.map().state(1), kInstalled);
  // A later fault on the dropped page of an installed chunk is served zeros.
  h.kernel().Zap(h.Address(1, 0), 4096);
  h.kernel().PushRemove(h.uffd(), h.Address(1, 0), h.Address(1, 4096));
  h.Fault(1, 10);
  h.Settle();
  EXPECT_EQ(h.stats().faults_after_remove, 1u);
  EXPECT_EQ(*h.kernel().PageBytes(h.Address(1, 0)), std::vector<uint8_t>(4096, 0));
}

TEST(HandlerThread, UnmappedRangeIsGoneAndExitedProcessEndsServing) {
  Harness h(4, {Fill::kText}, NoReadahead());
  // The embedder unmapped chunk 0 (the event marks it removed: it would be zero-filled).
  h.kernel().PushRemove(h.uffd(), h.Address(0), h.Address(1));
  h.kernel().ScriptRange("zero", {ENOENT, 0});
  h.Fault(0);
  h.Settle();
  EXPECT_EQ(h.map().state(0), kInstalled);
  EXPECT_FALSE(h.context().gone.load()) << "an unmapped range is not the process gone";
  h.kernel().ScriptRange("copy", {ESRCH, 0});
  h.Fault(2);
  h.Settle();
  EXPECT_TRUE(h.context().gone.load());
  EXPECT_TRUE(h.context().first_error().ok()) << h.context().first_error();
}

TEST(HandlerThread, ReadErrorRefusesAndPoisonsTheChunkNamingSourceChunkAndReason) {
  Harness h(4, {Fill::kText}, NoReadahead());
  h.source().SetRule(2, {.error = EIO});
  h.Fault(2);
  h.Settle();
  EXPECT_EQ(h.map().state(2), kFailed);
  EXPECT_TRUE(h.kernel().IsPoisoned(h.Address(2)));
  EXPECT_FALSE(h.kernel().PageBytes(h.Address(2)).has_value());
  const absl::Status error = h.context().first_error();
  EXPECT_TRUE(absl::IsDataLoss(error)) << error;
  EXPECT_NE(error.message().find("chunk 2"), std::string::npos) << error;
  EXPECT_NE(error.message().find(h.source().name()), std::string::npos) << error;
  EXPECT_NE(error.message().find("Input/output error"), std::string::npos) << error;
  EXPECT_NE(error.message().find("poisoned"), std::string::npos) << error;
  EXPECT_EQ(h.stats().chunks_failed, 1u);
}

TEST(HandlerThread, ShortReadsAreContinuedUntilTheChunkIsWhole) {
  Harness h(4, {Fill::kRandom}, NoReadahead());
  h.source().SetRule(1, {.max_bytes_per_read = 1000});
  h.Fault(1);
  h.Settle();
  EXPECT_TRUE(h.ChunkIsRestored(1));
  EXPECT_GT(h.source().ReadOrder().size(), 10u);
}

TEST(HandlerThread, CorruptBytesAreNeverInstalled) {
  for (Fill fill : {Fill::kText, Fill::kRandom}) {  // a compressed and a raw chunk
    Harness h(4, {fill}, NoReadahead());
    h.source().SetRule(3, {.corrupt = true});
    h.Fault(3);
    h.Settle();
    EXPECT_EQ(h.map().state(3), kFailed);
    EXPECT_FALSE(h.kernel().PageBytes(h.Address(3)).has_value());
    EXPECT_TRUE(absl::IsDataLoss(h.context().first_error())) << h.context().first_error();
    EXPECT_NE(h.context().first_error().message().find("checksum"), std::string::npos)
        << h.context().first_error();
  }
}

TEST(HandlerThread, ZeroChunksNeedNoRead) {
  Harness h(4, {Fill::kText, Fill::kZero}, NoReadahead());
  h.Fault(1);
  h.Settle();
  EXPECT_TRUE(h.source().ReadOrder().empty());
  EXPECT_EQ(h.stats().faults_zero, 1u);
  EXPECT_EQ(*h.kernel().PageBytes(h.Address(1, 4096)), std::vector<uint8_t>(4096, 0));
}

TEST(HandlerThread, FaultOutsideTheSnapshotReadsZeros) {
  Harness h(4, {Fill::kText}, NoReadahead());
  h.kernel().PushFault(h.uffd(), h.Address(9));
  h.Settle();
  EXPECT_EQ(h.stats().faults_outside, 1u);
  EXPECT_EQ(*h.kernel().PageBytes(h.Address(9)), std::vector<uint8_t>(4096, 0));
}

TEST(HandlerThread, FaultFlagsReachThePolicy) {
  Harness h(4, {Fill::kText}, NoReadahead());
  h.Fault(0, 0, UFFD_PAGEFAULT_FLAG_WRITE);
  h.Fault(1, 0, 0);
  h.Settle();
  EXPECT_EQ(h.stats().faults, 2u);
  EXPECT_EQ(h.stats().faults_write, 1u);
}

TEST(HandlerThread, ForkEventOfAHandedOverUserfaultfdDoesNotLeakItsDescriptor) {
  // A VMM that negotiated EVENT_FORK hands over a descriptor per fork: it is closed.
  Harness h(2, {Fill::kText}, NoReadahead());
  const int fd = ::eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  uffd_msg message = {};
  message.event = UFFD_EVENT_FORK;
  message.arg.fork.ufd = static_cast<uint32_t>(fd);
  h.kernel().PushMessage(h.uffd(), message);
  h.Settle();
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "the forked userfaultfd was left open";
  EXPECT_EQ(errno, EBADF);
}

TEST(HandlerThread, HeldFaultsStayBoundedAndNoneIsLost) {
  // Thousands of faults on distinct chunks while reads are stalled: the handler holds at
  // most kHeldFaults of them and leaves the rest queued in the kernel; once reads
  // complete, every one is served.
  RestoreOptions options = NoReadahead();
  options.reads_in_flight = 2;
  const uint64_t chunks = 2000;
  Harness h(chunks, {Fill::kText, Fill::kRecords}, options);
  h.source().Hold();
  for (uint64_t chunk = 0; chunk < chunks; ++chunk) h.Fault(chunk, 123);
  for (int i = 0; i < 200; ++i) {
    h.handler().Step();
    ASSERT_LE(h.handler().held_faults(), HandlerThread::kHeldFaults);
  }
  EXPECT_GT(h.kernel().PendingMessages(h.uffd()), chunks - HandlerThread::kHeldFaults - 16);
  h.source().Release();
  h.Settle();
  EXPECT_EQ(h.kernel().PendingMessages(h.uffd()), 0u);
  EXPECT_FALSE(h.handler().Busy());
  for (uint64_t chunk = 0; chunk < chunks; ++chunk) {
    ASSERT_TRUE(h.ChunkIsRestored(chunk)) << chunk;
  }
  EXPECT_EQ(h.stats().faults_fetched, chunks);
}

TEST(HandlerThread, RunServesUntilStoppedThenFinishesItsWork) {
  // The real loop (spin, then poll) over the fake kernel's pollable descriptors.
  RestoreOptions options;
  options.spin_before_sleep_us = 0;
  Harness h(64, {Fill::kText, Fill::kZero, Fill::kRecords}, options);
  std::thread runner([&] { h.handler().Run(); });
  for (uint64_t chunk = 0; chunk < 64; ++chunk) h.Fault(chunk, 99);
  for (int i = 0; i < 5000 && h.stats().chunks_installed < 64; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  h.context().stopping.store(true);
  ASSERT_EQ(h.kernel().SignalEventFd(h.context().stop_fd).code(), absl::StatusCode::kOk);
  runner.join();
  EXPECT_EQ(h.stats().chunks_installed, 64u);
  for (uint64_t chunk = 0; chunk < 64; ++chunk) EXPECT_TRUE(h.ChunkIsRestored(chunk)) << chunk;
}

}  // namespace
}  // namespace lazysnap::internal
