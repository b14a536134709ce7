// The chunk pipeline between its two seams, with fakes on both sides: a FakeChunkSource
// under it and a FakeInstallTarget over it (no kernel memory involved). Covers where
// decoded bytes go (the target's own memory for in-place targets), zero padding, the
// quiet (signal-safe) failure path, and install outcomes.
#include "engine/internal/chunk_pipeline.h"

#include <gtest/gtest.h>

#include "engine/fake_chunk_source.h"
#include "engine/fake_kernel.h"
#include "engine/internal/chunk_worker.h"
#include "engine/internal/fake_install_target.h"
#include "snapshot_format/snapshot_writer.h"
#include "snapshot_format/test_util.h"

namespace lazysnap::internal {
namespace {

using testing::Fill;

constexpr uint64_t kBase = 0x7f0000000000;
constexpr uint32_t kChunk = 16384;

class PipelineTest : public ::testing::Test {
 protected:
  // Make writes an image of `pattern` chunks (the last one `tail_bytes` long when not 0)
  // and builds a context whose install target is a FakeInstallTarget.
  void Make(const std::vector<Fill>& pattern, uint64_t chunks, bool in_place,
            uint64_t tail_bytes = 0) {
    const uint64_t length = (tail_bytes == 0 ? chunks : chunks - 1) * kChunk + tail_bytes;
    image_ = testing::MixedImage(length, kChunk, pattern, 3);
    testing::MemoryImageSource source(image_, {{0, length, 0}});
    const std::string path = testing::TempPath("pipeline.lzs");
    WriterOptions writer;
    writer.chunk_size_bytes = kChunk;
    ASSERT_TRUE(WriteSnapshot(source, path, writer).ok());
    auto reader = SnapshotReader::Open(path);
    ASSERT_TRUE(reader.ok()) << reader.status();
    reader_ = std::move(*reader);
    source_ = std::make_shared<FakeChunkSource>(reader_->file());
    map_ = std::make_unique<ChunkMap>(*reader_, std::vector<uint64_t>{kBase}, 4096);
    target_ = std::make_unique<FakeInstallTarget>(*map_, in_place);
    ServingSetup setup;
    setup.kernel = &kernel_;
    setup.snapshot = reader_.get();
    setup.source = source_.get();
    setup.map = map_.get();
    setup.target = target_.get();
    setup.counters = &counters_;
    setup.options = &options_;
    auto context = ServingContext::Create(setup);
    ASSERT_TRUE(context.ok());
    context_ = std::move(*context);
  }

  // ServeAll serves every chunk with a ChunkWorker (the synchronous server).
  void ServeAll() {
    ChunkWorker worker(*context_, /*drains_events=*/false, /*reader=*/0);
    ASSERT_TRUE(worker.Init().ok());
    for (uint64_t chunk = 0; chunk < map_->chunk_count(); ++chunk) {
      ASSERT_TRUE(worker.Serve(chunk, JobKind::kFinish, /*include_zero=*/true));
    }
  }

  std::vector<uint8_t> ExpectedInstall(uint64_t chunk) const {
    std::vector<uint8_t> bytes(map_->InstallLengthOf(chunk), 0);
    const uint64_t start = chunk * kChunk;
    const uint64_t end = std::min<uint64_t>(start + kChunk, image_.size());
    std::copy(image_.begin() + start, image_.begin() + end, bytes.begin());
    return bytes;
  }

  FakeKernel kernel_{{.name = "6.18", .supported = kKnownFeatures}};
  RestoreOptions options_;
  std::vector<uint8_t> image_;
  std::shared_ptr<const SnapshotReader> reader_;
  std::shared_ptr<FakeChunkSource> source_;
  std::unique_ptr<ChunkMap> map_;
  SessionCounters counters_;
  std::unique_ptr<FakeInstallTarget> target_;
  std::unique_ptr<ServingContext> context_;
};

TEST_F(PipelineTest, InPlaceTargetGetsEveryChunkDecodedIntoItsOwnMemory) {
  Make({Fill::kText, Fill::kRandom, Fill::kZero, Fill::kCopyOfFirstText, Fill::kRecords}, 10,
       /*in_place=*/true);
  ServeAll();
  for (uint64_t chunk = 0; chunk < map_->chunk_count(); ++chunk) {
    EXPECT_EQ(target_->Installed(chunk), ExpectedInstall(chunk)) << chunk;
  }
  // Compressed, raw and duplicate chunks were all decoded (or read) straight into the
  // target's memory: nothing was copied from a private buffer. Zero chunks have none.
  EXPECT_EQ(target_->installs_from_destination(), 8);
  EXPECT_EQ(counters_.Snapshot().chunks_installed, 10u);
}

TEST_F(PipelineTest, CopyTargetGetsBytesFromThePrivateBuffer) {
  Make({Fill::kText, Fill::kRandom, Fill::kZero}, 6, /*in_place=*/false);
  ServeAll();
  for (uint64_t chunk = 0; chunk < map_->chunk_count(); ++chunk) {
    EXPECT_EQ(target_->Installed(chunk), ExpectedInstall(chunk)) << chunk;
  }
}

TEST_F(PipelineTest, LastChunkIsZeroPaddedToTheEndOfItsPage) {
  Make({Fill::kRandom}, 3, /*in_place=*/true, /*tail_bytes=*/5000);
  ServeAll();
  EXPECT_EQ(map_->InstallLengthOf(2), 8192u);
  EXPECT_EQ(target_->Installed(2), ExpectedInstall(2));
}

TEST_F(PipelineTest, QuietPipelineRefusesWithoutAMessageAndReportsItLater) {
  Make({Fill::kText}, 4, /*in_place=*/false);
  source_->SetRule(1, {.corrupt = true});
  ChunkPipeline pipeline(*context_, /*quiet=*/true);
  ASSERT_TRUE(pipeline.Init().ok());
  ChunkBuffers buffers(*reader_);
  ASSERT_TRUE(map_->TryClaim(1));
  ChunkJob job;
  ASSERT_EQ(pipeline.Start(job, 1, JobKind::kDemand, 0), ChunkPipeline::StartResult::kRead);
  pipeline.Attach(job, buffers);
  ASSERT_EQ(pipeline.OnRead(job, source_->ReadQuietly(job.location.stored,
                                                      pipeline.UnreadBytes(job))),
            ChunkPipeline::ReadResult::kComplete);
  EXPECT_FALSE(pipeline.Decode(job));
  EXPECT_EQ(map_->state(1), kFailed);
  EXPECT_TRUE(target_->Poisoned(1));
  EXPECT_TRUE(context_->first_error().ok()) << "nothing may be reported from a signal handler";
  // The fake source corrupts every read of chunk 1, so the report finds the cause again.
  context_->ReportRefused();
  const absl::Status error = context_->first_error();
  EXPECT_TRUE(absl::IsDataLoss(error)) << error;
  EXPECT_NE(error.message().find("chunk 1 "), std::string::npos) << error;
  EXPECT_NE(error.message().find("checksum"), std::string::npos) << error;
}

TEST_F(PipelineTest, InstallErrorRefusesAndRetryIsPublishedAgain) {
  Make({Fill::kText}, 4, /*in_place=*/false);
  target_->Script({InstallOutcome::kRetry, {}});
  target_->Script({InstallOutcome::kError, absl::ResourceExhaustedError("ENOMEM (fake)")});
  ChunkPipeline pipeline(*context_, /*quiet=*/false);
  ASSERT_TRUE(pipeline.Init().ok());
  ChunkBuffers buffers(*reader_);
  ASSERT_TRUE(map_->TryClaim(0));
  ChunkJob job;
  ASSERT_EQ(pipeline.Start(job, 0, JobKind::kDemand, 0), ChunkPipeline::StartResult::kRead);
  pipeline.Attach(job, buffers);
  ASSERT_EQ(pipeline.OnRead(job, source_->ReadQuietly(job.location.stored,
                                                      pipeline.UnreadBytes(job))),
            ChunkPipeline::ReadResult::kComplete);
  ASSERT_TRUE(pipeline.Decode(job));
  EXPECT_EQ(pipeline.Publish(job), ChunkPipeline::PublishResult::kRetry);
  EXPECT_EQ(map_->state(0), kInFlight);
  EXPECT_EQ(pipeline.Publish(job), ChunkPipeline::PublishResult::kDone);
  EXPECT_EQ(map_->state(0), kFailed);
  EXPECT_TRUE(absl::IsResourceExhausted(context_->first_error())) << context_->first_error();
  EXPECT_TRUE(target_->Installed(0).empty());
}

TEST_F(PipelineTest, ReadErrorDetailFromTheSourceReachesTheMessage) {
  Make({Fill::kText}, 2, /*in_place=*/false);
  ChunkPipeline pipeline(*context_, /*quiet=*/false);
  ASSERT_TRUE(pipeline.Init().ok());
  ChunkBuffers buffers(*reader_);
  ASSERT_TRUE(map_->TryClaim(1));
  ChunkJob job;
  ASSERT_EQ(pipeline.Start(job, 1, JobKind::kDemand, 0), ChunkPipeline::StartResult::kRead);
  pipeline.Attach(job, buffers);
  EXPECT_EQ(pipeline.OnRead(job, -EIO, "HTTP 503 from https://example.invalid/vm.lzs"),
            ChunkPipeline::ReadResult::kRefused);
  EXPECT_NE(context_->first_error().message().find("HTTP 503"), std::string::npos)
      << context_->first_error();
}

}  // namespace
}  // namespace lazysnap::internal
