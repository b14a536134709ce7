// SigbusServer: ServingMode::kSigbus. With UFFD_FEATURE_SIGBUS a missing fault raises
// SIGBUS in the faulting thread instead of queueing a message; lazysnap's handler then
// serves the fault itself, on the faulting core, with no other thread to wake: claim the
// chunk, read it (ChunkSource::ReadQuietly), and take it through a quiet ChunkPipeline;
// return, and the access is retried. Only faults
// in user mode arrive this way; a kernel-mode fault (read(2) into the memory) fails with
// EFAULT instead, so this mode is an option for in-process restores, never the only path.
//
// Signal safety: the handler neither allocates nor locks. Every buffer and decoder is
// made up front (a pool of workers claimed with an atomic flag); the index is validated
// before serving starts, so locating a chunk never loads anything; failures refuse the
// chunk quietly, and the message for the embedder is built later by the session's event
// thread (ServingContext::ReportRefused). Other signals are blocked while the handler
// runs.
//
// One process-wide SIGBUS handler serves every SIGBUS-mode session; a SIGBUS that belongs
// to none (or a poisoned page) goes to the handler that was installed before lazysnap's,
// or the default action.
#ifndef LAZYSNAP_ENGINE_INTERNAL_SIGBUS_SERVER_H_
#define LAZYSNAP_ENGINE_INTERNAL_SIGBUS_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/internal/chunk_pipeline.h"
#include "engine/internal/serving_context.h"

namespace lazysnap::internal {

class SigbusServer {
 public:
  // Create prepares `workers` worker contexts and registers the server with the
  // process-wide handler (installing it on first use). The snapshot's index must have
  // been validated (SnapshotReader::ValidateIndex).
  static absl::StatusOr<std::unique_ptr<SigbusServer>> Create(ServingContext& ctx, int workers);
  // The destructor unregisters, then waits until no handler is still inside.
  ~SigbusServer();

  // RunEventLoop reads REMOVE/UNMAP events and reports refused chunks until the context
  // stops. Run by the session's event thread (EventBarrier slot 0).
  void RunEventLoop();

  // Serve serves a fault at `address` from the signal handler. Returns false when the
  // address is not this server's or its chunk was refused (the signal then goes on).
  bool Serve(uint64_t address);
  bool Contains(uint64_t address) const;

 private:
  struct Worker {
    explicit Worker(ServingContext& ctx) : pipeline(ctx, /*quiet=*/true) {}
    std::atomic<bool> busy{false};
    ChunkPipeline pipeline;
    std::unique_ptr<ChunkBuffers> buffers;
  };
  explicit SigbusServer(ServingContext& ctx) : ctx_(ctx) {}
  Worker& ClaimWorker();
  // Fetch reads, decodes and installs a claimed chunk; false when it was refused.
  bool Fetch(Worker& worker, uint64_t chunk, uint64_t fault_ns);

  ServingContext& ctx_;
  std::vector<std::unique_ptr<Worker>> workers_;
  int slot_ = -1;  // index in the process-wide table
};

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_ENGINE_INTERNAL_SIGBUS_SERVER_H_
