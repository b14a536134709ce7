// One lazy restore, measured: open a snapshot, start a session, touch memory in a
// pattern, optionally compare every touched page with the raw image, collect stats.
// Shared by `lazysnap restore` and `lazysnap demo`.
#ifndef LAZYSNAP_TOOLS_RESTORE_RUN_H_
#define LAZYSNAP_TOOLS_RESTORE_RUN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/restore_options.h"
#include "engine/restore_stats.h"
#include "remote/snapshot_location.h"
#include "workload/access_pattern.h"

namespace lazysnap::cli {

struct RestoreRunOptions {
  std::string snapshot_path;  // a path or a URL
  // How a URL is opened (cache, fetch group, connections); unused for a path.
  remote::SnapshotLocationOptions location;
  // Files or URLs that may hold an incremental snapshot's ancestors (--ancestor); they
  // are otherwise found beside it, by the names it records.
  std::vector<std::string> ancestors;
  RestoreOptions restore;
  AccessPattern pattern;
  int touch_threads = 2;
  std::string verify_image;  // raw image to compare touched pages with; empty: none
};

struct RestoreRunResult {
  double open_seconds = 0;       // SnapshotReader::Open (tables only)
  double start_seconds = 0;      // RestoreSession::Start, as the caller saw it
  double touch_seconds = 0;
  uint64_t pages_planned = 0;
  uint64_t pages_touched = 0;    // less than planned when touching stopped at an error
  uint64_t memory_bytes = 0;
  uint32_t regions = 0;
  uint32_t chunk_size_bytes = 0;
  uint32_t chain_length = 1;     // files the snapshot's chunks come from
  std::string reader;            // io_uring or pread
  int handler_threads = 0;
  RestoreStats stats;
  bool verified = false;
  uint64_t pages_verified = 0;
  uint64_t pages_mismatched = 0;
  std::string first_mismatch;    // "region 0 page 17 (image offset 0x11000)"
  // The session's first error (a refused chunk names its number, address and reason),
  // or the SIGBUS a touch raised. Touching stops at the first one: a refused chunk
  // never kills the process (SIGBUS of a poisoned page) or blocks it (kernels without
  // UFFDIO_POISON); see tools/guarded_touch.h.
  absl::Status session_status;
  // For a URL: what the remote source did.
  bool remote = false;
  remote::RemoteSourceStats remote_stats;
  remote::FetchStats fetch_stats;
  remote::ChunkCacheStats cache_stats;
  std::string cache_directory;   // empty: no cache
};

// RunRestore performs the run. Errors: opening the snapshot or the verify image (which
// must be a regular file or block device holding the whole image), flags whose buffers or
// touch plan would take more than a quarter of this host's memory, starting the session;
// a mismatch or a refused chunk is reported in the result, not as an error.
absl::StatusOr<RestoreRunResult> RunRestore(const RestoreRunOptions& options);

}  // namespace lazysnap::cli

#endif  // LAZYSNAP_TOOLS_RESTORE_RUN_H_
