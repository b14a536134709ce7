// Microbenchmarks of the engine's pieces: one fault's round trip through a restore
// session, and one batch of chunk reads through the local chunk source's readers.
//
//   tools/bazel run -c opt //bench:engine_benchmark -- --benchmark_repetitions=3
//
// Named workloads:
//   zero        a snapshot whose chunks are all zero (served with UFFDIO_ZEROPAGE)
//   compressed  a snapshot of synthetic heap-like pages only (every chunk zstd-compressed)
//   cached file 64 MiB of random bytes in the page cache, read at random aligned offsets
// Both snapshots are 32 MiB, written on first use into a scratch directory removed at
// exit, and stay in the page cache: these measure the CPU and kernel path, not storage.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/file_io.h"
#include "bench/scratch_dir.h"
#include "benchmark/benchmark.h"
#include "base/random_access_file.h"
#include "engine/chunk_source.h"
#include "engine/restore_options.h"
#include "engine/restore_session.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/snapshot_writer.h"
#include "workload/synthetic_image.h"

namespace lazysnap {
namespace {

constexpr uint64_t kSnapshotImageBytes = 32 << 20;
constexpr uint64_t kReadFileBytes = 64 << 20;

// MinStatistic adds a "_min" row to --benchmark_repetitions runs: on a shared machine the
// fastest repetition is the one least disturbed.
benchmark::internal::Benchmark* MinStatistic(benchmark::internal::Benchmark* b) {
  return b->ComputeStatistics(
      "min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });
}

// GeneratedImageSource: kSnapshotImageBytes of zeros, or of synthetic heap-like pages only.
class GeneratedImageSource : public ImageSource {
 public:
  explicit GeneratedImageSource(bool zero) : zero_(zero) {}
  std::string name() const override { return zero_ ? "zero image" : "heap-like image"; }
  std::vector<format::Region> regions() const override {
    return {{.image_offset_bytes = 0, .length_bytes = kSnapshotImageBytes}};
  }
  absl::StatusOr<size_t> Read(uint64_t offset, std::span<uint8_t> out) override {
    if (zero_) {
      std::fill(out.begin(), out.end(), 0);
    } else {
      SyntheticImageOptions options;
      options.zero_percent = 0;
      options.random_percent = 0;
      options.repeated_percent = 0;
      FillSyntheticImage(options, offset, out);
    }
    return out.size();
  }
  bool random_access() const override { return true; }
  bool KnownZero(uint64_t, uint64_t) override { return zero_; }

 private:
  bool zero_;
};

// Files: the benchmark inputs, written on first use into one scratch directory that is
// removed at exit.
class Files {
 public:
  static Files& Get() {
    static Files instance;
    return instance;
  }

  absl::StatusOr<std::string> Snapshot(uint32_t chunk_bytes, bool zero) {
    const std::string name = absl::StrFormat("%s-%d.lzsnap", zero ? "zero" : "compressed", chunk_bytes);
    if (auto it = paths_.find(name); it != paths_.end()) return it->second;
    auto dir = Dir();
    if (!dir.ok()) return dir.status();
    const std::string path = (*dir)->File(name);
    GeneratedImageSource source(zero);
    WriterOptions options;
    options.chunk_size_bytes = chunk_bytes;
    auto written = WriteSnapshot(source, path, options);
    if (!written.ok()) return written.status();
    const uint64_t expected = written->chunk_count;
    if ((zero ? written->zero_chunks : written->compressed_chunks) != expected) {
      return absl::InternalError(absl::StrFormat("%s: not every chunk is %s", path,
                                                 zero ? "zero" : "compressed"));
    }
    paths_[name] = path;
    return path;
  }

  absl::StatusOr<std::string> CachedFile() {
    if (auto it = paths_.find("read"); it != paths_.end()) return it->second;
    auto dir = Dir();
    if (!dir.ok()) return dir.status();
    const std::string path = (*dir)->File("read.bin");
    auto fd = OpenFile(path, O_RDWR | O_CREAT | O_TRUNC);
    if (!fd.ok()) return fd.status();
    std::vector<uint8_t> bytes(1 << 20);
    std::mt19937_64 random(7);
    for (uint64_t at = 0; at < kReadFileBytes; at += bytes.size()) {
      for (uint8_t& b : bytes) b = static_cast<uint8_t>(random());
      absl::Status written = PwriteFull(fd->get(), bytes, at, path);
      if (!written.ok()) return written;
    }
    paths_["read"] = path;
    return path;
  }

 private:
  absl::StatusOr<ScratchDir*> Dir() {
    if (!dir_.has_value()) {
      auto dir = ScratchDir::Create();
      if (!dir.ok()) return dir.status();
      dir_.emplace(std::move(*dir));
    }
    return &*dir_;
  }
  std::optional<ScratchDir> dir_;
  std::map<std::string, std::string> paths_;
};

// BM_RestoreSessionFault: one first touch of a chunk per iteration, in a restore session
// over a snapshot in the page cache: the fault, the message or SIGBUS, the read (none
// for zero chunks), decode and checksums, UFFDIO_COPY or UFFDIO_ZEROPAGE, the wake-up.
// Chunks are touched in order at their first page, with readahead off so that every
// touch is a demand fault; when every chunk is installed, a new session is started
// outside the timing. Wall time: the work happens on the serving thread.
void BM_RestoreSessionFault(benchmark::State& state) {
  const uint32_t chunk_bytes = static_cast<uint32_t>(state.range(0)) << 10;
  const bool zero = state.range(1) == 0;
  const bool sigbus = state.range(2) != 0;
  auto path = Files::Get().Snapshot(chunk_bytes, zero);
  if (!path.ok()) return state.SkipWithError(path.status().ToString().c_str());
  RestoreOptions options;
  options.readahead_chunks = 0;
  options.close_mode = CloseMode::kDiscard;
  if (sigbus) options.serving = ServingMode::kSigbus;

  std::unique_ptr<RestoreSession> session;
  const volatile uint8_t* base = nullptr;
  uint64_t chunks = 0;
  uint64_t next = 0;
  uint64_t touches = 0, faults = 0, sessions = 0;
  uint64_t service_p50_ns = 0;
  auto finish = [&] {
    if (session == nullptr) return;
    const RestoreStats stats = session->stats();
    faults += stats.faults;
    service_p50_ns = stats.latency_p50_ns;
    session->Close(CloseMode::kDiscard).IgnoreError();
    session.reset();
  };
  for (auto _ : state) {
    if (next == chunks) {
      state.PauseTiming();
      finish();
      auto reader = SnapshotReader::Open(*path, {.validate_index = false});
      if (!reader.ok()) return state.SkipWithError(reader.status().ToString().c_str());
      chunks = (*reader)->chunk_count();
      auto started = RestoreSession::Start(std::move(*reader), options);
      if (!started.ok()) return state.SkipWithError(started.status().ToString().c_str());
      session = std::move(*started);
      base = session->region_memory(0).data();
      next = 0;
      ++sessions;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(base[next * chunk_bytes]);
    ++next;
    ++touches;
  }
  const std::string reader = session != nullptr ? session->features().reader : "?";
  finish();
  state.SetBytesProcessed(static_cast<int64_t>(touches * chunk_bytes));
  state.counters["faults_per_touch"] = touches == 0 ? 0 : double(faults) / double(touches);
  state.counters["server_p50_us"] = double(service_p50_ns) / 1e3;
  state.SetLabel(absl::StrFormat("%s %s, %s, %d sessions", zero ? "zero" : "compressed",
                                 sigbus ? "sigbus" : "threads", reader, sessions));
}
BENCHMARK(BM_RestoreSessionFault)
    ->Apply([](benchmark::internal::Benchmark* b) { MinStatistic(b); })
    ->ArgNames({"chunk_kib", "compressed", "sigbus"})
    ->ArgsProduct({{16, 64}, {0, 1}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// BM_ChunkReaderReadBatch: one batch of reads of one size at random aligned offsets of a
// file in the page cache, queued, submitted once and all reaped: the local chunk source's
// reader the engine uses, io_uring (pread=0) against the pread fallback (pread=1).
void BM_ChunkReaderReadBatch(benchmark::State& state) {
  const bool use_pread = state.range(0) != 0;
  const uint32_t batch = static_cast<uint32_t>(state.range(1));
  const uint32_t read_bytes = static_cast<uint32_t>(state.range(2)) << 10;
  auto path = Files::Get().CachedFile();
  if (!path.ok()) return state.SkipWithError(path.status().ToString().c_str());
  auto file = LocalFile::Open(*path);
  if (!file.ok()) return state.SkipWithError(file.status().ToString().c_str());
  {
    // Into the page cache.
    std::vector<uint8_t> all(1 << 20);
    for (uint64_t at = 0; at < kReadFileBytes; at += all.size()) {
      if (!(*file)->ReadAt(at, all).ok()) return state.SkipWithError("warming");
    }
  }
  std::shared_ptr<ChunkSource> source =
      NewLocalChunkSource(std::move(*file), {.use_io_uring = !use_pread});
  auto created = source->NewReader(16);
  if (!created.ok()) return state.SkipWithError(created.status().ToString().c_str());
  std::unique_ptr<ChunkReader> reader = std::move(*created);
  if (!use_pread && std::string_view(reader->name()) != "io_uring") {
    return state.SkipWithError("io_uring is unavailable");
  }
  std::vector<std::vector<uint8_t>> buffers(batch, std::vector<uint8_t>(read_bytes));
  std::mt19937_64 random(11);
  std::vector<uint64_t> offsets(4096);
  for (uint64_t& o : offsets) o = random() % (kReadFileBytes / read_bytes) * read_bytes;
  std::vector<ReadCompletion> completions(batch);
  size_t next = 0;
  for (auto _ : state) {
    for (uint32_t i = 0; i < batch; ++i) {
      StoredChunk chunk;
      chunk.file_offset_bytes = offsets[next];
      chunk.stored_length_bytes = read_bytes;
      absl::Status queued = reader->Queue(chunk, 0, buffers[i], i);
      if (!queued.ok()) return state.SkipWithError(queued.ToString().c_str());
      next = (next + 1) % offsets.size();
    }
    absl::Status submitted = reader->Submit();
    if (!submitted.ok()) return state.SkipWithError(submitted.ToString().c_str());
    for (uint32_t done = 0; done < batch;) {
      auto n = reader->Reap({completions.data() + done, batch - done}, /*wait=*/true);
      if (!n.ok()) return state.SkipWithError(n.status().ToString().c_str());
      for (size_t i = done; i < done + *n; ++i) {
        if (completions[i].result != read_bytes) return state.SkipWithError("short read");
      }
      done += static_cast<uint32_t>(*n);
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch * read_bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  state.SetLabel(reader->name());
}
BENCHMARK(BM_ChunkReaderReadBatch)
    ->Apply([](benchmark::internal::Benchmark* b) { MinStatistic(b); })
    ->ArgNames({"pread", "batch", "kib"})
    ->ArgsProduct({{0, 1}, {1, 2, 4, 8, 16}, {16, 64}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace lazysnap
