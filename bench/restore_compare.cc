// restore_compare: lazysnap side by side with what users would pick instead, in one
// process run, on the same images and the same touch plans.
//
// Named workloads (images):
//   synthetic  the generated memory-like image (workload/synthetic_image.h: about 40% zero
//              pages, heap-like, repeated and 10% random pages), one region,
//              --synthetic_mib long (default 512); skipped with --synthetic_mib=0
//   python     the private writable memory of a live Python interpreter that has built
//              --python_mb MiB of objects (tools/python_workload.py), captured through
//              /proc/PID/maps and /proc/PID/mem (ProcessImageSource, frozen), one region
//              per mapping; skipped with --python_mb=0
//   --image    any raw memory image file (one region)
// Every image is written once as a sparse raw file (the mmap and 4 KiB handler baselines
// restore from it) and snapshotted at each --lazysnap_chunk_kib (level 3).
//
// Strategies (bench/restore_strategy.h): eager, mmap, uffd-4k, lazysnap-<chunk>k for each
// chunk size (default options), lazysnap-sigbus-<chunk>k (ServingMode::kSigbus, first
// chunk size).
//
// Access patterns (workload/access_pattern.h, the same plan for every strategy): ws:10,
// seq, random; --touch_threads threads (default 2).
//
// Each run: set the page cache (warm: the strategy's files read in; cold: evicted), time
// Restore (time to ready), touch with the plan recording every touch's latency, read
// /proc/self/io, smaps and the strategy's own counters, compare a sample of the touched
// pages with the raw image, tear down. Runs are interleaved (strategy order rotates every
// repetition) and repeated --repetitions times; tables report min / median.
//
//   tools/bazel run -c opt //bench:restore_compare -- --out bench/results
//
// writes restore_compare.md, restore_compare.csv (summary), restore_compare_runs.csv
// (every run), two PNG charts drawn by gnuplot, and their data and script, into --out;
// --benchmarks_md BENCHMARKS.md also refreshes that file's generated section.
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_io.h"
#include "base/status_macros.h"
#include "bench/compare_report.h"
#include "bench/process_metrics.h"
#include "bench/restore_strategy.h"
#include "bench/scratch_dir.h"
#include "bench/workload_images.h"
#include "engine/host_features.h"
#include "engine/restore_options.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/snapshot_writer.h"
#include "tools/cli.h"
#include "workload/access_pattern.h"

namespace lazysnap::bench {
namespace {

constexpr uint64_t kPageBytes = 4096;
constexpr char kBeginMarker[] = "<!-- restore_compare:begin -->";
constexpr char kEndMarker[] = "<!-- restore_compare:end -->";

// The flags; every spelling of the hand-written parser this replaced still works.
const cli::CommandSpec kSpec = {
    .name = "restore_compare",
    .synopsis = "[flags]",
    .summary = "lazysnap side by side with eager restore, mmap and a 4 KiB userfaultfd handler",
    .flags = {{"out", "DIR", "write the markdown, CSVs and charts here"},
              {"benchmarks_md", "PATH", "replace the generated part of this BENCHMARKS.md"},
              {"synthetic_mib", "N", "synthetic image size, 0 for none (default 512)"},
              {"python_mb", "N", "Python workload size, 0 for none (default 300)"},
              {"python", "PATH", "the Python interpreter (default /usr/bin/python3)"},
              {"python_workload", "PATH", "tools/python_workload.py (found in runfiles)"},
              {"image", "PATH", "an extra raw image"},
              {"lazysnap_chunk_kib", "LIST", "lazysnap chunk sizes in KiB (default 32,64,16)"},
              {"strategies", "LIST",
               "any of eager,mmap,uffd-4k,lazysnap,lazysnap-sigbus (default: all)"},
              {"patterns", "LIST", "access patterns (default ws:10,seq,random)"},
              {"caches", "LIST", "warm and/or cold (default both)"},
              {"cold_method", "METHOD", "fadvise or drop_caches (default fadvise)"},
              {"repetitions", "N", "repetitions, interleaved (default 3)"},
              {"touch_threads", "N", "toucher threads (default 2)"},
              {"decode_threads", "N", "lazysnap handler threads, 0 = default (default 0)"},
              {"fault_threshold_ns", "N", "a touch slower than this is a fault (default 1000)"},
              {"verify_pages", "N", "pages compared with the image per run (default 2048)"},
              {"verify_all", "", "compare every touched page"},
              {"tmpdir", "DIR",
               "where images and snapshots are written (default $TMPDIR or /tmp); cold runs "
               "need a disk there, not tmpfs"}},
    .program = "",
};

struct Flags {
  std::string out;
  std::string benchmarks_md;
  uint64_t synthetic_mib = 512;
  uint32_t python_mb = 300;
  std::string python = "/usr/bin/python3";
  std::string python_workload;
  std::string image;
  std::vector<int> chunk_kib = {static_cast<int>(kDefaultChunkSizeBytes >> 10), 64, 16};
  std::vector<std::string> strategies = {"eager", "mmap", "uffd-4k", "lazysnap",
                                         "lazysnap-sigbus"};
  std::vector<std::string> patterns = {"ws:10", "seq", "random"};
  std::vector<std::string> caches = {"warm", "cold"};
  std::string cold_method = "fadvise";
  int repetitions = 3;
  int touch_threads = 2;
  int decode_threads = 0;
  uint64_t fault_threshold_ns = 1000;
  uint64_t verify_pages = 2048;
  bool verify_all = false;
  std::string tmpdir;
};

// Number parses flag `name` as an integer >= min, or keeps `value` when it is absent.
template <typename T>
absl::Status Number(const cli::ParsedArgs& args, std::string_view name, int64_t min, T& value) {
  if (!args.Has(name)) return absl::OkStatus();
  auto n = cli::ParseInt(args.Value(name), min, std::numeric_limits<int64_t>::max());
  if (!n.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--%s: %s", std::string(name), std::string(n.status().message())));
  }
  value = static_cast<T>(*n);
  return absl::OkStatus();
}

absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  LAZYSNAP_ASSIGN_OR_RETURN(cli::ParsedArgs args, cli::Parse(kSpec, argc, argv));
  Flags flags;
  flags.out = args.Value("out");
  flags.benchmarks_md = args.Value("benchmarks_md");
  flags.python = args.Value("python", flags.python);
  flags.python_workload = args.Value("python_workload");
  flags.image = args.Value("image");
  flags.tmpdir = args.Value("tmpdir");
  flags.verify_all = args.Has("verify_all");
  LAZYSNAP_RETURN_IF_ERROR(Number(args, "synthetic_mib", 0, flags.synthetic_mib));
  LAZYSNAP_RETURN_IF_ERROR(Number(args, "python_mb", 0, flags.python_mb));
  LAZYSNAP_RETURN_IF_ERROR(Number(args, "repetitions", 1, flags.repetitions));
  LAZYSNAP_RETURN_IF_ERROR(Number(args, "touch_threads", 1, flags.touch_threads));
  LAZYSNAP_RETURN_IF_ERROR(Number(args, "decode_threads", 0, flags.decode_threads));
  LAZYSNAP_RETURN_IF_ERROR(Number(args, "fault_threshold_ns", 1, flags.fault_threshold_ns));
  LAZYSNAP_RETURN_IF_ERROR(Number(args, "verify_pages", 0, flags.verify_pages));
  if (args.Has("lazysnap_chunk_kib")) {
    LAZYSNAP_ASSIGN_OR_RETURN(
        std::vector<int64_t> kib,
        cli::ParseIntList("lazysnap_chunk_kib", args.Value("lazysnap_chunk_kib"), 4, 4096));
    flags.chunk_kib.assign(kib.begin(), kib.end());
  }
  if (args.Has("strategies")) {
    flags.strategies = cli::SplitList(args.Value("strategies"));
    for (const std::string& s : flags.strategies) {
      if (s != "eager" && s != "mmap" && s != "uffd-4k" && s != "lazysnap" &&
          s != "lazysnap-sigbus") {
        return absl::InvalidArgumentError(absl::StrFormat("--strategies: unknown '%s'", s));
      }
    }
  }
  if (args.Has("patterns")) {
    flags.patterns = cli::SplitList(args.Value("patterns"));
    for (const std::string& p : flags.patterns) {
      LAZYSNAP_RETURN_IF_ERROR(AccessPattern::Parse(p).status());
    }
  }
  if (args.Has("caches")) {
    flags.caches = cli::SplitList(args.Value("caches"));
    for (const std::string& c : flags.caches) {
      if (c != "warm" && c != "cold") {
        return absl::InvalidArgumentError("--caches: warm and/or cold");
      }
    }
  }
  if (args.Has("cold_method")) {
    flags.cold_method = args.Value("cold_method");
    if (flags.cold_method != "fadvise" && flags.cold_method != "drop_caches") {
      return absl::InvalidArgumentError("--cold_method: fadvise or drop_caches");
    }
  }
  if (flags.synthetic_mib == 0 && flags.python_mb == 0 && flags.image.empty()) {
    return absl::InvalidArgumentError("no image: give --synthetic_mib, --python_mb or --image");
  }
  if (flags.chunk_kib.empty()) return absl::InvalidArgumentError("--lazysnap_chunk_kib: empty");
  return flags;
}

// UserPath resolves a path given on the command line: under `bazel run` relative paths
// are relative to where bazel was invoked, not to the runfiles directory.
std::string UserPath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const char* dir = std::getenv("BUILD_WORKING_DIRECTORY");
  return dir != nullptr && dir[0] != '\0' ? std::string(dir) + "/" + path : path;
}

std::string FindPythonWorkload(const Flags& flags, const char* argv0) {
  if (!flags.python_workload.empty()) return UserPath(flags.python_workload);
  std::vector<std::string> candidates = {"tools/python_workload.py"};
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY")) {
    candidates.push_back(std::string(ws) + "/tools/python_workload.py");
  }
  candidates.push_back(std::string(argv0) + ".runfiles/lazysnap/tools/python_workload.py");
  for (const std::string& c : candidates) {
    if (::access(c.c_str(), R_OK) == 0) return c;
  }
  return candidates.front();
}

double CpuSeconds() {
  rusage usage = {};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double LoadAverage1() {
  auto text = ReadFileToString("/proc/loadavg");
  return text.ok() ? std::atof(text->c_str()) : 0;
}

std::string LoadAverageText() {
  auto text = ReadFileToString("/proc/loadavg");
  if (!text.ok()) return "?";
  std::string s = *text;
  // "1.23 2.34 3.45 2/345 6789": the three averages.
  size_t cut = 0;
  for (int spaces = 0; cut < s.size() && spaces < 3; ++cut) spaces += s[cut] == ' ';
  return s.substr(0, cut > 0 ? cut - 1 : 0);
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string CommandOutput(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string output;
  char buffer[256];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  ::pclose(pipe);
  return Trimmed(output);
}

std::string ProcField(const char* path, const char* key) {
  auto text = ReadFileToString(path);
  if (!text.ok()) return "?";
  size_t at = text->find(key);
  if (at == std::string::npos) return "?";
  at = text->find(':', at);
  const size_t end = text->find('\n', at);
  std::string value = text->substr(at + 1, end - at - 1);
  value.erase(0, value.find_first_not_of(" \t"));
  return value;
}

// ReadAheadKib: the readahead setting of the block device holding `path`.
std::string ReadAheadKib(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "?";
  const std::string base = absl::StrFormat("/sys/dev/block/%d:%d", major(st.st_dev), minor(st.st_dev));
  for (const std::string& candidate : {base + "/queue/read_ahead_kb", base + "/../queue/read_ahead_kb"}) {
    auto text = ReadFileToString(candidate);
    if (text.ok()) return Trimmed(*text) + " KiB";
  }
  return "? (not a block device)";
}

std::string FileSystemOf(const std::string& path, bool* is_tmpfs) {
  struct statfs fs;
  *is_tmpfs = false;
  if (::statfs(path.c_str(), &fs) != 0) return "?";
  switch (static_cast<unsigned long>(fs.f_type)) {
    case 0x01021994: *is_tmpfs = true; return "tmpfs";
    case 0xEF53: return "ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    default: return absl::StrFormat("f_type 0x%x", static_cast<unsigned long>(fs.f_type));
  }
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm;
  gmtime_r(&now, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M UTC", &tm);
  return buffer;
}

// ---------------------------------------------------------------------------------------
// Calibration of the fault threshold.

struct Calibration {
  double present_p50_ns = 0, present_p999_ns = 0;
  double fault_p1_ns = 0, fault_p50_ns = 0;
};

std::vector<double> SortedLatencies(TouchResult& touched) {
  std::vector<double> v(touched.page_latencies_ns.begin(), touched.page_latencies_ns.end());
  std::vector<uint64_t>().swap(touched.page_latencies_ns);
  std::sort(v.begin(), v.end());
  return v;
}

// Calibrate measures, with the same toucher as the runs, a touch of a page that is
// present and the cheapest fault there is (a read of fresh anonymous memory: the kernel
// maps its zero page), so that the report can show where the threshold lies. Three rounds
// of each; the median of each percentile over the rounds, so that one preempted round
// does not decide it.
absl::StatusOr<Calibration> Calibrate(int threads) {
  constexpr uint64_t kBytes = 64 << 20;
  constexpr int kRounds = 3;
  std::vector<double> present_p50, present_p999, fault_p1, fault_p50;
  for (int round = 0; round < kRounds; ++round) {
    for (int pass = 0; pass < 2; ++pass) {
      void* map =
          ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (map == MAP_FAILED) return absl::ResourceExhaustedError("mmap for calibration");
      ::madvise(map, kBytes, MADV_NOHUGEPAGE);
      if (pass == 0) std::memset(map, 1, kBytes);
      MemoryView view = {{static_cast<uint8_t*>(map), kBytes}};
      auto plan = PlanTouches(view, *AccessPattern::Parse("random"), threads);
      TouchResult touched = TouchPages(view, plan, /*record_latency=*/true);
      ::munmap(map, kBytes);
      std::vector<double> sorted = SortedLatencies(touched);
      if (pass == 0) {
        present_p50.push_back(Percentile(sorted, 0.5));
        present_p999.push_back(Percentile(sorted, 0.999));
      } else {
        fault_p1.push_back(Percentile(sorted, 0.01));
        fault_p50.push_back(Percentile(sorted, 0.5));
      }
    }
  }
  Calibration c;
  c.present_p50_ns = MinMedian(present_p50).second;
  c.present_p999_ns = MinMedian(present_p999).second;
  c.fault_p1_ns = MinMedian(fault_p1).second;
  c.fault_p50_ns = MinMedian(fault_p50).second;
  return c;
}

// ---------------------------------------------------------------------------------------
// Images, strategies and plans.

struct Image {
  std::string name;
  RawImage raw;
  ImageInfo info;
  std::vector<std::unique_ptr<RestoreStrategy>> strategies;
  std::map<std::string, std::vector<std::vector<PageRef>>> plans;  // by pattern
  UniqueFd raw_fd;  // for verification
};

// PlanFor builds the touch plan of `pattern` over `regions`: the plan depends only on the
// regions' lengths, so it is built once, over address space reserved (PROT_NONE) for the
// purpose, and used for every strategy.
absl::StatusOr<std::vector<std::vector<PageRef>>> PlanFor(const std::vector<format::Region>& regions,
                                                          const std::string& pattern, int threads) {
  const std::vector<uint64_t> offsets = PackedRegionOffsets(regions, kPageBytes);
  void* reserved = ::mmap(nullptr, offsets.back(), PROT_NONE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserved == MAP_FAILED) return absl::ResourceExhaustedError("reserving address space");
  MemoryView view;
  for (size_t i = 0; i < regions.size(); ++i) {
    view.emplace_back(static_cast<uint8_t*>(reserved) + offsets[i], regions[i].length_bytes);
  }
  LAZYSNAP_ASSIGN_OR_RETURN(AccessPattern parsed, AccessPattern::Parse(pattern));
  auto plan = PlanTouches(view, parsed, threads);
  ::munmap(reserved, offsets.back());
  return plan;
}

absl::Status AddStrategies(Image& image, const Flags& flags,
                           const std::map<int, std::string>& snapshots,
                           std::vector<StrategyInfo>& infos) {
  auto want = [&](const char* s) {
    return std::find(flags.strategies.begin(), flags.strategies.end(), s) != flags.strategies.end();
  };
  auto add = [&](std::unique_ptr<RestoreStrategy> strategy, StrategyInfo info) -> absl::Status {
    uint64_t on_disk = 0;
    for (const std::string& file : strategy->files()) {
      LAZYSNAP_ASSIGN_OR_RETURN(uint64_t bytes, AllocatedBytes(file));
      on_disk += bytes;
    }
    image.info.on_disk_bytes[strategy->name()] = on_disk;
    if (std::none_of(infos.begin(), infos.end(),
                     [&](const StrategyInfo& i) { return i.name == info.name; })) {
      infos.push_back(info);
    }
    image.strategies.push_back(std::move(strategy));
    return absl::OkStatus();
  };
  const int first_kib = flags.chunk_kib.front();
  const int online = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  if (want("eager")) {
    const std::string name = "eager";
    LAZYSNAP_RETURN_IF_ERROR(add(
        NewEagerStrategy(name, snapshots.at(first_kib), flags.decode_threads),
        {name,
         absl::StrFormat("open the %d KiB snapshot, map anonymous memory, decode every chunk into "
                         "it (DecodeImage, %d threads; zero chunks skipped); then plain memory",
                         first_kib, flags.decode_threads > 0 ? flags.decode_threads : online),
         "eager"}));
  }
  if (want("mmap")) {
    LAZYSNAP_RETURN_IF_ERROR(add(
        NewMmapStrategy("mmap", image.raw),
        {"mmap",
         "open the raw image and mmap each region MAP_PRIVATE at its offset; faults are served "
         "by the kernel from the page cache (fault-around, readahead)",
         "mmap"}));
  }
  if (want("uffd-4k")) {
    LAZYSNAP_RETURN_IF_ERROR(add(
        NewUffdPageHandlerStrategy("uffd-4k", image.raw),
        {"uffd-4k",
         "mmap the raw image read-only, map anonymous memory, Userfaultfd::Open + Register, start "
         "one handler thread; per fault: poll, read one message, UFFDIO_COPY 4 KiB from the "
         "image mapping (Firecracker's example handlers)",
         "uffd-4k"}));
  }
  if (want("lazysnap")) {
    for (int kib : flags.chunk_kib) {
      const std::string name = absl::StrFormat("lazysnap-%dk", kib);
      const bool is_default = static_cast<uint32_t>(kib << 10) == kDefaultChunkSizeBytes;
      LAZYSNAP_RETURN_IF_ERROR(add(
          NewLazysnapStrategy(name, snapshots.at(kib), RestoreOptions{}),
          {name,
           absl::StrFormat("SnapshotReader::Open (tables only) + RestoreSession::Start, default "
                           "options (%d handler threads, io_uring, readahead 8 chunks, spin 50 "
                           "µs), %d KiB chunks%s",
                           online, kib, is_default ? " (the writer's default)" : ""),
           "lazysnap", is_default}));
    }
  }
  if (want("lazysnap-sigbus")) {
    const std::string name = absl::StrFormat("lazysnap-sigbus-%dk", first_kib);
    RestoreOptions options;
    options.serving = ServingMode::kSigbus;
    LAZYSNAP_RETURN_IF_ERROR(add(
        NewLazysnapStrategy(name, snapshots.at(first_kib), options),
        {name,
         absl::StrFormat("as lazysnap-%dk with ServingMode::kSigbus: the faulting thread serves "
                         "its own fault from a SIGBUS handler (pread, decode, UFFDIO_COPY); "
                         "Start validates the whole index first",
                         first_kib),
         "lazysnap-sigbus"}));
  }
  return absl::OkStatus();
}

absl::Status PrepareSnapshots(const Flags& flags, const ScratchDir& dir, Image& image,
                              std::vector<StrategyInfo>& infos) {
  std::map<int, std::string> snapshots;
  for (int kib : flags.chunk_kib) {
    const std::string path = dir.File(absl::StrFormat("%s-%dk.lzsnap", image.name, kib));
    LAZYSNAP_ASSIGN_OR_RETURN(std::unique_ptr<FileImageSource> source,
                              FileImageSource::Open(image.raw.path, image.raw.regions));
    WriterOptions options;
    options.chunk_size_bytes = static_cast<uint32_t>(kib) << 10;
    const auto start = std::chrono::steady_clock::now();
    LAZYSNAP_ASSIGN_OR_RETURN(WriteSummary written, WriteSnapshot(*source, path, options));
    absl::FPrintF(stderr, "restore_compare: %s: %d KiB snapshot, %.1f MiB, in %.1f s\n",
                  image.name, kib, written.file_bytes / double(1 << 20),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    snapshots[kib] = path;
  }
  image.info.name = image.name;
  image.info.regions = static_cast<uint32_t>(image.raw.regions.size());
  for (const format::Region& r : image.raw.regions) image.info.memory_bytes += r.length_bytes;
  LAZYSNAP_ASSIGN_OR_RETURN(image.raw_fd, OpenFile(image.raw.path, O_RDONLY));
  LAZYSNAP_ASSIGN_OR_RETURN(image.info.raw_length_bytes,
                            FileSizeBytes(image.raw_fd.get(), image.raw.path));
  LAZYSNAP_RETURN_IF_ERROR(AddStrategies(image, flags, snapshots, infos));
  for (const std::string& pattern : flags.patterns) {
    LAZYSNAP_ASSIGN_OR_RETURN(image.plans[pattern],
                              PlanFor(image.raw.regions, pattern, flags.touch_threads));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// One run.

absl::Status SetCache(const RestoreStrategy& strategy, bool cold, const Flags& flags,
                      double* cached) {
  const std::vector<std::string> files = strategy.files();
  if (cold && flags.cold_method == "drop_caches") {
    LAZYSNAP_RETURN_IF_ERROR(DropAllCaches());
  }
  for (const std::string& file : files) {
    LAZYSNAP_RETURN_IF_ERROR(cold ? EvictFromPageCache(file) : WarmPageCache(file));
  }
  // Cold: the largest fraction left in the cache; warm: the smallest fraction cached.
  *cached = cold ? 0.0 : 1.0;
  for (const std::string& file : files) {
    LAZYSNAP_ASSIGN_OR_RETURN(double f, CachedFraction(file));
    *cached = cold ? std::max(*cached, f) : std::min(*cached, f);
  }
  return absl::OkStatus();
}

// Verify compares touched pages with the raw image: every `step`-th page of the plan.
absl::Status Verify(const Image& image, const MemoryView& view,
                    const std::vector<std::vector<PageRef>>& plan, const Flags& flags,
                    RunRecord& record) {
  uint64_t total = 0;
  for (const auto& thread : plan) total += thread.size();
  const uint64_t step =
      flags.verify_all || flags.verify_pages == 0 || total <= flags.verify_pages
          ? 1
          : total / flags.verify_pages;
  if (!flags.verify_all && flags.verify_pages == 0) return absl::OkStatus();
  std::vector<uint8_t> expected(kPageBytes);
  uint64_t index = 0;
  for (const auto& thread : plan) {
    for (const PageRef& ref : thread) {
      if (index++ % step != 0) continue;
      const format::Region& region = image.raw.regions[ref.region];
      const uint64_t offset = ref.page * kPageBytes;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kPageBytes, region.length_bytes - offset));
      LAZYSNAP_RETURN_IF_ERROR(PreadFull(image.raw_fd.get(), {expected.data(), n},
                                         region.image_offset_bytes + offset, image.raw.path));
      ++record.pages_verified;
      if (std::memcmp(view[ref.region].data() + offset, expected.data(), n) != 0) {
        if (record.pages_mismatched++ == 0 && record.error.empty()) {
          record.error = absl::StrFormat("region %d page %d differs from the raw image",
                                         ref.region, ref.page);
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RunRecord> RunOnce(Image& image, RestoreStrategy& strategy, const std::string& cache,
                                  const std::string& pattern, int repetition, const Flags& flags) {
  RunRecord record;
  record.image = image.name;
  record.cache = cache;
  record.strategy = strategy.name();
  record.pattern = pattern;
  record.repetition = repetition;
  const auto& plan = image.plans.at(pattern);
  LAZYSNAP_RETURN_IF_ERROR(SetCache(strategy, cache == "cold", flags, &record.cached_before));
  record.load1 = LoadAverage1();

  ::malloc_trim(0);
  LAZYSNAP_ASSIGN_OR_RETURN(MemoryUsage before, ReadMemoryUsage());
  LAZYSNAP_ASSIGN_OR_RETURN(ProcessIo io_before, ReadProcessIo());
  const double cpu_before = CpuSeconds();
  const auto start = std::chrono::steady_clock::now();
  auto restored = strategy.Restore();
  record.ready_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!restored.ok()) {
    return absl::Status(restored.status().code(),
                        absl::StrFormat("%s: Restore: %s", strategy.name(),
                                        restored.status().message()));
  }
  std::unique_ptr<RestoredMemory> memory = std::move(*restored);
  const MemoryView view = memory->view();
  if (view.size() != image.raw.regions.size()) {
    return absl::InternalError(absl::StrFormat("%s restored %d regions, the image has %d",
                                               strategy.name(), view.size(),
                                               image.raw.regions.size()));
  }
  TouchResult touched = TouchPages(view, plan, /*record_latency=*/true);
  const double cpu_after = CpuSeconds();
  LAZYSNAP_ASSIGN_OR_RETURN(ProcessIo io_after, ReadProcessIo());
  record.touch_seconds = touched.seconds;
  record.cpu_seconds = cpu_after - cpu_before;
  record.pages_touched = touched.pages;
  record.storage_read_bytes = io_after.read_bytes - io_before.read_bytes;
  record.rchar_bytes = io_after.rchar - io_before.rchar;

  const EngineReport report = memory->Report();
  record.engine_faults = report.faults;
  record.engine_bytes_read = report.bytes_read;
  record.has_service_latency = report.has_service_latency;
  record.service_p50_ns = static_cast<double>(report.service_p50_ns);
  record.service_p99_ns = static_cast<double>(report.service_p99_ns);
  record.engine_detail = report.detail;

  {
    std::vector<double> faulted;
    for (uint64_t ns : touched.page_latencies_ns) {
      if (ns >= flags.fault_threshold_ns) faulted.push_back(static_cast<double>(ns));
    }
    // Free the latencies before measuring memory: they are the benchmark's, not the
    // strategy's.
    std::vector<uint64_t>().swap(touched.page_latencies_ns);
    std::sort(faulted.begin(), faulted.end());
    record.faulted_touches = faulted.size();
    record.fault_p50_ns = Percentile(faulted, 0.5);
    record.fault_p99_ns = Percentile(faulted, 0.99);
    if (!faulted.empty()) {
      for (double f : CdfFractions()) record.fault_quantiles_ns.push_back(Percentile(faulted, f));
    }
  }

  std::vector<AddressRange> ranges;
  for (const std::span<uint8_t>& region : view) {
    const uint64_t start_address = reinterpret_cast<uint64_t>(region.data());
    ranges.push_back({start_address,
                      start_address + (region.size() + kPageBytes - 1) / kPageBytes * kPageBytes});
  }
  LAZYSNAP_ASSIGN_OR_RETURN(MemoryUsage after, ReadMemoryUsage());
  LAZYSNAP_ASSIGN_OR_RETURN(RangeResidency residency, ReadResidency(ranges));
  record.restored_resident_bytes = residency.rss_bytes;
  record.residency_partial = residency.partial_overlap;
  if (residency.partial_overlap) {
    absl::FPrintF(stderr, "restore_compare: %s: mappings overlap the restored memory: %s\n",
                  strategy.name(), residency.partial_mappings);
  }
  record.overhead_bytes = static_cast<int64_t>(after.rss_bytes) -
                          static_cast<int64_t>(residency.rss_bytes) -
                          static_cast<int64_t>(before.rss_bytes);
  record.overhead_anonymous_bytes = static_cast<int64_t>(after.anonymous_bytes) -
                                    static_cast<int64_t>(residency.anonymous_bytes) -
                                    static_cast<int64_t>(before.anonymous_bytes);

  if (absl::Status s = memory->status(); !s.ok()) record.error = std::string(s.message());
  LAZYSNAP_RETURN_IF_ERROR(Verify(image, view, plan, flags, record));
  memory.reset();
  return record;
}

// ---------------------------------------------------------------------------------------
// Output.

absl::Status WriteText(const std::string& path, const std::string& text) {
  LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC));
  return WriteFull(fd.get(), {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, path);
}

// DemoteHeadings turns "# x" into "## x" and so on, outside code blocks, for embedding.
std::string DemoteHeadings(const std::string& md) {
  std::string out;
  bool in_code = false;
  size_t at = 0;
  while (at < md.size()) {
    size_t end = md.find('\n', at);
    if (end == std::string::npos) end = md.size();
    std::string line = md.substr(at, end - at);
    if (line.rfind("```", 0) == 0) in_code = !in_code;
    if (!in_code && !line.empty() && line[0] == '#') line = "#" + line;
    out += line;
    if (end < md.size()) out += "\n";
    at = end + 1;
  }
  return out;
}

absl::Status UpdateBenchmarksMd(const std::string& path, const std::string& section) {
  LAZYSNAP_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  const size_t begin = text.find(kBeginMarker);
  const size_t end = text.find(kEndMarker);
  if (begin == std::string::npos || end == std::string::npos || end < begin) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s has no '%s' ... '%s' section to replace", path, kBeginMarker, kEndMarker));
  }
  const std::string updated = text.substr(0, begin) + kBeginMarker + "\n" +
                              DemoteHeadings(section) + "\n" + text.substr(end);
  return WriteText(path, updated);
}

std::string CommandLine(int argc, char** argv) {
  std::string command = "tools/bazel run -c opt //bench:restore_compare --";
  for (int i = 1; i < argc; ++i) absl::StrAppend(&command, " ", argv[i]);
  return command;
}

absl::Status Run(const Flags& flags, int argc, char** argv) {
  const auto wall_start = std::chrono::steady_clock::now();
  // Fixed malloc thresholds: large blocks are always mapped and unmapped, so the memory
  // overhead of one strategy does not depend on what earlier runs freed.
  ::mallopt(M_MMAP_THRESHOLD, 128 << 10);
  ::mallopt(M_TRIM_THRESHOLD, 128 << 10);

  ReportContext context;
  context.command = CommandLine(argc, argv);
  context.started_at = UtcNow();
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY")) {
    context.commit = CommandOutput(absl::StrFormat("git -C '%s' describe --always --dirty 2>/dev/null", ws));
  }
  context.caches = flags.caches;
  context.patterns = flags.patterns;
  context.repetitions = flags.repetitions;
  context.touch_threads = flags.touch_threads;
  context.fault_threshold_ns = flags.fault_threshold_ns;
  const std::string load_at_start = LoadAverageText();

  LAZYSNAP_ASSIGN_OR_RETURN(ScratchDir dir, ScratchDir::Create(flags.tmpdir));
  absl::FPrintF(stderr, "restore_compare: scratch directory %s (load average %s)\n", dir.path(),
                load_at_start);
  bool tmpfs = false;
  const std::string fs = FileSystemOf(dir.path(), &tmpfs);
  if (tmpfs && std::find(flags.caches.begin(), flags.caches.end(), "cold") != flags.caches.end()) {
    context.notes.push_back(
        "**The files were on tmpfs: cold runs are not cold** (tmpfs pages cannot be evicted).");
  }

  // Calibration of the fault threshold.
  LAZYSNAP_ASSIGN_OR_RETURN(Calibration calibration, Calibrate(flags.touch_threads));
  context.calibration = absl::StrFormat(
      "The threshold was checked at the start of this run with the same toucher (%d threads, "
      "random order, 64 MiB, median of 3 rounds): touching a page that is present took p50 %.0f ns, p99.9 %.0f ns; "
      "the cheapest fault there is, a read of fresh anonymous memory that maps the zero page, "
      "took p1 %.0f ns, p50 %.0f ns. Every fault that brings data (a page cache page, a "
      "UFFDIO_COPY) costs microseconds, well above the threshold; zero-page faults (eager's "
      "zero chunks, which it leaves unwritten) mostly stay below it and are not counted. A "
      "touch that was preempted counts as faulted: on a loaded machine a few do, visible in "
      "the counts of strategies that leave nothing to fault (eager).",
      flags.touch_threads, calibration.present_p50_ns, calibration.present_p999_ns,
      calibration.fault_p1_ns, calibration.fault_p50_ns);
  if (calibration.present_p999_ns >= flags.fault_threshold_ns) {
    context.notes.push_back(absl::StrFormat(
        "**The fault threshold of %d ns is below the p99.9 of touches of present pages** "
        "(%.0f ns) here: more than 0.1%% of the hits count as faults.",
        flags.fault_threshold_ns, calibration.present_p999_ns));
  }
  absl::FPrintF(stderr,
                "restore_compare: calibration: present touch p50 %.0f ns p99.9 %.0f ns; zero-page "
                "fault p1 %.0f ns p50 %.0f ns; threshold %d ns\n",
                calibration.present_p50_ns, calibration.present_p999_ns, calibration.fault_p1_ns,
                calibration.fault_p50_ns, flags.fault_threshold_ns);

  // Images.
  std::vector<Image> images;
  if (flags.synthetic_mib > 0) {
    Image image;
    image.name = "synthetic";
    const auto start = std::chrono::steady_clock::now();
    LAZYSNAP_ASSIGN_OR_RETURN(image.raw, WriteSyntheticRawImage(dir.File("synthetic.raw"),
                                                                flags.synthetic_mib << 20));
    absl::FPrintF(stderr, "restore_compare: synthetic image, %d MiB, in %.1f s\n",
                  flags.synthetic_mib,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    image.info.description = absl::StrFormat(
        "WriteSyntheticImage, %d MiB: runs of zero (about 40%%), heap-like, repeated and random "
        "(10%%) pages",
        flags.synthetic_mib);
    images.push_back(std::move(image));
  }
  if (flags.python_mb > 0) {
    Image image;
    image.name = "python";
    PythonWorkloadOptions options;
    options.python = flags.python;
    options.script = FindPythonWorkload(flags, argv[0]);
    options.mb = flags.python_mb;
    const auto start = std::chrono::steady_clock::now();
    LAZYSNAP_ASSIGN_OR_RETURN(CapturedProcess captured,
                              CapturePythonWorkload(options, dir.File("python.raw")));
    absl::FPrintF(stderr,
                  "restore_compare: captured pid %d: %d mappings, %.1f MiB (%d bytes unreadable) "
                  "in %.1f s\n",
                  captured.pid, captured.mappings, captured.captured_bytes / double(1 << 20),
                  captured.unreadable_bytes,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    image.raw = captured.image;
    image.info.description = absl::StrFormat(
        "the private writable memory of `python3 tools/python_workload.py --mb %d` (%d "
        "mappings), captured frozen through /proc/PID/mem",
        flags.python_mb, captured.mappings);
    images.push_back(std::move(image));
  }
  if (!flags.image.empty()) {
    Image image;
    image.name = std::filesystem::path(flags.image).filename().string();
    image.raw.path = UserPath(flags.image);
    LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(image.raw.path, O_RDONLY));
    LAZYSNAP_ASSIGN_OR_RETURN(uint64_t size, FileSizeBytes(fd.get(), image.raw.path));
    image.raw.regions = {{.image_offset_bytes = 0, .length_bytes = size / kPageBytes * kPageBytes}};
    image.info.description = "the raw image " + flags.image;
    images.push_back(std::move(image));
  }
  for (Image& image : images) {
    LAZYSNAP_RETURN_IF_ERROR(PrepareSnapshots(flags, dir, image, context.strategies));
    context.images.push_back(image.info);
  }

  // The runs.
  std::vector<RunRecord> runs;
  std::vector<double> loads;
  int total_runs = 0;
  for (const Image& image : images) {
    total_runs += static_cast<int>(flags.caches.size() * flags.repetitions * flags.patterns.size() *
                                   image.strategies.size());
  }
  int done = 0;
  const auto runs_start = std::chrono::steady_clock::now();
  for (Image& image : images) {
    for (const std::string& cache : flags.caches) {
      for (int rep = 0; rep < flags.repetitions; ++rep) {
        for (size_t p = 0; p < flags.patterns.size(); ++p) {
          const size_t n = image.strategies.size();
          for (size_t i = 0; i < n; ++i) {
            RestoreStrategy& strategy = *image.strategies[(i + rep + p) % n];
            LAZYSNAP_ASSIGN_OR_RETURN(
                RunRecord record, RunOnce(image, strategy, cache, flags.patterns[p], rep, flags));
            loads.push_back(record.load1);
            if (!record.error.empty()) {
              absl::FPrintF(stderr, "restore_compare: %s/%s/%s/%s: %s\n", record.image,
                            record.cache, record.strategy, record.pattern, record.error);
            }
            runs.push_back(std::move(record));
            ++done;
          }
        }
        absl::FPrintF(stderr, "restore_compare: %s %s repetition %d done: %d of %d runs, %.0f s\n",
                      image.name, cache, rep + 1, done, total_runs,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - runs_start)
                          .count());
      }
    }
  }

  // Conditions.
  struct utsname un;
  ::uname(&un);
  context.machine = {
      {"CPU", absl::StrFormat("%s, %d online CPUs", ProcField("/proc/cpuinfo", "model name"),
                              static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN)))},
      {"memory", absl::StrFormat("%.1f GiB", std::atof(ProcField("/proc/meminfo", "MemTotal").c_str()) /
                                                 (1 << 20))},
      {"kernel", std::string(un.release)},
      {"transparent huge pages", Trimmed(ReadFileToString("/sys/kernel/mm/transparent_hugepage/enabled").value_or("?"))},
      {"files", absl::StrFormat("%s (%s), device readahead %s", dir.path(), fs, ReadAheadKib(dir.path()))},
      {"compiler", absl::StrFormat("g++ %s, -c opt", __VERSION__)},
  };
  {
    const HostFeatures host = ProbeHostFeatures();
    context.machine.push_back({"io_uring", host.io_uring_detail});
    context.machine.push_back(
        {"userfaultfd", host.open_status.ok() ? host.open_path
                                              : std::string(host.open_status.message())});
  }
  std::sort(loads.begin(), loads.end());
  const std::string load_at_end = LoadAverageText();
  context.machine.push_back(
      {"load average (1, 5, 15 min)",
       absl::StrFormat("%s at the start, %s at the end; 1-minute load at the start of the runs: "
                       "min %.2f, median %.2f, max %.2f",
                       load_at_start, load_at_end, loads.empty() ? 0 : loads.front(),
                       MinMedian(loads).second, loads.empty() ? 0 : loads.back())});
  double cold_cached = 0;
  bool any_cold = false;
  for (const RunRecord& r : runs) {
    if (r.cache == "cold") {
      any_cold = true;
      cold_cached = std::max(cold_cached, r.cached_before);
    }
  }
  if (any_cold) {
    context.notes.push_back(absl::StrFormat(
        "Cold runs: %s before each run; at most %.1f%% of a strategy's files was still in the "
        "page cache when a cold run started. The disk is the VM's virtio block device: a read "
        "the guest's page cache misses may still be served from the host's cache.",
        flags.cold_method == "fadvise"
            ? "the strategy's files were written back and dropped with "
              "posix_fadvise(POSIX_FADV_DONTNEED)"
            : "`sync; echo 3 > /proc/sys/vm/drop_caches`",
        cold_cached * 100));
  }
  context.notes.push_back(
      "Touches read one byte per page and write nothing: a private file mapping (mmap) then "
      "never copies a page. A workload that writes would add a copy per written page to mmap "
      "and nothing to the others.");
  context.notes.push_back(
      "Memory overhead counts everything the process's resident set gained besides the "
      "restored memory: for uffd-4k that includes the page cache pages its image mapping maps "
      "(shared with the page cache, reclaimable); the page cache itself is not counted for any "
      "strategy.");
  context.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();

  if (flags.out.empty()) {
    absl::PrintF("%s", RenderMarkdown(context, runs));
  } else {
    const std::string out = UserPath(flags.out);
    std::filesystem::create_directories(out);
    context.chart_time_png = "restore_compare_time.png";
    context.chart_latency_png = "restore_compare_latency.png";
    ChartFiles charts = RenderCharts(context, runs);
    const std::string data_dir = out + "/restore_compare_data";
    std::filesystem::create_directories(data_dir);
    for (const auto& [name, text] : charts.data) {
      LAZYSNAP_RETURN_IF_ERROR(WriteText(data_dir + "/" + name, text));
    }
    // The script runs in the data directory and draws into the output directory.
    std::string script = charts.script;
    for (const std::string* png : {&context.chart_time_png, &context.chart_latency_png}) {
      const std::string from = "'" + *png + "'";
      for (size_t at = script.find(from); at != std::string::npos; at = script.find(from, at + 1)) {
        script.replace(at, from.size(), "'../" + *png + "'");
      }
    }
    LAZYSNAP_RETURN_IF_ERROR(WriteText(data_dir + "/charts.gnuplot", script));
    const int rc = std::system(
        absl::StrFormat("cd '%s' && gnuplot charts.gnuplot", data_dir).c_str());
    if (rc != 0) {
      absl::FPrintF(stderr, "restore_compare: gnuplot failed (status %d): no charts\n", rc);
      context.chart_time_png.clear();
      context.chart_latency_png.clear();
    }
    const std::string md = RenderMarkdown(context, runs);
    LAZYSNAP_RETURN_IF_ERROR(WriteText(out + "/restore_compare.md", md));
    LAZYSNAP_RETURN_IF_ERROR(WriteText(out + "/restore_compare.csv", RenderSummaryCsv(context, runs)));
    LAZYSNAP_RETURN_IF_ERROR(WriteText(out + "/restore_compare_runs.csv", RenderRunsCsv(runs)));
    absl::FPrintF(stderr, "restore_compare: wrote %s/restore_compare.{md,csv}, runs CSV, charts\n",
                  out);
    if (!flags.benchmarks_md.empty()) {
      const std::string benchmarks = UserPath(flags.benchmarks_md);
      // Charts are linked relative to the file that embeds the report.
      const std::string relative =
          std::filesystem::relative(out, std::filesystem::path(benchmarks).parent_path()).string();
      ReportContext embedded = context;
      if (!embedded.chart_time_png.empty()) {
        embedded.chart_time_png = relative + "/" + context.chart_time_png;
        embedded.chart_latency_png = relative + "/" + context.chart_latency_png;
      }
      LAZYSNAP_RETURN_IF_ERROR(UpdateBenchmarksMd(benchmarks, RenderMarkdown(embedded, runs)));
      absl::FPrintF(stderr, "restore_compare: updated %s\n", benchmarks);
    }
  }
  uint64_t mismatched = 0;
  for (const RunRecord& r : runs) mismatched += r.pages_mismatched;
  if (mismatched > 0) {
    return absl::DataLossError(absl::StrFormat(
        "%d touched pages differ from the raw image (see the report): the figures of those "
        "runs measure a wrong restore",
        mismatched));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace lazysnap::bench

int main(int argc, char** argv) {
  if (lazysnap::cli::WantsHelp(argc, argv)) {
    absl::PrintF("%s", lazysnap::cli::HelpText(lazysnap::bench::kSpec));
    return 0;
  }
  auto flags = lazysnap::bench::ParseFlags(argc, argv);
  if (!flags.ok()) {
    return lazysnap::cli::UsageError(lazysnap::bench::kSpec, std::string(flags.status().message()));
  }
  absl::Status status = lazysnap::bench::Run(*flags, argc, argv);
  if (!status.ok()) {
    absl::FPrintF(stderr, "restore_compare: %s\n", status.ToString());
    return 1;
  }
  return 0;
}
