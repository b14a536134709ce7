// Writing the synthetic image, and starting, capturing and ending the Python workload.
#include "bench/workload_images.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/file_io.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "snapshot_format/chunk_codec.h"
#include "snapshot_format/process_image_source.h"
#include "workload/synthetic_image.h"

extern char** environ;

namespace lazysnap::bench {
namespace {

constexpr uint64_t kPageBytes = 4096;

// Child: a spawned process, killed and reaped unless it was ended cleanly.
class Child {
 public:
  Child(pid_t pid, UniqueFd stdin_fd, UniqueFd stdout_fd)
      : pid_(pid), stdin_(std::move(stdin_fd)), stdout_(std::move(stdout_fd)) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }

  // ReadLine reads standard output up to a newline, for at most `timeout`.
  absl::StatusOr<std::string> ReadLine(std::chrono::milliseconds timeout) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return absl::DeadlineExceededError(
            absl::StrFormat("pid %d printed no line within %d s", pid_, timeout.count() / 1000));
      }
      pollfd fd = {stdout_.get(), POLLIN, 0};
      const int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno != EINTR) return ErrnoToStatus(errno, "poll");
      if (ready <= 0) continue;
      char c;
      const ssize_t n = ::read(stdout_.get(), &c, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoToStatus(errno, "read from the workload");
      if (n == 0) {
        return absl::UnavailableError(
            absl::StrFormat("pid %d closed its output before a full line ('%s')", pid_, line));
      }
      if (c == '\n') return line;
      line += c;
    }
  }

  // End closes standard input (the workload's signal to exit) and reaps the process,
  // killing it when it has not exited after `timeout`.
  absl::Status End(std::chrono::milliseconds timeout) {
    stdin_.Reset();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (true) {
      const pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_) break;
      if (done < 0 && errno != EINTR) return ErrnoToStatus(errno, "waitpid");
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = 0;
        return absl::DeadlineExceededError("the workload did not exit when its input closed");
      }
      ::usleep(10000);
    }
    pid_ = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return absl::InternalError(absl::StrFormat("the workload ended with status 0x%x", status));
    }
    return absl::OkStatus();
  }

 private:
  pid_t pid_;
  UniqueFd stdin_;
  UniqueFd stdout_;
};

absl::StatusOr<std::unique_ptr<Child>> Spawn(const std::vector<std::string>& argv) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "pipe2");
  UniqueFd in_read(in[0]), in_write(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "pipe2");
  UniqueFd out_read(out[0]), out_write(out[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 clears close-on-exec on the copies; the originals close at exec.
  posix_spawn_file_actions_adddup2(&actions, in_read.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return ErrnoToStatus(rc, "posix_spawn " + argv[0]);
  return std::make_unique<Child>(pid, std::move(in_write), std::move(out_read));
}

}  // namespace

absl::StatusOr<RawImage> WriteSyntheticRawImage(const std::string& path, uint64_t size_bytes) {
  LAZYSNAP_RETURN_IF_ERROR(WriteSyntheticImage(path, size_bytes, SyntheticImageOptions{}));
  RawImage image;
  image.path = path;
  image.regions = {{.image_offset_bytes = 0, .length_bytes = size_bytes}};
  return image;
}

absl::StatusOr<RawImage> DumpRawImage(ImageSource& source, const std::string& path) {
  RawImage image;
  image.path = path;
  image.regions = source.regions();
  LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC));
  std::vector<uint8_t> buffer(4 << 20);
  uint64_t end = 0;
  for (const format::Region& region : image.regions) {
    if (region.image_offset_bytes % kPageBytes != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: region at image offset %d is not page aligned", source.name(),
          region.image_offset_bytes));
    }
    for (uint64_t done = 0; done < region.length_bytes;) {
      const uint64_t at = region.image_offset_bytes + done;
      const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(),
                                                                 region.length_bytes - done));
      LAZYSNAP_ASSIGN_OR_RETURN(size_t n, source.Read(at, {buffer.data(), want}));
      if (n != want) {
        return absl::DataLossError(absl::StrFormat("%s: short read at image offset %d",
                                                   source.name(), at));
      }
      // Write runs of pages that are not all zero; zero pages stay holes.
      for (size_t page = 0; page < n;) {
        const size_t length = std::min<size_t>(kPageBytes, n - page);
        if (IsAllZero({buffer.data() + page, length})) {
          page += length;
          continue;
        }
        size_t run_end = page + length;
        while (run_end < n) {
          const size_t next = std::min<size_t>(kPageBytes, n - run_end);
          if (IsAllZero({buffer.data() + run_end, next})) break;
          run_end += next;
        }
        LAZYSNAP_RETURN_IF_ERROR(
            PwriteFull(fd.get(), {buffer.data() + page, run_end - page}, at + page, path));
        page = run_end;
      }
      done += n;
    }
    end = std::max(end, region.image_offset_bytes + region.length_bytes);
  }
  end = (end + kPageBytes - 1) / kPageBytes * kPageBytes;
  if (::ftruncate(fd.get(), static_cast<off_t>(end)) != 0) {
    return ErrnoToStatus(errno, "ftruncate " + path);
  }
  if (::fsync(fd.get()) != 0) return ErrnoToStatus(errno, "fsync " + path);
  return image;
}

absl::StatusOr<CapturedProcess> CapturePythonWorkload(const PythonWorkloadOptions& options,
                                                      const std::string& path) {
  LAZYSNAP_ASSIGN_OR_RETURN(
      std::unique_ptr<Child> child,
      Spawn({options.python, options.script, "--mb", std::to_string(options.mb)}));
  LAZYSNAP_ASSIGN_OR_RETURN(std::string line, child->ReadLine(options.ready_timeout));
  char* end = nullptr;
  const long pid = std::strtol(line.c_str(), &end, 10);
  if (pid != child->pid() || std::string(end) != " ready") {
    return absl::InternalError(absl::StrFormat(
        "%s printed '%s', not '%d ready'", options.script, line, child->pid()));
  }
  CapturedProcess captured;
  captured.pid = child->pid();
  {
    ProcessCaptureOptions capture;
    capture.freeze = true;  // one consistent moment; resumed when the source goes
    LAZYSNAP_ASSIGN_OR_RETURN(std::unique_ptr<ProcessImageSource> source,
                              ProcessImageSource::Open(child->pid(), capture));
    LAZYSNAP_ASSIGN_OR_RETURN(captured.image, DumpRawImage(*source, path));
    captured.mappings = source->selection().captured_mappings;
    captured.captured_bytes = source->selection().captured_bytes;
    captured.unreadable_bytes = source->unreadable_bytes();
  }
  LAZYSNAP_RETURN_IF_ERROR(child->End(std::chrono::seconds(30)));
  return captured;
}

}  // namespace lazysnap::bench
