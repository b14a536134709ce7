// DecodeImage: chunks claimed in small runs from a shared counter by each thread.
#include "snapshot_format/image_decoder.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/atomic_file.h"
#include "base/errno_status.h"
#include "base/file_io.h"
#include "base/status_macros.h"

namespace lazysnap {
namespace {

constexpr uint64_t kChunksPerClaim = 16;

// FirstFailure keeps the failure of the lowest-numbered chunk.
class FirstFailure {
 public:
  void Record(uint64_t chunk, absl::Status status) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (chunk < chunk_) {
      chunk_ = chunk;
      status_ = std::move(status);
      limit_.store(chunk, std::memory_order_relaxed);
    }
  }
  // limit: chunks at or after it need not be decoded any more.
  uint64_t limit() const { return limit_.load(std::memory_order_relaxed); }
  absl::Status status() {
    std::lock_guard<std::mutex> lock(mutex_);
    return status_;
  }

 private:
  std::mutex mutex_;
  uint64_t chunk_ = std::numeric_limits<uint64_t>::max();
  absl::Status status_;
  std::atomic<uint64_t> limit_{std::numeric_limits<uint64_t>::max()};
};

}  // namespace

absl::StatusOr<DecodeImageSummary> DecodeImage(const SnapshotReader& reader,
                                               const DecodeImageOptions& options,
                                               const ChunkSink& sink) {
  const auto start = std::chrono::steady_clock::now();
  const int threads = options.threads > 0
                          ? options.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const uint64_t chunk_count = reader.chunk_count();
  std::atomic<uint64_t> next_chunk{0};
  std::atomic<uint64_t> bytes_done{0};
  std::atomic<uint64_t> stored_done{0};
  FirstFailure failure;

  auto work = [&]() {
    auto decoder = ChunkDecoder::Create();
    if (!decoder.ok()) return failure.Record(0, decoder.status());
    std::vector<uint8_t> scratch;
    std::vector<uint8_t> chunk_bytes(reader.chunk_size_bytes());
    while (true) {
      uint64_t first = next_chunk.fetch_add(kChunksPerClaim, std::memory_order_relaxed);
      if (first >= chunk_count || first >= failure.limit()) return;
      uint64_t last = std::min(chunk_count, first + kChunksPerClaim);
      uint64_t batch_bytes = 0;
      for (uint64_t chunk = first; chunk < last && chunk < failure.limit(); ++chunk) {
        auto located = reader.Locate(chunk);
        if (!located.ok()) {
          failure.Record(chunk, located.status());
          break;
        }
        const ChunkLocation& location = *located;
        batch_bytes += location.stored.length_bytes;
        if (location.stored.kind == format::ChunkKind::kZero && !options.include_zero_chunks) {
          continue;
        }
        std::span<uint8_t> out(chunk_bytes.data(), location.stored.length_bytes);
        absl::Status status = reader.ReadChunk(chunk, *decoder, scratch, out);
        if (!status.ok()) {
          // Where the bad bytes belong in the image, for whoever compares with it.
          status = absl::Status(
              status.code(),
              absl::StrFormat("%s [chunk %d holds image offset %d (0x%x) to %d, region %d]",
                              status.message(), chunk, location.image_offset_bytes,
                              location.image_offset_bytes,
                              location.image_offset_bytes + location.stored.length_bytes,
                              location.region_index));
        }
        if (status.ok()) status = sink(location, out);
        if (!status.ok()) {
          failure.Record(chunk, std::move(status));
          break;
        }
        stored_done.fetch_add(location.stored.stored_length_bytes, std::memory_order_relaxed);
      }
      uint64_t done = bytes_done.fetch_add(batch_bytes, std::memory_order_relaxed) + batch_bytes;
      if (options.progress) options.progress(done, reader.memory_size_bytes());
    }
  };
  std::vector<std::thread> workers;
  for (int i = 1; i < threads; ++i) workers.emplace_back(work);
  work();
  for (std::thread& t : workers) t.join();
  LAZYSNAP_RETURN_IF_ERROR(failure.status());

  DecodeImageSummary summary;
  summary.chunks = chunk_count;
  summary.image_bytes = reader.memory_size_bytes();
  summary.stored_bytes = stored_done.load();
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

absl::StatusOr<DecodeImageSummary> ExtractImage(const SnapshotReader& reader,
                                                std::string_view path,
                                                const DecodeImageOptions& options) {
  LAZYSNAP_ASSIGN_OR_RETURN(AtomicFile file, AtomicFile::Create(path));
  // Sizing the file first leaves every byte that is never written (zero chunks, holes
  // between regions) as a sparse hole that reads as zero.
  if (::ftruncate(file.fd(), static_cast<off_t>(reader.image_size_bytes())) != 0) {
    return ErrnoToStatus(errno, absl::StrFormat("ftruncate %s to %d bytes", file.temp_path(),
                                                reader.image_size_bytes()));
  }
  DecodeImageOptions decode_options = options;
  decode_options.include_zero_chunks = false;
  const int fd = file.fd();
  const std::string temp_path = file.temp_path();
  LAZYSNAP_ASSIGN_OR_RETURN(
      DecodeImageSummary summary,
      DecodeImage(reader, decode_options,
                  [&](const ChunkLocation& location, std::span<const uint8_t> bytes) {
                    return PwriteFull(fd, bytes, location.image_offset_bytes, temp_path);
                  }));
  LAZYSNAP_RETURN_IF_ERROR(file.Commit());
  return summary;
}

}  // namespace lazysnap
