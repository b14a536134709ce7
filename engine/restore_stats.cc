// LatencyHistogram: bucket arithmetic.
#include "engine/restore_stats.h"

#include <bit>

namespace lazysnap {

int LatencyHistogram::BucketOf(uint64_t nanoseconds) {
  if (nanoseconds < 1) nanoseconds = 1;
  const int octave = 63 - std::countl_zero(nanoseconds);  // floor(log2)
  // The two bits below the leading one pick the quarter of the octave.
  const int quarter = octave >= 2 ? static_cast<int>((nanoseconds >> (octave - 2)) & 3)
                                  : static_cast<int>((nanoseconds << (2 - octave)) & 3);
  const int bucket = octave * kBucketsPerOctave + quarter;
  return bucket < kBuckets ? bucket : kBuckets - 1;
}

uint64_t LatencyHistogram::UpperBoundOf(int bucket) {
  const int octave = bucket / kBucketsPerOctave;
  const int quarter = bucket % kBucketsPerOctave;
  // Values in the bucket are below 2^octave * (1 + (quarter + 1) / 4).
  const uint64_t base = 1ull << octave;
  return base + (base * static_cast<uint64_t>(quarter + 1)) / 4;
}

void LatencyHistogram::Record(uint64_t nanoseconds) {
  buckets_[BucketOf(nanoseconds)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  uint64_t previous = max_.load(std::memory_order_relaxed);
  while (nanoseconds > previous &&
         !max_.compare_exchange_weak(previous, nanoseconds, std::memory_order_relaxed)) {
  }
}

uint64_t LatencyHistogram::Percentile(double fraction) const {
  std::array<uint64_t, kBuckets> copy;
  uint64_t total = 0;
  for (int i = 0; i < kBuckets; ++i) {
    copy[i] = buckets_[i].load(std::memory_order_relaxed);
    total += copy[i];
  }
  if (total == 0) return 0;
  const uint64_t rank = static_cast<uint64_t>(fraction * static_cast<double>(total - 1)) + 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += copy[i];
    if (seen >= rank) {
      const uint64_t bound = UpperBoundOf(i);
      const uint64_t max = max_.load(std::memory_order_relaxed);
      return bound < max ? bound : max;
    }
  }
  return max_.load(std::memory_order_relaxed);
}

void LatencyHistogram::Reset() {
  for (auto& b : buckets_) b.store(0, std::memory_order_relaxed);
  count_.store(0, std::memory_order_relaxed);
  max_.store(0, std::memory_order_relaxed);
}

}  // namespace lazysnap
