// ChunkMap: where each chunk lives in the target memory, and the state machine every
// server of a chunk goes through:
//
//   absent --claim (one winner)--> in flight --installed--> installed
//                                           \--refused----> failed
//
// A fault on an absent chunk claims it and fetches it; a fault on an in-flight chunk
// joins (the winner's UFFDIO_COPY wakes every thread waiting in the range); a fault on
// an installed chunk means the page was dropped since (madvise) and is served as zeros.
// Pages dropped while their chunk was not yet installed are remembered per page so that
// the later install leaves them zero. All state is atomic: no lock on the fault path.
#ifndef LAZYSNAP_ENGINE_INTERNAL_CHUNK_MAP_H_
#define LAZYSNAP_ENGINE_INTERNAL_CHUNK_MAP_H_

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::internal {

enum ChunkState : uint8_t { kAbsent = 0, kInFlight = 1, kInstalled = 2, kFailed = 3 };

// TargetRange: where one snapshot region lives in the target address space.
struct TargetRange {
  uint64_t address = 0;        // page aligned
  uint64_t length_bytes = 0;   // the region's length rounded up to the page size
  uint64_t region_bytes = 0;   // the region's own length
  uint64_t first_chunk = 0;
  uint64_t chunk_count = 0;
  uint64_t first_page = 0;     // index of its first page among all target pages
};

class ChunkMap {
 public:
  // `addresses[i]` is where region i of `snapshot` lives (page aligned, non-overlapping).
  ChunkMap(const SnapshotReader& snapshot, const std::vector<uint64_t>& addresses,
           uint32_t page_size_bytes);

  const std::vector<TargetRange>& ranges() const { return ranges_; }
  uint64_t chunk_count() const { return chunk_count_; }
  uint32_t chunk_size_bytes() const { return chunk_size_bytes_; }
  uint32_t page_size_bytes() const { return page_size_bytes_; }

  // ChunkAt finds the chunk holding `address`; false when it is outside every range.
  bool ChunkAt(uint64_t address, uint64_t* chunk) const;
  // RangeOf returns the range holding `chunk`.
  const TargetRange& RangeOf(uint64_t chunk) const;
  // AddressOf returns where `chunk` starts in the target memory.
  uint64_t AddressOf(uint64_t chunk) const;
  // InstallLengthOf is the chunk's length rounded up to the page size: what is installed.
  uint32_t InstallLengthOf(uint64_t chunk) const;

  ChunkState state(uint64_t chunk) const {
    return static_cast<ChunkState>(StateOf(chunk).load(std::memory_order_acquire));
  }
  // TryClaim moves `chunk` from absent to in flight; true for exactly one caller.
  bool TryClaim(uint64_t chunk) {
    uint8_t expected = kAbsent;
    return StateOf(chunk).compare_exchange_strong(expected, kInFlight, std::memory_order_acq_rel);
  }
  // Finish moves a claimed chunk to installed or failed.
  void Finish(uint64_t chunk, ChunkState state) {
    StateOf(chunk).store(state, std::memory_order_release);
  }

  // MarkRemoved remembers that the pages of [start, end) were dropped (UFFD_EVENT_REMOVE
  // or UNMAP); addresses outside the ranges are ignored.
  void MarkRemoved(uint64_t start, uint64_t end);
  bool IsRemoved(uint64_t page_address) const;
  // AnyRemoved is true when a page of [address, address + length) was dropped.
  bool AnyRemoved(uint64_t address, uint64_t length) const;

 private:
  // PageIndex returns the global page index of `address`, or -1 outside the ranges.
  int64_t PageIndex(uint64_t address) const;
  std::atomic_ref<uint8_t> StateOf(uint64_t chunk) const {
    return std::atomic_ref<uint8_t>(states_.get()[chunk]);
  }
  std::atomic_ref<uint64_t> RemovedWord(uint64_t word) const {
    return std::atomic_ref<uint64_t>(removed_.get()[word]);
  }

  // calloc'd: large arrays come from fresh zero pages, so a 64 GiB restore pays for its
  // state only where chunks are touched, not at Start.
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };

  std::vector<TargetRange> ranges_;
  std::vector<size_t> by_address_;  // indexes into ranges_, sorted by address
  uint64_t chunk_count_ = 0;
  uint32_t chunk_size_bytes_ = 0;
  uint32_t page_size_bytes_ = 0;
  uint64_t page_count_ = 0;
  std::unique_ptr<uint8_t[], Free> states_;    // a ChunkState per chunk
  std::unique_ptr<uint64_t[], Free> removed_;  // one bit per page
  std::atomic<bool> any_removed_{false};
};

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_ENGINE_INTERNAL_CHUNK_MAP_H_
