// VmSession: one VMM served by the daemon: its handshake placed onto the snapshot's
// regions, a RestoreSession over the handed-over userfaultfd with the serving policy the
// daemon was started with, and its stats rendered for the stats file.
#ifndef LAZYSNAP_FIRECRACKER_VM_SESSION_H_
#define LAZYSNAP_FIRECRACKER_VM_SESSION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "base/json_writer.h"
#include "engine/restore_session.h"
#include "engine/restore_stats.h"
#include "firecracker/handshake_receiver.h"
#include "firecracker/unix_socket.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::firecracker {

// ServePolicy: how a VM's memory is filled.
enum class ServePolicy {
  // Chunks on demand, with sequential readahead.
  kOnDemand,
  // On demand, and an idle-priority thread installs every other chunk meanwhile: demand
  // faults always come first.
  kBackground,
  // Everything up front, at normal priority from several threads (what Firecracker's
  // fault_all example does), while demand faults are still served as they come.
  kAll,
};
std::string_view ServePolicyName(ServePolicy policy);
// ParseServePolicy accepts "on-demand", "background" and "all" (InvalidArgument otherwise).
absl::StatusOr<ServePolicy> ParseServePolicy(std::string_view name);

// VmOptions: how every VM is served.
struct VmOptions {
  ServePolicy policy = ServePolicy::kOnDemand;
  // Handler threads per VM.
  int handler_threads = 2;
  // Sequential readahead, in chunks (0: off).
  uint32_t readahead_chunks = 8;
  // How long an idle handler thread keeps looking for work before it sleeps.
  uint32_t spin_before_sleep_us = 50;
  bool use_io_uring = true;
};

// RestoreOptionsFor returns the engine's options for a VM served with `options`.
RestoreOptions RestoreOptionsFor(const VmOptions& options);

class VmSession {
 public:
  // Start places the handshake's regions onto `snapshot` and starts serving. `on_fatal`
  // is called at most once, from an engine thread, when a chunk is refused (it must not
  // call Close). Errors: InvalidArgument when the VM's memory does not fit the snapshot
  // (guest_layout.h), Unimplemented for page sizes other than this host's (hugetlbfs
  // guests are not served yet), and whatever RestoreSession::StartWithUserfaultfd returns.
  static absl::StatusOr<std::unique_ptr<VmSession>> Start(
      std::shared_ptr<const SnapshotReader> snapshot, Handshake handshake,
      const PeerCredentials& peer, const VmOptions& options,
      std::function<void(const absl::Status&)> on_fatal);

  ~VmSession();
  VmSession(const VmSession&) = delete;
  VmSession& operator=(const VmSession&) = delete;

  const PeerCredentials& peer() const { return peer_; }
  const HandshakeMessage& message() const { return message_; }
  // stats and status: any thread, any time.
  RestoreStats stats() const { return session_->stats(); }
  absl::Status status() const { return session_->status(); }
  // Close stops serving without installing the rest (the VMM is gone, or is being
  // killed). Idempotent.
  void Close();

  // WriteJson writes this VM's stats as members of the current JSON object.
  void WriteJson(JsonWriter& json) const;

 private:
  VmSession(const PeerCredentials& peer, HandshakeMessage message, uint64_t chunk_count)
      : peer_(peer), message_(std::move(message)), chunk_count_(chunk_count) {}

  PeerCredentials peer_;
  HandshakeMessage message_;
  uint64_t chunk_count_;
  std::unique_ptr<RestoreSession> session_;
};

// WriteRestoreStatsJson writes `stats` (and population progress out of `chunk_count`)
// as members of the current JSON object.
void WriteRestoreStatsJson(const RestoreStats& stats, uint64_t chunk_count, JsonWriter& json);

}  // namespace lazysnap::firecracker

#endif  // LAZYSNAP_FIRECRACKER_VM_SESSION_H_
