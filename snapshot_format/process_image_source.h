// ProcessImageSource: an ImageSource over the private memory of a live process, read
// through /proc/PID/mem, so that a running program can be snapshotted like a raw image.
// Each captured mapping (VMA) becomes one region of the image, at its virtual address.
//
// The capture is not atomic: the process keeps running while the snapshot is written,
// so pages read early and pages read late may come from different moments and the
// mapping list may change under the reader (unmapped memory then reads as zeros). A
// caller that needs a consistent image stops the process for the duration, with
// ProcessCaptureOptions::freeze or its own ProcessStopGuard.
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_PROCESS_IMAGE_SOURCE_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_PROCESS_IMAGE_SOURCE_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/signal_cleanup.h"
#include "base/unique_fd.h"
#include "snapshot_format/format.h"
#include "snapshot_format/image_source.h"

namespace lazysnap {

// ProcessStopGuard keeps a process stopped (SIGSTOP) while it lives and resumes it
// (SIGCONT) when destroyed or on Resume(), on every path, errors included. A process
// that was already stopped (job control, state T) when the guard was made is left
// stopped. Signals go through a /proc/PID directory descriptor, so a recycled pid is
// never signalled. The process's parent sees the stop and the continue (SIGCHLD, a
// shell's "Stopped"). While it is stopped, a signal that ends this process resumes it
// too, once base/signal_cleanup.h's InstallSignalCleanup has been called (SIGKILL
// cannot be caught: then `kill -CONT PID` is left to do). Move-only; not thread-safe.
class ProcessStopGuard {
 public:
  // Stop sends SIGSTOP and waits until every thread of `pid` is stopped (or a zombie).
  // NotFound when there is no such process, PermissionDenied when it may not be
  // signalled, InvalidArgument when `pid` is this process (it would stop itself),
  // Unavailable when a thread has not stopped after `timeout` (one in uninterruptible
  // sleep, say; the process is resumed before returning).
  static absl::StatusOr<ProcessStopGuard> Stop(
      pid_t pid, std::chrono::milliseconds timeout = std::chrono::seconds(5));

  ProcessStopGuard(ProcessStopGuard&& other) noexcept;
  ProcessStopGuard& operator=(ProcessStopGuard&& other) noexcept;
  ProcessStopGuard(const ProcessStopGuard&) = delete;
  ProcessStopGuard& operator=(const ProcessStopGuard&) = delete;
  ~ProcessStopGuard() { Resume(); }

  // Resume lets the process run again, unless it was stopped before the guard stopped
  // it. Idempotent; a process that has exited meanwhile is not an error.
  void Resume();

  pid_t pid() const { return pid_; }
  // was_already_stopped is true when the process was stopped before Stop (then it stays
  // stopped after the guard).
  bool was_already_stopped() const { return was_already_stopped_; }

 private:
  friend class ProcessImageSource;
  ProcessStopGuard(UniqueFd proc_dir, pid_t pid) : proc_dir_(std::move(proc_dir)), pid_(pid) {}
  // StopProcessDir is Stop for a process whose /proc/PID directory is already open.
  static absl::StatusOr<ProcessStopGuard> StopProcessDir(UniqueFd proc_dir, pid_t pid,
                                                        std::chrono::milliseconds timeout);
  absl::Status WaitUntilStopped(std::chrono::milliseconds timeout) const;

  UniqueFd proc_dir_;
  pid_t pid_ = 0;
  bool was_already_stopped_ = false;
  bool resume_pending_ = false;
  SignalCleanupEntry continue_on_signal_;
};

// ProcessCaptureOptions chooses what is captured and whether the process is stopped.
struct ProcessCaptureOptions {
  // include_readonly: capture every readable mapping (code, read-only data, shared
  // memory and shared file mappings too), not only the private writable ones. The
  // kernel's [vvar]/[vdso]/[vsyscall] are never captured.
  bool include_readonly = false;
  // freeze: stop the process (SIGSTOP, then wait until all its threads are stopped)
  // before the mapping list is read, and resume it (SIGCONT) when the source is
  // destroyed, so that the capture is a consistent picture of one moment. Keep the
  // source's lifetime as short as the write. See ProcessStopGuard for the details.
  bool freeze = false;
  // freeze_timeout: how long Open waits for every thread to stop.
  std::chrono::milliseconds freeze_timeout = std::chrono::seconds(5);
};

// ProcessSelection: what the mapping list held and what was chosen from it.
struct ProcessSelection {
  uint32_t captured_mappings = 0;
  uint64_t captured_bytes = 0;
  uint32_t skipped_mappings = 0;
  uint64_t skipped_bytes = 0;  // virtual size: includes never-touched reservations
};

// ProcessImageSource serves the memory of one process. By default it captures the
// mappings that hold the process's own data: private and writable ones, i.e. anonymous
// memory, [heap], [stack] and private writable file mappings (.data, .bss); code,
// read-only data and shared mappings are skipped (they can be re-read from their files
// or shared objects), as are [vvar], [vdso] and [vsyscall]. PROT_NONE mappings (guard
// pages, reserved address space) are skipped too: they are not writable.
//
// Region i covers the i-th captured mapping in address order: guest_address is its
// start address, length_bytes its length, and image offsets are consecutive from 0
// (each a multiple of the page size because mapping lengths are).
//
// Reading a page the process never touched does not allocate memory in it (the kernel
// maps its shared zero page). Pages that cannot be read (EIO or EFAULT from
// /proc/PID/mem: beyond the end of a mapped file, device memory, memory unmapped during
// an unfrozen capture) read as zeros and are counted by unreadable_bytes() instead of
// failing the capture.
//
// Random access. Like every ImageSource, read by one thread at a time.
class ProcessImageSource : public ImageSource {
 public:
  // Open reads the mapping list of `pid` and opens its memory. InvalidArgument for a pid
  // <= 0; NotFound naming the pid when there is no such process; PermissionDenied (with
  // a hint) when the caller may not read its memory, which needs ptrace access: root or
  // CAP_SYS_PTRACE, or the same user subject to kernel.yama.ptrace_scope;
  // FailedPrecondition when the process has no memory to capture (a kernel thread, a
  // zombie); InvalidArgument when `freeze` is asked of this process itself;
  // Unavailable when `freeze` could not stop it in time.
  static absl::StatusOr<std::unique_ptr<ProcessImageSource>> Open(
      pid_t pid, ProcessCaptureOptions options = {});

  // name is "pid N (comm)".
  std::string name() const override { return name_; }
  std::vector<format::Region> regions() const override { return regions_; }
  // Read returns out.size() (the image has no stream-length region). OutOfRange for a
  // range past the end of the image; NotFound when the process has exited (its memory
  // is gone); errors from pread otherwise.
  absl::StatusOr<size_t> Read(uint64_t image_offset_bytes, std::span<uint8_t> out) override;
  bool random_access() const override { return true; }

  pid_t pid() const { return pid_; }
  // unreadable_bytes counts the distinct bytes that could not be read and were served
  // as zeros so far (a byte read twice counts once).
  uint64_t unreadable_bytes() const { return unreadable_bytes_; }
  const ProcessSelection& selection() const { return selection_; }

 private:
  ProcessImageSource() = default;
  // ReadMemory reads process memory at `address`, zero-filling unreadable pages.
  absl::Status ReadMemory(uint64_t address, std::span<uint8_t> out);
  void NoteUnreadable(uint64_t address, uint64_t length_bytes);

  // Declared first so that it is destroyed last: the process resumes after everything
  // else is released.
  std::optional<ProcessStopGuard> stop_guard_;
  pid_t pid_ = 0;
  std::string name_;
  UniqueFd mem_;
  uint64_t page_size_bytes_ = 4096;
  uint64_t image_size_bytes_ = 0;
  std::vector<format::Region> regions_;
  ProcessSelection selection_;
  // Unreadable address ranges, start -> end, disjoint and not touching.
  std::map<uint64_t, uint64_t> unreadable_ranges_;
  uint64_t unreadable_bytes_ = 0;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_SNAPSHOT_FORMAT_PROCESS_IMAGE_SOURCE_H_
