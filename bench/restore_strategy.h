// RestoreStrategy: one way of making a memory image available to a program, the unit
// that bench/restore_compare measures side by side. Each strategy restores the same
// image (a raw file, or a lazysnap snapshot of that same file) into fresh memory of this
// process on every call to Restore; the caller times Restore (time to ready), touches
// the memory with the same plan for every strategy, checks it against the raw image, and
// destroys the RestoredMemory (tear-down, not timed).
//
// The strategies (one source file each):
//   eager_strategy.cc              read and decode the whole snapshot (DecodeImage, all
//                                  threads) into anonymous memory before returning
//   mmap_strategy.cc               mmap(MAP_PRIVATE) of the raw image, region by region:
//                                  the kernel's page cache serves the faults
//   uffd_page_handler_strategy.cc  a 4 KiB userfaultfd handler as in Firecracker's
//                                  example handlers: one thread, poll, read one message,
//                                  UFFDIO_COPY 4 KiB from an mmap of the raw image
//   lazysnap_strategy.cc           a lazysnap RestoreSession on a snapshot
#ifndef LAZYSNAP_BENCH_RESTORE_STRATEGY_H_
#define LAZYSNAP_BENCH_RESTORE_STRATEGY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/restore_options.h"
#include "snapshot_format/format.h"
#include "workload/access_pattern.h"

namespace lazysnap::bench {

// RawImage: a flat raw memory image file and its regions (image offsets page aligned, as
// the snapshot writer requires), e.g. one region for a VM's memory file, one per mapping
// for a captured process.
struct RawImage {
  std::string path;
  std::vector<format::Region> regions;
};

// PackedRegionOffsets returns where each region starts when the regions are laid out one
// after the other, each rounded up to whole pages (as RestoreSession::Start lays them
// out); the last element is the total length.
std::vector<uint64_t> PackedRegionOffsets(const std::vector<format::Region>& regions,
                                          uint64_t page_bytes);

// EngineReport: what a strategy's own machinery counted during a run (after touching).
struct EngineReport {
  // Faults the strategy served itself (userfaultfd messages or SIGBUS entries); 0 where
  // the kernel serves them (mmap) or there are none (eager).
  uint64_t faults = 0;
  // Bytes the strategy read from its files by its own count (lazysnap: RestoreStats::
  // bytes_read; eager: stored bytes decoded); 0 when it does not know (page faults on a
  // file mapping are the kernel's business).
  uint64_t bytes_read = 0;
  // Fault service latency as the server measures it: from the fault message (or SIGBUS
  // entry) to the installing ioctl's return. Only when has_service_latency.
  bool has_service_latency = false;
  uint64_t service_p50_ns = 0;
  uint64_t service_p99_ns = 0;
  std::string detail;  // "io_uring, 2 handler threads"
};

// RestoredMemory: one restore's memory. Destroying it stops whatever serves it and
// unmaps it.
class RestoredMemory {
 public:
  virtual ~RestoredMemory() = default;
  // view is the memory of every region, in region order, each region's length.
  virtual MemoryView view() const = 0;
  // Report is called after touching, before destruction.
  virtual EngineReport Report() const = 0;
  // status is the first error the serving machinery met (OK for strategies that serve
  // nothing after Restore).
  virtual absl::Status status() const { return absl::OkStatus(); }
};

class RestoreStrategy {
 public:
  virtual ~RestoreStrategy() = default;
  // name identifies the strategy in tables and CSV ("lazysnap-64k").
  virtual const std::string& name() const = 0;
  // files are the files Restore and the faults read: their size on disk is the strategy's
  // storage footprint, and cold runs evict them from the page cache first.
  virtual std::vector<std::string> files() const = 0;
  // Restore returns once a program could start running on the memory (the time to ready
  // is the time this call takes). Each call restores into fresh memory.
  virtual absl::StatusOr<std::unique_ptr<RestoredMemory>> Restore() = 0;
};

// NewEagerStrategy: open the snapshot, map anonymous memory, decode every chunk into it
// with DecodeImage on `threads` threads (0: one per CPU), then return.
std::unique_ptr<RestoreStrategy> NewEagerStrategy(std::string name, std::string snapshot_path,
                                                  int threads);

// NewMmapStrategy: open the raw image and mmap each region MAP_PRIVATE, PROT_READ |
// PROT_WRITE, at its image offset. Touches are served from the page cache by the kernel
// (with its readahead and fault-around).
std::unique_ptr<RestoreStrategy> NewMmapStrategy(std::string name, RawImage image);

// NewUffdPageHandlerStrategy: mmap the raw image read-only (the source), map anonymous
// memory for the regions, open a userfaultfd (Userfaultfd::Open), register every region
// for missing faults, and start one handler thread that loops: poll(2) on the
// userfaultfd (blocking), read one message, UFFDIO_COPY the 4 KiB page from the source
// (waking the faulting thread). This is the design of Firecracker's example page fault
// handlers (src/firecracker/examples/uffd), the usual starting point of a runtime's own.
std::unique_ptr<RestoreStrategy> NewUffdPageHandlerStrategy(std::string name, RawImage image);

// NewLazysnapStrategy: SnapshotReader::Open with validate_index = false, then
// RestoreSession::Start with `options` (close_mode is forced to kDiscard: tear-down is
// not part of any measurement).
std::unique_ptr<RestoreStrategy> NewLazysnapStrategy(std::string name, std::string snapshot_path,
                                                     RestoreOptions options);

}  // namespace lazysnap::bench

#endif  // LAZYSNAP_BENCH_RESTORE_STRATEGY_H_
