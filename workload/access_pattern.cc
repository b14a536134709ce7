// Access patterns and touchers.
#include "workload/access_pattern.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace lazysnap {

absl::StatusOr<AccessPattern> AccessPattern::Parse(std::string_view text) {
  AccessPattern pattern;
  if (text == "seq" || text == "sequential") {
    pattern.kind = Kind::kSequential;
  } else if (text == "random") {
    pattern.kind = Kind::kRandom;
  } else if (text.substr(0, 3) == "ws:") {
    double percent;
    if (!absl::SimpleAtod(std::string(text.substr(3)), &percent) || percent <= 0 || percent > 100) {
      return absl::InvalidArgumentError(
          absl::StrFormat("working set '%s': the percentage must be in (0, 100]", text));
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

std::vector<std::vector<PageRef>> PlanTouches(const MemoryView& memory, const AccessPattern& pattern,
                                              int threads, uint32_t page_bytes) {
  threads = std::max(1, threads);
  std::vector<PageRef> pages;
  for (uint32_t r = 0; r < memory.size(); ++r) {
    const uint64_t count = (memory[r].size() + page_bytes - 1) / page_bytes;
    for (uint64_t p = 0; p < count; ++p) pages.push_back({r, p});
  }
  std::vector<std::vector<PageRef>> plan(threads);
  if (pattern.kind == AccessPattern::Kind::kSequential) {
    for (int t = 0; t < threads; ++t) {
      const size_t begin = pages.size() * t / threads;
      const size_t end = pages.size() * (t + 1) / threads;
      plan[t].assign(pages.begin() + begin, pages.begin() + end);
    }
    return plan;
  }
  std::mt19937_64 random(pattern.seed);
  std::shuffle(pages.begin(), pages.end(), random);
  if (pattern.kind == AccessPattern::Kind::kWorkingSet) {
    pages.resize(static_cast<size_t>(pages.size() * pattern.working_set_percent / 100.0));
  }
  for (size_t i = 0; i < pages.size(); ++i) plan[i % threads].push_back(pages[i]);
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
