// ServeDaemon: the poll loop, peers, sessions, fatal errors, stats and shutdown.
#include "firecracker/serve_daemon.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_format.h"
#include "base/atomic_file.h"
#include "base/errno_status.h"
#include "base/file_io.h"
#include "base/json_writer.h"
#include "firecracker/unix_socket.h"

namespace lazysnap::firecracker {
namespace {

constexpr size_t kEndedVmsKept = 32;

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void LogToStderr(std::string_view line) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm local;
  localtime_r(&ts.tv_sec, &local);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &local);
  // One write per line, so that lines of concurrent writers never interleave.
  const std::string text =
      absl::StrFormat("%s.%03d lazysnap serve: %s\n", stamp, ts.tv_nsec / 1000000, line);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

// PidFdOpen returns a pidfd for `pid` (Linux 5.3+), or an empty fd.
UniqueFd PidFdOpen(pid_t pid) {
  if (pid <= 0) return UniqueFd();
  return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

uint64_t ResidentBytes() {
  auto statm = ReadFileToString("/proc/self/statm");
  if (!statm.ok()) return 0;
  unsigned long long size = 0, resident = 0;
  if (std::sscanf(statm->c_str(), "%llu %llu", &size, &resident) != 2) return 0;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

void SignalEventFd(int fd) {
  const uint64_t one = 1;
  // Async-signal-safe; a full counter (impossible here) would already wake the loop.
  [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof(one));
}

void ResetEventFd(int fd) {
  uint64_t value;
  [[maybe_unused]] ssize_t n = ::read(fd, &value, sizeof(value));
}

}  // namespace

std::string_view FatalPolicyName(FatalPolicy policy) {
  switch (policy) {
    case FatalPolicy::kKillVmm: return "kill";
    case FatalPolicy::kLeave: return "leave";
  }
  return "unknown";
}

absl::StatusOr<FatalPolicy> ParseFatalPolicy(std::string_view name) {
  for (FatalPolicy policy : {FatalPolicy::kKillVmm, FatalPolicy::kLeave}) {
    if (name == FatalPolicyName(policy)) return policy;
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("fatal-error policy '%s': must be kill or leave", name));
}

struct ServeDaemon::Connection {
  uint64_t id = 0;
  UniqueFd socket;
  UniqueFd pidfd;
  PeerCredentials peer;
  uint64_t accepted_ns = 0;
  uint64_t deadline_ns = 0;
  std::unique_ptr<HandshakeReceiver> receiver;  // while the handshake is under way
  std::unique_ptr<VmSession> vm;                // once served
  uint64_t served_ns = 0;
  bool extra_bytes_logged = false;
  bool done = false;  // to be removed at the end of this loop pass
};

ServeDaemon::ServeDaemon(std::shared_ptr<const SnapshotReader> snapshot, ServeOptions options)
    : snapshot_(std::move(snapshot)), options_(std::move(options)) {
  if (!options_.log) options_.log = LogToStderr;
}

ServeDaemon::~ServeDaemon() {
  for (auto& connection : connections_) {
    if (connection->vm != nullptr) connection->vm->Close();
  }
  CloseListener();
}

absl::StatusOr<std::unique_ptr<ServeDaemon>> ServeDaemon::Create(
    std::shared_ptr<const SnapshotReader> snapshot, ServeOptions options) {
  if (snapshot == nullptr) return absl::InvalidArgumentError("no snapshot given");
  if (options.vm.handler_threads < 1 || options.max_vms < 1 || options.max_handshakes < 1) {
    return absl::InvalidArgumentError(
        "handler threads, max VMs and max handshakes must be at least 1");
  }
  std::unique_ptr<ServeDaemon> daemon(new ServeDaemon(std::move(snapshot), std::move(options)));
  daemon->stop_fd_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  daemon->fatal_fd_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!daemon->stop_fd_.valid() || !daemon->fatal_fd_.valid()) {
    return ErrnoToStatus(errno, "eventfd");
  }
  absl::StatusOr<UniqueFd> listener =
      ListenUnixSocket(daemon->options_.socket_path, daemon->options_.socket_mode);
  if (!listener.ok()) return listener.status();
  daemon->listener_ = std::move(*listener);
  daemon->started_ns_ = NowNs();
  return daemon;
}

void ServeDaemon::RequestStop() {
  stop_requests_.fetch_add(1, std::memory_order_relaxed);
  SignalEventFd(stop_fd_.get());
}

void ServeDaemon::Log(const Connection* connection, std::string_view message) const {
  if (connection == nullptr) {
    options_.log(message);
    return;
  }
  options_.log(absl::StrFormat("vm pid %d uid %d (#%d): %s", connection->peer.pid,
                               connection->peer.uid, connection->id, message));
}

void ServeDaemon::CloseListener() {
  if (!listener_.valid()) return;
  listener_.Reset();
  ::unlink(options_.socket_path.c_str());
}

DaemonCounts ServeDaemon::counts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_;
}

void ServeDaemon::AcceptAll() {
  while (listener_.valid()) {
    absl::StatusOr<UniqueFd> socket = AcceptConnection(listener_.get());
    if (!socket.ok()) {
      Log(nullptr, absl::StrFormat("accept failed: %s", socket.status().message()));
      return;
    }
    if (!socket->valid()) return;
    auto connection = std::make_unique<Connection>();
    connection->id = next_connection_id_++;
    connection->socket = std::move(*socket);
    connection->accepted_ns = NowNs();
    connection->deadline_ns =
        connection->accepted_ns + uint64_t{options_.handshake_timeout_ms} * 1000000;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++counts_.connections;
    }
    absl::StatusOr<PeerCredentials> peer = PeerCredentialsOf(connection->socket.get());
    if (!peer.ok()) {
      Log(nullptr, absl::StrFormat("connection #%d refused: %s", connection->id,
                                   peer.status().message()));
      std::lock_guard<std::mutex> lock(mutex_);
      ++counts_.refused;
      continue;
    }
    connection->peer = *peer;
    if (!options_.allowed_uids.empty() &&
        std::find(options_.allowed_uids.begin(), options_.allowed_uids.end(), peer->uid) ==
            options_.allowed_uids.end()) {
      Refuse(*connection, absl::PermissionDeniedError(absl::StrFormat(
                              "uid %d is not in the allowed list", peer->uid)));
      continue;
    }
    size_t vms = 0, handshakes = 0;
    for (const auto& other : connections_) {
      vms += other->vm != nullptr ? 1 : 0;
      handshakes += other->receiver != nullptr ? 1 : 0;
    }
    if (vms >= options_.max_vms || handshakes >= options_.max_handshakes) {
      Refuse(*connection, absl::ResourceExhaustedError(absl::StrFormat(
                              "the daemon is full (%d VMs served, %d handshakes under way)", vms,
                              handshakes)));
      continue;
    }
    connection->pidfd = PidFdOpen(peer->pid);
    connection->receiver = std::make_unique<HandshakeReceiver>(connection->socket.get());
    Log(connection.get(), "connected");
    std::lock_guard<std::mutex> lock(mutex_);
    connections_.push_back(std::move(connection));
  }
}

void ServeDaemon::Refuse(Connection& connection, const absl::Status& status) {
  Log(&connection, absl::StrFormat("refused: %s", status.ToString()));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++counts_.refused;
  }
  connection.receiver.reset();
  connection.done = true;
}

void ServeDaemon::OnHandshakeReadable(Connection& connection) {
  absl::StatusOr<std::optional<Handshake>> received = connection.receiver->OnReadable();
  if (!received.ok()) return Refuse(connection, received.status());
  if (!received->has_value()) return;
  connection.receiver.reset();
  StartVm(connection, std::move(**received));
}

void ServeDaemon::StartVm(Connection& connection, Handshake handshake) {
  const HandshakeMessage& message = handshake.message;
  Log(&connection, absl::StrFormat("handshake: %d region%s, %d bytes of guest memory, "
                                   "%d-byte pages, message shape: %s",
                                   message.regions.size(), message.regions.size() == 1 ? "" : "s",
                                   message.total_bytes, message.page_size_bytes,
                                   MessageShapeName(message.shape)));
  const uint64_t id = connection.id;
  absl::StatusOr<std::unique_ptr<VmSession>> vm = VmSession::Start(
      snapshot_, std::move(handshake), connection.peer, options_.vm,
      [this, id](const absl::Status& status) {
        {
          std::lock_guard<std::mutex> lock(fatal_mutex_);
          fatal_reports_.push_back({id, status});
        }
        SignalEventFd(fatal_fd_.get());
      });
  if (!vm.ok()) {
    Refuse(connection, vm.status());
    // It handed over its userfaultfd: without a handler its guest freezes on its first
    // fault.
    ApplyFatalPolicy(connection, vm.status());
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    connection.vm = std::move(*vm);
    connection.served_ns = NowNs();
    ++counts_.vms_served;
    ++counts_.vms_active;
  }
  Log(&connection, absl::StrFormat("serving (policy %s, %d handler threads)",
                                   ServePolicyName(options_.vm.policy),
                                   options_.vm.handler_threads));
  next_stats_ns_ = 0;  // a VM came: write the stats file now
}

void ServeDaemon::ApplyFatalPolicy(Connection& connection, const absl::Status& status) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++counts_.fatal;
  }
  if (options_.fatal_policy == FatalPolicy::kLeave) {
    Log(&connection, absl::StrFormat("fatal: %s; fatal-error policy 'leave': the VMM is left "
                                     "running, vCPUs touching unserved memory stay blocked",
                                     status.message()));
    return;
  }
  int result = -1;
  if (connection.pidfd.valid()) {
    result = static_cast<int>(
        ::syscall(SYS_pidfd_send_signal, connection.pidfd.get(), SIGKILL, nullptr, 0));
  }
  if (result != 0) {
    Log(&connection, absl::StrFormat("fatal: %s; could not kill the VMM (%s): it is left "
                                     "with vCPUs that may block forever",
                                     status.message(),
                                     connection.pidfd.valid() ? std::strerror(errno)
                                                              : "no pidfd for it"));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++counts_.killed;
  }
  Log(&connection, absl::StrFormat("fatal: %s; killed the VMM (fatal-error policy 'kill')",
                                   status.message()));
}

void ServeDaemon::EndVm(Connection& connection, std::string_view why) {
  connection.vm->Close();
  const RestoreStats s = connection.vm->stats();
  const double seconds = (NowNs() - connection.served_ns) / 1e9;
  Log(&connection,
      absl::StrFormat("ended (%s) after %.3f s: %d faults, %d chunks installed, %d bytes read, "
                      "fault latency p50 %d us p99 %d us",
                      why, seconds, s.faults, s.chunks_installed, s.bytes_read,
                      s.latency_p50_ns / 1000, s.latency_p99_ns / 1000));
  JsonWriter json;
  json.BeginObject()
      .Member("id", connection.id)
      .Member("pid", static_cast<int64_t>(connection.peer.pid))
      .Member("uid", static_cast<uint64_t>(connection.peer.uid))
      .Member("state", "ended")
      .Member("ended_because", why)
      .Member("seconds", seconds);
  connection.vm->WriteJson(json);
  json.EndObject();
  std::lock_guard<std::mutex> lock(mutex_);
  ended_.push_back(json.text());
  if (ended_.size() > kEndedVmsKept) ended_.erase(ended_.begin());
  --counts_.vms_active;
  connection.done = true;
  next_stats_ns_ = 0;
}

void ServeDaemon::HandleFatalReports() {
  ResetEventFd(fatal_fd_.get());
  std::vector<std::pair<uint64_t, absl::Status>> reports;
  {
    std::lock_guard<std::mutex> lock(fatal_mutex_);
    reports.swap(fatal_reports_);
  }
  for (const auto& [id, status] : reports) {
    for (auto& connection : connections_) {
      if (connection->id != id || connection->vm == nullptr || connection->done) continue;
      ApplyFatalPolicy(*connection, status);
      if (options_.fatal_policy == FatalPolicy::kKillVmm) EndVm(*connection, "fatal error");
    }
  }
}

void ServeDaemon::WriteStatsJson(JsonWriter& json) const {
  const uint64_t now = NowNs();
  json.BeginObject();
  json.Key("daemon")
      .BeginObject()
      .Member("pid", static_cast<int64_t>(::getpid()))
      .Member("socket", options_.socket_path)
      .Member("snapshot", snapshot_->path())
      .Member("policy", ServePolicyName(options_.vm.policy))
      .Member("fatal_policy", FatalPolicyName(options_.fatal_policy))
      .Member("uptime_seconds", (now - started_ns_) / 1e9)
      .Member("rss_bytes", ResidentBytes())
      .Member("connections", counts_.connections)
      .Member("vms_served", counts_.vms_served)
      .Member("vms_active", counts_.vms_active)
      .Member("refused", counts_.refused)
      .Member("fatal", counts_.fatal)
      .Member("killed", counts_.killed)
      .EndObject();
  json.Key("vms").BeginArray();
  for (const auto& connection : connections_) {
    if (connection->vm == nullptr || connection->done) continue;
    json.BeginObject()
        .Member("id", connection->id)
        .Member("pid", static_cast<int64_t>(connection->peer.pid))
        .Member("uid", static_cast<uint64_t>(connection->peer.uid))
        .Member("state", "serving")
        .Member("seconds", (now - connection->served_ns) / 1e9);
    connection->vm->WriteJson(json);
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
}

std::string ServeDaemon::StatsJson() const {
  std::lock_guard<std::mutex> lock(mutex_);
  JsonWriter json;
  WriteStatsJson(json);
  std::string text = json.text();
  // The ended VMs, appended as a second array (JsonWriter writes whole values only).
  std::string ended = ",\"ended_vms\":[";
  for (size_t i = 0; i < ended_.size(); ++i) ended += (i ? "," : "") + ended_[i];
  ended += "]}";
  text.replace(text.size() - 1, 1, ended);
  return text;
}

void ServeDaemon::WriteStats() {
  if (options_.stats_path.empty()) return;
  const std::string text = StatsJson() + "\n";
  absl::StatusOr<AtomicFile> file = AtomicFile::Create(options_.stats_path);
  absl::Status written = file.ok() ? PwriteFull(file->fd(),
                                                {reinterpret_cast<const uint8_t*>(text.data()),
                                                 text.size()},
                                                0, file->temp_path())
                                   : file.status();
  if (written.ok()) written = file->Commit();
  if (!written.ok()) Log(nullptr, absl::StrFormat("stats file: %s", written.message()));
}

int ServeDaemon::PollTimeoutMs(uint64_t now_ns) const {
  uint64_t next = UINT64_MAX;
  if (!options_.stats_path.empty()) next = next_stats_ns_;
  for (const auto& connection : connections_) {
    if (connection->receiver != nullptr) next = std::min(next, connection->deadline_ns);
  }
  if (next == UINT64_MAX) return -1;
  if (next <= now_ns) return 0;
  return static_cast<int>(std::min<uint64_t>((next - now_ns + 999999) / 1000000, 60000));
}

absl::Status ServeDaemon::Run() {
  Log(nullptr, absl::StrFormat("listening on %s (mode %o) for %s: %d regions, %d bytes; "
                               "policy %s, fatal-error policy %s",
                               options_.socket_path, options_.socket_mode, snapshot_->path(),
                               snapshot_->regions().size(), snapshot_->memory_size_bytes(),
                               ServePolicyName(options_.vm.policy),
                               FatalPolicyName(options_.fatal_policy)));
  uint64_t stop_deadline_ns = 0;
  std::vector<pollfd> fds;
  std::vector<Connection*> polled;
  while (true) {
    uint64_t now = NowNs();
    const uint32_t stops = stop_requests_.load(std::memory_order_relaxed);
    if (stops > 0 && listener_.valid()) {
      CloseListener();
      stop_deadline_ns = now + uint64_t{options_.shutdown_grace_ms} * 1000000;
      Log(nullptr, "stopping: no new VMs are accepted");
    }
    if (stops > 0) {
      size_t vms = 0;
      for (auto& connection : connections_) {
        if (connection->receiver != nullptr) Refuse(*connection, absl::CancelledError("the daemon is stopping"));
        if (connection->vm != nullptr && !connection->done) ++vms;
      }
      if (vms > 0 && (now >= stop_deadline_ns || stops > 1)) {
        for (auto& connection : connections_) {
          if (connection->vm == nullptr || connection->done) continue;
          ApplyFatalPolicy(*connection,
                           absl::CancelledError("the daemon stopped while the VM was running"));
          EndVm(*connection, "daemon stopped");
        }
        vms = 0;
      }
      if (vms == 0) break;
    }
    if (!options_.stats_path.empty() && now >= next_stats_ns_) {
      WriteStats();
      next_stats_ns_ = now + uint64_t{options_.stats_interval_ms} * 1000000;
    }

    fds.clear();
    polled.clear();
    fds.push_back({stop_fd_.get(), POLLIN, 0});
    fds.push_back({fatal_fd_.get(), POLLIN, 0});
    if (listener_.valid()) fds.push_back({listener_.get(), POLLIN, 0});
    const size_t first_connection = fds.size();
    for (auto& connection : connections_) {
      fds.push_back({connection->socket.get(), POLLIN | POLLRDHUP, 0});
      polled.push_back(connection.get());
    }
    int timeout = PollTimeoutMs(now);
    if (stops > 0) {
      const int grace_ms = static_cast<int>(
          stop_deadline_ns > now ? (stop_deadline_ns - now + 999999) / 1000000 : 0);
      timeout = timeout < 0 ? grace_ms : std::min(timeout, grace_ms);
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
      return ErrnoToStatus(errno, "poll");
    }
    if (fds[0].revents != 0) ResetEventFd(stop_fd_.get());
    if (fds[1].revents != 0) HandleFatalReports();
    for (size_t i = 0; i < polled.size(); ++i) {
      Connection& connection = *polled[i];
      const short revents = fds[first_connection + i].revents;
      if (revents == 0 || connection.done) continue;
      if (connection.receiver != nullptr) {
        OnHandshakeReadable(connection);
        continue;
      }
      if (connection.vm == nullptr) continue;
      // Firecracker sends nothing after its handshake: read and drop whatever comes,
      // until the VMM hangs up.
      char scratch[4096];
      ssize_t n;
      do {
        n = ::recv(connection.socket.get(), scratch, sizeof(scratch), MSG_DONTWAIT);
        if (n > 0 && !connection.extra_bytes_logged) {
          connection.extra_bytes_logged = true;
          Log(&connection, "sent bytes after its handshake: ignored");
        }
      } while (n > 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
          (revents & (POLLHUP | POLLERR)) != 0) {
        EndVm(connection, "the VMM hung up");
      }
    }
    if (fds.size() > 2 && listener_.valid() && fds[2].revents != 0) AcceptAll();
    now = NowNs();
    for (auto& connection : connections_) {
      if (connection->receiver != nullptr && now >= connection->deadline_ns) {
        Refuse(*connection, connection->receiver->Expire());
      }
    }
    std::lock_guard<std::mutex> lock(mutex_);
    connections_.remove_if([](const std::unique_ptr<Connection>& c) { return c->done; });
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    connections_.clear();
  }
  WriteStats();
  Log(nullptr, "stopped");
  return absl::OkStatus();
}

}  // namespace lazysnap::firecracker
