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
// "ws:PCT" (a random PCT% of the pages, shuffled: a working set; PCT is a plain decimal
// number in (0, 100]).
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

// PlannedPageCount is how many pages PlanTouches plans for memory of regions this long:
// every page, or for "ws:PCT" PCT% of them rounded up (at least one page of a non-empty
// memory).
uint64_t PlannedPageCount(std::span<const uint64_t> region_lengths_bytes,
                          const AccessPattern& pattern, uint32_t page_bytes = 4096);

// PlanMemoryBytes bounds the memory PlanTouches takes for such a memory (the plan itself
// and its scratch), so a caller can refuse a plan before making it.
uint64_t PlanMemoryBytes(std::span<const uint64_t> region_lengths_bytes,
                         const AccessPattern& pattern, uint32_t page_bytes = 4096);

// PlanTouches returns, for each of `threads` toucher threads, the pages it touches in
// order. Sequential splits memory into contiguous slices (thread i touches slice i);
// random and working-set patterns deal shuffled pages round-robin. Time and memory grow
// with the pages planned, not with the memory's size (a small working set of a huge
// memory is drawn without listing every page).
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
