// ServeDaemon: the Firecracker-compatible page-fault handler behind `lazysnap serve`.
//
// It listens on one Unix socket and serves every VMM that connects, concurrently, each
// with its own RestoreSession over the one shared snapshot: a VMM connects, sends its
// handshake (handshake_message.h) with its userfaultfd, and from then on its guest's
// faults are served until it hangs up (its session then ends and frees what it held,
// without disturbing the others). One snapshot per daemon: run one daemon (one socket)
// per snapshot.
//
// Everything runs from one poll(2) loop (Run) except fault serving, which each session
// does on its own threads: accepting, handshakes (non-blocking, with a deadline), VMM
// departures, fatal errors reported by sessions, the stats file, shutdown.
//
// Peers. A connection is refused, logged and closed, and the daemon goes on serving
// everyone else, when its uid is not allowed, the daemon is at max_vms, or its handshake
// is not valid (handshake_receiver.h). A peer is never trusted further than its handshake
// was checked; nothing a peer sends can crash the daemon.
//
// Fatal errors. Once a VMM has handed over its userfaultfd, the daemon is the only one
// who can fill its guest's memory: if the VM cannot be served (its memory does not fit
// the snapshot, a chunk fails its checksum), its vCPUs would wait forever. FatalPolicy
// says what then happens to that VMM; the default kills it (SIGKILL through a pidfd taken
// at connect time, so a recycled pid is never hit), as Firecracker's example handlers do.
//
// Shutdown. RequestStop (async-signal-safe: the CLI calls it on SIGTERM) stops accepting
// and removes the socket at once; VMs still connected keep being served for
// shutdown_grace_ms (a VM restored lazily needs its handler as long as it runs: ballooned
// pages fault again), then FatalPolicy applies to those left. A second RequestStop skips
// the rest of the grace.
#ifndef LAZYSNAP_FIRECRACKER_SERVE_DAEMON_H_
#define LAZYSNAP_FIRECRACKER_SERVE_DAEMON_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "firecracker/vm_session.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::firecracker {

// FatalPolicy: what happens to a VMM whose memory can no longer be served.
enum class FatalPolicy {
  kKillVmm,  // SIGKILL it: the VM fails visibly and its orchestrator can react
  kLeave,    // leave it: its vCPUs that touch unserved memory stay blocked
};
std::string_view FatalPolicyName(FatalPolicy policy);
absl::StatusOr<FatalPolicy> ParseFatalPolicy(std::string_view name);  // "kill", "leave"

struct ServeOptions {
  std::string socket_path;
  uint32_t socket_mode = 0600;
  // Peer uids allowed to connect; empty: every peer that can open the socket.
  std::vector<uid_t> allowed_uids;
  VmOptions vm;
  FatalPolicy fatal_policy = FatalPolicy::kKillVmm;
  uint32_t handshake_timeout_ms = 5000;
  uint32_t max_vms = 64;
  uint32_t max_handshakes = 32;
  // The stats file (JSON, replaced atomically), written every stats_interval_ms and when
  // a VM comes or goes; empty: none.
  std::string stats_path;
  uint32_t stats_interval_ms = 1000;
  uint32_t shutdown_grace_ms = 30000;
  // Where log lines go (one line per call, without a newline); nullptr: stderr with a
  // timestamp. Called from the daemon's loop thread only.
  std::function<void(std::string_view line)> log;
};

// DaemonCounts: what the daemon has done so far.
struct DaemonCounts {
  uint64_t connections = 0;      // accepted
  uint64_t vms_served = 0;       // sessions started
  uint64_t vms_active = 0;       // sessions serving now
  uint64_t refused = 0;          // connections refused (handshake, uid, limits, layout)
  uint64_t fatal = 0;            // VMs hit by a fatal error
  uint64_t killed = 0;           // VMMs killed by the fatal policy
};

class ServeDaemon {
 public:
  // Create listens on options.socket_path (the daemon is ready once it returns: VMMs may
  // connect, and are served once Run runs). Errors: from ListenUnixSocket, or
  // InvalidArgument for options out of range.
  static absl::StatusOr<std::unique_ptr<ServeDaemon>> Create(
      std::shared_ptr<const SnapshotReader> snapshot, ServeOptions options);
  ~ServeDaemon();
  ServeDaemon(const ServeDaemon&) = delete;
  ServeDaemon& operator=(const ServeDaemon&) = delete;

  // Run serves until stopped (see the file comment); returns OK after a clean stop, or
  // the error that made the loop itself fail (never a peer's error).
  absl::Status Run();

  // RequestStop asks Run to stop; async-signal-safe and thread-safe.
  void RequestStop();

  // counts and StatsJson may be called from any thread.
  DaemonCounts counts() const;
  std::string StatsJson() const;

 private:
  struct Connection;
  ServeDaemon(std::shared_ptr<const SnapshotReader> snapshot, ServeOptions options);

  void Log(const Connection* connection, std::string_view message) const;
  void AcceptAll();
  void OnHandshakeReadable(Connection& connection);
  void StartVm(Connection& connection, Handshake handshake);
  void Refuse(Connection& connection, const absl::Status& status);
  void ApplyFatalPolicy(Connection& connection, const absl::Status& status);
  void EndVm(Connection& connection, std::string_view why);
  void HandleFatalReports();
  void WriteStats();
  void WriteStatsJson(class JsonWriter& json) const;
  int PollTimeoutMs(uint64_t now_ns) const;
  void CloseListener();

  std::shared_ptr<const SnapshotReader> snapshot_;
  ServeOptions options_;
  UniqueFd listener_;
  UniqueFd stop_fd_;   // eventfd: RequestStop
  UniqueFd fatal_fd_;  // eventfd: a session reported a fatal error
  std::atomic<uint32_t> stop_requests_{0};
  uint64_t started_ns_ = 0;
  uint64_t next_stats_ns_ = 0;
  uint64_t next_connection_id_ = 1;

  // Connections: the loop thread changes the list under mutex_; readers of stats take it.
  mutable std::mutex mutex_;
  std::list<std::unique_ptr<Connection>> connections_;
  std::vector<std::string> ended_;  // stats JSON objects of the last VMs that ended
  DaemonCounts counts_;

  // Fatal errors reported from engine threads: (connection id, status).
  std::mutex fatal_mutex_;
  std::vector<std::pair<uint64_t, absl::Status>> fatal_reports_;
};

}  // namespace lazysnap::firecracker

#endif  // LAZYSNAP_FIRECRACKER_SERVE_DAEMON_H_
