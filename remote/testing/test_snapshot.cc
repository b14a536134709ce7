// Test snapshots and chunk reads through a ChunkReader.
#include "remote/testing/test_snapshot.h"

#include <poll.h>

#include "snapshot_format/snapshot_writer.h"
#include "snapshot_format/test_util.h"

namespace lazysnap::remote::testing {

absl::StatusOr<TestSnapshot> MakeTestSnapshot(const std::string& path, uint64_t image_bytes,
                                              uint32_t chunk_bytes, uint64_t seed) {
  using lazysnap::testing::Fill;
  TestSnapshot snapshot;
  snapshot.path = path;
  snapshot.image = lazysnap::testing::MixedImage(
      image_bytes, chunk_bytes,
      {Fill::kRecords, Fill::kText, Fill::kZero, Fill::kRecords, Fill::kRandom,
       Fill::kCopyOfFirstText, Fill::kRecords},
      seed);
  lazysnap::testing::MemoryImageSource source(
      snapshot.image, {format::Region{.image_offset_bytes = 0, .length_bytes = image_bytes}});
  WriterOptions options;
  options.chunk_size_bytes = chunk_bytes;
  options.page_size_bytes = 4096;
  auto written = WriteSnapshot(source, path, options);
  if (!written.ok()) return written.status();
  return snapshot;
}

std::vector<uint64_t> StoredChunksOf(const SnapshotReader& snapshot) {
  std::vector<uint64_t> chunks;
  for (uint64_t c = 0; c < snapshot.chunk_count(); ++c) {
    auto location = snapshot.Locate(c);
    if (location.ok() && location->stored.kind != format::ChunkKind::kZero) chunks.push_back(c);
  }
  return chunks;
}

absl::StatusOr<std::vector<ChunkReadResult>> ReadChunksThrough(
    ChunkSource& source, const SnapshotReader& snapshot, const std::vector<uint64_t>& chunks,
    uint32_t in_flight) {
  auto reader = source.NewReader(in_flight);
  if (!reader.ok()) return reader.status();
  std::vector<ChunkReadResult> results(chunks.size());
  size_t next = 0;
  size_t done = 0;
  uint32_t outstanding = 0;
  std::vector<ReadCompletion> completions(in_flight);
  while (done < chunks.size()) {
    bool queued = false;
    while (next < chunks.size() && outstanding < in_flight) {
      auto location = snapshot.Locate(chunks[next]);
      if (!location.ok()) return location.status();
      results[next].bytes.resize(location->stored.stored_length_bytes);
      absl::Status q = (*reader)->Queue(location->stored, 0, results[next].bytes, next);
      if (!q.ok()) return q;
      ++next;
      ++outstanding;
      queued = true;
    }
    if (queued) {
      absl::Status submitted = (*reader)->Submit();
      if (!submitted.ok()) return submitted;
    }
    if ((*reader)->poll_fd() >= 0) {
      pollfd p = {(*reader)->poll_fd(), POLLIN, 0};
      if (::poll(&p, 1, 30000) != 1) {
        return absl::DeadlineExceededError("poll_fd did not become readable in 30 s");
      }
    }
    auto n = (*reader)->Reap(completions, /*wait=*/false);
    if (!n.ok()) return n.status();
    for (size_t i = 0; i < *n; ++i) {
      ChunkReadResult& r = results[completions[i].tag];
      r.result = completions[i].result;
      r.detail = std::string((*reader)->ErrorDetail(completions[i].tag));
      --outstanding;
      ++done;
    }
  }
  return results;
}

SnapshotLocationOptions QuickRetryOptions(const std::string& cache_dir, uint32_t group) {
  SnapshotLocationOptions options;
  options.cache_directory = cache_dir;
  options.source.group_chunks = group;
  options.file.fetch.max_attempts = 2;
  options.file.fetch.backoff_initial_ms = 1;
  options.file.fetch.stall_timeout_ms = 1000;
  options.file.fetch.connect_timeout_ms = 2000;
  return options;
}

}  // namespace lazysnap::remote::testing
