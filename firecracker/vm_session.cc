// VmSession: from a complete handshake to a serving RestoreSession.
#include "firecracker/vm_session.h"

#include <unistd.h>

#include "absl/strings/str_format.h"
#include "firecracker/guest_layout.h"

namespace lazysnap::firecracker {

std::string_view ServePolicyName(ServePolicy policy) {
  switch (policy) {
    case ServePolicy::kOnDemand: return "on-demand";
    case ServePolicy::kBackground: return "background";
    case ServePolicy::kAll: return "all";
  }
  return "unknown";
}

absl::StatusOr<ServePolicy> ParseServePolicy(std::string_view name) {
  for (ServePolicy policy : {ServePolicy::kOnDemand, ServePolicy::kBackground, ServePolicy::kAll}) {
    if (name == ServePolicyName(policy)) return policy;
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("policy '%s': must be on-demand, background or all", name));
}

RestoreOptions RestoreOptionsFor(const VmOptions& options) {
  RestoreOptions restore;
  restore.serving = ServingMode::kHandlerThreads;
  restore.handler_threads = options.handler_threads;
  restore.readahead_chunks = options.readahead_chunks;
  restore.spin_before_sleep_us = options.spin_before_sleep_us;
  restore.use_io_uring = options.use_io_uring;
  restore.background_populate = options.policy == ServePolicy::kBackground;
  restore.populate_eagerly = options.policy == ServePolicy::kAll;
  // KVM's accesses to guest memory are kernel-mode faults.
  restore.require_kernel_faults = true;
  // The VMM is gone (or being killed) when a session closes: nothing to finish.
  restore.close_mode = CloseMode::kDiscard;
  // A refused chunk is the daemon's fatal-error policy's business (kill the VMM, or leave
  // its vCPUs blocked): poisoning its pages would make KVM raise SIGBUS in the VMM first,
  // whatever the policy says.
  restore.use_poison = false;
  return restore;
}

absl::StatusOr<std::unique_ptr<VmSession>> VmSession::Start(
    std::shared_ptr<const SnapshotReader> snapshot, Handshake handshake,
    const PeerCredentials& peer, const VmOptions& options,
    std::function<void(const absl::Status&)> on_fatal) {
  absl::StatusOr<std::vector<uint64_t>> addresses =
      PlaceSnapshotRegions(handshake.message, snapshot->regions());
  if (!addresses.ok()) return addresses.status();

  // What the VMM negotiated and registered is not part of the protocol: the engine learns
  // what the ranges allow (ZEROPAGE, POISON) from its first attempt.
  RestoreOptions restore = RestoreOptionsFor(options);
  // hugetlbfs guests are installed a whole huge page at a time; the engine refuses a
  // snapshot whose chunks do not hold whole pages, naming the chunk size to use.
  restore.page_size_bytes = handshake.message.page_size_bytes;
  restore.on_error = std::move(on_fatal);
  const uint64_t chunk_count = snapshot->chunk_count();
  std::unique_ptr<VmSession> vm(new VmSession(peer, std::move(handshake.message), chunk_count));
  absl::StatusOr<std::unique_ptr<RestoreSession>> session = RestoreSession::StartWithUserfaultfd(
      std::move(snapshot), std::move(*addresses), std::move(handshake.uffd), restore);
  if (!session.ok()) return session.status();
  vm->session_ = std::move(*session);
  return vm;
}

VmSession::~VmSession() { Close(); }

void VmSession::Close() {
  if (session_ != nullptr) session_->Close(CloseMode::kDiscard).IgnoreError();
}

void WriteRestoreStatsJson(const RestoreStats& s, uint64_t chunk_count, JsonWriter& json) {
  json.Key("faults")
      .BeginObject()
      .Member("total", s.faults)
      .Member("fetched", s.faults_fetched)
      .Member("zero", s.faults_zero)
      .Member("joined", s.faults_joined)
      .Member("after_remove", s.faults_after_remove)
      .Member("stale", s.faults_stale)
      .Member("outside", s.faults_outside)
      .EndObject();
  json.Key("latency_ns")
      .BeginObject()
      .Member("p50", s.latency_p50_ns)
      .Member("p90", s.latency_p90_ns)
      .Member("p99", s.latency_p99_ns)
      .Member("max", s.latency_max_ns)
      .EndObject();
  json.Member("chunks_installed", s.chunks_installed)
      .Member("chunks_readahead", s.chunks_readahead)
      .Member("chunks_background", s.chunks_background)
      .Member("chunks_failed", s.chunks_failed)
      .Member("chunk_count", chunk_count)
      .Member("populated_percent",
              chunk_count == 0 ? 100.0 : 100.0 * s.chunks_installed / chunk_count)
      .Member("bytes_read", s.bytes_read)
      .Member("bytes_decompressed", s.bytes_decompressed)
      .Member("bytes_installed", s.bytes_installed)
      .Member("bytes_zero_installed", s.bytes_zero_installed)
      .Member("events_remove", s.events_remove)
      .Member("events_unmap", s.events_unmap)
      .Member("time_to_ready_ns", s.time_to_ready_ns);
}

void VmSession::WriteJson(JsonWriter& json) const {
  json.Member("message_shape", MessageShapeName(message_.shape))
      .Member("regions", static_cast<uint64_t>(message_.regions.size()))
      .Member("memory_bytes", message_.total_bytes)
      .Member("page_size_bytes", message_.page_size_bytes);
  WriteRestoreStatsJson(stats(), chunk_count_, json);
  const absl::Status error = status();
  if (!error.ok()) json.Member("error", std::string(error.message()));
}

}  // namespace lazysnap::firecracker
