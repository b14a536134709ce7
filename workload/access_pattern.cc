// Access patterns and touchers.
#include "workload/access_pattern.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>
#include <unordered_set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace lazysnap {

namespace {

// ParsePercent accepts a plain decimal number ("25", "0.5", "100"): no sign, exponent,
// hexadecimal, "nan" or "inf", which strtod would take.
bool ParsePercent(std::string_view text, double* percent) {
  if (text.empty() || text.size() > 32) return false;
  int dots = 0;
  int digits = 0;
  for (char c : text) {
    if (c == '.') {
      ++dots;
    } else if (c >= '0' && c <= '9') {
      ++digits;
    } else {
      return false;
    }
  }
  if (dots > 1 || digits == 0) return false;
  return absl::SimpleAtod(std::string(text), percent) && std::isfinite(*percent);
}

}  // namespace

absl::StatusOr<AccessPattern> AccessPattern::Parse(std::string_view text) {
  AccessPattern pattern;
  if (text == "seq" || text == "sequential") {
    pattern.kind = Kind::kSequential;
  } else if (text == "random") {
    pattern.kind = Kind::kRandom;
  } else if (text.substr(0, 3) == "ws:") {
    double percent;
    if (!ParsePercent(text.substr(3), &percent) || percent <= 0 || percent > 100) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "working set '%s': the percentage must be a decimal number in (0, 100]", text));
    }
    pattern.kind = Kind::kWorkingSet;
    pattern.working_set_percent = percent;
  } else {
    return absl::InvalidArgumentError(
        absl::StrFormat("unknown access pattern '%s' (seq, random or ws:PCT)", text));
  }
  return pattern;
}

std::string AccessPattern::ToString() const {
  switch (kind) {
    case Kind::kSequential: return "seq";
    case Kind::kRandom: return "random";
    case Kind::kWorkingSet: return absl::StrFormat("ws:%g", working_set_percent);
  }
  return "?";
}

namespace {

uint64_t TotalPages(std::span<const uint64_t> region_lengths_bytes, uint32_t page_bytes) {
  uint64_t total = 0;
  for (uint64_t length : region_lengths_bytes) total += (length + page_bytes - 1) / page_bytes;
  return total;
}

std::vector<uint64_t> LengthsOf(const MemoryView& memory) {
  std::vector<uint64_t> lengths;
  for (const auto& region : memory) lengths.push_back(region.size());
  return lengths;
}

}  // namespace

uint64_t PlannedPageCount(std::span<const uint64_t> region_lengths_bytes,
                          const AccessPattern& pattern, uint32_t page_bytes) {
  const uint64_t total = TotalPages(region_lengths_bytes, page_bytes);
  if (pattern.kind != AccessPattern::Kind::kWorkingSet || total == 0) return total;
  // Rounded up, so that any working set of a non-empty memory touches at least a page.
  const double wanted = std::ceil(static_cast<double>(total) * pattern.working_set_percent / 100.0);
  return std::clamp<uint64_t>(static_cast<uint64_t>(wanted), 1, total);
}

uint64_t PlanMemoryBytes(std::span<const uint64_t> region_lengths_bytes,
                         const AccessPattern& pattern, uint32_t page_bytes) {
  const uint64_t total = TotalPages(region_lengths_bytes, page_bytes);
  const uint64_t count = PlannedPageCount(region_lengths_bytes, pattern, page_bytes);
  const uint64_t plan = count * sizeof(PageRef);
  if (pattern.kind == AccessPattern::Kind::kSequential) return plan;
  // The chosen page numbers, and either every page number (a large share) or a hash set
  // of the chosen ones (a small share, about 32 bytes an entry).
  const uint64_t scratch = count * 2 >= total ? total * 8 : count * (8 + 32);
  return plan + scratch;
}

std::vector<std::vector<PageRef>> PlanTouches(const MemoryView& memory, const AccessPattern& pattern,
                                              int threads, uint32_t page_bytes) {
  threads = std::max(1, threads);
  // first_page[r]: the global index of region r's first page; the last entry is the total.
  std::vector<uint64_t> first_page = {0};
  for (const auto& region : memory) {
    first_page.push_back(first_page.back() + (region.size() + page_bytes - 1) / page_bytes);
  }
  const uint64_t total = first_page.back();
  auto page_ref = [&](uint64_t index) {
    const auto it = std::upper_bound(first_page.begin(), first_page.end(), index);
    const uint32_t region = static_cast<uint32_t>(it - first_page.begin() - 1);
    return PageRef{region, index - first_page[region]};
  };
  std::vector<std::vector<PageRef>> plan(threads);
  if (pattern.kind == AccessPattern::Kind::kSequential) {
    for (int t = 0; t < threads; ++t) {
      const uint64_t begin = total * t / threads;
      const uint64_t end = total * (t + 1) / threads;
      plan[t].reserve(end - begin);
      for (uint64_t i = begin; i < end; ++i) plan[t].push_back(page_ref(i));
    }
    return plan;
  }
  const std::vector<uint64_t> lengths = LengthsOf(memory);
  const uint64_t count = PlannedPageCount(lengths, pattern, page_bytes);
  std::mt19937_64 random(pattern.seed);
  std::vector<uint64_t> chosen;
  if (count * 2 >= total) {
    // Most pages: shuffle them all and keep a prefix.
    chosen.resize(total);
    for (uint64_t i = 0; i < total; ++i) chosen[i] = i;
    std::shuffle(chosen.begin(), chosen.end(), random);
    chosen.resize(count);
  } else {
    // A small share: draw `count` distinct pages (Floyd's algorithm) without listing the
    // others, so ws:0.001 of a terabyte costs what its few pages cost.
    std::unordered_set<uint64_t> taken;
    taken.reserve(count);
    for (uint64_t j = total - count; j < total; ++j) {
      const uint64_t pick = std::uniform_int_distribution<uint64_t>(0, j)(random);
      taken.insert(taken.count(pick) != 0 ? j : pick);
    }
    chosen.assign(taken.begin(), taken.end());
    std::sort(chosen.begin(), chosen.end());  // the set's order is not deterministic
    std::shuffle(chosen.begin(), chosen.end(), random);
  }
  for (int t = 0; t < threads; ++t) plan[t].reserve(count / threads + 1);
  for (size_t i = 0; i < chosen.size(); ++i) plan[i % threads].push_back(page_ref(chosen[i]));
  return plan;
}

namespace {
uint64_t Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}
}  // namespace

TouchResult TouchPages(const MemoryView& memory, const std::vector<std::vector<PageRef>>& plan,
                       bool record_latency, uint32_t page_bytes) {
  TouchResult result;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<uint64_t> checksum{0};
  std::vector<std::vector<uint64_t>> latencies(plan.size());
  std::vector<std::thread> threads;
  for (size_t t = 0; t < plan.size(); ++t) {
    threads.emplace_back([&, t] {
      if (record_latency) latencies[t].reserve(plan[t].size());
      ++ready;
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      uint64_t sum = 0;
      for (const PageRef& ref : plan[t]) {
        const volatile uint8_t* p = memory[ref.region].data() + ref.page * page_bytes;
        if (record_latency) {
          const uint64_t start = Now();
          sum += *p;
          latencies[t].push_back(Now() - start);
        } else {
          sum += *p;
        }
      }
      checksum += sum;
    });
  }
  while (ready.load() < static_cast<int>(plan.size())) std::this_thread::yield();
  const auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (std::thread& t : threads) t.join();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (size_t t = 0; t < plan.size(); ++t) {
    result.pages += plan[t].size();
    if (record_latency) {
      result.page_latencies_ns.insert(result.page_latencies_ns.end(), latencies[t].begin(),
                                      latencies[t].end());
    }
  }
  result.bytes = result.pages * page_bytes;
  result.checksum = checksum.load();
  return result;
}

}  // namespace lazysnap
