// ChunkPipeline: locate, read accounting, decode, publish.
#include "engine/internal/chunk_pipeline.h"

#include <cstring>

#include "absl/strings/str_format.h"

namespace lazysnap::internal {

ChunkBuffers::ChunkBuffers(const SnapshotReader& snapshot)
    : stored(new uint8_t[snapshot.max_stored_length_bytes()]),
      scratch(new uint8_t[snapshot.chunk_size_bytes()]) {}

absl::Status ChunkPipeline::Init() {
  auto decoder = ChunkDecoder::Create();
  if (!decoder.ok()) return decoder.status();
  decoder_ = std::make_unique<ChunkDecoder>(std::move(*decoder));
  return absl::OkStatus();
}

ChunkPipeline::StartResult ChunkPipeline::Start(ChunkJob& job, uint64_t chunk, JobKind kind,
                                                uint64_t fault_ns) {
  job.chunk = chunk;
  job.kind = kind;
  job.fault_ns = fault_ns;
  job.bytes_read = 0;
  job.read_into = nullptr;
  job.destination = nullptr;
  // A validated index (SIGBUS mode validates it before serving) makes Locate
  // allocation-free; an error here is a corrupt index segment.
  auto location = ctx_.snapshot.Locate(chunk);
  if (!location.ok()) {
    Refuse(job, [&] { return location.status(); });
    job.state = ChunkJob::State::kFree;
    return StartResult::kRefused;
  }
  job.location = *location;
  if (job.zero()) {
    job.state = ChunkJob::State::kDecoded;
    return StartResult::kZero;
  }
  job.state = ChunkJob::State::kReading;
  return StartResult::kRead;
}

void ChunkPipeline::Attach(ChunkJob& job, ChunkBuffers& buffers) {
  job.destination = ctx_.target.Destination(job.chunk, buffers.scratch.get());
  // A raw chunk's stored bytes are its bytes: read them where they are going, and
  // verify them there.
  job.read_into = job.location.stored.kind == format::ChunkKind::kRaw ? job.destination
                                                                      : buffers.stored.get();
}

std::span<uint8_t> ChunkPipeline::UnreadBytes(const ChunkJob& job) const {
  return {job.read_into + job.bytes_read,
          job.location.stored.stored_length_bytes - job.bytes_read};
}

ChunkPipeline::ReadResult ChunkPipeline::OnRead(ChunkJob& job, int64_t result,
                                                std::string_view detail) {
  const StoredChunk& stored = job.location.stored;
  if (result < 0 || (result == 0 && job.bytes_read < stored.stored_length_bytes)) {
    Refuse(job, [&] {
      std::string reason =
          !detail.empty()  ? std::string(detail)
          : result < 0     ? std::string(std::strerror(static_cast<int>(-result)))
                           : std::string("unexpected end of file");
      return absl::DataLossError(absl::StrFormat("%s: chunk %d: reading %d bytes at offset %d: %s",
                                                 ctx_.source.name(), job.chunk,
                                                 stored.stored_length_bytes,
                                                 stored.file_offset_bytes, reason));
    });
    job.state = ChunkJob::State::kFree;
    return ReadResult::kRefused;
  }
  SessionCounters::Add(ctx_.counters.bytes_read, static_cast<uint64_t>(result));
  job.bytes_read += static_cast<uint32_t>(result);
  if (job.bytes_read < stored.stored_length_bytes) return ReadResult::kMore;
  job.state = ChunkJob::State::kReadDone;
  return ReadResult::kComplete;
}

bool ChunkPipeline::Decode(ChunkJob& job) {
  const StoredChunk& stored = job.location.stored;
  const std::span<const uint8_t> stored_bytes(job.read_into, stored.stored_length_bytes);
  const std::span<uint8_t> out(job.destination, stored.length_bytes);
  const DecompressionDictionary* dictionary = ctx_.snapshot.dictionary(stored.dictionary_slot);
  const DecodeError error = decoder_->DecodeQuietly(stored, stored_bytes, out, dictionary);
  if (error != DecodeError::kNone) {
    // Decode again, only to build the message (failures are rare; the fast path stays
    // free of strings).
    Refuse(job, [&] {
      absl::Status status = decoder_->Decode(stored, stored_bytes, out, dictionary,
                                             ctx_.source.name());
      return status.ok() ? absl::DataLossError(absl::StrFormat(
                               "%s: chunk %d did not decode", ctx_.source.name(), job.chunk))
                         : status;
    });
    job.state = ChunkJob::State::kFree;
    return false;
  }
  if (stored.kind == format::ChunkKind::kCompressed) {
    SessionCounters::Add(ctx_.counters.bytes_decompressed, stored.length_bytes);
  }
  const uint32_t install_length = ctx_.map.InstallLengthOf(job.chunk);
  if (install_length > stored.length_bytes) {
    // A region's last chunk may end inside a page; the rest of that page is zero.
    std::memset(job.destination + stored.length_bytes, 0, install_length - stored.length_bytes);
  }
  job.state = ChunkJob::State::kDecoded;
  return true;
}

ChunkPipeline::PublishResult ChunkPipeline::Publish(ChunkJob& job) {
  // Every event read before this moment is applied before these bytes go in.
  ctx_.barrier.Wait();
  const InstallResult result =
      job.zero() ? ctx_.target.InstallZero(job.chunk) : ctx_.target.Install(job.chunk, job.destination);
  if (!ctx_.FinishInstall(job.chunk, result, quiet_)) return PublishResult::kRetry;
  if (result.outcome == InstallOutcome::kDone) {
    switch (job.kind) {
      case JobKind::kDemand:
        SessionCounters::Add(job.zero() ? ctx_.counters.faults_zero
                                        : ctx_.counters.faults_fetched);
        ctx_.counters.latency.Record(NowNanoseconds() - job.fault_ns);
        break;
      case JobKind::kReadahead:
        SessionCounters::Add(ctx_.counters.chunks_readahead);
        break;
      case JobKind::kBackground:
        SessionCounters::Add(ctx_.counters.chunks_background);
        break;
      case JobKind::kFinish:
        break;
    }
  }
  job.state = ChunkJob::State::kFree;
  return PublishResult::kDone;
}

}  // namespace lazysnap::internal
