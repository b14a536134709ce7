// Helpers shared by the restore strategies.
#include "bench/restore_strategy.h"

namespace lazysnap::bench {

std::vector<uint64_t> PackedRegionOffsets(const std::vector<format::Region>& regions,
                                          uint64_t page_bytes) {
  std::vector<uint64_t> offsets;
  offsets.reserve(regions.size() + 1);
  uint64_t total = 0;
  for (const format::Region& region : regions) {
    offsets.push_back(total);
    total += (region.length_bytes + page_bytes - 1) / page_bytes * page_bytes;
  }
  offsets.push_back(total);
  return offsets;
}

}  // namespace lazysnap::bench
