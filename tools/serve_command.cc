// lazysnap serve: the Firecracker-compatible page-fault handler daemon (the logic is in
// firecracker/serve_daemon.h; this is flags, the snapshot, and signals).
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_format.h"
#include "firecracker/serve_daemon.h"
#include "snapshot_format/snapshot_reader.h"
#include "tools/commands.h"

namespace lazysnap::cli {
namespace {

const CommandSpec kServeSpec = {
    .name = "serve",
    .synopsis = "--socket PATH SNAP [--policy on-demand|background|all] [--stats FILE] [flags]",
    .summary = "serve Firecracker VMs' memory from a snapshot (a Uffd page-fault handler)",
    .description =
        "Listens on the Unix socket PATH as a Firecracker page-fault handler: point\n"
        "`PUT /snapshot/load` at it with mem_backend {\"backend_type\": \"Uffd\",\n"
        "\"backend_path\": PATH}. Every VMM that connects hands over its guest memory's\n"
        "userfaultfd and is served lazily from SNAP (made with `lazysnap create vm.mem -o\n"
        "SNAP` from the VM's memory file), concurrently, each in its own session. Ready\n"
        "once the socket exists; runs in the foreground, logs to stderr (every line about\n"
        "a VM names its pid), stops on SIGTERM or SIGINT: no new VMs are accepted, VMs\n"
        "still connected are served for --grace seconds, then --on-fatal applies to them\n"
        "(a second signal skips the grace).\n"
        "\n"
        "A VM whose memory cannot be served (it does not fit SNAP, a chunk fails its\n"
        "checksum) would wait forever on its next fault: --on-fatal kill (default) kills\n"
        "its VMM, leave leaves it. Exit status 0 after a clean stop, 1 when the snapshot\n"
        "or the socket cannot be opened.",
    .min_positional = 1,
    .max_positional = 1,
    .flags = {
        {"socket", "PATH", "the Unix socket to listen on (required)"},
        {"socket-mode", "OCTAL", "file mode of the socket (default 0600: the daemon's user only)"},
        {"allow-uid", "UID", "only peers with this uid may connect (repeatable; default: anyone "
                             "the socket's mode lets in)", true},
        {"policy", "NAME", "on-demand (chunks as they are touched, with readahead; default), "
                           "background (also install every chunk from an idle thread) or all "
                           "(install everything at once from normal-priority threads, demand "
                           "faults still first come first served)"},
        {"on-fatal", "POLICY", "kill (default) or leave a VMM whose memory can no longer be served"},
        {"handler-threads", "N", "fault handler threads per VM (default 2)"},
        {"readahead", "N", "chunks installed ahead of a sequential fault (default 8, 0: off)"},
        {"spin-us", "N", "microseconds an idle handler keeps looking for work (default 50)"},
        {"no-io-uring", "", "read chunks with pread instead of io_uring"},
        {"stats", "FILE", "write per-VM stats as JSON to FILE (replaced atomically)"},
        {"stats-interval-ms", "N", "how often the stats file is rewritten (default 1000)"},
        {"handshake-timeout-ms", "N", "refuse a peer whose handshake takes longer (default 5000)"},
        {"max-vms", "N", "VMs served at once (default 64)"},
        {"grace", "SECONDS", "how long VMs still connected are served after SIGTERM (default 30)"},
    }};

// The signal handler's view of the daemon: a signal that comes before the daemon exists
// is remembered and passed on once it does.
std::atomic<firecracker::ServeDaemon*> g_daemon{nullptr};
std::atomic<bool> g_stop_signalled{false};

void OnStopSignal(int) {
  g_stop_signalled.store(true);
  if (firecracker::ServeDaemon* daemon = g_daemon.load()) daemon->RequestStop();
}

int RunServe(const ParsedArgs& args) {
  const CommandSpec& spec = kServeSpec;
  firecracker::ServeOptions options;
  options.socket_path = args.Value("socket");
  if (options.socket_path.empty()) return UsageError(spec, "--socket PATH is required");
  if (args.Has("socket-mode")) {
    char* end = nullptr;
    const std::string text = args.Value("socket-mode");
    const unsigned long mode = std::strtoul(text.c_str(), &end, 8);
    if (text.empty() || *end != '\0' || mode > 0777) {
      return UsageError(spec, absl::StrFormat("--socket-mode %s: not an octal mode", text));
    }
    options.socket_mode = static_cast<uint32_t>(mode);
  }
  for (const std::string& text : args.Values("allow-uid")) {
    auto uid = ParseInt(text, 0, UINT32_MAX - 1);
    if (!uid.ok()) return UsageError(spec, absl::StrFormat("--allow-uid: %s", uid.status().message()));
    options.allowed_uids.push_back(static_cast<uid_t>(*uid));
  }
  if (args.Has("policy")) {
    auto policy = firecracker::ParseServePolicy(args.Value("policy"));
    if (!policy.ok()) return UsageError(spec, std::string(policy.status().message()));
    options.vm.policy = *policy;
  }
  if (args.Has("on-fatal")) {
    auto fatal = firecracker::ParseFatalPolicy(args.Value("on-fatal"));
    if (!fatal.ok()) return UsageError(spec, std::string(fatal.status().message()));
    options.fatal_policy = *fatal;
  }
  uint32_t grace_seconds = 30;
  for (absl::Status status :
       {ParseIntFlag(args, "handler-threads", 1, 64, &options.vm.handler_threads),
        ParseIntFlag(args, "readahead", 0, 4096, &options.vm.readahead_chunks),
        ParseIntFlag(args, "spin-us", 0, 1000000, &options.vm.spin_before_sleep_us),
        ParseIntFlag(args, "stats-interval-ms", 10, 3600000, &options.stats_interval_ms),
        ParseIntFlag(args, "handshake-timeout-ms", 1, 3600000, &options.handshake_timeout_ms),
        ParseIntFlag(args, "max-vms", 1, 100000, &options.max_vms),
        ParseIntFlag(args, "grace", 0, 86400, &grace_seconds)}) {
    if (!status.ok()) return UsageError(spec, std::string(status.message()));
  }
  options.shutdown_grace_ms = grace_seconds * 1000;
  options.vm.use_io_uring = !args.Has("no-io-uring");
  options.stats_path = args.Value("stats");

  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // Only the tables are read now; index segments are checked when first used.
  auto snapshot = SnapshotReader::Open(args.positional()[0], {.validate_index = false});
  if (!snapshot.ok()) return Fail(spec.name, snapshot.status());
  auto daemon = firecracker::ServeDaemon::Create(std::move(*snapshot), std::move(options));
  if (!daemon.ok()) return Fail(spec.name, daemon.status());

  g_daemon.store(daemon->get());
  if (g_stop_signalled.load()) (*daemon)->RequestStop();
  absl::Status status = (*daemon)->Run();
  g_daemon.store(nullptr);
  if (!status.ok()) return Fail(spec.name, status);
  return kExitOk;
}

}  // namespace

const Command& ServeCommand() {
  static const Command command = {kServeSpec, RunServe};
  return command;
}

}  // namespace lazysnap::cli
