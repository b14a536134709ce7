// Process metrics for the restore benchmarks: what this process has read (/proc/self/io),
// how much memory it holds (/proc/self/smaps_rollup, and per range from /proc/self/smaps),
// and the page cache state of the files a strategy reads (mincore; eviction with
// POSIX_FADV_DONTNEED or /proc/sys/vm/drop_caches). Linux only.
#ifndef LAZYSNAP_BENCH_PROCESS_METRICS_H_
#define LAZYSNAP_BENCH_PROCESS_METRICS_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace lazysnap::bench {

// ProcessIo: the counters of /proc/self/io that the benchmarks use. `rchar` counts bytes
// returned by read(2)-family system calls (also from the page cache; not page faults on
// file mappings, and not io_uring reads); `read_bytes` counts bytes the process caused to
// be fetched from storage (readahead included), whatever the path.
struct ProcessIo {
  uint64_t rchar = 0;
  uint64_t read_bytes = 0;
};

// ParseProcessIo parses the text of /proc/PID/io. InvalidArgument when a field is missing.
absl::StatusOr<ProcessIo> ParseProcessIo(std::string_view text);
absl::StatusOr<ProcessIo> ReadProcessIo();

// MemoryUsage: from /proc/self/smaps_rollup. `anonymous_bytes` is the part of the
// resident set that is anonymous memory (the rest is mostly file pages mapped).
struct MemoryUsage {
  uint64_t rss_bytes = 0;
  uint64_t anonymous_bytes = 0;
};

absl::StatusOr<MemoryUsage> ParseSmapsRollup(std::string_view text);
absl::StatusOr<MemoryUsage> ReadMemoryUsage();

// AddressRange: [start, end) in this process.
using AddressRange = std::pair<uint64_t, uint64_t>;

// RangeResidency: the resident memory of some ranges of this process, counted the way
// the process's RSS counts it (mapped pages, the shared zero page not included).
struct RangeResidency {
  uint64_t rss_bytes = 0;
  uint64_t anonymous_bytes = 0;
  // From smaps only: a mapping overlapped a range without lying inside it (the kernel
  // merged it with a neighbour); its whole Rss is counted, so the figure may be too high.
  bool partial_overlap = false;
  std::string partial_mappings;  // the header lines of such mappings, for the report
  const char* method = "";       // "pagemap" or "smaps"
};

// ParseSmapsResidency sums the Rss and Anonymous fields of the mappings listed in `smaps`
// (the text of /proc/PID/smaps) that overlap any of `ranges`.
RangeResidency ParseSmapsResidency(std::string_view smaps, std::span<const AddressRange> ranges);

// ReadResidency counts the pages of `ranges` that are present and not the shared zero
// page, from /proc/self/pagemap, exactly. Reading page frame numbers needs
// CAP_SYS_ADMIN; without it, it falls back to ParseSmapsResidency of /proc/self/smaps,
// which works per mapping (see partial_overlap).
absl::StatusOr<RangeResidency> ReadResidency(std::span<const AddressRange> ranges);

// AllocatedBytes is what `path` occupies on its file system: st_blocks * 512 (holes in a
// sparse file cost nothing).
absl::StatusOr<uint64_t> AllocatedBytes(const std::string& path);

// CachedFraction is the fraction of `path`'s pages that are in the page cache (mincore
// over a read-only mapping of the file). 1 for an empty file.
absl::StatusOr<double> CachedFraction(const std::string& path);

// EvictFromPageCache writes back and drops `path`'s pages from the page cache
// (fdatasync, then posix_fadvise POSIX_FADV_DONTNEED). Pages mapped by some process stay.
absl::Status EvictFromPageCache(const std::string& path);

// DropAllCaches is `sync; echo 3 > /proc/sys/vm/drop_caches`: every clean page cache
// page, dentry and inode of the machine. Needs root; slows down everything else running.
absl::Status DropAllCaches();

// WarmPageCache reads `path` once from start to end (so that it is in the page cache),
// unless CachedFraction already says it all is.
absl::Status WarmPageCache(const std::string& path);

}  // namespace lazysnap::bench

#endif  // LAZYSNAP_BENCH_PROCESS_METRICS_H_
