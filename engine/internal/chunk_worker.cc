// ChunkWorker: one chunk at a time through the pipeline.
#include "engine/internal/chunk_worker.h"

#include <sched.h>

#include "engine/internal/handler_thread.h"

namespace lazysnap::internal {

ChunkWorker::ChunkWorker(ServingContext& ctx, bool drains_events, int reader)
    : ctx_(ctx), drains_events_(drains_events), barrier_slot_(reader), pipeline_(ctx, false) {}

absl::Status ChunkWorker::Init() {
  auto reader = ctx_.source.NewReader(1);
  if (!reader.ok()) return reader.status();
  reader_ = std::move(*reader);
  buffers_ = std::make_unique<ChunkBuffers>(ctx_.snapshot);
  return pipeline_.Init();
}

void ChunkWorker::DrainEvents() {
  uffd_msg messages[HandlerThread::kMessagesPerRead];
  ctx_.barrier.Enter(barrier_slot_);
  auto n = ctx_.kernel.ReadUffdMessages(ctx_.uffd, messages);
  for (size_t i = 0; n.ok() && i < *n; ++i) {
    if (messages[i].event != UFFD_EVENT_PAGEFAULT) ctx_.HandleEvent(messages[i]);
  }
  ctx_.barrier.Exit(barrier_slot_);
}

bool ChunkWorker::Read(ChunkJob& job) {
  while (true) {
    absl::Status status = reader_->Queue(job.location.stored, job.bytes_read,
                                         pipeline_.UnreadBytes(job), /*tag=*/0);
    if (status.ok()) status = reader_->Submit();
    ReadCompletion completion;
    size_t reaped = 0;
    while (status.ok() && reaped == 0) {
      auto n = reader_->Reap({&completion, 1}, /*wait=*/true);
      if (n.ok()) {
        reaped = *n;
      } else {
        status = n.status();
      }
    }
    const ChunkPipeline::ReadResult result =
        status.ok() ? pipeline_.OnRead(job, completion.result,
                                       completion.result < 0 ? reader_->ErrorDetail(0) : "")
                    : pipeline_.OnRead(job, -EIO, std::string(status.message()));
    if (result != ChunkPipeline::ReadResult::kMore) {
      return result == ChunkPipeline::ReadResult::kComplete;
    }
  }
}

bool ChunkWorker::Serve(uint64_t chunk, JobKind kind, bool include_zero) {
  if (ctx_.gone.load(std::memory_order_relaxed)) return false;
  if (ctx_.map.state(chunk) != kAbsent) return true;
  if (!include_zero) {
    // Look before claiming, so that a zero chunk is left to the zeros memory has anyway.
    auto location = ctx_.snapshot.Locate(chunk);
    if (location.ok() && location->stored.kind == format::ChunkKind::kZero) return true;
  }
  if (!ctx_.map.TryClaim(chunk)) return true;
  ChunkJob job;
  switch (pipeline_.Start(job, chunk, kind, NowNanoseconds())) {
    case ChunkPipeline::StartResult::kRefused:
      return true;
    case ChunkPipeline::StartResult::kZero:
      break;
    case ChunkPipeline::StartResult::kRead:
      pipeline_.Attach(job, *buffers_);
      if (!Read(job) || !pipeline_.Decode(job)) return true;
      break;
  }
  while (pipeline_.Publish(job) == ChunkPipeline::PublishResult::kRetry) {
    // An event is pending: it must be read before the kernel lets installs through.
    if (drains_events_) DrainEvents();
    sched_yield();
  }
  return !ctx_.gone.load(std::memory_order_relaxed);
}

}  // namespace lazysnap::internal
