// format_sweep: the measurements behind the writer's default chunk size and zstd level.
//
// Named workloads:
//   synthetic  a generated memory-like image (workload/synthetic_image.h: about 40% zero
//              pages, structured heap-like pages, repeated pages, 10% random pages),
//              --synthetic_mib long (default 1024); skipped with --synthetic_mib=0
//   --image    any raw memory image file given on the command line (repeatable)
//   --corpus   every *.raw image of a directory made by bench/corpus/make_corpus.py
//              (real process images; their region grid comes from IMAGE.regions)
//
// Besides whole-file zstd -3 it compares with zstd -19 --long=27 (cached per image), and
// it prints the worst image of every setting, not only each image's row: a format
// default has to hold on every image.
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
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <tuple>
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
#include "tools/cli.h"
#include "workload/synthetic_image.h"

namespace lazysnap {
namespace {

// The flags; every spelling of the hand-written parser this replaced still works.
const cli::CommandSpec kSpec = {
    .name = "format_sweep",
    .synopsis = "[--image PATH]... [--corpus DIR] [--synthetic_mib N] [flags]",
    .summary = "measure snapshot size, create, verify and chunk decode over chunk sizes, "
               "levels and dictionary settings",
    .description =
        "An image's region grid is read from PATH.regions when that file exists (one\n"
        "OFFSET:LENGTH[@ADDRESS] per line, as bench/corpus/make_corpus.py writes it).\n"
        "Whole-file baselines (zstd -3, zstd -19 --long=27) are cached in PATH.baselines.",
    .flags = {{"image", "PATH", "a raw memory image (repeatable)", true},
              {"corpus", "DIR", "every *.raw image in DIR (bench/corpus/make_corpus.py)"},
              {"synthetic_mib", "N", "size of the synthetic image, 0 for none (default 1024)"},
              {"chunk_kib", "LIST", "chunk sizes in KiB (default 16,32,64,128,256)"},
              {"levels", "LIST", "zstd levels (default -5,-3,-1,1,3)"},
              {"dictionaries", "LIST",
               "dictionary settings: writer (the writer's default), none, or "
               "SIZE[@SAMPLE] (largest dictionary and sample, e.g. 64K@8M) (default writer)"},
              {"repeat", "N", "repetitions of the whole sweep (default 3)"},
              {"threads", "N", "create and verify threads, 0 = one per CPU (default 0)"},
              {"tmpdir", "DIR", "scratch directory (default $TMPDIR or /tmp)"},
              {"csv", "PATH", "also write one CSV row per setting"},
              {"no_zstd19", "", "skip the zstd -19 --long=27 baseline (slow: minutes per GB)"}},
    .program = "",
};

struct Flags {
  std::vector<std::string> images;   // extra raw images
  uint64_t synthetic_mib = 1024;     // 0: no synthetic image
  std::vector<int> chunk_kib = {16, 32, 64, 128, 256};
  std::vector<int> levels = {-5, -3, -1, 1, 3};
  std::vector<std::string> dictionaries = {"writer"};
  int repeat = 3;
  int threads = 0;                   // create and verify threads; 0 = one per CPU
  std::string tmpdir;                // empty: $TMPDIR or /tmp
  std::string csv;                   // empty: no CSV
  bool zstd19 = true;
};

absl::StatusOr<std::vector<int>> IntList(const cli::ParsedArgs& args, std::string_view flag,
                                         int64_t min, int64_t max) {
  LAZYSNAP_ASSIGN_OR_RETURN(std::vector<int64_t> values,
                            cli::ParseIntList(flag, args.Value(flag), min, max));
  return std::vector<int>(values.begin(), values.end());
}

// A --dictionaries item other than writer and none: SIZE[@SAMPLE], the largest dictionary
// and the sample it is trained on (e.g. 64K@8M, the writer's setting before the corpus).
struct DictionarySetting {
  uint64_t size_bytes = 0;
  uint64_t sample_bytes = 0;  // 0: the writer's default
};

absl::StatusOr<DictionarySetting> ParseDictionarySetting(std::string_view text) {
  DictionarySetting d;
  const size_t at = text.find('@');
  LAZYSNAP_ASSIGN_OR_RETURN(d.size_bytes, cli::ParseSize(text.substr(0, at)));
  if (at != std::string_view::npos) {
    LAZYSNAP_ASSIGN_OR_RETURN(d.sample_bytes, cli::ParseSize(text.substr(at + 1)));
  }
  return d;
}

absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  LAZYSNAP_ASSIGN_OR_RETURN(cli::ParsedArgs args, cli::Parse(kSpec, argc, argv));
  Flags flags;
  flags.images = args.Values("image");
  if (args.Has("corpus")) {
    const std::string dir = args.Value("corpus");
    std::vector<std::string> found;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return absl::NotFoundError("--corpus: cannot open directory " + dir);
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() > 4 && name.substr(name.size() - 4) == ".raw") found.push_back(dir + "/" + name);
    }
    ::closedir(d);
    if (found.empty()) return absl::NotFoundError("--corpus: no *.raw image in " + dir);
    std::sort(found.begin(), found.end());
    flags.images.insert(flags.images.end(), found.begin(), found.end());
  }
  if (args.Has("synthetic_mib")) {
    LAZYSNAP_ASSIGN_OR_RETURN(int64_t v, cli::ParseInt(args.Value("synthetic_mib"), 0, 1 << 20));
    flags.synthetic_mib = static_cast<uint64_t>(v);
  }
  if (args.Has("chunk_kib")) {
    LAZYSNAP_ASSIGN_OR_RETURN(flags.chunk_kib, IntList(args, "chunk_kib", 4, 4096));
  }
  if (args.Has("levels")) {
    LAZYSNAP_ASSIGN_OR_RETURN(flags.levels, IntList(args, "levels", -131072, 22));
  }
  if (args.Has("dictionaries")) {
    flags.dictionaries = cli::SplitList(args.Value("dictionaries"));
    for (const std::string& d : flags.dictionaries) {
      if (d != "writer" && d != "none" && !ParseDictionarySetting(d).ok()) {
        return absl::InvalidArgumentError(
            "--dictionaries: writer, none or SIZE[@SAMPLE] (64K@8M), not " + d);
      }
    }
  }
  if (args.Has("repeat")) {
    LAZYSNAP_ASSIGN_OR_RETURN(int64_t v, cli::ParseInt(args.Value("repeat"), 0, 1000));
    flags.repeat = static_cast<int>(std::max<int64_t>(1, v));
  }
  if (args.Has("threads")) {
    LAZYSNAP_ASSIGN_OR_RETURN(int64_t v, cli::ParseInt(args.Value("threads"), 0, 1024));
    flags.threads = static_cast<int>(v);
  }
  flags.tmpdir = args.Value("tmpdir");
  flags.csv = args.Value("csv");
  flags.zstd19 = !args.Has("no_zstd19");
  if (flags.images.empty() && flags.synthetic_mib == 0) {
    return absl::InvalidArgumentError(
        "nothing to measure: give --image, --corpus or --synthetic_mib > 0");
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

// WholeFileZstd compresses the whole image as one stream with the zstd command-line tool,
// one thread, `zstd_flags` and otherwise its defaults (`zstd -3 -T1 -c IMAGE | wc -c`). It
// also warms the page cache with the image.
absl::StatusOr<WholeFileBaseline> WholeFileZstd(const std::string& image,
                                                const std::string& zstd_flags) {
  const std::string command =
      "zstd " + zstd_flags + " -T1 -q -c -- " + ShellQuote(image) + " | wc -c";
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

// Baselines of one image file: whole-file zstd -3 and zstd -19 --long=27 (0: not
// measured). They are cached beside the image in PATH.baselines ("zstd-3 BYTES" and
// "zstd-19-long27 BYTES" lines, plus the image's size and mtime) because zstd -19 takes
// minutes per GB.
struct Baselines {
  uint64_t zstd3_bytes = 0;
  uint64_t zstd19_bytes = 0;
};

absl::StatusOr<Baselines> ImageBaselines(const std::string& image, bool cache, bool zstd19) {
  struct stat st = {};
  if (::stat(image.c_str(), &st) != 0) return absl::NotFoundError("cannot stat " + image);
  const std::string key = absl::StrFormat("image %d %d", st.st_size, st.st_mtim.tv_sec);
  const std::string cache_path = image + ".baselines";
  Baselines b;
  if (cache) {
    std::ifstream in(cache_path);
    std::string line;
    bool matches = false;
    while (std::getline(in, line)) {
      if (line == key) matches = true;
      unsigned long long v = 0;
      if (std::sscanf(line.c_str(), "zstd-3 %llu", &v) == 1) b.zstd3_bytes = v;
      if (std::sscanf(line.c_str(), "zstd-19-long27 %llu", &v) == 1) b.zstd19_bytes = v;
    }
    if (!matches) b = Baselines{};
  }
  bool changed = false;
  if (b.zstd3_bytes == 0) {
    LAZYSNAP_ASSIGN_OR_RETURN(WholeFileBaseline z, WholeFileZstd(image, "-3"));
    b.zstd3_bytes = z.compressed_bytes;
    changed = true;
  }
  if (zstd19 && b.zstd19_bytes == 0) {
    absl::FPrintF(stderr, "format_sweep: zstd -19 --long=27 of %s (minutes per GB)...\n", image);
    LAZYSNAP_ASSIGN_OR_RETURN(WholeFileBaseline z, WholeFileZstd(image, "-19 --long=27"));
    b.zstd19_bytes = z.compressed_bytes;
    changed = true;
  }
  if (cache && changed) {
    std::ofstream out(cache_path);
    out << key << "\nzstd-3 " << b.zstd3_bytes << "\n";
    if (b.zstd19_bytes != 0) out << "zstd-19-long27 " << b.zstd19_bytes << "\n";
  }
  return b;
}

// ImageRegions reads PATH.regions (OFFSET:LENGTH[@ADDRESS] per line); empty when there is
// no such file (the image is one region).
absl::StatusOr<std::vector<format::Region>> ImageRegions(const std::string& image) {
  std::vector<format::Region> regions;
  std::ifstream in(image + ".regions");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    unsigned long long offset = 0, length = 0, address = 0;
    if (std::sscanf(line.c_str(), "%llu:%llu@%llx", &offset, &length, &address) < 2) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s.regions: '%s' is not OFFSET:LENGTH[@ADDRESS]", image, line));
    }
    regions.push_back({offset, length, address});
  }
  return regions;
}

// One measurement of one setting.
struct Sample {
  double create_seconds = 0;
  double create_cpu_seconds = 0;  // all threads of this process
  double verify_seconds = 0;
  double verify_cpu_seconds = 0;
  double decode_mean_us = 0;
  double decode_p50_us = 0;
  double decode_p99_us = 0;
  double decode_gbps = 0;
  double read_mean_us = 0;
};

struct Setting {
  std::string image_name;
  std::string image_path;
  std::vector<format::Region> regions;  // empty: the whole file
  uint64_t image_bytes = 0;
  uint64_t zstd3_bytes = 0;
  uint64_t zstd19_bytes = 0;  // 0: not measured
  uint32_t chunk_bytes = 0;
  int level = 0;
  std::string dictionary;  // "writer", "none" or a size
  WriteSummary written;  // from the last repetition (sizes and counts do not vary)
  std::vector<Sample> samples;
  // Decode time of each non-zero chunk, the best over repetitions: a 2-core machine shared
  // with other work preempts a decode now and then (a scheduler tick is 4 ms, longer than
  // any chunk's decode), which would otherwise decide the p99 of a single pass.
  std::vector<double> chunk_best_us;
  uint64_t decoded_bytes = 0;
};

// Percentile returns the `p` quantile (nearest rank) of `values`, reordering them.
double Percentile(std::vector<double>& values, double p) {
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(values.size())));
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
  sample.decode_p99_us = Percentile(decode_us, 0.99);
  sample.decode_p50_us = Percentile(decode_us, 0.50);
  return absl::OkStatus();
}

absl::Status MeasureOnce(Setting& setting, const Flags& flags, const ScratchDir& dir) {
  const std::string snapshot = dir.File("sweep.lzsnap");
  Sample sample;
  {
    LAZYSNAP_ASSIGN_OR_RETURN(std::unique_ptr<FileImageSource> source,
                              FileImageSource::Open(setting.image_path, setting.regions));
    WriterOptions options;
    options.chunk_size_bytes = setting.chunk_bytes;
    options.compression_level = setting.level;
    options.threads = flags.threads;
    if (setting.dictionary == "none") {
      options.train_dictionary.dictionary_size_bytes = 0;
    } else if (setting.dictionary != "writer") {
      LAZYSNAP_ASSIGN_OR_RETURN(DictionarySetting d, ParseDictionarySetting(setting.dictionary));
      options.train_dictionary.dictionary_size_bytes = d.size_bytes;
      if (d.sample_bytes != 0) options.train_dictionary.sample_bytes = d.sample_bytes;
    }
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
  Stat create_mbps, create_mb_per_cpu_s, verify_mbps, verify_mb_per_cpu_s, decode_mean_us,
      decode_p50_us, decode_p99_us, decode_gbps, read_mean_us;
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
  row.decode_p50_us = Over(s, false, [](const Sample& x) { return x.decode_p50_us; });
  row.decode_p99_us = Over(s, false, [](const Sample& x) { return x.decode_p99_us; });
  row.decode_gbps = Over(s, true, [](const Sample& x) { return x.decode_gbps; });
  // For decode latency, "best" is over the per-chunk best times rather than the best pass.
  if (!s.chunk_best_us.empty()) {
    std::vector<double> best = s.chunk_best_us;
    const double total_us = Sum(best);
    row.decode_mean_us.best = total_us / static_cast<double>(best.size());
    row.decode_gbps.best = static_cast<double>(s.decoded_bytes) / total_us / 1e3;
    row.decode_p99_us.best = Percentile(best, 0.99);
    row.decode_p50_us.best = Percentile(best, 0.50);
  }
  row.read_mean_us = Over(s, false, [](const Sample& x) { return x.read_mean_us; });
  return row;
}

double Percent(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

double Ratio(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0 : static_cast<double>(part) / static_cast<double>(whole);
}

std::string RatioText(uint64_t part, uint64_t whole) {
  return whole == 0 ? std::string("-") : absl::StrFormat("%.3f", Ratio(part, whole));
}

void PrintTable(const std::vector<Setting>& settings, int repeat) {
  absl::PrintF(
      "\nbest / median of %d runs; create and verify on all threads, decode on one thread.\n"
      "Throughput best: from the shortest run. Decode best: over each chunk's best time.\n\n",
      repeat);
  absl::PrintF(
      "| image | chunk KiB | level | dictionary | image MiB | zstd -3 MiB | zstd -19 --long=27 MiB "
      "| snapshot MiB | dictionary KiB | snapshot / zstd -3 | snapshot / zstd -19 | "
      "chunks zero/comp/raw/dup %% | create MB/s | create MB/CPU-s | verify MB/s | "
      "verify MB/CPU-s | decode us/chunk p50 | decode us/chunk p99 | decode us/chunk mean | "
      "decode GB/s (1 thread) | pread us/chunk |\n");
  absl::PrintF("|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  for (const Setting& s : settings) {
    const Row r = Compute(s);
    const WriteSummary& w = s.written;
    absl::PrintF(
        "| %s | %d | %d | %s | %.1f | %.2f | %s | %.2f | %.0f | %s | %s | %.0f/%.0f/%.0f/%.0f "
        "| %.0f / %.0f | %.0f / %.0f | %.0f / %.0f | %.0f / %.0f | %.1f / %.1f | %.1f / %.1f "
        "| %.1f / %.1f | %.2f / %.2f | %.1f / %.1f |\n",
        s.image_name, s.chunk_bytes >> 10, s.level, s.dictionary,
        static_cast<double>(s.image_bytes) / (1 << 20),
        static_cast<double>(s.zstd3_bytes) / (1 << 20),
        s.zstd19_bytes == 0 ? std::string("-")
                            : absl::StrFormat("%.2f", static_cast<double>(s.zstd19_bytes) / (1 << 20)),
        static_cast<double>(w.file_bytes) / (1 << 20),
        static_cast<double>(w.dictionary_bytes) / 1024, RatioText(w.file_bytes, s.zstd3_bytes),
        RatioText(w.file_bytes, s.zstd19_bytes), Percent(w.zero_chunks, w.chunk_count),
        Percent(w.compressed_chunks, w.chunk_count), Percent(w.raw_chunks, w.chunk_count),
        Percent(w.duplicate_chunks, w.chunk_count), r.create_mbps.best, r.create_mbps.median,
        r.create_mb_per_cpu_s.best, r.create_mb_per_cpu_s.median, r.verify_mbps.best,
        r.verify_mbps.median, r.verify_mb_per_cpu_s.best, r.verify_mb_per_cpu_s.median,
        r.decode_p50_us.best, r.decode_p50_us.median, r.decode_p99_us.best,
        r.decode_p99_us.median, r.decode_mean_us.best, r.decode_mean_us.median,
        r.decode_gbps.best, r.decode_gbps.median, r.read_mean_us.best, r.read_mean_us.median);
  }
  // The worst image of each setting: what a format default has to live with.
  struct Worst {
    const Setting* setting = nullptr;
    double ratio = 0;
    int images = 0;
  };
  std::map<std::tuple<uint32_t, int, std::string>, Worst> worst;
  for (const Setting& s : settings) {
    Worst& w = worst[{s.chunk_bytes, s.level, s.dictionary}];
    ++w.images;
    const double ratio = Ratio(s.written.file_bytes, s.zstd3_bytes);
    if (w.setting == nullptr || ratio > w.ratio) w = {&s, ratio, w.images};
  }
  absl::PrintF("\nWorst case over the images, per setting (snapshot / whole-file zstd -3):\n\n");
  absl::PrintF("| chunk KiB | level | dictionary | images | worst image | snapshot / zstd -3 |\n");
  absl::PrintF("|--:|--:|---|--:|---|--:|\n");
  for (const auto& [key, w] : worst) {
    absl::PrintF("| %d | %d | %s | %d | %s | %.3f |\n", std::get<0>(key) >> 10, std::get<1>(key),
                 std::get<2>(key), w.images, w.setting->image_name, w.ratio);
  }
  std::fflush(stdout);
}

absl::Status WriteCsv(const std::vector<Setting>& settings, const std::string& path) {
  std::string text =
      "image,image_bytes,zstd3_bytes,zstd19_long27_bytes,chunk_bytes,level,dictionary,"
      "dictionary_bytes,snapshot_bytes,chunks,zero_chunks,"
      "compressed_chunks,raw_chunks,duplicate_chunks,repeat,create_mbps_best,"
      "create_mbps_median,create_mb_per_cpu_s_best,create_mb_per_cpu_s_median,"
      "verify_mbps_best,verify_mbps_median,verify_mb_per_cpu_s_best,"
      "verify_mb_per_cpu_s_median,decode_mean_us_best,"
      "decode_mean_us_median,decode_p99_us_best,decode_p99_us_median,decode_gbps_best,"
      "decode_gbps_median,pread_mean_us_best,pread_mean_us_median,decode_p50_us_best,"
      "decode_p50_us_median\n";
  for (const Setting& s : settings) {
    const Row r = Compute(s);
    const WriteSummary& w = s.written;
    absl::StrAppendFormat(
        &text, "%s,%d,%d,%d,%d,%d,%s,%d,%d,%d,%d,%d,%d,%d,%d,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,"
               "%.1f,%.2f,%.2f,%.2f,%.2f,%.3f,%.3f,%.2f,%.2f,%.2f,%.2f\n",
        s.image_name, s.image_bytes, s.zstd3_bytes, s.zstd19_bytes, s.chunk_bytes, s.level,
        s.dictionary, w.dictionary_bytes, w.file_bytes,
        w.chunk_count, w.zero_chunks, w.compressed_chunks, w.raw_chunks, w.duplicate_chunks,
        s.samples.size(), r.create_mbps.best, r.create_mbps.median, r.create_mb_per_cpu_s.best,
        r.create_mb_per_cpu_s.median, r.verify_mbps.best, r.verify_mbps.median,
        r.verify_mb_per_cpu_s.best, r.verify_mb_per_cpu_s.median, r.decode_mean_us.best, r.decode_mean_us.median,
        r.decode_p99_us.best, r.decode_p99_us.median, r.decode_gbps.best, r.decode_gbps.median,
        r.read_mean_us.best, r.read_mean_us.median, r.decode_p50_us.best,
        r.decode_p50_us.median);
  }
  LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC));
  return WriteFull(fd.get(), {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, path);
}

absl::Status Run(const Flags& flags) {
  LAZYSNAP_ASSIGN_OR_RETURN(ScratchDir dir, ScratchDir::Create(flags.tmpdir));
  absl::FPrintF(stderr, "format_sweep: scratch directory %s\n", dir.path().c_str());

  struct Image {
    std::string name, path;
    bool generated = false;
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
    images.push_back({absl::StrFormat("synthetic %d MiB", flags.synthetic_mib), path, true});
  }
  for (const std::string& path : flags.images) {
    images.push_back({path.substr(path.find_last_of('/') + 1), path});
  }

  std::vector<Setting> settings;
  for (const Image& image : images) {
    LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(image.path, O_RDONLY));
    LAZYSNAP_ASSIGN_OR_RETURN(uint64_t image_bytes, FileSizeBytes(fd.get(), image.path));
    // The synthetic image is written anew each run: no cache, and no zstd -19 (minutes).
    LAZYSNAP_ASSIGN_OR_RETURN(
        Baselines baseline,
        ImageBaselines(image.path, !image.generated, flags.zstd19 && !image.generated));
    LAZYSNAP_ASSIGN_OR_RETURN(std::vector<format::Region> regions, ImageRegions(image.path));
    absl::FPrintF(stderr,
                  "format_sweep: %s: %d bytes in %d regions; whole file: zstd -3 %d bytes, "
                  "zstd -19 --long=27 %d bytes\n",
                  image.name, image_bytes, std::max<size_t>(1, regions.size()),
                  baseline.zstd3_bytes, baseline.zstd19_bytes);
    for (int chunk_kib : flags.chunk_kib) {
      for (int level : flags.levels) {
        for (const std::string& dictionary : flags.dictionaries) {
          Setting s;
          s.image_name = image.name;
          s.image_path = image.path;
          s.regions = regions;
          s.image_bytes = image_bytes;
          s.zstd3_bytes = baseline.zstd3_bytes;
          s.zstd19_bytes = baseline.zstd19_bytes;
          s.chunk_bytes = static_cast<uint32_t>(chunk_kib) << 10;
          s.level = level;
          s.dictionary = dictionary;
          settings.push_back(std::move(s));
        }
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
  if (lazysnap::cli::WantsHelp(argc, argv)) {
    absl::PrintF("%s", lazysnap::cli::HelpText(lazysnap::kSpec));
    return 0;
  }
  auto flags = lazysnap::ParseFlags(argc, argv);
  if (!flags.ok()) return lazysnap::cli::UsageError(lazysnap::kSpec, std::string(flags.status().message()));
  absl::Status status = lazysnap::Run(*flags);
  if (!status.ok()) {
    absl::FPrintF(stderr, "format_sweep: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
