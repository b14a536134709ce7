// ChunkWorker: serves one chunk at a time synchronously through the chunk pipeline, for
// the background populator and Close's finish-restore.
#ifndef LAZYSNAP_ENGINE_INTERNAL_CHUNK_WORKER_H_
#define LAZYSNAP_ENGINE_INTERNAL_CHUNK_WORKER_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "engine/chunk_source.h"
#include "engine/internal/chunk_pipeline.h"
#include "engine/internal/serving_context.h"

namespace lazysnap::internal {

class ChunkWorker {
 public:
  // `drains_events`: read pending messages when installs are blocked by a pending
  // event. Only when no handler thread runs, since fault messages read here are dropped
  // (their threads are woken by the installs or by unregistering). `reader` is its
  // EventBarrier slot (used when it drains events).
  ChunkWorker(ServingContext& ctx, bool drains_events, int reader);
  absl::Status Init();
  // Serve installs `chunk` if it is absent (claiming it); zero chunks only when
  // `include_zero`. `kind` says what Publish counts. False when the session stopped or
  // the memory's process is gone.
  bool Serve(uint64_t chunk, JobKind kind, bool include_zero);

 private:
  // Read reads all of a started job's stored bytes; false when the chunk was refused.
  bool Read(ChunkJob& job);
  void DrainEvents();

  ServingContext& ctx_;
  const bool drains_events_;
  const int barrier_slot_;
  ChunkPipeline pipeline_;
  std::unique_ptr<ChunkReader> reader_;
  std::unique_ptr<ChunkBuffers> buffers_;
};

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_ENGINE_INTERNAL_CHUNK_WORKER_H_
