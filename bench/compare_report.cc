// Summaries and renderings of restore_compare's runs.
#include "bench/compare_report.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <tuple>

#include "absl/strings/str_format.h"

namespace lazysnap::bench {
namespace {

constexpr double kMiB = 1 << 20;

// Key of a group of runs that differ only by repetition.
struct Key {
  std::string image, cache, strategy, pattern;
  bool operator<(const Key& o) const {
    return std::tie(image, cache, strategy, pattern) <
           std::tie(o.image, o.cache, o.strategy, o.pattern);
  }
};

using Groups = std::map<Key, std::vector<const RunRecord*>>;

Groups GroupRuns(const std::vector<RunRecord>& runs) {
  Groups groups;
  for (const RunRecord& run : runs) {
    groups[{run.image, run.cache, run.strategy, run.pattern}].push_back(&run);
  }
  return groups;
}

using Field = std::function<double(const RunRecord&)>;

// Stat: min and median of one figure over a group, or nothing when the group is empty.
struct Stat {
  bool present = false;
  double min = 0;
  double median = 0;
};

Stat StatOf(const Groups& groups, const Key& key, const Field& field) {
  auto it = groups.find(key);
  if (it == groups.end() || it->second.empty()) return {};
  std::vector<double> values;
  for (const RunRecord* run : it->second) values.push_back(field(*run));
  auto [min, median] = MinMedian(std::move(values));
  return {true, min, median};
}

double Total(const RunRecord& r) { return r.ready_seconds + r.touch_seconds; }

std::string FormatSeconds(double seconds) {
  if (seconds < 1e-3) return absl::StrFormat("%.0f µs", seconds * 1e6);
  if (seconds < 0.1) return absl::StrFormat("%.1f ms", seconds * 1e3);
  if (seconds < 1) return absl::StrFormat("%.0f ms", seconds * 1e3);
  return absl::StrFormat("%.2f s", seconds);
}

std::string FormatNs(double ns) {
  if (ns < 1e3) return absl::StrFormat("%.0f ns", ns);
  if (ns < 1e5) return absl::StrFormat("%.1f µs", ns / 1e3);
  if (ns < 1e6) return absl::StrFormat("%.0f µs", ns / 1e3);
  return absl::StrFormat("%.2f ms", ns / 1e6);
}

std::string FormatMiB(double bytes) {
  if (std::fabs(bytes) < 10 * kMiB) return absl::StrFormat("%.2f", bytes / kMiB);
  return absl::StrFormat("%.1f", bytes / kMiB);
}

std::string FormatCount(double count) { return absl::StrFormat("%.0f", count); }

std::string Cell(const Stat& s, const std::function<std::string(double)>& format) {
  if (!s.present) return "–";
  return format(s.min) + " / " + format(s.median);
}

const StrategyInfo* LazysnapDefault(const ReportContext& context) {
  for (const StrategyInfo& s : context.strategies) {
    if (s.lazysnap_default) return &s;
  }
  return nullptr;
}

const StrategyInfo* FirstOfKind(const ReportContext& context, const std::string& kind) {
  for (const StrategyInfo& s : context.strategies) {
    if (s.kind == kind) return &s;
  }
  return nullptr;
}

bool HasGroup(const Groups& groups, const std::string& image, const std::string& cache) {
  for (const auto& [key, runs] : groups) {
    if (key.image == image && key.cache == cache) return true;
  }
  return false;
}

// Ratio renders lazysnap / baseline with which is better, or "–".
std::string RatioText(double lazysnap, double baseline) {
  if (lazysnap <= 0 || baseline <= 0) return "–";
  const double ratio = lazysnap / baseline;
  if (ratio <= 1) return absl::StrFormat("**%.3g** (lazysnap %.3g× less)", ratio, 1 / ratio);
  return absl::StrFormat("**%.3g** (lazysnap %.3g× more)", ratio, ratio);
}

void AppendTables(std::string& md, const ReportContext& context, const Groups& groups,
                  const ImageInfo& image, const std::string& cache) {
  const int reps = context.repetitions;
  absl::StrAppendFormat(&md, "\n## %s image, %s page cache\n", image.name, cache);

  // Time.
  absl::StrAppendFormat(
      &md,
      "\n**Time from the start of the restore** until ready, and until every page of the "
      "pattern has been touched (ready + touch). Min / median of %d runs.\n\n",
      reps);
  md += "| strategy | on disk MiB | ready | ready + ws:10 | ready + seq | ready + random |\n";
  md += "|---|--:|--:|--:|--:|--:|\n";
  for (const StrategyInfo& s : context.strategies) {
    std::vector<double> ready_all;
    for (const std::string& pattern : context.patterns) {
      auto it = groups.find({image.name, cache, s.name, pattern});
      if (it == groups.end()) continue;
      for (const RunRecord* r : it->second) ready_all.push_back(r->ready_seconds);
    }
    if (ready_all.empty()) continue;
    auto [ready_min, ready_median] = MinMedian(ready_all);
    Stat ready{true, ready_min, ready_median};
    auto total = [&](const char* pattern) {
      return Cell(StatOf(groups, {image.name, cache, s.name, pattern}, Total), FormatSeconds);
    };
    auto disk = image.on_disk_bytes.find(s.name);
    absl::StrAppendFormat(&md, "| %s | %s | %s | %s | %s | %s |\n", s.name,
                          disk == image.on_disk_bytes.end() ? "–" : FormatMiB(disk->second),
                          Cell(ready, FormatSeconds), total("ws:10"), total("seq"),
                          total("random"));
  }

  // Faults.
  absl::StrAppendFormat(
      &md,
      "\n**Faults seen by the touching threads**: latency percentiles over the touches that "
      "took longer than %s (those that faulted; see *How to read*), and the number of such "
      "touches; *server* is the fault service time the serving thread measured itself (from "
      "reading the fault to the install returning). Min / median of %d runs.\n\n",
      FormatNs(static_cast<double>(context.fault_threshold_ns)), reps);
  md += "| strategy | ws:10 faulted | ws:10 p50 | ws:10 p99 | random faulted | random p50 | "
        "random p99 | seq faulted | seq p50 | seq p99 | server p50 (random) | server p99 "
        "(random) |\n";
  md += "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";
  for (const StrategyInfo& s : context.strategies) {
    if (!groups.count({image.name, cache, s.name, "random"}) &&
        !groups.count({image.name, cache, s.name, "ws:10"}) &&
        !groups.count({image.name, cache, s.name, "seq"})) {
      continue;
    }
    std::string row = "| " + s.name;
    for (const char* pattern : {"ws:10", "random", "seq"}) {
      const Key key{image.name, cache, s.name, pattern};
      row += " | " + Cell(StatOf(groups, key, [](const RunRecord& r) {
                            return static_cast<double>(r.faulted_touches);
                          }),
                          FormatCount);
      row += " | " + Cell(StatOf(groups, key, [](const RunRecord& r) { return r.fault_p50_ns; }),
                          FormatNs);
      row += " | " + Cell(StatOf(groups, key, [](const RunRecord& r) { return r.fault_p99_ns; }),
                          FormatNs);
    }
    const Key random{image.name, cache, s.name, "random"};
    auto it = groups.find(random);
    const bool server = it != groups.end() && !it->second.empty() &&
                        it->second.front()->has_service_latency;
    if (server) {
      row += " | " + Cell(StatOf(groups, random, [](const RunRecord& r) { return r.service_p50_ns; }),
                          FormatNs);
      row += " | " + Cell(StatOf(groups, random, [](const RunRecord& r) { return r.service_p99_ns; }),
                          FormatNs);
    } else {
      row += " | – | –";
    }
    md += row + " |\n";
  }

  // I/O, memory, CPU.
  absl::StrAppendFormat(
      &md,
      "\n**I/O, memory and CPU.** *Storage read*: read_bytes of /proc/self/io over ready + "
      "touch (what had to come from the disk). *read(2)*: rchar (bytes returned by read "
      "system calls; blind to page faults on file mappings and to io_uring). *Engine read*: "
      "the strategy's own count of bytes read from its file. *Resident*: the restored "
      "memory's resident set after the touch. *Overhead*: what else the process's resident "
      "set grew by (RSS after touching, minus the restored memory's, minus RSS before the "
      "restore); *file-mapped* is the part that is pages of a file mapping (the page cache "
      "mapped into the process, reclaimable), the rest is anonymous memory the strategy "
      "allocated. *CPU*: user + system time of the whole process over ready + touch. MiB "
      "and seconds, min / median of %d runs.\n\n",
      reps);
  md += "| strategy | storage read ws:10 | storage read seq | storage read random | read(2) seq "
        "| engine read seq | resident after ws:10 | overhead after random | of which "
        "file-mapped | CPU ready + ws:10 | CPU ready + random |\n";
  md += "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";
  for (const StrategyInfo& s : context.strategies) {
    if (!groups.count({image.name, cache, s.name, "seq"}) &&
        !groups.count({image.name, cache, s.name, "random"}) &&
        !groups.count({image.name, cache, s.name, "ws:10"})) {
      continue;
    }
    auto stat = [&](const char* pattern, const Field& f) {
      return StatOf(groups, {image.name, cache, s.name, pattern}, f);
    };
    auto mib = [](double v) { return FormatMiB(v); };
    auto seconds = [](double v) { return absl::StrFormat("%.3f", v); };
    absl::StrAppendFormat(
        &md, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.name,
        Cell(stat("ws:10", [](const RunRecord& r) { return double(r.storage_read_bytes); }), mib),
        Cell(stat("seq", [](const RunRecord& r) { return double(r.storage_read_bytes); }), mib),
        Cell(stat("random", [](const RunRecord& r) { return double(r.storage_read_bytes); }), mib),
        Cell(stat("seq", [](const RunRecord& r) { return double(r.rchar_bytes); }), mib),
        Cell(stat("seq", [](const RunRecord& r) { return double(r.engine_bytes_read); }), mib),
        Cell(stat("ws:10", [](const RunRecord& r) { return double(r.restored_resident_bytes); }),
             mib),
        Cell(stat("random", [](const RunRecord& r) { return double(r.overhead_bytes); }), mib),
        Cell(stat("random",
                  [](const RunRecord& r) {
                    return double(r.overhead_bytes - r.overhead_anonymous_bytes);
                  }),
             mib),
        Cell(stat("ws:10", [](const RunRecord& r) { return r.cpu_seconds; }), seconds),
        Cell(stat("random", [](const RunRecord& r) { return r.cpu_seconds; }), seconds));
  }

  // Engine details, from the last run of each strategy with the random pattern.
  std::string details;
  for (const StrategyInfo& s : context.strategies) {
    auto it = groups.find({image.name, cache, s.name, "random"});
    if (it == groups.end() || it->second.empty()) continue;
    const RunRecord& r = *it->second.back();
    if (r.engine_detail.empty()) continue;
    absl::StrAppendFormat(&details, "%s%s: %s, %d faults served", details.empty() ? "" : "; ",
                          s.name, r.engine_detail, r.engine_faults);
  }
  if (!details.empty()) absl::StrAppendFormat(&md, "\nServing, last random run: %s.\n", details);
}

void AppendRatios(std::string& md, const ReportContext& context, const Groups& groups) {
  const StrategyInfo* lazy = LazysnapDefault(context);
  if (lazy == nullptr) return;
  const StrategyInfo* handler = FirstOfKind(context, "uffd-4k");
  const StrategyInfo* mmap = FirstOfKind(context, "mmap");
  const StrategyInfo* eager = FirstOfKind(context, "eager");
  absl::StrAppendFormat(
      &md,
      "\n## Ratios: %s against the alternatives\n\n"
      "lazysnap / baseline, from the medians above (below 1: lazysnap takes less time or "
      "space). Full touch is ready + touch of every page.\n",
      lazy->name);
  for (const ImageInfo& image : context.images) {
    for (const std::string& cache : context.caches) {
      if (!HasGroup(groups, image.name, cache)) continue;
      absl::StrAppendFormat(&md, "\n**%s image, %s**\n\n", image.name, cache);
      md += "| against | figure | lazysnap | baseline | lazysnap / baseline |\n";
      md += "|---|---|--:|--:|--:|\n";
      auto median = [&](const StrategyInfo* s, const char* pattern, const Field& f) {
        return StatOf(groups, {image.name, cache, s->name, pattern}, f);
      };
      auto ready_median = [&](const StrategyInfo* s) {
        std::vector<double> all;
        for (const std::string& pattern : context.patterns) {
          auto it = groups.find({image.name, cache, s->name, pattern});
          if (it == groups.end()) continue;
          for (const RunRecord* r : it->second) all.push_back(r->ready_seconds);
        }
        if (all.empty()) return Stat{};
        auto [min, med] = MinMedian(all);
        return Stat{true, min, med};
      };
      auto row = [&](const StrategyInfo* other, const std::string& figure, Stat a, Stat b,
                     const std::function<std::string(double)>& format) {
        if (other == nullptr || !a.present || !b.present) return;
        absl::StrAppendFormat(&md, "| %s | %s | %s | %s | %s |\n", other->name, figure,
                              format(a.median), format(b.median), RatioText(a.median, b.median));
      };
      if (handler != nullptr) {
        for (const char* p : {"seq", "random"}) {
          row(handler, absl::StrFormat("full touch, %s", p), median(lazy, p, Total),
              median(handler, p, Total), FormatSeconds);
        }
      }
      if (mmap != nullptr) {
        for (const char* p : {"ws:10", "seq", "random"}) {
          row(mmap, std::string(p) == "ws:10" ? "working set (ready + ws:10)"
                                              : absl::StrFormat("full touch, %s", p),
              median(lazy, p, Total), median(mmap, p, Total), FormatSeconds);
        }
        auto a = image.on_disk_bytes.find(lazy->name);
        auto b = image.on_disk_bytes.find(mmap->name);
        if (a != image.on_disk_bytes.end() && b != image.on_disk_bytes.end()) {
          row(mmap, "size on disk (MiB)", {true, double(a->second), double(a->second)},
              {true, double(b->second), double(b->second)}, FormatMiB);
        }
      }
      if (eager != nullptr) {
        row(eager, "time to ready", ready_median(lazy), ready_median(eager), FormatSeconds);
        for (const char* p : {"seq", "random"}) {
          row(eager, absl::StrFormat("full touch, %s", p), median(lazy, p, Total),
              median(eager, p, Total), FormatSeconds);
        }
        row(eager, "working set (ready + ws:10)", median(lazy, "ws:10", Total),
            median(eager, "ws:10", Total), FormatSeconds);
      }
    }
  }
}

std::string Slug(const std::string& text) {
  std::string slug;
  for (char c : text) slug += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return slug;
}

}  // namespace

std::vector<double> CdfFractions() {
  std::vector<double> fractions;
  for (int i = 0; i <= 100; ++i) fractions.push_back(i / 100.0);
  for (double f : {0.995, 0.999}) fractions.push_back(f);
  std::sort(fractions.begin(), fractions.end());
  return fractions;
}

double Percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  return sorted[rank == 0 ? 0 : std::min(rank, sorted.size()) - 1];
}

std::pair<double, double> MinMedian(std::vector<double> values) {
  if (values.empty()) return {0, 0};
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return {values.front(), median};
}

std::string RenderMarkdown(const ReportContext& context, const std::vector<RunRecord>& runs) {
  const Groups groups = GroupRuns(runs);
  std::string md = "# restore_compare: lazysnap side by side with the alternatives\n\n";
  absl::StrAppendFormat(&md, "Generated %s%s by\n\n```\n%s\n```\n\nThe whole run took %s.\n",
                        context.started_at,
                        context.commit.empty() ? "" : " at " + context.commit, context.command,
                        FormatSeconds(context.wall_seconds));

  md += "\n## Machine and conditions\n\n| | |\n|---|---|\n";
  for (const auto& [label, value] : context.machine) {
    absl::StrAppendFormat(&md, "| %s | %s |\n", label, value);
  }
  if (!context.notes.empty()) {
    md += "\n";
    for (const std::string& note : context.notes) md += "- " + note + "\n";
  }

  md += "\n## Images\n\n| image | what | memory MiB | regions | raw image: length / on disk "
        "MiB |\n|---|---|--:|--:|--:|\n";
  for (const ImageInfo& image : context.images) {
    std::string raw_on_disk = "–";
    for (const StrategyInfo& s : context.strategies) {
      if (s.kind == "mmap" || s.kind == "uffd-4k") {
        auto it = image.on_disk_bytes.find(s.name);
        if (it != image.on_disk_bytes.end()) raw_on_disk = FormatMiB(it->second);
      }
    }
    absl::StrAppendFormat(&md, "| %s | %s | %s | %d | %s / %s |\n", image.name, image.description,
                          FormatMiB(image.memory_bytes), image.regions,
                          FormatMiB(image.raw_length_bytes), raw_on_disk);
  }

  md += "\n## Strategies\n\n| strategy | what it does (time to ready covers the first "
        "part) |\n|---|---|\n";
  for (const StrategyInfo& s : context.strategies) {
    absl::StrAppendFormat(&md, "| %s | %s |\n", s.name, s.description);
  }

  absl::StrAppendFormat(
      &md,
      "\n## How to read\n\n"
      "- Each strategy restores into fresh memory of the benchmark process on every run, and "
      "every strategy is touched with the *same* plan (workload/access_pattern.h, %d toucher "
      "threads, reads of one byte per page): `ws:10` a random 10%% of the pages, `seq` every "
      "page in order (each thread its own slice), `random` every page in a random order. "
      "Every figure is min / median over %d runs; the runs of all strategies are interleaved "
      "(the order rotates each repetition), so a slow phase of the machine spreads over all "
      "of them.\n"
      "- *Warm*: the strategy's files are fully in the page cache before the run. *Cold*: "
      "they were evicted just before it (see the conditions above).\n"
      "- A touch *faulted* when it took longer than %s. %s\n"
      "- After every run a sample of the touched pages is compared with the raw image; a "
      "mismatch is reported below and fails the run.\n",
      context.touch_threads, context.repetitions,
      FormatNs(static_cast<double>(context.fault_threshold_ns)), context.calibration);

  uint64_t verified = 0, mismatched = 0;
  std::vector<std::string> errors;
  for (const RunRecord& r : runs) {
    verified += r.pages_verified;
    mismatched += r.pages_mismatched;
    if (!r.error.empty()) {
      errors.push_back(absl::StrFormat("%s/%s/%s/%s: %s", r.image, r.cache, r.strategy,
                                       r.pattern, r.error));
    }
    if (r.residency_partial) {
      errors.push_back(absl::StrFormat(
          "%s/%s/%s/%s: the restored memory shared a mapping with other memory; its resident "
          "set may be overstated",
          r.image, r.cache, r.strategy, r.pattern));
    }
  }
  absl::StrAppendFormat(&md, "- Verified: %d pages over %d runs, %d mismatched.\n", verified,
                        runs.size(), mismatched);
  for (const std::string& e : errors) md += "- **Problem**: " + e + "\n";

  if (!context.chart_time_png.empty()) {
    absl::StrAppendFormat(&md, "\n![time per strategy](%s)\n", context.chart_time_png);
  }
  if (!context.chart_latency_png.empty()) {
    absl::StrAppendFormat(&md, "\n![fault latency CDF](%s)\n", context.chart_latency_png);
  }

  for (const ImageInfo& image : context.images) {
    for (const std::string& cache : context.caches) {
      if (HasGroup(groups, image.name, cache)) AppendTables(md, context, groups, image, cache);
    }
  }
  AppendRatios(md, context, groups);
  return md;
}

namespace {

struct CsvMetric {
  const char* name;
  Field field;
};

std::vector<CsvMetric> CsvMetrics() {
  return {
      {"ready_s", [](const RunRecord& r) { return r.ready_seconds; }},
      {"touch_s", [](const RunRecord& r) { return r.touch_seconds; }},
      {"total_s", Total},
      {"cpu_s", [](const RunRecord& r) { return r.cpu_seconds; }},
      {"faulted_touches", [](const RunRecord& r) { return double(r.faulted_touches); }},
      {"fault_p50_ns", [](const RunRecord& r) { return r.fault_p50_ns; }},
      {"fault_p99_ns", [](const RunRecord& r) { return r.fault_p99_ns; }},
      {"service_p50_ns", [](const RunRecord& r) { return r.service_p50_ns; }},
      {"service_p99_ns", [](const RunRecord& r) { return r.service_p99_ns; }},
      {"engine_faults", [](const RunRecord& r) { return double(r.engine_faults); }},
      {"engine_bytes_read", [](const RunRecord& r) { return double(r.engine_bytes_read); }},
      {"storage_read_bytes", [](const RunRecord& r) { return double(r.storage_read_bytes); }},
      {"rchar_bytes", [](const RunRecord& r) { return double(r.rchar_bytes); }},
      {"restored_resident_bytes",
       [](const RunRecord& r) { return double(r.restored_resident_bytes); }},
      {"overhead_bytes", [](const RunRecord& r) { return double(r.overhead_bytes); }},
      {"overhead_anonymous_bytes",
       [](const RunRecord& r) { return double(r.overhead_anonymous_bytes); }},
      {"load1", [](const RunRecord& r) { return r.load1; }},
      {"cached_before", [](const RunRecord& r) { return r.cached_before; }},
  };
}

std::string CsvNumber(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrFormat("%.0f", v);
  return absl::StrFormat("%.6g", v);
}

}  // namespace

std::string RenderSummaryCsv(const ReportContext& context, const std::vector<RunRecord>& runs) {
  const Groups groups = GroupRuns(runs);
  const std::vector<CsvMetric> metrics = CsvMetrics();
  std::string csv = "image,cache,strategy,pattern,runs,on_disk_bytes,pages_touched";
  for (const CsvMetric& m : metrics) absl::StrAppendFormat(&csv, ",%s_min,%s_median", m.name, m.name);
  csv += "\n";
  for (const ImageInfo& image : context.images) {
    for (const std::string& cache : context.caches) {
      for (const StrategyInfo& s : context.strategies) {
        for (const std::string& pattern : context.patterns) {
          const Key key{image.name, cache, s.name, pattern};
          auto it = groups.find(key);
          if (it == groups.end()) continue;
          auto disk = image.on_disk_bytes.find(s.name);
          absl::StrAppendFormat(&csv, "%s,%s,%s,%s,%d,%d,%d", image.name, cache, s.name, pattern,
                                it->second.size(),
                                disk == image.on_disk_bytes.end() ? 0 : disk->second,
                                it->second.front()->pages_touched);
          for (const CsvMetric& m : metrics) {
            Stat stat = StatOf(groups, key, m.field);
            absl::StrAppendFormat(&csv, ",%s,%s", CsvNumber(stat.min), CsvNumber(stat.median));
          }
          csv += "\n";
        }
      }
    }
  }
  return csv;
}

std::string RenderRunsCsv(const std::vector<RunRecord>& runs) {
  const std::vector<CsvMetric> metrics = CsvMetrics();
  std::string csv = "image,cache,strategy,pattern,repetition,pages_touched,pages_verified,"
                    "pages_mismatched";
  for (const CsvMetric& m : metrics) absl::StrAppendFormat(&csv, ",%s", m.name);
  csv += ",error\n";
  for (const RunRecord& r : runs) {
    absl::StrAppendFormat(&csv, "%s,%s,%s,%s,%d,%d,%d,%d", r.image, r.cache, r.strategy,
                          r.pattern, r.repetition, r.pages_touched, r.pages_verified,
                          r.pages_mismatched);
    for (const CsvMetric& m : metrics) csv += "," + CsvNumber(m.field(r));
    std::string error = r.error;
    std::replace(error.begin(), error.end(), '"', '\'');
    csv += ",\"" + error + "\"\n";
  }
  return csv;
}

ChartFiles RenderCharts(const ReportContext& context, const std::vector<RunRecord>& runs) {
  const Groups groups = GroupRuns(runs);
  ChartFiles files;
  struct Panel {
    std::string title, time_file, cdf_file;
    std::vector<std::string> cdf_strategies;
  };
  std::vector<Panel> panels;
  const std::vector<double> fractions = CdfFractions();
  for (const ImageInfo& image : context.images) {
    for (const std::string& cache : context.caches) {
      if (!HasGroup(groups, image.name, cache)) continue;
      Panel panel;
      panel.title = absl::StrFormat("%s image, %s", image.name, cache);
      panel.time_file = absl::StrFormat("time_%s_%s.dat", Slug(image.name), cache);
      panel.cdf_file = absl::StrFormat("cdf_%s_%s_random.dat", Slug(image.name), cache);
      std::string time =
          "# strategy ready ready+ws:10 ready+seq ready+random (median milliseconds)\n";
      std::string cdf = "# latency_us fraction: faulted touches of the random pattern, median "
                        "over runs of each quantile; one block per strategy\n";
      for (const StrategyInfo& s : context.strategies) {
        std::vector<double> ready_all;
        double totals[3] = {0, 0, 0};
        bool any = false;
        for (int p = 0; p < 3; ++p) {
          const char* pattern = p == 0 ? "ws:10" : p == 1 ? "seq" : "random";
          auto it = groups.find({image.name, cache, s.name, pattern});
          if (it == groups.end()) continue;
          any = true;
          for (const RunRecord* r : it->second) ready_all.push_back(r->ready_seconds);
          totals[p] = StatOf(groups, {image.name, cache, s.name, pattern}, Total).median;
        }
        if (!any) continue;
        absl::StrAppendFormat(&time, "\"%s\" %.6g %.6g %.6g %.6g\n", s.name,
                              MinMedian(ready_all).second * 1e3, totals[0] * 1e3,
                              totals[1] * 1e3, totals[2] * 1e3);
        auto it = groups.find({image.name, cache, s.name, "random"});
        if (it == groups.end()) continue;
        std::vector<const RunRecord*> with_faults;
        for (const RunRecord* r : it->second) {
          if (r->fault_quantiles_ns.size() == fractions.size()) with_faults.push_back(r);
        }
        if (with_faults.empty()) continue;
        absl::StrAppendFormat(&cdf, "# %s\n", s.name);
        for (size_t q = 0; q < fractions.size(); ++q) {
          std::vector<double> values;
          for (const RunRecord* r : with_faults) values.push_back(r->fault_quantiles_ns[q]);
          absl::StrAppendFormat(&cdf, "%.6g %.6g\n", MinMedian(values).second / 1e3,
                                fractions[q]);
        }
        cdf += "\n\n";
        panel.cdf_strategies.push_back(s.name);
      }
      files.data[panel.time_file] = time;
      files.data[panel.cdf_file] = cdf;
      panels.push_back(panel);
    }
  }
  if (panels.empty()) return files;
  const int columns = panels.size() > 1 ? 2 : 1;
  const int rows = static_cast<int>((panels.size() + columns - 1) / columns);
  std::string& g = files.script;
  g += "# Drawn by bench/restore_compare; run with gnuplot in this directory.\n";
  absl::StrAppendFormat(&g, "set terminal pngcairo size %d,%d font 'sans,10'\n", 900 * columns,
                        480 * rows);
  absl::StrAppendFormat(&g, "set output '%s'\n", context.chart_time_png);
  absl::StrAppendFormat(&g, "set multiplot layout %d,%d title 'Time from the start of the restore "
                            "(median of %d runs; log scale)'\n",
                        rows, columns, context.repetitions);
  g += "set style data histogram\nset style histogram cluster gap 1\n"
       "set style fill solid 0.85 border -1\nset boxwidth 0.9\nset logscale y\n"
       "set ylabel 'milliseconds'\nset format y '%g'\nset xtics rotate by -25 noenhanced\n"
       "set grid ytics\nset key outside right top vertical noenhanced\n";
  for (const Panel& p : panels) {
    absl::StrAppendFormat(&g, "set title '%s' noenhanced\n", p.title);
    absl::StrAppendFormat(&g,
                          "plot '%s' using 2:xtic(1) title 'ready', '' using 3 title 'ready + ws:10', "
                          "'' using 4 title 'ready + seq', '' using 5 title 'ready + random'\n",
                          p.time_file);
  }
  g += "unset multiplot\n";
  absl::StrAppendFormat(&g, "set output '%s'\n", context.chart_latency_png);
  absl::StrAppendFormat(
      &g,
      "set multiplot layout %d,%d title 'Latency of touches that faulted, random pattern "
      "(CDF; median over runs of each quantile)'\n",
      rows, columns);
  g += "set style data lines\nset logscale x\nunset logscale y\n"
       "set xlabel 'touch latency (µs)'\nset ylabel 'fraction of faulted touches'\n"
       "set format x '%g'\nset format y '%g'\nset yrange [0:1]\nset xtics norotate\n"
       "set grid xtics ytics\nset key outside right top vertical noenhanced\n";
  for (const Panel& p : panels) {
    absl::StrAppendFormat(&g, "set title '%s' noenhanced\n", p.title);
    if (p.cdf_strategies.empty()) {
      g += "plot 1/0 notitle\n";
      continue;
    }
    g += "plot ";
    for (size_t i = 0; i < p.cdf_strategies.size(); ++i) {
      absl::StrAppendFormat(&g, "%s'%s' index %d using 1:2 with lines linewidth 2 title '%s'",
                            i == 0 ? "" : ", ", p.cdf_file, i, p.cdf_strategies[i]);
    }
    g += "\n";
  }
  g += "unset multiplot\n";
  return files;
}

}  // namespace lazysnap::bench
