// firecracker_compare: lazysnap's Firecracker page-fault handler (`lazysnap serve`)
// against handlers in the style of Firecracker's examples, each serving test_vmm (which
// does what Firecracker does on a Uffd restore) touching a guest memory of --size bytes
// with 2 vCPU threads. All processes are real: the handlers, and the VMMs, each a process.
//
// Handlers (each measured on the same image; the page cache holds the raw file and the
// snapshot, i.e. warm):
//   lazysnap-on-demand   lazysnap serve --policy on-demand (32 KiB chunks, readahead)
//   lazysnap-background  lazysnap serve --policy background
//   fc-4k-on-demand      fc_example_handler --mode on-demand: 4 KiB COPY per fault from an
//                        mmap of the raw memory file (on_demand_handler.rs)
//   fc-fault-all         fc_example_handler --mode fault-all: the first fault copies every
//                        region whole (fault_all_handler.rs)
// Scenarios:
//   random     1 VMM touches every page in random order
//   ws10       1 VMM touches a random 10% of the pages
//   4vmm       4 VMMs at once, each touching every page in random order (its own seed);
//              one daemon (lazysnap) or one handler process per VMM (Firecracker's
//              examples serve one VMM each)
// Reported per (scenario, handler), min and median over --repeats runs interleaved
// handler by handler: time to first fault (handshake sent -> first touch returned, as the
// VMM sees it), touch time, the vCPUs' first-touch latency p50/p99, the handler's own
// service latency p50/p99, wall time (4vmm), and the handler processes' resident memory
// at the end (peak, and anonymous).
//
//   bazel-bin/bench/firecracker_compare --dir /work/scratch/x --size 1G --repeats 3
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <simdjson.h>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/file_io.h"
#include "bench/process_metrics.h"
#include "bench/workload_images.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/snapshot_writer.h"

extern char** environ;

namespace lazysnap::bench {
namespace {

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "firecracker_compare: %s\n", what.c_str());
  std::exit(1);
}

struct Process {
  pid_t pid = -1;
  int stdout_fd = -1;
  std::string output;
  uint64_t peak_rss_bytes = 0;  // from wait4's rusage, once it exited
};

Process Spawn(const std::vector<std::string>& args, const std::string& stderr_path) {
  Process process;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) Die("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  if (posix_spawn(&process.pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
    Die("spawn " + args[0]);
  }
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  process.stdout_fd = pipe_fds[0];
  return process;
}

int Wait(Process& process) {
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(process.stdout_fd, buffer, sizeof(buffer))) > 0) process.output.append(buffer, n);
  ::close(process.stdout_fd);
  int status = 0;
  rusage usage = {};
  ::wait4(process.pid, &status, 0, &usage);
  process.peak_rss_bytes = static_cast<uint64_t>(usage.ru_maxrss) * 1024;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void WaitForSocket(const std::string& path) {
  for (int i = 0; i < 2000; ++i) {
    struct stat info;
    if (::stat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  Die("no socket at " + path);
}

double Field(const std::string& json, const char* key) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  double value = 0;
  if (parser.parse(json).get(root) != simdjson::SUCCESS) return -1;
  simdjson::dom::element field;
  if (root.at_pointer(key).get(field) != simdjson::SUCCESS) return -1;
  if (field.get_double().get(value) == simdjson::SUCCESS) return value;
  return -1;
}

// Memory of a handler process, read just before it is stopped.
struct Memory {
  uint64_t peak_rss = 0;  // VmHWM
  uint64_t rss = 0;
  uint64_t anonymous = 0;
};

Memory MemoryOf(pid_t pid) {
  Memory memory;
  auto status = ReadFileToString(absl::StrFormat("/proc/%d/status", pid));
  if (status.ok()) {
    const size_t at = status->find("VmHWM:");
    if (at != std::string::npos) memory.peak_rss = std::strtoull(status->c_str() + at + 6, nullptr, 10) * 1024;
  }
  auto rollup = ReadFileToString(absl::StrFormat("/proc/%d/smaps_rollup", pid));
  if (rollup.ok()) {
    auto usage = ParseSmapsRollup(*rollup);
    if (usage.ok()) {
      memory.rss = usage->rss_bytes;
      memory.anonymous = usage->anonymous_bytes;
    }
  }
  return memory;
}

struct Config {
  std::string dir;
  uint64_t size = 1ull << 30;
  int repeats = 3;
  std::string lazysnap;
  std::string test_vmm;
  std::string fc_handler;
};

struct Run {
  double first_fault_us = 0, touch_s = 0, touch_p50_us = 0, touch_p99_us = 0;
  double service_p50_us = -1, service_p99_us = -1, wall_s = 0;
  double handler_peak_mib = 0, handler_anon_mib = 0, populate_ms = -1;
};

// RunOnce runs `handler` for `vmms` VMMs with `access`; returns the VMMs' runs (one per
// VMM) with the handler's figures copied into each.
std::vector<Run> RunOnce(const Config& c, const std::string& handler, const std::string& access,
                         int vmms, int repeat, const std::string& raw, const std::string& snapshot) {
  const std::string log = c.dir + "/handler.log";
  std::vector<Process> handlers;
  std::vector<std::string> sockets;
  const std::string stats = c.dir + "/stats.json";
  ::unlink(stats.c_str());
  if (handler.rfind("lazysnap-", 0) == 0) {
    sockets.push_back(c.dir + "/lz.sock");
    handlers.push_back(Spawn({c.lazysnap, "serve", "--socket", sockets[0], snapshot, "--policy",
                              handler.substr(9), "--stats", stats, "--stats-interval-ms", "100000"},
                             log));
    WaitForSocket(sockets[0]);
  } else {
    for (int i = 0; i < vmms; ++i) {
      sockets.push_back(absl::StrFormat("%s/fc%d.sock", c.dir, i));
      ::unlink(sockets.back().c_str());
      handlers.push_back(Spawn({c.fc_handler, "--mode", handler.substr(3) == "fault-all" ? "fault-all" : "on-demand",
                                "--socket", sockets.back(), raw},
                               log));
    }
    for (const std::string& socket : sockets) WaitForSocket(socket);
  }
  const uint64_t start = NowNs();
  std::vector<Process> guests;
  for (int i = 0; i < vmms; ++i) {
    std::vector<std::string> args = {c.test_vmm, "--socket", sockets[sockets.size() == 1 ? 0 : i],
                                     "--size", std::to_string(c.size), "--access", access,
                                     "--threads", "2", "--seed", std::to_string(repeat * 10 + i + 1)};
    if (vmms == 1) args.insert(args.end(), {"--image", raw});  // verified, outside the timing
    guests.push_back(Spawn(args, c.dir + "/vmm.log"));
  }
  std::vector<Run> runs;
  for (Process& guest : guests) {
    const int code = Wait(guest);
    if (code != 0) Die(absl::StrFormat("%s %s: test_vmm exited %d: %s", handler, access, code, guest.output));
    Run run;
    run.first_fault_us = Field(guest.output, "/first_fault_ns") / 1e3;
    run.touch_s = Field(guest.output, "/touch_seconds");
    run.touch_p50_us = Field(guest.output, "/touch_p50_ns") / 1e3;
    run.touch_p99_us = Field(guest.output, "/touch_p99_ns") / 1e3;
    runs.push_back(run);
  }
  const double wall_s = (NowNs() - start) / 1e9;
  // The handlers' memory, then their own latency figures.
  // Anonymous memory while it is alive (the daemon is; an example handler may already
  // have exited with its VMM: then only its peak is known).
  Memory memory;
  for (Process& h : handlers) memory.anonymous += MemoryOf(h.pid).anonymous;
  double service_p50 = -1, service_p99 = -1, populate = -1;
  if (handler.rfind("lazysnap-", 0) == 0) {
    // The daemon writes its stats file when a VM ends; wait for the last one.
    std::string text;
    for (int i = 0; i < 400; ++i) {
      auto read = ReadFileToString(stats);
      if (read.ok() && read->find(absl::StrFormat("\"vms_served\":%d,\"vms_active\":0", vmms)) != std::string::npos) {
        text = *read;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    service_p50 = Field(text, "/ended_vms/0/latency_ns/p50") / 1e3;
    service_p99 = Field(text, "/ended_vms/0/latency_ns/p99") / 1e3;
    ::kill(handlers[0].pid, SIGTERM);
  }
  for (Process& h : handlers) {
    if (Wait(h) != 0) Die(handler + ": handler exited with an error; see " + log);
    memory.peak_rss += h.peak_rss_bytes;
    if (handler.rfind("fc-", 0) == 0) {
      service_p50 = Field(h.output, "/service_p50_ns") / 1e3;
      service_p99 = Field(h.output, "/service_p99_ns") / 1e3;
      const double p = Field(h.output, "/populate_ns");
      if (p > 0) populate = p / 1e6;
    }
  }
  for (Run& run : runs) {
    run.service_p50_us = service_p50;
    run.service_p99_us = service_p99;
    run.wall_s = wall_s;
    run.handler_peak_mib = memory.peak_rss / 1048576.0;
    run.handler_anon_mib = handler.rfind("lazysnap-", 0) == 0 ? memory.anonymous / 1048576.0 : -1;
    run.populate_ms = populate;
  }
  return runs;
}

}  // namespace
}  // namespace lazysnap::bench

int main(int argc, char** argv) {
  using namespace lazysnap::bench;
  Config c;
  const std::string self = argv[0];
  const std::string bin = self.substr(0, self.rfind('/'));
  c.lazysnap = bin + "/../tools/lazysnap";
  c.test_vmm = bin + "/../firecracker/test_vmm";
  c.fc_handler = bin + "/fc_example_handler";
  std::string scenarios = "random,ws:10,4vmm";
  std::string handlers = "lazysnap-on-demand,lazysnap-background,fc-4k-on-demand,fc-fault-all";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--dir") c.dir = value;
    else if (flag == "--size") c.size = std::strtoull(value.c_str(), nullptr, 0) << (value.back() == 'G' ? 30 : value.back() == 'M' ? 20 : 0);
    else if (flag == "--repeats") c.repeats = std::atoi(value.c_str());
    else if (flag == "--scenarios") scenarios = value;
    else if (flag == "--handlers") handlers = value;
    else Die("unknown flag " + flag);
  }
  if (c.dir.empty()) Die("usage: firecracker_compare --dir DIR [--size 1G] [--repeats 3] [--scenarios random,ws:10,4vmm] [--handlers ...]");
  ::mkdir(c.dir.c_str(), 0755);
  const std::string raw = c.dir + "/vm.mem";
  const std::string snapshot = c.dir + "/vm.lzs";
  struct stat info;
  if (::stat(raw.c_str(), &info) != 0 || static_cast<uint64_t>(info.st_size) != c.size) {
    auto image = WriteSyntheticRawImage(raw, c.size);
    if (!image.ok()) Die(std::string(image.status().message()));
    ::unlink(snapshot.c_str());
  }
  if (::stat(snapshot.c_str(), &info) != 0) {
    auto source = lazysnap::FileImageSource::Open(raw);
    if (!source.ok()) Die(std::string(source.status().message()));
    auto written = lazysnap::WriteSnapshot(**source, snapshot, lazysnap::WriterOptions{});
    if (!written.ok()) Die(std::string(written.status().message()));
  }
  // Warm: both files in the page cache.
  for (const std::string& path : {raw, snapshot}) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    std::vector<char> buffer(1 << 20);
    while (fd >= 0 && ::read(fd, buffer.data(), buffer.size()) > 0) {
    }
    if (fd >= 0) ::close(fd);
  }

  std::vector<std::string> scenario_list = absl::StrSplit(scenarios, ',');
  std::vector<std::string> handler_list = absl::StrSplit(handlers, ',');
  std::map<std::pair<std::string, std::string>, std::vector<Run>> results;
  for (int repeat = 0; repeat < c.repeats; ++repeat) {
    for (const std::string& scenario : scenario_list) {
      for (const std::string& handler : handler_list) {
        const int vmms = scenario == "4vmm" ? 4 : 1;
        const std::string access = scenario == "4vmm" ? "random" : scenario;
        std::vector<Run> runs = RunOnce(c, handler, access, vmms, repeat, raw, snapshot);
        std::fprintf(stderr, "repeat %d %-7s %-20s touch %.3f s first fault %.0f us wall %.3f s\n",
                     repeat, scenario.c_str(), handler.c_str(), runs[0].touch_s,
                     runs[0].first_fault_us, runs[0].wall_s);
        auto& all = results[{scenario, handler}];
        all.insert(all.end(), runs.begin(), runs.end());
      }
    }
  }
  std::printf("| scenario | handler | first fault (us) | touch (s) | vCPU touch p50 (us) | vCPU touch p99 (us) | handler service p50 (us) | handler p99 (us) | wall (s) | handler peak RSS (MiB) | handler anon (MiB) | fault-all copy (ms) |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const std::string& scenario : scenario_list) {
    for (const std::string& handler : handler_list) {
      const std::vector<Run>& runs = results[{scenario, handler}];
      auto column = [&](double Run::*field, const char* format) {
        std::vector<double> values;
        for (const Run& run : runs) values.push_back(run.*field);
        if (values.empty() || values[0] < 0) return std::string("-");
        std::sort(values.begin(), values.end());
        auto one = [&](double v) {
          return std::string(format) == "%.3f" ? absl::StrFormat("%.3f", v)
                 : std::string(format) == "%.0f" ? absl::StrFormat("%.0f", v)
                                                 : absl::StrFormat("%.1f", v);
        };
        return one(values[0]) + " / " + one(values[values.size() / 2]);
      };
      std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", scenario.c_str(),
                  handler.c_str(), column(&Run::first_fault_us, "%.0f").c_str(),
                  column(&Run::touch_s, "%.3f").c_str(), column(&Run::touch_p50_us, "%.1f").c_str(),
                  column(&Run::touch_p99_us, "%.1f").c_str(), column(&Run::service_p50_us, "%.1f").c_str(),
                  column(&Run::service_p99_us, "%.1f").c_str(), column(&Run::wall_s, "%.3f").c_str(),
                  column(&Run::handler_peak_mib, "%.1f").c_str(), column(&Run::handler_anon_mib, "%.1f").c_str(),
                  column(&Run::populate_ms, "%.1f").c_str());
    }
  }
  return 0;
}
