// RestoreStats: what a restore session has done, readable at any time from any thread;
// and LatencyHistogram, the lock-free histogram behind its latency percentiles.
#ifndef LAZYSNAP_ENGINE_RESTORE_STATS_H_
#define LAZYSNAP_ENGINE_RESTORE_STATS_H_

#include <array>
#include <atomic>
#include <cstdint>

namespace lazysnap {

// LatencyHistogram: log-linear buckets (4 per power of two) of nanosecond values, from
// 1 ns to about 70 s; relative error under 19%. Record is wait-free and does not
// allocate; percentiles are read from a copy.
class LatencyHistogram {
 public:
  static constexpr int kBucketsPerOctave = 4;
  static constexpr int kBuckets = 36 * kBucketsPerOctave;

  void Record(uint64_t nanoseconds);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  uint64_t max() const { return max_.load(std::memory_order_relaxed); }
  // Percentile returns an upper bound of the value below which `fraction` of the
  // recorded values lie (0 when empty).
  uint64_t Percentile(double fraction) const;
  void Reset();

 private:
  static int BucketOf(uint64_t nanoseconds);
  static uint64_t UpperBoundOf(int bucket);
  std::array<std::atomic<uint64_t>, kBuckets> buckets_ = {};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> max_{0};
};

// RestoreStats: a consistent-enough copy of a session's counters (each counter is exact;
// counters are not read at one instant).
struct RestoreStats {
  // Faults by how they were resolved.
  uint64_t faults = 0;              // fault messages or SIGBUS entries handled
  uint64_t faults_write = 0;        // of which by a write (handler threads only)
  uint64_t faults_zero = 0;         // on zero chunks (UFFDIO_ZEROPAGE)
  uint64_t faults_fetched = 0;      // that read and decoded a chunk
  uint64_t faults_joined = 0;       // on a chunk another fault was already fetching
  uint64_t faults_after_remove = 0; // on pages dropped by madvise: served as zeros
  uint64_t faults_stale = 0;        // already resolved when handled
  uint64_t faults_outside = 0;      // registered memory the snapshot does not cover: zeros
  // Work.
  uint64_t chunks_installed = 0;    // chunks installed (demand, readahead or background)
  uint64_t chunks_readahead = 0;    // of which by readahead
  uint64_t chunks_background = 0;   // of which by the background populator
  uint64_t chunks_failed = 0;       // refused (checksum, read error): never installed
  uint64_t bytes_read = 0;          // stored bytes read from the snapshot file
  uint64_t bytes_decompressed = 0;  // bytes produced by the decompressor
  uint64_t bytes_installed = 0;     // bytes placed with UFFDIO_COPY
  uint64_t bytes_zero_installed = 0;  // bytes mapped with UFFDIO_ZEROPAGE
  uint64_t copy_eexist = 0;         // COPY found pages already present
  uint64_t copy_eagain = 0;         // COPY retried because the mappings changed
  uint64_t events_remove = 0;
  uint64_t events_unmap = 0;
  // Fault service latency: from the fault being seen (message read, or SIGBUS entry) to
  // its chunk being installed.
  uint64_t latency_p50_ns = 0;
  uint64_t latency_p90_ns = 0;
  uint64_t latency_p99_ns = 0;
  uint64_t latency_max_ns = 0;
  // Time from Start being called to it returning.
  uint64_t time_to_ready_ns = 0;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_ENGINE_RESTORE_STATS_H_
