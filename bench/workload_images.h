// The memory images bench/restore_compare restores: the synthetic memory-like image, and
// the private memory of a live Python interpreter (tools/python_workload.py) captured
// through /proc/PID/maps and /proc/PID/mem. Both are written as sparse raw image files
// (all-zero pages left as holes), which the mmap and 4 KiB handler baselines restore from
// and the snapshots are made of.
#ifndef LAZYSNAP_BENCH_WORKLOAD_IMAGES_H_
#define LAZYSNAP_BENCH_WORKLOAD_IMAGES_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "bench/restore_strategy.h"
#include "snapshot_format/image_source.h"

namespace lazysnap::bench {

// WriteSyntheticRawImage writes a `size_bytes` synthetic image (WriteSyntheticImage with
// default options: about 40% zero pages) to `path`: one region.
absl::StatusOr<RawImage> WriteSyntheticRawImage(const std::string& path, uint64_t size_bytes);

// DumpRawImage writes every region of `source` to `path` at its image offset, leaving
// all-zero pages as holes, and syncs it. The file is as long as the image.
absl::StatusOr<RawImage> DumpRawImage(ImageSource& source, const std::string& path);

struct PythonWorkloadOptions {
  std::string python = "/usr/bin/python3";
  std::string script;  // tools/python_workload.py
  uint32_t mb = 300;   // --mb: how much the interpreter's resident set grows
  std::chrono::seconds ready_timeout{180};
};

// CapturedProcess: what CapturePythonWorkload learned besides the image.
struct CapturedProcess {
  RawImage image;
  int pid = 0;
  uint32_t mappings = 0;          // captured mappings (regions)
  uint64_t captured_bytes = 0;    // their total length
  uint64_t unreadable_bytes = 0;  // read as zeros
};

// CapturePythonWorkload starts the workload, waits for its "<pid> ready" line, captures
// its private writable memory with ProcessImageSource (frozen with SIGSTOP for the
// capture) into a raw image at `path`, then ends it (closes its standard input) and
// reaps it. DeadlineExceeded when it is not ready in time; the process is killed on
// every error path.
absl::StatusOr<CapturedProcess> CapturePythonWorkload(const PythonWorkloadOptions& options,
                                                      const std::string& path);

}  // namespace lazysnap::bench

#endif  // LAZYSNAP_BENCH_WORKLOAD_IMAGES_H_
