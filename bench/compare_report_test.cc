// The summaries and renderings of restore_compare's results.
#include "bench/compare_report.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace lazysnap::bench {
namespace {

TEST(CompareReport, MinMedianOfOddAndEvenCounts) {
  EXPECT_EQ(MinMedian({3, 1, 2}), (std::pair<double, double>{1, 2}));
  EXPECT_EQ(MinMedian({4, 1, 3, 2}), (std::pair<double, double>{1, 2.5}));
  EXPECT_EQ(MinMedian({}), (std::pair<double, double>{0, 0}));
}

TEST(CompareReport, PercentileIsNearestRank) {
  std::vector<double> sorted;
  for (int i = 1; i <= 100; ++i) sorted.push_back(i);
  EXPECT_EQ(Percentile(sorted, 0.5), 50);
  EXPECT_EQ(Percentile(sorted, 0.99), 99);
  EXPECT_EQ(Percentile(sorted, 0), 1);
  EXPECT_EQ(Percentile(sorted, 1), 100);
  EXPECT_EQ(Percentile({}, 0.5), 0);
}

RunRecord Run(const std::string& strategy, const std::string& pattern, int rep, double ready,
              double touch) {
  RunRecord r;
  r.image = "img";
  r.cache = "warm";
  r.strategy = strategy;
  r.pattern = pattern;
  r.repetition = rep;
  r.ready_seconds = ready;
  r.touch_seconds = touch;
  r.pages_touched = 100;
  r.pages_verified = 10;
  return r;
}

ReportContext Context() {
  ReportContext c;
  c.command = "restore_compare --out x";
  c.strategies = {{"mmap", "map it", "mmap", false},
                  {"lazysnap-64k", "restore lazily", "lazysnap", true}};
  ImageInfo image;
  image.name = "img";
  image.memory_bytes = 1 << 20;
  image.regions = 1;
  image.on_disk_bytes = {{"mmap", 4 << 20}, {"lazysnap-64k", 1 << 20}};
  c.images = {image};
  c.caches = {"warm"};
  c.patterns = {"ws:10", "seq", "random"};
  c.repetitions = 3;
  c.touch_threads = 2;
  c.fault_threshold_ns = 1000;
  c.chart_time_png = "time.png";
  c.chart_latency_png = "latency.png";
  return c;
}

std::vector<RunRecord> Runs() {
  std::vector<RunRecord> runs;
  for (int rep = 0; rep < 3; ++rep) {
    for (const char* pattern : {"ws:10", "seq", "random"}) {
      runs.push_back(Run("mmap", pattern, rep, 0.001, 0.010 * (rep + 1)));
      runs.push_back(Run("lazysnap-64k", pattern, rep, 0.002, 0.040 * (rep + 1)));
    }
  }
  return runs;
}

TEST(CompareReport, MarkdownHasEveryStrategyAndTheRatios) {
  const std::string md = RenderMarkdown(Context(), Runs());
  EXPECT_NE(md.find("## img image, warm page cache"), std::string::npos);
  EXPECT_NE(md.find("| mmap | 4.00 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| lazysnap-64k | 1.00 |"), std::string::npos) << md;
  // Median ready + seq: mmap 1 + 20 ms, lazysnap 2 + 80 ms.
  EXPECT_NE(md.find("| mmap | full touch, seq | 82.0 ms | 21.0 ms | **3.9** (lazysnap 3.9× more) |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("size on disk (MiB) | 1.00 | 4.00 | **0.25** (lazysnap 4× less)"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("Verified: 180 pages over 18 runs, 0 mismatched."), std::string::npos);
  EXPECT_NE(md.find("![time per strategy](time.png)"), std::string::npos);
}

TEST(CompareReport, MarkdownFlagsMismatchesAndErrors) {
  std::vector<RunRecord> runs = Runs();
  runs[4].pages_mismatched = 2;
  runs[4].error = "region 0 page 3 differs from the raw image";
  const std::string md = RenderMarkdown(Context(), runs);
  EXPECT_NE(md.find("2 mismatched"), std::string::npos);
  EXPECT_NE(md.find("**Problem**: img/warm/mmap/random: region 0 page 3 differs"),
            std::string::npos)
      << md;
}

TEST(CompareReport, CsvHasOneSummaryRowPerGroupAndOneRowPerRun) {
  auto lines = [](const std::string& text) {
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  };
  EXPECT_EQ(lines(RenderSummaryCsv(Context(), Runs())), 1 + 2 * 3);
  EXPECT_EQ(lines(RenderRunsCsv(Runs())), 1 + 18);
  EXPECT_NE(RenderSummaryCsv(Context(), Runs()).find("img,warm,mmap,seq,3,4194304,100,"),
            std::string::npos);
}

TEST(CompareReport, ChartsHaveDataAndAScriptNamingThePngs) {
  std::vector<RunRecord> runs = Runs();
  for (RunRecord& r : runs) {
    r.fault_quantiles_ns.assign(CdfFractions().size(), 5000);
  }
  ChartFiles charts = RenderCharts(Context(), runs);
  ASSERT_EQ(charts.data.count("time_img_warm.dat"), 1u);
  ASSERT_EQ(charts.data.count("cdf_img_warm_random.dat"), 1u);
  EXPECT_NE(charts.data["time_img_warm.dat"].find("\"mmap\" 1 "), std::string::npos)
      << charts.data["time_img_warm.dat"];
  EXPECT_NE(charts.script.find("set output 'time.png'"), std::string::npos);
  EXPECT_NE(charts.script.find("set output 'latency.png'"), std::string::npos);
  EXPECT_NE(charts.script.find("title 'lazysnap-64k'"), std::string::npos);
}

}  // namespace
}  // namespace lazysnap::bench
