// format_sweep: the measurements behind the writer's default chunk size and zstd level.
//
// Named workloads:
//   synthetic  a generated memory-like image (workload/synthetic_image.h: about 40% zero
//              pages, structured heap-like pages, repeated pages, 10% random pages),
//              --synthetic_mib long (default 1024); skipped with --synthetic_mib=0
//   --image    any raw memory image file given on the command line
//
// For every image, chunk size and level it measures: the snapshot's size (against the raw
// image and against the whole image compressed as one zstd -3 stream by the zstd CLI),
// create throughput (WriteSnapshot on all threads, including its fsync), verify
// throughput (DecodeImage on all threads over an opened, index-validated reader) and the
// single-thread latency of decoding each non-zero chunk (ChunkDecoder::Decode with both
// checksums, from bytes already read; the pread is timed separately). Each measurement is
// repeated --repeat times, the whole sweep once per repetition so that slow phases of a
// noisy machine spread over all settings; the best (minimum time; for decode latency, the
// statistics over each chunk's best time) and the median over repetitions are
// reported. Output: a markdown table on stdout and, with --csv, one CSV row per setting.
//
//   tools/bazel run -c opt //bench:format_sweep -- --tmpdir /dev/shm --csv /tmp/sweep.csv
//
// Units: MB = 10^6 bytes, GB = 10^9 bytes, MiB = 2^20 bytes.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "base/file_io.h"
#include "base/status_macros.h"
#include "bench/scratch_dir.h"
#include "snapshot_format/chunk_codec.h"
#include "snapshot_format/image_decoder.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/snapshot_writer.h"
#include "workload/synthetic_image.h"

namespace lazysnap {
namespace {

constexpr char kUsage[] =
    "usage: format_sweep [--image PATH] [--synthetic_mib N] [--chunk_kib 16,32,...]\n"
    "                    [--levels -5,-3,...] [--repeat N] [--threads N] [--tmpdir DIR]\n"
    "                    [--csv PATH]\n";

struct Flags {
  std::string image;                 // an extra raw image; empty for none
  uint64_t synthetic_mib = 1024;     // 0: no synthetic image
  std::vector<int> chunk_kib = {16, 32, 64, 128, 256};
  std::vector<int> levels = {-5, -3, -1, 1, 3};
  int repeat = 3;
  int threads = 0;                   // create and verify threads; 0 = one per CPU
  std::string tmpdir;                // empty: $TMPDIR or /tmp
  std::string csv;                   // empty: no CSV
};

absl::StatusOr<std::vector<int>> ParseIntList(std::string_view flag, std::string_view text) {
  std::vector<int> values;
  size_t at = 0;
  while (at <= text.size()) {
    size_t comma = text.find(',', at);
    if (comma == std::string_view::npos) comma = text.size();
    std::string item(text.substr(at, comma - at));
    char* end = nullptr;
    long value = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0') {
      return absl::InvalidArgumentError(
          absl::StrFormat("--%s: '%s' is not a comma-separated list of integers", std::string(flag),
                          std::string(text)));
    }
    values.push_back(static_cast<int>(value));
    at = comma + 1;
  }
  return values;
}

absl::StatusOr<int64_t> ParseInt(std::string_view flag, std::string_view text) {
  std::string copy(text);
  char* end = nullptr;
  long long value = std::strtoll(copy.c_str(), &end, 10);
  if (copy.empty() || *end != '\0' || value < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--%s: '%s' is not a non-negative integer", std::string(flag),
                        std::string(text)));
  }
  return value;
}

absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      return absl::InvalidArgumentError(kUsage);
    }
    if (arg.substr(0, 2) != "--") {
      return absl::InvalidArgumentError(absl::StrFormat("unexpected argument '%s'\n%s", std::string(arg), kUsage));
    }
    std::string_view name = arg.substr(2);
    std::string_view value;
    if (size_t eq = name.find('='); eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrFormat("--%s needs a value\n%s", std::string(name), kUsage));
    }
    if (name == "image") {
      flags.image = std::string(value);
    } else if (name == "synthetic_mib") {
      LAZYSNAP_ASSIGN_OR_RETURN(int64_t v, ParseInt(name, value));
      flags.synthetic_mib = static_cast<uint64_t>(v);
    } else if (name == "chunk_kib") {
      LAZYSNAP_ASSIGN_OR_RETURN(flags.chunk_kib, ParseIntList(name, value));
    } else if (name == "levels") {
      LAZYSNAP_ASSIGN_OR_RETURN(flags.levels, ParseIntList(name, value));
    } else if (name == "repeat") {
      LAZYSNAP_ASSIGN_OR_RETURN(int64_t v, ParseInt(name, value));
      flags.repeat = static_cast<int>(std::max<int64_t>(1, v));
    } else if (name == "threads") {
      LAZYSNAP_ASSIGN_OR_RETURN(int64_t v, ParseInt(name, value));
      flags.threads = static_cast<int>(v);
    } else if (name == "tmpdir") {
      flags.tmpdir = std::string(value);
    } else if (name == "csv") {
      flags.csv = std::string(value);
    } else {
      return absl::InvalidArgumentError(absl::StrFormat("unknown flag --%s\n%s", std::string(name), kUsage));
    }
  }
  if (flags.image.empty() && flags.synthetic_mib == 0) {
    return absl::InvalidArgumentError("nothing to measure: give --image or --synthetic_mib > 0");
  }
  return flags;
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// ProcessCpuSeconds is the user + system time of all threads of this process so far. On a
// machine shared with other work, throughput per CPU-second varies far less than
// throughput per wall-second.
double ProcessCpuSeconds() {
  rusage usage = {};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// ShellQuote wraps `text` in single quotes for /bin/sh.
std::string ShellQuote(std::string_view text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

struct WholeFileBaseline {
  uint64_t compressed_bytes = 0;
  double seconds = 0;
};

// WholeFileZstd3 compresses the whole image as one stream with the zstd command-line tool
// at level 3 and all its defaults (`zstd -3 -c IMAGE | wc -c`). It also warms the page
// cache with the image.
absl::StatusOr<WholeFileBaseline> WholeFileZstd3(const std::string& image) {
  const std::string command = "zstd -3 -q -c -- " + ShellQuote(image) + " | wc -c";
  const auto start = std::chrono::steady_clock::now();
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("popen: " + command);
  char line[64] = {};
  const bool got_line = std::fgets(line, sizeof(line), pipe) != nullptr;
  const int status = ::pclose(pipe);
  WholeFileBaseline baseline;
  baseline.seconds = Seconds(std::chrono::steady_clock::now() - start);
  char* end = nullptr;
  baseline.compressed_bytes = std::strtoull(line, &end, 10);
  if (!got_line || status != 0 || baseline.compressed_bytes == 0) {
    return absl::InternalError(absl::StrFormat(
        "'%s' failed (exit status %d, output '%s'); is the zstd tool installed?", command,
        status, line));
  }
  return baseline;
}

// One measurement of one setting.
struct Sample {
  double create_seconds = 0;
  double create_cpu_seconds = 0;  // all threads of this process
  double verify_seconds = 0;
  double verify_cpu_seconds = 0;
  double decode_mean_us = 0;
  double decode_p99_us = 0;
  double decode_gbps = 0;
  double read_mean_us = 0;
};

struct Setting {
  std::string image_name;
  std::string image_path;
  uint64_t image_bytes = 0;
  uint64_t zstd3_bytes = 0;
  uint32_t chunk_bytes = 0;
  int level = 0;
  WriteSummary written;  // from the last repetition (sizes and counts do not vary)
  std::vector<Sample> samples;
  // Decode time of each non-zero chunk, the best over repetitions: a 2-core machine shared
  // with other work preempts a decode now and then (a scheduler tick is 4 ms, longer than
  // any chunk's decode), which would otherwise decide the p99 of a single pass.
  std::vector<double> chunk_best_us;
  uint64_t decoded_bytes = 0;
};

// Percentile99 returns the 99th percentile (nearest rank) of `values`, reordering them.
double Percentile99(std::vector<double>& values) {
  const size_t rank = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(values.size())));
  const size_t at = rank == 0 ? 0 : rank - 1;
  std::nth_element(values.begin(), values.begin() + at, values.end());
  return values[at];
}

double Sum(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return sum;
}

// MeasureDecodeLatency decodes every non-zero chunk of `reader` on this thread, timing
// each ChunkDecoder::Decode (stored-bytes checksum, zstd, content checksum) on its own,
// and folds the times into setting.chunk_best_us (per chunk, the best over repetitions).
absl::Status MeasureDecodeLatency(const SnapshotReader& reader, Setting& setting,
                                  Sample& sample) {
  LAZYSNAP_ASSIGN_OR_RETURN(ChunkDecoder decoder, ChunkDecoder::Create());
  std::vector<uint8_t> stored(reader.max_stored_length_bytes());
  std::vector<uint8_t> out(reader.chunk_size_bytes());
  std::vector<double> decode_us;
  decode_us.reserve(reader.chunk_count());
  double read_us_total = 0;
  uint64_t decoded_bytes = 0;
  for (uint64_t chunk = 0; chunk < reader.chunk_count(); ++chunk) {
    LAZYSNAP_ASSIGN_OR_RETURN(ChunkLocation location, reader.Locate(chunk));
    const StoredChunk& s = location.stored;
    if (s.kind == format::ChunkKind::kZero) continue;
    std::span<uint8_t> stored_bytes(stored.data(), s.stored_length_bytes);
    std::span<uint8_t> out_bytes(out.data(), s.length_bytes);
    const auto t0 = std::chrono::steady_clock::now();
    LAZYSNAP_RETURN_IF_ERROR(reader.file()->ReadAt(s.file_offset_bytes, stored_bytes));
    const auto t1 = std::chrono::steady_clock::now();
    LAZYSNAP_RETURN_IF_ERROR(decoder.Decode(s, stored_bytes, out_bytes,
                                            reader.dictionary(s.dictionary_slot), reader.path()));
    const auto t2 = std::chrono::steady_clock::now();
    read_us_total += Seconds(t1 - t0) * 1e6;
    decode_us.push_back(Seconds(t2 - t1) * 1e6);
    decoded_bytes += s.length_bytes;
  }
  if (decode_us.empty()) return absl::OkStatus();
  setting.decoded_bytes = decoded_bytes;
  if (setting.chunk_best_us.empty()) {
    setting.chunk_best_us = decode_us;
  } else if (setting.chunk_best_us.size() == decode_us.size()) {
    for (size_t i = 0; i < decode_us.size(); ++i) {
      setting.chunk_best_us[i] = std::min(setting.chunk_best_us[i], decode_us[i]);
    }
  } else {
    return absl::InternalError("the number of non-zero chunks changed between repetitions");
  }
  const double n = static_cast<double>(decode_us.size());
  const double total_us = Sum(decode_us);
  sample.decode_mean_us = total_us / n;
  sample.read_mean_us = read_us_total / n;
  sample.decode_gbps = static_cast<double>(decoded_bytes) / total_us / 1e3;
  sample.decode_p99_us = Percentile99(decode_us);
  return absl::OkStatus();
}

absl::Status MeasureOnce(Setting& setting, const Flags& flags, const ScratchDir& dir) {
  const std::string snapshot = dir.File("sweep.lzsnap");
  Sample sample;
  {
    LAZYSNAP_ASSIGN_OR_RETURN(std::unique_ptr<FileImageSource> source,
                              FileImageSource::Open(setting.image_path));
    WriterOptions options;
    options.chunk_size_bytes = setting.chunk_bytes;
    options.compression_level = setting.level;
    options.threads = flags.threads;
    const double cpu_start = ProcessCpuSeconds();
    const auto start = std::chrono::steady_clock::now();
    LAZYSNAP_ASSIGN_OR_RETURN(setting.written, WriteSnapshot(*source, snapshot, options));
    sample.create_seconds = Seconds(std::chrono::steady_clock::now() - start);
    sample.create_cpu_seconds = ProcessCpuSeconds() - cpu_start;
  }
  {
    LAZYSNAP_ASSIGN_OR_RETURN(std::unique_ptr<SnapshotReader> reader,
                              SnapshotReader::Open(snapshot));
    DecodeImageOptions options;
    options.threads = flags.threads;
    const double cpu_start = ProcessCpuSeconds();
    LAZYSNAP_ASSIGN_OR_RETURN(
        DecodeImageSummary decoded,
        DecodeImage(*reader, options,
                    [](const ChunkLocation&, std::span<const uint8_t>) { return absl::OkStatus(); }));
    sample.verify_seconds = decoded.seconds;
    sample.verify_cpu_seconds = ProcessCpuSeconds() - cpu_start;
    LAZYSNAP_RETURN_IF_ERROR(MeasureDecodeLatency(*reader, setting, sample));
  }
  ::unlink(snapshot.c_str());
  setting.samples.push_back(sample);
  return absl::OkStatus();
}

// Stats over repetitions: best is the most favourable (highest throughput, lowest time).
struct Stat {
  double best = 0;
  double median = 0;
};

Stat Summarise(std::vector<double> values, bool higher_is_better) {
  std::sort(values.begin(), values.end());
  Stat stat;
  const size_t n = values.size();
  stat.best = higher_is_better ? values.back() : values.front();
  stat.median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return stat;
}

template <typename F>
Stat Over(const Setting& setting, bool higher_is_better, F field) {
  std::vector<double> values;
  for (const Sample& s : setting.samples) values.push_back(field(s));
  return Summarise(std::move(values), higher_is_better);
}

struct Row {
  Stat create_mbps, create_mb_per_cpu_s, verify_mbps, verify_mb_per_cpu_s, decode_mean_us, decode_p99_us, decode_gbps, read_mean_us;
};

Row Compute(const Setting& s) {
  const double mb = static_cast<double>(s.image_bytes) / 1e6;
  Row row;
  row.create_mbps = Over(s, true, [&](const Sample& x) { return mb / x.create_seconds; });
  row.verify_mbps = Over(s, true, [&](const Sample& x) { return mb / x.verify_seconds; });
  row.create_mb_per_cpu_s =
      Over(s, true, [&](const Sample& x) { return mb / x.create_cpu_seconds; });
  row.verify_mb_per_cpu_s =
      Over(s, true, [&](const Sample& x) { return mb / x.verify_cpu_seconds; });
  row.decode_mean_us = Over(s, false, [](const Sample& x) { return x.decode_mean_us; });
  row.decode_p99_us = Over(s, false, [](const Sample& x) { return x.decode_p99_us; });
  row.decode_gbps = Over(s, true, [](const Sample& x) { return x.decode_gbps; });
  // For decode latency, "best" is over the per-chunk best times rather than the best pass.
  if (!s.chunk_best_us.empty()) {
    std::vector<double> best = s.chunk_best_us;
    const double total_us = Sum(best);
    row.decode_mean_us.best = total_us / static_cast<double>(best.size());
    row.decode_gbps.best = static_cast<double>(s.decoded_bytes) / total_us / 1e3;
    row.decode_p99_us.best = Percentile99(best);
  }
  row.read_mean_us = Over(s, false, [](const Sample& x) { return x.read_mean_us; });
  return row;
}

double Percent(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

void PrintTable(const std::vector<Setting>& settings, int repeat) {
  absl::PrintF(
      "\nbest / median of %d runs; create and verify on all threads, decode on one thread.\n"
      "Throughput best: from the shortest run. Decode best: over each chunk's best time.\n\n",
      repeat);
  absl::PrintF(
      "| image | chunk KiB | level | snapshot MiB | raw / snapshot | snapshot / zstd -3 | "
      "chunks zero/comp/raw/dup %% | create MB/s | create MB/CPU-s | verify MB/s | "
      "verify MB/CPU-s | decode us/chunk mean | decode us/chunk p99 | decode GB/s (1 thread) | "
      "pread us/chunk |\n");
  absl::PrintF("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  for (const Setting& s : settings) {
    const Row r = Compute(s);
    const WriteSummary& w = s.written;
    absl::PrintF(
        "| %s | %d | %d | %.1f | %.2f | %.3f | %.0f/%.0f/%.0f/%.0f | %.0f / %.0f | %.0f / %.0f "
        "| %.0f / %.0f | %.0f / %.0f | %.1f / %.1f | %.1f / %.1f | %.2f / %.2f | %.1f / %.1f |\n",
        s.image_name, s.chunk_bytes >> 10, s.level, static_cast<double>(w.file_bytes) / (1 << 20),
        static_cast<double>(s.image_bytes) / static_cast<double>(w.file_bytes),
        static_cast<double>(w.file_bytes) / static_cast<double>(s.zstd3_bytes),
        Percent(w.zero_chunks, w.chunk_count), Percent(w.compressed_chunks, w.chunk_count),
        Percent(w.raw_chunks, w.chunk_count), Percent(w.duplicate_chunks, w.chunk_count),
        r.create_mbps.best, r.create_mbps.median, r.create_mb_per_cpu_s.best,
        r.create_mb_per_cpu_s.median, r.verify_mbps.best, r.verify_mbps.median,
        r.verify_mb_per_cpu_s.best, r.verify_mb_per_cpu_s.median, r.decode_mean_us.best,
        r.decode_mean_us.median, r.decode_p99_us.best, r.decode_p99_us.median,
        r.decode_gbps.best, r.decode_gbps.median, r.read_mean_us.best, r.read_mean_us.median);
  }
  std::fflush(stdout);
}

absl::Status WriteCsv(const std::vector<Setting>& settings, const std::string& path) {
  std::string text =
      "image,image_bytes,zstd3_bytes,chunk_bytes,level,snapshot_bytes,chunks,zero_chunks,"
      "compressed_chunks,raw_chunks,duplicate_chunks,repeat,create_mbps_best,"
      "create_mbps_median,create_mb_per_cpu_s_best,create_mb_per_cpu_s_median,"
      "verify_mbps_best,verify_mbps_median,verify_mb_per_cpu_s_best,"
      "verify_mb_per_cpu_s_median,decode_mean_us_best,"
      "decode_mean_us_median,decode_p99_us_best,decode_p99_us_median,decode_gbps_best,"
      "decode_gbps_median,pread_mean_us_best,pread_mean_us_median\n";
  for (const Setting& s : settings) {
    const Row r = Compute(s);
    const WriteSummary& w = s.written;
    absl::StrAppendFormat(
        &text, "%s,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,"
               "%.2f,%.2f,%.2f,%.2f,%.3f,%.3f,%.2f,%.2f\n",
        s.image_name, s.image_bytes, s.zstd3_bytes, s.chunk_bytes, s.level, w.file_bytes,
        w.chunk_count, w.zero_chunks, w.compressed_chunks, w.raw_chunks, w.duplicate_chunks,
        s.samples.size(), r.create_mbps.best, r.create_mbps.median, r.create_mb_per_cpu_s.best,
        r.create_mb_per_cpu_s.median, r.verify_mbps.best, r.verify_mbps.median,
        r.verify_mb_per_cpu_s.best, r.verify_mb_per_cpu_s.median, r.decode_mean_us.best, r.decode_mean_us.median,
        r.decode_p99_us.best, r.decode_p99_us.median, r.decode_gbps.best, r.decode_gbps.median,
        r.read_mean_us.best, r.read_mean_us.median);
  }
  LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC));
  return WriteFull(fd.get(), {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, path);
}

absl::Status Run(const Flags& flags) {
  LAZYSNAP_ASSIGN_OR_RETURN(ScratchDir dir, ScratchDir::Create(flags.tmpdir));
  absl::FPrintF(stderr, "format_sweep: scratch directory %s\n", dir.path().c_str());

  struct Image {
    std::string name, path;
  };
  std::vector<Image> images;
  if (flags.synthetic_mib > 0) {
    const std::string path = dir.File("synthetic.raw");
    const auto start = std::chrono::steady_clock::now();
    LAZYSNAP_RETURN_IF_ERROR(
        WriteSyntheticImage(path, flags.synthetic_mib << 20, SyntheticImageOptions{}));
    absl::FPrintF(stderr, "format_sweep: wrote %d MiB synthetic image in %.1f s\n",
                 static_cast<int>(flags.synthetic_mib),
                 Seconds(std::chrono::steady_clock::now() - start));
    images.push_back({absl::StrFormat("synthetic %d MiB", flags.synthetic_mib), path});
  }
  if (!flags.image.empty()) {
    std::string name = flags.image.substr(flags.image.find_last_of('/') + 1);
    images.push_back({name, flags.image});
  }

  std::vector<Setting> settings;
  for (const Image& image : images) {
    LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(image.path, O_RDONLY));
    LAZYSNAP_ASSIGN_OR_RETURN(uint64_t image_bytes, FileSizeBytes(fd.get(), image.path));
    LAZYSNAP_ASSIGN_OR_RETURN(WholeFileBaseline baseline, WholeFileZstd3(image.path));
    absl::FPrintF(stderr,
                 "format_sweep: %s: %d bytes; zstd -3 (CLI, whole file): %d bytes (ratio %.3f) "
                 "in %.1f s\n",
                 image.name.c_str(), image_bytes, baseline.compressed_bytes,
                 static_cast<double>(image_bytes) / static_cast<double>(baseline.compressed_bytes),
                 baseline.seconds);
    for (int chunk_kib : flags.chunk_kib) {
      for (int level : flags.levels) {
        Setting s;
        s.image_name = image.name;
        s.image_path = image.path;
        s.image_bytes = image_bytes;
        s.zstd3_bytes = baseline.compressed_bytes;
        s.chunk_bytes = static_cast<uint32_t>(chunk_kib) << 10;
        s.level = level;
        settings.push_back(std::move(s));
      }
    }
  }

  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < flags.repeat; ++r) {
    for (Setting& s : settings) {
      LAZYSNAP_RETURN_IF_ERROR(MeasureOnce(s, flags, dir));
    }
    absl::FPrintF(stderr, "format_sweep: repetition %d of %d done after %.0f s\n", r + 1,
                 flags.repeat, Seconds(std::chrono::steady_clock::now() - start));
  }
  PrintTable(settings, flags.repeat);
  if (!flags.csv.empty()) LAZYSNAP_RETURN_IF_ERROR(WriteCsv(settings, flags.csv));
  return absl::OkStatus();
}

}  // namespace
}  // namespace lazysnap

int main(int argc, char** argv) {
  auto flags = lazysnap::ParseFlags(argc, argv);
  if (!flags.ok()) {
    absl::FPrintF(stderr, "%s\n", std::string(flags.status().message()).c_str());
    return 2;
  }
  absl::Status status = lazysnap::Run(*flags);
  if (!status.ok()) {
    absl::FPrintF(stderr, "format_sweep: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
