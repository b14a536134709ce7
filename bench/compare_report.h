// The results of bench/restore_compare: one RunRecord per measured run, summarised as
// min and median over repetitions and rendered as a markdown report (tables and ratios),
// CSV (summary and every run) and gnuplot charts (data files and a script that draws
// PNGs).
#ifndef LAZYSNAP_BENCH_COMPARE_REPORT_H_
#define LAZYSNAP_BENCH_COMPARE_REPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace lazysnap::bench {

// kCdfFractions: where the latency distribution of each run is sampled for the CDF chart.
std::vector<double> CdfFractions();

// RunRecord: one strategy restored once, touched with one pattern, checked, torn down.
struct RunRecord {
  std::string image;     // "synthetic", "python"
  std::string cache;     // "warm" or "cold"
  std::string strategy;  // RestoreStrategy::name()
  std::string pattern;   // "ws:10", "seq", "random"
  int repetition = 0;
  double load1 = 0;            // 1-minute load average when the run started
  double cached_before = 0;    // fraction of the strategy's files in the page cache at start
  double ready_seconds = 0;    // Restore()
  double touch_seconds = 0;    // TouchPages
  double cpu_seconds = 0;      // user + system time of the process over ready + touch
  uint64_t pages_touched = 0;
  // Touches slower than the fault threshold: the touches that took a fault.
  uint64_t faulted_touches = 0;
  double fault_p50_ns = 0;     // percentiles over the faulted touches (0 when none)
  double fault_p99_ns = 0;
  std::vector<double> fault_quantiles_ns;  // at CdfFractions(), over the faulted touches
  // The strategy's own count (EngineReport).
  uint64_t engine_faults = 0;
  uint64_t engine_bytes_read = 0;
  bool has_service_latency = false;
  double service_p50_ns = 0;
  double service_p99_ns = 0;
  std::string engine_detail;
  // /proc/self/io deltas over ready + touch.
  uint64_t storage_read_bytes = 0;  // read_bytes
  uint64_t rchar_bytes = 0;         // rchar
  // Memory after touching: the restored memory's resident set (smaps Rss of its
  // mappings), and what else the process gained since before Restore.
  uint64_t restored_resident_bytes = 0;
  int64_t overhead_bytes = 0;
  int64_t overhead_anonymous_bytes = 0;
  bool residency_partial = false;
  uint64_t pages_verified = 0;
  uint64_t pages_mismatched = 0;
  std::string error;  // the strategy's serving error, if any
};

// StrategyInfo: a strategy as the report describes it.
struct StrategyInfo {
  std::string name;
  std::string description;
  std::string kind;  // "eager", "mmap", "uffd-4k", "lazysnap"
  bool lazysnap_default = false;  // lazysnap with default options (the one ratios use)
};

// ImageInfo: an image as the report describes it, with the size on disk of every file
// a strategy reads.
struct ImageInfo {
  std::string name;
  std::string description;
  uint64_t memory_bytes = 0;
  uint32_t regions = 0;
  // Per strategy: bytes its files occupy on disk (st_blocks * 512).
  std::map<std::string, uint64_t> on_disk_bytes;
  // Apparent size of the raw image (its length).
  uint64_t raw_length_bytes = 0;
};

// ReportContext: everything about the run that is not a measurement.
struct ReportContext {
  std::string command;      // how to reproduce
  std::string started_at;   // UTC date and time
  std::string commit;       // git describe of the tree, or empty
  std::vector<std::pair<std::string, std::string>> machine;  // label, value
  std::vector<std::string> notes;  // conditions and warnings
  std::vector<StrategyInfo> strategies;
  std::vector<ImageInfo> images;
  std::vector<std::string> caches;    // "warm", "cold" in run order
  std::vector<std::string> patterns;  // "ws:10", "seq", "random"
  int repetitions = 0;
  int touch_threads = 0;
  uint64_t fault_threshold_ns = 0;
  std::string calibration;  // a sentence on how the threshold was checked
  double wall_seconds = 0;  // the whole run, preparation included
  std::string chart_time_png;     // file names beside the report, empty when not drawn
  std::string chart_latency_png;
};

// RenderMarkdown returns the whole report.
std::string RenderMarkdown(const ReportContext& context, const std::vector<RunRecord>& runs);

// RenderSummaryCsv: one row per (image, cache, strategy, pattern), min and median of
// every figure.
std::string RenderSummaryCsv(const ReportContext& context, const std::vector<RunRecord>& runs);

// RenderRunsCsv: one row per run.
std::string RenderRunsCsv(const std::vector<RunRecord>& runs);

// ChartFiles: gnuplot inputs: data files (name -> contents) and the script, which draws
// `context.chart_time_png` and `context.chart_latency_png` when run in the directory the
// files are written to.
struct ChartFiles {
  std::map<std::string, std::string> data;
  std::string script;
};
ChartFiles RenderCharts(const ReportContext& context, const std::vector<RunRecord>& runs);

// Percentile returns the nearest-rank percentile of sorted `values` (0 when empty).
double Percentile(const std::vector<double>& sorted, double fraction);

// MinMedian: the minimum and the median of `values` (0, 0 when empty).
std::pair<double, double> MinMedian(std::vector<double> values);

}  // namespace lazysnap::bench

#endif  // LAZYSNAP_BENCH_COMPARE_REPORT_H_
