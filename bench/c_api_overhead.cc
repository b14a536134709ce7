// c_api_overhead: does a fault cost more in a session started through the C API
// (liblazysnap.so.0, as a Rust or Go runtime starts it) than in one started from C++? It
// should not: the C API only starts the session; faults are served by the same engine.
//
// One snapshot of a synthetic image; then, interleaved (C++, C, C, C++, C++, C, ...),
// sessions with the same options each touch every page once in the same random order
// from one thread. Per session: the toucher's time per page and per fault, and the
// engine's fault service latency (p50, p99). Prints min and median per side and the
// ratio of medians. Run with -c opt under the benchmark lock:
//   tools/bazel build -c opt //bench:c_api_overhead
//   flock /tmp/lazysnap-bench.lock nice -n -10 bazel-bin/bench/c_api_overhead [--mib 256] [--rounds 10]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "bench/scratch_dir.h"
#include "engine/restore_options.h"
#include "engine/restore_session.h"
#include "lazysnap/lazysnap.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/snapshot_writer.h"
#include "workload/access_pattern.h"
#include "workload/synthetic_image.h"

namespace lazysnap {
namespace {

constexpr int kHandlerThreads = 1;

struct Sample {
  double touch_ns_per_page = 0;
  double touch_ns_per_fault = 0;
  uint64_t faults = 0;
  uint64_t p50_ns = 0;
  uint64_t p99_ns = 0;
  uint64_t ready_ns = 0;
};

// Measure touches every page of `memory` once and reads the session's stats after.
Sample Measure(const MemoryView& memory, const AccessPattern& pattern,
               const std::function<RestoreStats()>& stats) {
  const auto plan = PlanTouches(memory, pattern, 1);
  const TouchResult touched = TouchPages(memory, plan, false);
  const RestoreStats after = stats();
  Sample sample;
  sample.faults = after.faults;
  sample.touch_ns_per_page = touched.seconds * 1e9 / static_cast<double>(touched.pages);
  sample.touch_ns_per_fault = touched.seconds * 1e9 / static_cast<double>(std::max<uint64_t>(1, sample.faults));
  sample.p50_ns = after.latency_p50_ns;
  sample.p99_ns = after.latency_p99_ns;
  sample.ready_ns = after.time_to_ready_ns;
  return sample;
}

absl::StatusOr<Sample> RunCxx(const std::string& snapshot_path, const AccessPattern& pattern) {
  auto snapshot = SnapshotReader::Open(snapshot_path, {.validate_index = false});
  if (!snapshot.ok()) return snapshot.status();
  RestoreOptions options;
  options.handler_threads = kHandlerThreads;
  auto session = RestoreSession::Start(std::move(*snapshot), options);
  if (!session.ok()) return session.status();
  MemoryView memory = {(*session)->region_memory(0)};
  Sample sample = Measure(memory, pattern, [&] { return (*session)->stats(); });
  if (absl::Status s = (*session)->Close(CloseMode::kDiscard); !s.ok()) return s;
  return sample;
}

absl::Status CError(std::string_view what, lazysnap_code code, char* error) {
  absl::Status status(static_cast<absl::StatusCode>(code),
                      absl::StrFormat("%s: %s", what, error != nullptr ? error : ""));
  lazysnap_free(error);
  return status;
}

absl::StatusOr<Sample> RunC(const std::string& snapshot_path, const AccessPattern& pattern) {
  char* error = nullptr;
  lazysnap_snapshot_t* snapshot = nullptr;
  lazysnap_code code = lazysnap_snapshot_open(snapshot_path.c_str(), 0, &snapshot, &error);
  if (code != LAZYSNAP_OK) return CError("lazysnap_snapshot_open", code, error);
  lazysnap_restore_options_t* options = lazysnap_restore_options_create();
  code = lazysnap_restore_options_set_handler_threads(options, kHandlerThreads, &error);
  if (code != LAZYSNAP_OK) return CError("set_handler_threads", code, error);
  lazysnap_session_t* session = nullptr;
  code = lazysnap_session_start(snapshot, options, &session, &error);
  lazysnap_restore_options_free(options);
  lazysnap_snapshot_free(snapshot);
  if (code != LAZYSNAP_OK) return CError("lazysnap_session_start", code, error);
  void* data = nullptr;
  uint64_t length = 0;
  code = lazysnap_session_region_memory(session, 0, &data, &length, &error);
  if (code != LAZYSNAP_OK) return CError("lazysnap_session_region_memory", code, error);
  MemoryView memory = {{static_cast<uint8_t*>(data), length}};
  Sample sample = Measure(memory, pattern, [&] {
    lazysnap_stats c{};
    if (lazysnap_session_get_stats(session, &c, sizeof c, nullptr) != LAZYSNAP_OK) std::abort();
    RestoreStats s;
    s.faults = c.faults;
    s.latency_p50_ns = c.latency_p50_ns;
    s.latency_p99_ns = c.latency_p99_ns;
    s.time_to_ready_ns = c.time_to_ready_ns;
    return s;
  });
  code = lazysnap_session_close(session, LAZYSNAP_CLOSE_DISCARD, &error);
  lazysnap_session_free(session);
  if (code != LAZYSNAP_OK) return CError("lazysnap_session_close", code, error);
  return sample;
}

template <typename Field>
std::pair<double, double> MinMedian(std::vector<Sample> samples, Field field) {
  std::vector<double> values;
  for (const Sample& s : samples) values.push_back(static_cast<double>(field(s)));
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return {values.front(), median};
}

int Main(int argc, char** argv) {
  uint64_t mib = 256;
  int rounds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--mib") == 0) mib = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
  }
  auto scratch = ScratchDir::Create();
  if (!scratch.ok()) {
    std::fprintf(stderr, "%s\n", scratch.status().ToString().c_str());
    return 1;
  }
  const std::string image = scratch->File("image.raw");
  const std::string snapshot = scratch->File("image.lzs");
  absl::Status status = WriteSyntheticImage(image, mib << 20, SyntheticImageOptions{});
  auto source = FileImageSource::Open(image);
  if (status.ok() && source.ok()) status = WriteSnapshot(**source, snapshot, WriterOptions{}).status();
  if (status.ok() && !source.ok()) status = source.status();
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  const AccessPattern pattern{.kind = AccessPattern::Kind::kRandom, .seed = 7};
  std::vector<Sample> cxx, c;
  for (int round = 0; round < rounds; ++round) {
    // ABBA order: neither side always runs first (page cache, CPU frequency, neighbours).
    for (int side : round % 2 == 0 ? std::vector<int>{0, 1} : std::vector<int>{1, 0}) {
      auto sample = side == 0 ? RunCxx(snapshot, pattern) : RunC(snapshot, pattern);
      if (!sample.ok()) {
        std::fprintf(stderr, "%s\n", sample.status().ToString().c_str());
        return 1;
      }
      (side == 0 ? cxx : c).push_back(*sample);
    }
  }
  std::printf("c_api_overhead: %d MiB synthetic image, every page touched once in random order, "
              "1 toucher, %d handler thread, %d rounds per side (interleaved)\n",
              static_cast<int>(mib), kHandlerThreads, rounds);
  std::printf("| metric | C++ Start min | C++ median | C API min | C API median | C/C++ median |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  auto row = [&](const char* name, auto field) {
    auto [cxx_min, cxx_median] = MinMedian(cxx, field);
    auto [c_min, c_median] = MinMedian(c, field);
    std::printf("| %s | %.0f | %.0f | %.0f | %.0f | %.3f |\n", name, cxx_min, cxx_median, c_min,
                c_median, c_median / cxx_median);
  };
  row("touch ns per page", [](const Sample& s) { return s.touch_ns_per_page; });
  row("touch ns per fault", [](const Sample& s) { return s.touch_ns_per_fault; });
  row("faults", [](const Sample& s) { return s.faults; });
  row("fault service p50 ns", [](const Sample& s) { return s.p50_ns; });
  row("fault service p99 ns", [](const Sample& s) { return s.p99_ns; });
  row("time to ready ns", [](const Sample& s) { return s.ready_ns; });
  // Paired: each round's C API session against the C++ one next to it, so that load that
  // drifts over the run (other processes on the machine) cancels.
  std::vector<double> ratios;
  for (size_t i = 0; i < cxx.size(); ++i) {
    ratios.push_back(c[i].touch_ns_per_fault / cxx[i].touch_ns_per_fault);
  }
  std::sort(ratios.begin(), ratios.end());
  std::printf("\nper-round C/C++ ratio of touch ns per fault: min %.3f, median %.3f, max %.3f\n",
              ratios.front(), ratios[ratios.size() / 2], ratios.back());
  return 0;
}

}  // namespace
}  // namespace lazysnap

int main(int argc, char** argv) { return lazysnap::Main(argc, argv); }
