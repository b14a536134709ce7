// Microbenchmarks of the snapshot format: compressing and decoding single chunks across
// chunk sizes and zstd levels, looking up chunks in the index, and opening a large
// snapshot ("time to ready", with and without validating the whole index).
//
//   tools/bazel run -c opt //bench:chunk_codec_benchmark -- --benchmark_filter=Decode
//
// Chunk contents come from the synthetic memory-like image (workload/synthetic_image.h):
// a fixed sample of 32 MiB taken as 1 MiB pieces spread over a 1 GiB image, cut into
// chunks, all-zero chunks left out (the writer stores those as nothing).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/checksum.h"
#include "bench/scratch_dir.h"
#include "benchmark/benchmark.h"
#include "snapshot_format/chunk_codec.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/snapshot_writer.h"
#include "workload/synthetic_image.h"

namespace lazysnap {
namespace {

constexpr uint64_t kSamplePieceBytes = 1 << 20;
constexpr uint64_t kSamplePieces = 32;
constexpr uint64_t kSampleStrideBytes = uint64_t{32} << 20;  // pieces spread over 1 GiB

// ChunkSample: the non-zero chunks of the sample, cut at one chunk size.
struct ChunkSample {
  uint32_t chunk_size_bytes = 0;
  std::vector<std::vector<uint8_t>> chunks;
  std::vector<uint64_t> checksums;
  uint64_t total_bytes = 0;
};

// Sample returns the sample for `chunk_size_bytes`. Benchmarks run argument by argument,
// so one cached sample (the last one asked for) avoids regenerating it on every call
// without holding all of them.
const ChunkSample& Sample(uint32_t chunk_size_bytes) {
  static ChunkSample* cached = nullptr;
  if (cached != nullptr && cached->chunk_size_bytes == chunk_size_bytes) return *cached;
  delete cached;
  cached = new ChunkSample;
  cached->chunk_size_bytes = chunk_size_bytes;
  SyntheticImageOptions options;
  // A chunk larger than a piece is taken whole from the piece's offset.
  const uint64_t piece_bytes = std::max<uint64_t>(kSamplePieceBytes, chunk_size_bytes);
  for (uint64_t piece = 0; piece < kSamplePieces; ++piece) {
    for (uint64_t at = 0; at < piece_bytes; at += chunk_size_bytes) {
      std::vector<uint8_t> chunk(chunk_size_bytes);
      FillSyntheticImage(options, piece * kSampleStrideBytes + at, chunk);
      if (IsAllZero(chunk)) continue;
      cached->checksums.push_back(Checksum64(chunk));
      cached->total_bytes += chunk.size();
      cached->chunks.push_back(std::move(chunk));
    }
  }
  return *cached;
}

// CompressedSample: every chunk of a sample compressed at one level.
struct CompressedSample {
  uint32_t chunk_size_bytes = 0;
  int level = 0;
  std::vector<std::vector<uint8_t>> frames;
  std::vector<uint64_t> frame_checksums;
  uint64_t total_compressed_bytes = 0;
};

absl::StatusOr<const CompressedSample*> Compressed(uint32_t chunk_size_bytes, int level) {
  static CompressedSample* cached = nullptr;
  if (cached != nullptr && cached->chunk_size_bytes == chunk_size_bytes &&
      cached->level == level) {
    return cached;
  }
  delete cached;
  cached = nullptr;
  const ChunkSample& sample = Sample(chunk_size_bytes);
  auto compressor = ChunkCompressor::Create(level);
  if (!compressor.ok()) return compressor.status();
  auto result = std::make_unique<CompressedSample>();
  result->chunk_size_bytes = chunk_size_bytes;
  result->level = level;
  std::vector<uint8_t> buffer(MaxCompressedSize(chunk_size_bytes));
  for (const std::vector<uint8_t>& chunk : sample.chunks) {
    auto n = compressor->Compress(chunk, buffer, nullptr);
    if (!n.ok()) return n.status();
    result->frames.emplace_back(buffer.begin(), buffer.begin() + *n);
    result->frame_checksums.push_back(Checksum64(result->frames.back()));
    result->total_compressed_bytes += *n;
  }
  cached = result.release();
  return cached;
}

std::string RatioLabel(const ChunkSample& sample, const CompressedSample& compressed) {
  return absl::StrFormat("ratio=%.3f chunks=%d",
                         static_cast<double>(sample.total_bytes) /
                             static_cast<double>(compressed.total_compressed_bytes),
                         sample.chunks.size());
}

// MinStatistic adds a "_min" row to --benchmark_repetitions runs: on a shared machine the
// fastest repetition is the one least disturbed. (It is applied to every counter, so the
// bytes_per_second of that row is the slowest rate; take the rate from the time.)
benchmark::internal::Benchmark* MinStatistic(benchmark::internal::Benchmark* b) {
  return b->ComputeStatistics(
      "min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });
}

void ChunkSizeByLevelArgs(benchmark::internal::Benchmark* b) {
  MinStatistic(b);
  b->ArgNames({"chunk", "level"});
  b->ArgsProduct({{4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20}, {-5, -3, -1, 1, 3, 6}});
}

// BM_ChunkCodecEncode: one chunk compressed per iteration, cycling through the sample.
void BM_ChunkCodecEncode(benchmark::State& state) {
  const uint32_t chunk_size = static_cast<uint32_t>(state.range(0));
  const int level = static_cast<int>(state.range(1));
  const ChunkSample& sample = Sample(chunk_size);
  auto compressed = Compressed(chunk_size, level);
  if (!compressed.ok()) return state.SkipWithError(compressed.status().ToString().c_str());
  auto compressor = ChunkCompressor::Create(level);
  if (!compressor.ok()) return state.SkipWithError(compressor.status().ToString().c_str());
  std::vector<uint8_t> output(MaxCompressedSize(chunk_size));
  size_t next = 0;
  uint64_t bytes = 0;
  for (auto _ : state) {
    const std::vector<uint8_t>& chunk = sample.chunks[next];
    auto n = compressor->Compress(chunk, output, nullptr);
    if (!n.ok()) return state.SkipWithError(n.status().ToString().c_str());
    benchmark::DoNotOptimize(*n);
    bytes += chunk.size();
    if (++next == sample.chunks.size()) next = 0;
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetLabel(RatioLabel(sample, **compressed));
}
BENCHMARK(BM_ChunkCodecEncode)->Apply(ChunkSizeByLevelArgs);

// BM_ChunkCodecDecode: one frame decoded and both checksums verified per iteration, as the
// engine does on a page fault (the read is not included).
void BM_ChunkCodecDecode(benchmark::State& state) {
  const uint32_t chunk_size = static_cast<uint32_t>(state.range(0));
  const int level = static_cast<int>(state.range(1));
  const ChunkSample& sample = Sample(chunk_size);
  auto compressed = Compressed(chunk_size, level);
  if (!compressed.ok()) return state.SkipWithError(compressed.status().ToString().c_str());
  const CompressedSample& frames = **compressed;
  auto decoder = ChunkDecoder::Create();
  if (!decoder.ok()) return state.SkipWithError(decoder.status().ToString().c_str());
  std::vector<uint8_t> out(chunk_size);
  size_t next = 0;
  uint64_t bytes = 0;
  for (auto _ : state) {
    StoredChunk chunk;
    chunk.chunk_number = next;
    chunk.kind = format::ChunkKind::kCompressed;
    chunk.stored_length_bytes = static_cast<uint32_t>(frames.frames[next].size());
    chunk.length_bytes = chunk_size;
    chunk.checksum = sample.checksums[next];
    chunk.stored_checksum = frames.frame_checksums[next];
    absl::Status status =
        decoder->Decode(chunk, frames.frames[next], out, nullptr, "benchmark sample");
    if (!status.ok()) return state.SkipWithError(status.ToString().c_str());
    benchmark::DoNotOptimize(out.data());
    bytes += chunk_size;
    if (++next == frames.frames.size()) next = 0;
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetLabel(RatioLabel(sample, frames));
}
BENCHMARK(BM_ChunkCodecDecode)->Apply(ChunkSizeByLevelArgs);

// SparseImageSource: a 16 GiB image that is almost all zero, with one 64 KiB piece of
// synthetic data every 64 MiB, generated on the fly. (A sparse file would do too, but
// reading its holes fills 16 GiB of page cache with zero pages.)
constexpr uint64_t kSparseImageBytes = uint64_t{16} << 30;
constexpr uint64_t kSparseDataStrideBytes = uint64_t{64} << 20;
constexpr uint64_t kSparseDataBytes = 64 << 10;

class SparseImageSource : public ImageSource {
 public:
  std::string name() const override { return "sparse 16 GiB image"; }
  std::vector<format::Region> regions() const override {
    format::Region region;
    region.length_bytes = kSparseImageBytes;
    return {region};
  }
  absl::StatusOr<size_t> Read(uint64_t image_offset_bytes, std::span<uint8_t> out) override {
    std::memset(out.data(), 0, out.size());
    SyntheticImageOptions options;
    options.zero_percent = 0;
    const uint64_t end = image_offset_bytes + out.size();
    // Pieces start at multiples of the stride; fill the part of each that overlaps `out`.
    for (uint64_t piece = image_offset_bytes / kSparseDataStrideBytes * kSparseDataStrideBytes;
         piece < end; piece += kSparseDataStrideBytes) {
      const uint64_t from = std::max(piece, image_offset_bytes);
      const uint64_t to = std::min(piece + kSparseDataBytes, end);
      if (from >= to) continue;
      FillSyntheticImage(options, from, out.subspan(from - image_offset_bytes, to - from));
    }
    return out.size();
  }
  bool random_access() const override { return true; }
};

// SparseSnapshots: snapshots of SparseImageSource, one per chunk size, written on first
// use into a scratch directory that is removed at exit.
class SparseSnapshots {
 public:
  // Get returns the one instance; it is destroyed at exit, removing the scratch directory.
  static SparseSnapshots& Get() {
    static SparseSnapshots instance;
    return instance;
  }

  // Path returns the snapshot with `chunk_size_bytes`, writing it on first use.
  absl::StatusOr<std::string> Path(uint32_t chunk_size_bytes) {
    if (auto it = paths_.find(chunk_size_bytes); it != paths_.end()) return it->second;
    if (!dir_.has_value()) {
      auto dir = ScratchDir::Create();
      if (!dir.ok()) return dir.status();
      dir_.emplace(std::move(*dir));
    }
    const std::string path = dir_->File(absl::StrFormat("sparse-%d.lzsnap", chunk_size_bytes));
    SparseImageSource source;
    WriterOptions options;
    options.chunk_size_bytes = chunk_size_bytes;
    auto written = WriteSnapshot(source, path, options);
    if (!written.ok()) return written.status();
    paths_[chunk_size_bytes] = path;
    return path;
  }

 private:
  std::optional<ScratchDir> dir_;
  std::map<uint32_t, std::string> paths_;
};

// BM_SnapshotReaderOpen: time to ready for a 16 GiB image: Open with the whole index
// validated (validate=1) or with only the tables read (validate=0, segments are then
// validated on first use).
void BM_SnapshotReaderOpen(benchmark::State& state) {
  const uint32_t chunk_size = static_cast<uint32_t>(state.range(0));
  const bool validate = state.range(1) != 0;
  auto path = SparseSnapshots::Get().Path(chunk_size);
  if (!path.ok()) return state.SkipWithError(path.status().ToString().c_str());
  uint64_t chunks = 0;
  for (auto _ : state) {
    auto reader = SnapshotReader::Open(*path, OpenOptions{.validate_index = validate});
    if (!reader.ok()) return state.SkipWithError(reader.status().ToString().c_str());
    chunks = (*reader)->chunk_count();
    benchmark::DoNotOptimize(reader->get());
  }
  state.SetLabel(absl::StrFormat("image=16GiB chunks=%d index=%dKiB", chunks,
                                 chunks * format::kIndexEntrySizeBytes >> 10));
}
BENCHMARK(BM_SnapshotReaderOpen)
    ->Apply([](benchmark::internal::Benchmark* b) { MinStatistic(b); })
    ->ArgNames({"chunk", "validate"})
    ->ArgsProduct({{16 << 10, 32 << 10, 64 << 10, 256 << 10}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// BM_SnapshotReaderLocate: index lookups of random chunk numbers on an opened snapshot of
// the 16 GiB image whose index is already validated (the steady state of a restore).
void BM_SnapshotReaderLocate(benchmark::State& state) {
  const uint32_t chunk_size = static_cast<uint32_t>(state.range(0));
  auto path = SparseSnapshots::Get().Path(chunk_size);
  if (!path.ok()) return state.SkipWithError(path.status().ToString().c_str());
  auto reader = SnapshotReader::Open(*path);
  if (!reader.ok()) return state.SkipWithError(reader.status().ToString().c_str());
  const uint64_t chunks = (*reader)->chunk_count();
  std::mt19937_64 random(42);
  std::vector<uint64_t> wanted(1 << 16);
  for (uint64_t& chunk : wanted) chunk = random() % chunks;
  size_t next = 0;
  for (auto _ : state) {
    auto location = (*reader)->Locate(wanted[next]);
    if (!location.ok()) return state.SkipWithError(location.status().ToString().c_str());
    benchmark::DoNotOptimize(location->stored.file_offset_bytes);
    next = (next + 1) & (wanted.size() - 1);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(absl::StrFormat("chunks=%d", chunks));
}
BENCHMARK(BM_SnapshotReaderLocate)
    ->Apply([](benchmark::internal::Benchmark* b) { MinStatistic(b); })
    ->ArgName("chunk")
    ->Arg(16 << 10)
    ->Arg(32 << 10)
    ->Arg(64 << 10)
    ->Arg(256 << 10);

}  // namespace
}  // namespace lazysnap
