// remote_restore: lazysnap restoring a snapshot served over HTTP by nginx, against
// downloading the whole snapshot first and restoring it locally, and against a local
// file, at several added round-trip times.
//
// Workloads (one fresh restore each, 2 toucher threads):
//   remote-cold    a URL, empty host chunk cache
//   remote-warm    a URL, the host cache filled by a previous full restore
//   download+local `curl -o` of the whole snapshot, then a restore of the local copy
//   local-warm     the local file, in the page cache
//   local-cold     the local file, evicted from the page cache first
// Patterns: ws:10 (a random 10% of the pages) and random (every page, shuffled).
// Added latency: a loopback delay proxy (remote/testing/delay_proxy.h) in front of
// nginx, since this kernel has no sch_netem; 0 ms goes to nginx directly.
//
//   bazel run -c opt //bench:remote_restore -- --dir /work/scratch/remote/bench \
//       --image_mib 1024 --rtt_ms 0,1,10 --repetitions 3
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "bench/process_metrics.h"
#include "engine/restore_session.h"
#include "remote/snapshot_location.h"
#include "remote/testing/delay_proxy.h"
#include "remote/testing/test_servers.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/snapshot_writer.h"
#include "workload/access_pattern.h"
#include "workload/synthetic_image.h"

namespace lazysnap::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

struct Flags {
  std::string dir = "/tmp/lazysnap-remote-bench";
  uint64_t image_mib = 1024;
  std::vector<int> rtt_ms = {0, 1, 10};
  int repetitions = 1;
  uint32_t group = 8;
  std::vector<std::string> patterns = {"ws:10", "random"};
  // remote-nocache (a fault fetches its chunk only) is measured up to this RTT: beyond,
  // it takes minutes.
  int nocache_max_rtt_ms = 1;
};

struct Result {
  double download_seconds = 0;  // download+local only
  double ready_seconds = 0;     // open + session start
  double touch_seconds = 0;
  uint64_t pages_touched = 0;
  uint64_t bytes_received = 0;  // over HTTP
  uint64_t http_requests = 0;
  uint64_t cache_hits = 0;
  double total() const { return download_seconds + ready_seconds + touch_seconds; }
};

absl::StatusOr<Result> RestoreAndTouch(const std::string& location, const std::string& pattern,
                                       const std::string& cache_dir, uint32_t group) {
  Result result;
  auto access = AccessPattern::Parse(pattern);
  if (!access.ok()) return access.status();
  remote::SnapshotLocationOptions options;
  options.cache_directory = cache_dir;
  options.cache_max_bytes = uint64_t{64} << 30;
  options.source.group_chunks = group;
  const auto start = Clock::now();
  auto opened = remote::OpenSnapshot(location, options);
  if (!opened.ok()) return opened.status();
  RestoreOptions restore;
  restore.chunk_source = opened->chunk_source;
  auto session = RestoreSession::Start(opened->reader, restore);
  if (!session.ok()) return session.status();
  result.ready_seconds = Seconds(start);
  MemoryView memory;
  for (uint32_t r = 0; r < opened->reader->regions().size(); ++r) {
    memory.push_back((*session)->region_memory(r));
  }
  const auto plan = PlanTouches(memory, *access, 2);
  const TouchResult touched = TouchPages(memory, plan, false);
  result.touch_seconds = touched.seconds;
  result.pages_touched = touched.pages;
  absl::Status closed = (*session)->Close(CloseMode::kDiscard);
  if (!closed.ok()) return closed;
  session->reset();
  if (opened->remote_source != nullptr) {
    result.bytes_received = opened->remote_file->fetcher().stats().bytes_received;
    result.http_requests = opened->remote_file->fetcher().stats().http_requests;
    result.cache_hits = opened->remote_source->stats().cache_hits;
  }
  return result;
}

// Download fetches `url` to `path` with curl(1), as a user would before a local restore.
absl::StatusOr<double> Download(const std::string& url, const std::string& path) {
  std::filesystem::remove(path);
  const auto start = Clock::now();
  const std::string command = absl::StrFormat("curl -sf -o '%s' '%s'", path, url);
  if (std::system(command.c_str()) != 0) {
    return absl::UnavailableError("download failed: " + command);
  }
  return Seconds(start);
}

std::string Ms(double seconds) { return absl::StrFormat("%.1f", seconds * 1e3); }
std::string Mib(uint64_t bytes) { return absl::StrFormat("%.1f", bytes / 1048576.0); }

absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--dir") flags.dir = value();
    else if (arg == "--image_mib") flags.image_mib = std::stoull(value());
    else if (arg == "--repetitions") flags.repetitions = std::stoi(value());
    else if (arg == "--group") flags.group = static_cast<uint32_t>(std::stoul(value()));
    else if (arg == "--nocache_max_rtt_ms") flags.nocache_max_rtt_ms = std::stoi(value());
    else if (arg == "--rtt_ms") {
      flags.rtt_ms.clear();
      std::string list = value();
      for (size_t at = 0; at <= list.size();) {
        const size_t comma = std::min(list.find(',', at), list.size());
        flags.rtt_ms.push_back(std::stoi(list.substr(at, comma - at)));
        at = comma + 1;
      }
    } else if (arg == "--patterns") {
      flags.patterns.clear();
      std::string list = value();
      for (size_t at = 0; at <= list.size();) {
        const size_t comma = std::min(list.find(',', at), list.size());
        flags.patterns.push_back(list.substr(at, comma - at));
        at = comma + 1;
      }
    } else if (arg == "--help") {
      std::printf(
          "remote_restore [--dir DIR] [--image_mib N] [--rtt_ms 0,1,10] [--repetitions N]\n"
          "               [--group N] [--patterns ws:10,random] [--nocache_max_rtt_ms N]\n");
      std::exit(0);
    } else {
      return absl::InvalidArgumentError("unknown flag " + arg);
    }
  }
  return flags;
}

struct Row {
  std::string workload;
  int rtt_ms;
  std::string pattern;
  std::vector<Result> runs;
};

// Median and minimum of a field over runs.
template <typename F>
std::string MedMin(const std::vector<Result>& runs, F field) {
  std::vector<double> v;
  for (const Result& r : runs) v.push_back(field(r));
  std::sort(v.begin(), v.end());
  return absl::StrFormat("%s (%s)", Ms(v[v.size() / 2]), Ms(v.front()));
}

int Main(int argc, char** argv) {
  auto flags = ParseFlags(argc, argv);
  if (!flags.ok()) {
    std::fprintf(stderr, "%s\n", std::string(flags.status().message()).c_str());
    return 2;
  }
  const std::string www = flags->dir + "/www";
  std::filesystem::create_directories(www);
  const std::string image = flags->dir + "/image.raw";
  const std::string snapshot = www + "/snap.lzs";
  if (!std::filesystem::exists(snapshot)) {
    absl::Status written = WriteSyntheticImage(image, flags->image_mib << 20, {});
    if (!written.ok()) {
      std::fprintf(stderr, "%s\n", std::string(written.message()).c_str());
      return 1;
    }
    auto source = FileImageSource::Open(image, {});
    if (!source.ok()) return 1;
    auto summary = WriteSnapshot(**source, snapshot, {});
    if (!summary.ok()) {
      std::fprintf(stderr, "%s\n", std::string(summary.status().message()).c_str());
      return 1;
    }
    std::filesystem::remove(image);
  }
  const uint64_t snapshot_bytes = std::filesystem::file_size(snapshot);
  auto nginx = remote::testing::StartNginx(www, flags->dir + "/nginx");
  if (!nginx.ok()) {
    std::fprintf(stderr, "%s\n", std::string(nginx.status().message()).c_str());
    return 1;
  }
  remote::InitializeNetworking();

  std::vector<Row> rows;
  auto run = [&](const std::string& workload, int rtt, const std::string& pattern, auto body) {
    Row row{workload, rtt, pattern, {}};
    for (int i = 0; i < flags->repetitions; ++i) {
      absl::StatusOr<Result> r = body();
      if (!r.ok()) {
        std::fprintf(stderr, "%s rtt %d %s: %s\n", workload.c_str(), rtt, pattern.c_str(),
                     std::string(r.status().message()).c_str());
        return;
      }
      std::fprintf(stderr, "%s rtt %d ms %s: ready %s ms, touch %s ms, %s MiB received\n",
                   workload.c_str(), rtt, pattern.c_str(), Ms(r->ready_seconds).c_str(),
                   Ms(r->touch_seconds).c_str(), Mib(r->bytes_received).c_str());
      row.runs.push_back(*r);
    }
    rows.push_back(std::move(row));
  };

  for (const std::string& pattern : flags->patterns) {
    run("local-warm", 0, pattern, [&] { return RestoreAndTouch(snapshot, pattern, "", 1); });
    run("local-cold", 0, pattern, [&]() -> absl::StatusOr<Result> {
      absl::Status evicted = EvictFromPageCache(snapshot);
      if (!evicted.ok()) return evicted;
      return RestoreAndTouch(snapshot, pattern, "", 1);
    });
  }
  for (int rtt : flags->rtt_ms) {
    std::unique_ptr<remote::testing::DelayProxy> proxy;
    int port = nginx->port;
    if (rtt > 0) {
      auto started = remote::testing::DelayProxy::Start(nginx->port, std::chrono::milliseconds(rtt));
      if (!started.ok()) return 1;
      proxy = std::move(*started);
      port = proxy->port();
    }
    const std::string url = absl::StrFormat("http://127.0.0.1:%d/snap.lzs", port);
    const std::string cache = flags->dir + "/cache";
    for (const std::string& pattern : flags->patterns) {
      run("remote-cold", rtt, pattern, [&] {
        std::filesystem::remove_all(cache);
        return RestoreAndTouch(url, pattern, cache, flags->group);
      });
      if (rtt <= flags->nocache_max_rtt_ms) {
        run("remote-nocache", rtt, pattern, [&] { return RestoreAndTouch(url, pattern, "", 1); });
      }
      run("download+local", rtt, pattern, [&]() -> absl::StatusOr<Result> {
        const std::string copy = flags->dir + "/download.lzs";
        auto seconds = Download(url, copy);
        if (!seconds.ok()) return seconds.status();
        auto r = RestoreAndTouch(copy, pattern, "", 1);
        if (!r.ok()) return r.status();
        r->download_seconds = *seconds;
        r->bytes_received = snapshot_bytes;
        std::filesystem::remove(copy);
        return r;
      });
    }
    // Warm host cache: fill it with one full restore, then measure.
    std::filesystem::remove_all(cache);
    if (!RestoreAndTouch(url, "random", cache, flags->group).ok()) return 1;
    for (const std::string& pattern : flags->patterns) {
      run("remote-warm", rtt, pattern, [&] { return RestoreAndTouch(url, pattern, cache, flags->group); });
    }
    std::filesystem::remove_all(cache);
  }

  std::printf("snapshot %s MiB stored for a %d MiB image; fetch group %d chunks; "
              "%d repetition(s), median (min)\n\n",
              Mib(snapshot_bytes).c_str(), static_cast<int>(flags->image_mib), flags->group,
              flags->repetitions);
  std::printf("| workload | added RTT | pattern | ready ms | touch ms | total ms | MiB received | "
              "MiB touched | requests |\n|---|--:|---|--:|--:|--:|--:|--:|--:|\n");
  for (const Row& row : rows) {
    if (row.runs.empty()) continue;
    const Result& first = row.runs.front();
    std::printf("| %s | %d ms | %s | %s | %s | %s | %s | %s | %d |\n", row.workload.c_str(),
                row.rtt_ms, row.pattern.c_str(),
                MedMin(row.runs, [](const Result& r) { return r.ready_seconds; }).c_str(),
                MedMin(row.runs, [](const Result& r) { return r.touch_seconds; }).c_str(),
                MedMin(row.runs, [](const Result& r) { return r.total(); }).c_str(),
                Mib(first.bytes_received).c_str(), Mib(first.pages_touched * 4096).c_str(),
                static_cast<int>(first.http_requests));
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace lazysnap::bench

int main(int argc, char** argv) { return lazysnap::bench::Main(argc, argv); }
