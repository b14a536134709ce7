// ProcessImageSource and ProcessStopGuard: /proc/PID/maps for the layout, /proc/PID/mem
// for the bytes, /proc/PID/task/*/stat to see that a stop has taken effect.
#include "snapshot_format/process_image_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <thread>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/status_macros.h"
#include "snapshot_format/internal/proc_maps.h"

namespace lazysnap {
namespace {

// HasEffectiveCapability: is capability number `cap` in this process's effective set
// (/proc/self/status CapEff)?
bool HasEffectiveCapability(int cap) {
  const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buffer[4096];
  const ssize_t n = ::read(fd, buffer, sizeof(buffer) - 1);
  ::close(fd);
  if (n <= 0) return false;
  buffer[n] = '\0';
  const char* line = std::strstr(buffer, "CapEff:");
  if (line == nullptr) return false;
  const uint64_t mask = std::strtoull(line + 7, nullptr, 16);
  return (mask >> cap & 1) != 0;
}

// PtraceAdvice says what would give ptrace access, from what this process already has:
// telling root to run as root helps nobody.
std::string PtraceAdvice() {
  constexpr int kCapSysPtrace = 19;
  const bool has_cap = HasEffectiveCapability(kCapSysPtrace);
  std::string yama = "unknown";
  if (const int fd = ::open("/proc/sys/kernel/yama/ptrace_scope", O_RDONLY | O_CLOEXEC); fd >= 0) {
    char c = 0;
    if (::read(fd, &c, 1) == 1) yama = std::string(1, c);
    ::close(fd);
  }
  if (has_cap) {
    return absl::StrFormat(
        "this process has CAP_SYS_PTRACE%s and was still refused, so the process is "
        "protected: it may belong to another user namespace, or kernel.yama.ptrace_scope "
        "(%s here) may be 3, or the kernel is locked down",
        ::geteuid() == 0 ? " (running as root)" : "", yama);
  }
  if (::geteuid() == 0) {
    return "this process runs as root but without CAP_SYS_PTRACE in its effective set (a "
           "container or a dropped capability): grant it CAP_SYS_PTRACE";
  }
  return absl::StrFormat(
      "run as root (or with CAP_SYS_PTRACE), or as its owner when kernel.yama.ptrace_scope "
      "allows it (0, or 1 for a descendant; %s here)",
      yama);
}

// ProcError turns a failed call on /proc/PID into a Status whose code says what the
// caller can do: ENOENT/ESRCH mean the process is gone, EACCES/EPERM that ptrace access
// is missing.
absl::Status ProcError(int error_number, pid_t pid, std::string_view what) {
  absl::Status status = ErrnoToStatus(error_number, what);
  switch (error_number) {
    case ENOENT:
    case ESRCH:
      return absl::NotFoundError(
          absl::StrFormat("no process with pid %d: %s", pid, std::string(status.message())));
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(absl::StrFormat(
          "%s; reading the memory of pid %d needs ptrace access to it: %s",
          std::string(status.message()), pid, PtraceAdvice()));
    default:
      return status;
  }
}

// NoMemoryError: the process exists (in /proc) but has no address space.
absl::Status NoMemoryError(pid_t pid, std::string_view detail) {
  return absl::FailedPreconditionError(absl::StrFormat(
      "pid %d has no memory to capture: it has exited (a zombie) or is a kernel thread (%s)",
      pid, std::string(detail)));
}

absl::StatusOr<UniqueFd> OpenProcDir(pid_t pid) {
  if (pid <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat("invalid pid %d", pid));
  }
  const std::string path = absl::StrFormat("/proc/%d", pid);
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ProcError(errno, pid, absl::StrFormat("open %s", path));
  return UniqueFd(fd);
}

// OpenInProcDir opens `name` (relative, e.g. "mem" or "task/12/stat") under /proc/PID.
absl::StatusOr<UniqueFd> OpenInProcDir(const UniqueFd& proc_dir, pid_t pid,
                                       const std::string& name, int flags) {
  int fd;
  do {
    fd = ::openat(proc_dir.get(), name.c_str(), flags | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    return ProcError(errno, pid, absl::StrFormat("open /proc/%d/%s", pid, name));
  }
  return UniqueFd(fd);
}

// ReadProcFile reads a whole /proc/PID file (they report size 0, so read to the end).
absl::StatusOr<std::string> ReadProcFile(const UniqueFd& proc_dir, pid_t pid,
                                         const std::string& name) {
  LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenInProcDir(proc_dir, pid, name, O_RDONLY));
  const std::string path = absl::StrFormat("/proc/%d/%s", pid, name);
  std::string contents;
  constexpr size_t kStepBytes = 64 << 10;
  while (true) {
    const size_t old_size = contents.size();
    contents.resize(old_size + kStepBytes);
    // A process that exits while its maps are read makes read fail with ESRCH.
    ssize_t n;
    do {
      n = ::read(fd.get(), contents.data() + old_size, kStepBytes);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return ProcError(errno, pid, absl::StrFormat("read %s", path));
    contents.resize(old_size + static_cast<size_t>(n));
    if (n == 0) break;
  }
  return contents;
}

// ThreadState returns the state letter of /proc/PID/<stat_name> ('R', 'S', 'D', 'T',
// 't', 'Z', ...). The command name in parentheses may contain anything, so the state
// is found after the last ')'.
absl::StatusOr<char> ThreadState(const UniqueFd& proc_dir, pid_t pid,
                                 const std::string& stat_name) {
  LAZYSNAP_ASSIGN_OR_RETURN(std::string stat, ReadProcFile(proc_dir, pid, stat_name));
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) {
    return absl::InternalError(
        absl::StrFormat("/proc/%d/%s: unexpected format \"%s\"", pid, stat_name, stat));
  }
  return stat[paren + 2];
}

bool IsStopped(char state) {
  // T: stopped by a signal; t: stopped by a tracer; Z/X: exited, runs no more.
  return state == 'T' || state == 't' || state == 'Z' || state == 'X';
}

// SendSignal signals the process a /proc/PID directory descriptor refers to (pidfd_send_
// signal accepts those), so that a pid recycled since the directory was opened is safe.
absl::Status SendSignal(const UniqueFd& proc_dir, pid_t pid, int signal_number,
                        std::string_view signal_name) {
  // Through syscall(2): glibc 2.36's <sys/pidfd.h> lacks extern "C" (fixed in 2.37).
  if (::syscall(SYS_pidfd_send_signal, proc_dir.get(), signal_number, nullptr, 0) != 0) {
    return ProcError(errno, pid,
                     absl::StrFormat("pidfd_send_signal %s to pid %d", signal_name, pid));
  }
  return absl::OkStatus();
}

}  // namespace

// ProcessStopGuard ---------------------------------------------------------------------

absl::StatusOr<ProcessStopGuard> ProcessStopGuard::Stop(pid_t pid,
                                                        std::chrono::milliseconds timeout) {
  LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd proc_dir, OpenProcDir(pid));
  return StopProcessDir(std::move(proc_dir), pid, timeout);
}

absl::StatusOr<ProcessStopGuard> ProcessStopGuard::StopProcessDir(
    UniqueFd proc_dir, pid_t pid, std::chrono::milliseconds timeout) {
  ProcessStopGuard guard(std::move(proc_dir), pid);
  // The pid of any of our threads names this process too (/proc/TID exists).
  LAZYSNAP_ASSIGN_OR_RETURN(std::string status, ReadProcFile(guard.proc_dir_, pid, "status"));
  const size_t tgid = status.find("\nTgid:");
  if (tgid != std::string::npos && std::atoi(status.c_str() + tgid + 6) == ::getpid()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "pid %d is this process: stopping it would stop the capture itself", pid));
  }
  LAZYSNAP_ASSIGN_OR_RETURN(char state, ThreadState(guard.proc_dir_, pid, "stat"));
  guard.was_already_stopped_ = state == 'T';
  if (!guard.was_already_stopped_) {
    // Registered before the stop, so that a signal ending us at any moment after it
    // lets the process run again.
    LAZYSNAP_ASSIGN_OR_RETURN(guard.continue_on_signal_,
                              SignalCleanupEntry::ContinueOnSignal(guard.proc_dir_.get()));
  }
  LAZYSNAP_RETURN_IF_ERROR(SendSignal(guard.proc_dir_, pid, SIGSTOP, "SIGSTOP"));
  guard.resume_pending_ = !guard.was_already_stopped_;
  // On failure the guard goes out of scope here and resumes the process.
  LAZYSNAP_RETURN_IF_ERROR(guard.WaitUntilStopped(timeout));
  return guard;
}

absl::Status ProcessStopGuard::WaitUntilStopped(std::chrono::milliseconds timeout) const {
  // kill() returns before the threads have stopped: each stops when it next returns to
  // user mode, so poll every thread's state until all are stopped.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(50);
  while (true) {
    LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd task_fd,
                              OpenInProcDir(proc_dir_, pid_, "task", O_RDONLY | O_DIRECTORY));
    DIR* raw_dir = ::fdopendir(task_fd.get());
    if (raw_dir == nullptr) {
      return ErrnoToStatus(errno, absl::StrFormat("fdopendir /proc/%d/task", pid_));
    }
    task_fd.Release();  // now owned by the DIR
    std::unique_ptr<DIR, int (*)(DIR*)> task_dir(raw_dir, ::closedir);
    pid_t running_tid = 0;
    char running_state = 0;
    errno = 0;
    while (const dirent* entry = ::readdir(task_dir.get())) {
      if (entry->d_name[0] == '.') continue;
      auto state = ThreadState(proc_dir_, pid_, absl::StrFormat("task/%s/stat", entry->d_name));
      // A thread that exits between readdir and open is no longer running.
      if (!state.ok() && absl::IsNotFound(state.status())) continue;
      if (!state.ok()) return state.status();
      if (!IsStopped(*state)) {
        running_tid = static_cast<pid_t>(std::atoi(entry->d_name));
        running_state = *state;
        break;
      }
    }
    if (running_tid == 0 && errno != 0) {
      return ErrnoToStatus(errno, absl::StrFormat("readdir /proc/%d/task", pid_));
    }
    if (running_tid == 0) return absl::OkStatus();
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::UnavailableError(absl::StrFormat(
          "pid %d did not stop within %d ms after SIGSTOP: thread %d is in state %c", pid_,
          timeout.count(), running_tid, running_state));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
  }
}

ProcessStopGuard::ProcessStopGuard(ProcessStopGuard&& other) noexcept
    : proc_dir_(std::move(other.proc_dir_)),
      pid_(other.pid_),
      was_already_stopped_(other.was_already_stopped_),
      resume_pending_(std::exchange(other.resume_pending_, false)),
      continue_on_signal_(std::move(other.continue_on_signal_)) {}

ProcessStopGuard& ProcessStopGuard::operator=(ProcessStopGuard&& other) noexcept {
  if (this != &other) {
    Resume();
    proc_dir_ = std::move(other.proc_dir_);
    pid_ = other.pid_;
    was_already_stopped_ = other.was_already_stopped_;
    resume_pending_ = std::exchange(other.resume_pending_, false);
    continue_on_signal_ = std::move(other.continue_on_signal_);
  }
  return *this;
}

void ProcessStopGuard::Resume() {
  if (!resume_pending_) {
    continue_on_signal_.Release();
    return;
  }
  resume_pending_ = false;
  // Fails only when the process has exited (ESRCH), which leaves nothing to resume.
  (void)SendSignal(proc_dir_, pid_, SIGCONT, "SIGCONT");
  continue_on_signal_.Release();
}

// ProcessImageSource -------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<ProcessImageSource>> ProcessImageSource::Open(
    pid_t pid, ProcessCaptureOptions options) {
  std::unique_ptr<ProcessImageSource> source(new ProcessImageSource());
  source->pid_ = pid;
  source->page_size_bytes_ = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd proc_dir, OpenProcDir(pid));
  // The mem descriptor stays bound to the address space it was opened on, and opening it
  // is where the ptrace access check happens: do it before stopping anything.
  auto mem = OpenInProcDir(proc_dir, pid, "mem", O_RDONLY);
  // /proc/PID exists but its memory does not: newer kernels refuse to open mem with
  // ESRCH for a process without an address space (older ones open it, and the empty
  // mapping list below says the same).
  if (!mem.ok() && absl::IsNotFound(mem.status()) &&
      ::faccessat(proc_dir.get(), "stat", R_OK, 0) == 0) {
    return NoMemoryError(pid, std::string(mem.status().message()));
  }
  if (!mem.ok()) return mem.status();
  source->mem_ = std::move(*mem);

  if (options.freeze) {
    // The guard gets its own descriptor for the same directory, so it signals the
    // process whose memory was opened above, never a recycled pid.
    int dup_fd = ::fcntl(proc_dir.get(), F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) return ErrnoToStatus(errno, absl::StrFormat("dup /proc/%d", pid));
    LAZYSNAP_ASSIGN_OR_RETURN(
        ProcessStopGuard guard,
        ProcessStopGuard::StopProcessDir(UniqueFd(dup_fd), pid, options.freeze_timeout));
    source->stop_guard_.emplace(std::move(guard));
  }

  LAZYSNAP_ASSIGN_OR_RETURN(std::string comm, ReadProcFile(proc_dir, pid, "comm"));
  if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  source->name_ = absl::StrFormat("pid %d (%s)", pid, comm);

  LAZYSNAP_ASSIGN_OR_RETURN(std::string maps_text, ReadProcFile(proc_dir, pid, "maps"));
  auto mappings = internal::ParseProcMaps(maps_text);
  if (!mappings.ok()) {
    return absl::InternalError(absl::StrFormat("%s: cannot parse /proc/%d/maps: %s",
                                               source->name_, pid,
                                               std::string(mappings.status().message())));
  }
  uint64_t image_offset = 0;
  for (const internal::ProcMapping& mapping : *mappings) {
    if (internal::SelectMapping(mapping, options.include_readonly) !=
        internal::MappingSelection::kCapture) {
      ++source->selection_.skipped_mappings;
      source->selection_.skipped_bytes += mapping.length_bytes();
      continue;
    }
    source->regions_.push_back({image_offset, mapping.length_bytes(), mapping.start_address});
    image_offset += mapping.length_bytes();
    ++source->selection_.captured_mappings;
    source->selection_.captured_bytes += mapping.length_bytes();
  }
  source->image_size_bytes_ = image_offset;
  if (mappings->empty()) return NoMemoryError(pid, "its mapping list is empty");
  if (source->regions_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s has nothing to capture: none of its %d mappings is selected",
                        source->name_, mappings->size()));
  }
  return source;
}

absl::StatusOr<size_t> ProcessImageSource::Read(uint64_t image_offset_bytes,
                                                std::span<uint8_t> out) {
  if (image_offset_bytes > image_size_bytes_ ||
      out.size() > image_size_bytes_ - image_offset_bytes) {
    return absl::OutOfRangeError(absl::StrFormat(
        "%s: read of %d bytes at image offset %d goes past the end of the image (%d bytes)",
        name_, out.size(), image_offset_bytes, image_size_bytes_));
  }
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t offset = image_offset_bytes + done;
    // The region holding `offset`: the last one starting at or before it (regions tile
    // the image from 0).
    auto it = std::upper_bound(
        regions_.begin(), regions_.end(), offset,
        [](uint64_t value, const format::Region& r) { return value < r.image_offset_bytes; });
    const format::Region& region = *std::prev(it);
    const uint64_t in_region = offset - region.image_offset_bytes;
    const size_t n = static_cast<size_t>(
        std::min<uint64_t>(out.size() - done, region.length_bytes - in_region));
    LAZYSNAP_RETURN_IF_ERROR(ReadMemory(region.guest_address + in_region, out.subspan(done, n)));
    done += n;
  }
  return out.size();
}

absl::Status ProcessImageSource::ReadMemory(uint64_t address, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t at = address + done;
    ssize_t n = ::pread(mem_.get(), out.data() + done, out.size() - done, static_cast<off_t>(at));
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      // The kernel answers 0 once the address space is gone.
      return absl::NotFoundError(absl::StrFormat(
          "%s exited during the capture (reading address 0x%x)", name_, at));
    }
    if (errno == EINTR) continue;
    if (errno == EIO || errno == EFAULT) {
      // The page at `at` cannot be read (a short read stopped before it, or this read
      // started on it): serve it as zeros and go on with the next page.
      const uint64_t page_end = (at / page_size_bytes_ + 1) * page_size_bytes_;
      const size_t zero = static_cast<size_t>(std::min<uint64_t>(out.size() - done, page_end - at));
      std::memset(out.data() + done, 0, zero);
      NoteUnreadable(at, zero);
      done += zero;
      continue;
    }
    return ErrnoToStatus(errno, absl::StrFormat("pread /proc/%d/mem at address 0x%x length %d",
                                                pid_, at, out.size() - done));
  }
  return absl::OkStatus();
}

void ProcessImageSource::NoteUnreadable(uint64_t address, uint64_t length_bytes) {
  uint64_t start = address;
  uint64_t end = address + length_bytes;
  // Merge with every range that overlaps or touches [start, end).
  auto it = unreadable_ranges_.upper_bound(start);
  if (it != unreadable_ranges_.begin()) {
    auto previous = std::prev(it);
    if (previous->second >= end) return;  // already counted
    if (previous->second >= start) {
      start = previous->first;
      unreadable_bytes_ -= previous->second - previous->first;
      it = unreadable_ranges_.erase(previous);
    }
  }
  while (it != unreadable_ranges_.end() && it->first <= end) {
    end = std::max(end, it->second);
    unreadable_bytes_ -= it->second - it->first;
    it = unreadable_ranges_.erase(it);
  }
  unreadable_ranges_.emplace(start, end);
  unreadable_bytes_ += end - start;
}

}  // namespace lazysnap
