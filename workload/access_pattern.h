// Access patterns and touchers: which pages of restored memory to touch, in what order,
// by how many threads, and how long it took. Shared by `lazysnap restore`, the demo and
// the benchmarks, so that every strategy is measured with the same touches.
#ifndef LAZYSNAP_WORKLOAD_ACCESS_PATTERN_H_
#define LAZYSNAP_WORKLOAD_ACCESS_PATTERN_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace lazysnap {

// AccessPattern: "seq" (every page in address order), "random" (every page, shuffled),
// "ws:PCT" (a random PCT% of the pages, shuffled: a working set).
struct AccessPattern {
  enum class Kind { kSequential, kRandom, kWorkingSet } kind = Kind::kSequential;
  double working_set_percent = 100;
  uint64_t seed = 1;

  static absl::StatusOr<AccessPattern> Parse(std::string_view text);
  std::string ToString() const;
};

// PageRef: one page of restored memory (region, page index within it).
struct PageRef {
  uint32_t region = 0;
  uint64_t page = 0;
};

// MemoryView: restored memory, one span per region.
using MemoryView = std::vector<std::span<uint8_t>>;

// PlanTouches returns, for each of `threads` toucher threads, the pages it touches in
// order. Sequential splits memory into contiguous slices (thread i touches slice i);
// random and working-set patterns deal shuffled pages round-robin.
std::vector<std::vector<PageRef>> PlanTouches(const MemoryView& memory, const AccessPattern& pattern,
                                              int threads, uint32_t page_bytes = 4096);

struct TouchResult {
  double seconds = 0;          // from the first touch to the last thread finishing
  uint64_t pages = 0;
  uint64_t bytes = 0;
  uint64_t checksum = 0;       // sum of the first word of every touched page (keeps the
                               // reads from being optimised away)
  std::vector<uint64_t> page_latencies_ns;  // per touched page, when recorded
};

// TouchPages reads one byte of each planned page, each thread on its own plan, all
// starting together. With `record_latency`, the time of every touch is recorded.
TouchResult TouchPages(const MemoryView& memory, const std::vector<std::vector<PageRef>>& plan,
                       bool record_latency, uint32_t page_bytes = 4096);

}  // namespace lazysnap

#endif  // LAZYSNAP_WORKLOAD_ACCESS_PATTERN_H_
