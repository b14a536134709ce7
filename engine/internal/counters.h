// SessionCounters: the atomic counters and histogram behind RestoreStats. Updated with
// relaxed atomics on the fault path (no locks, no allocation).
#ifndef LAZYSNAP_ENGINE_INTERNAL_COUNTERS_H_
#define LAZYSNAP_ENGINE_INTERNAL_COUNTERS_H_

#include <atomic>
#include <cstdint>

#include "engine/restore_stats.h"

namespace lazysnap::internal {

struct SessionCounters {
  using Counter = std::atomic<uint64_t>;
  Counter faults{0};
  Counter faults_write{0};
  Counter faults_zero{0};
  Counter faults_fetched{0};
  Counter faults_joined{0};
  Counter faults_after_remove{0};
  Counter faults_stale{0};
  Counter faults_outside{0};
  Counter chunks_installed{0};
  Counter chunks_readahead{0};
  Counter chunks_background{0};
  Counter chunks_failed{0};
  Counter bytes_read{0};
  Counter bytes_decompressed{0};
  Counter bytes_installed{0};
  Counter bytes_zero_installed{0};
  Counter copy_eexist{0};
  Counter copy_eagain{0};
  Counter events_remove{0};
  Counter events_unmap{0};
  LatencyHistogram latency;
  uint64_t time_to_ready_ns = 0;  // written once before serving starts

  static void Add(Counter& counter, uint64_t n = 1) {
    counter.fetch_add(n, std::memory_order_relaxed);
  }

  RestoreStats Snapshot() const {
    auto get = [](const Counter& c) { return c.load(std::memory_order_relaxed); };
    RestoreStats s;
    s.faults = get(faults);
    s.faults_write = get(faults_write);
    s.faults_zero = get(faults_zero);
    s.faults_fetched = get(faults_fetched);
    s.faults_joined = get(faults_joined);
    s.faults_after_remove = get(faults_after_remove);
    s.faults_stale = get(faults_stale);
    s.faults_outside = get(faults_outside);
    s.chunks_installed = get(chunks_installed);
    s.chunks_readahead = get(chunks_readahead);
    s.chunks_background = get(chunks_background);
    s.chunks_failed = get(chunks_failed);
    s.bytes_read = get(bytes_read);
    s.bytes_decompressed = get(bytes_decompressed);
    s.bytes_installed = get(bytes_installed);
    s.bytes_zero_installed = get(bytes_zero_installed);
    s.copy_eexist = get(copy_eexist);
    s.copy_eagain = get(copy_eagain);
    s.events_remove = get(events_remove);
    s.events_unmap = get(events_unmap);
    s.latency_p50_ns = latency.Percentile(0.50);
    s.latency_p90_ns = latency.Percentile(0.90);
    s.latency_p99_ns = latency.Percentile(0.99);
    s.latency_max_ns = latency.max();
    s.time_to_ready_ns = time_to_ready_ns;
    return s;
  }
};

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_ENGINE_INTERNAL_COUNTERS_H_
