// DecodeImage: decodes every chunk of a snapshot on several threads and hands each one
// to a sink: the common core of `lazysnap verify` (the sink does nothing), `extract` (the
// sink writes a raw image) and the eager-restore baseline (the sink copies to memory).
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_IMAGE_DECODER_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_IMAGE_DECODER_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap {

// ChunkSink receives one decoded chunk. It is called concurrently from the decoding
// threads, once per chunk, in no particular order; `bytes` is valid only during the call.
using ChunkSink =
    std::function<absl::Status(const ChunkLocation& location, std::span<const uint8_t> bytes)>;

struct DecodeImageOptions {
  int threads = 0;  // 0: one per online CPU
  // Zero chunks are passed to the sink (as zeros) only when this is set.
  bool include_zero_chunks = false;
  // Called from a decoding thread with image bytes done so far; must be cheap.
  std::function<void(uint64_t bytes_done, uint64_t bytes_total)> progress;
};

struct DecodeImageSummary {
  uint64_t chunks = 0;
  uint64_t image_bytes = 0;    // uncompressed bytes covered
  uint64_t stored_bytes = 0;   // stored bytes read and decoded
  double seconds = 0;
};

// DecodeImage decodes and verifies all chunks. On failure it returns the error of the
// lowest-numbered failing chunk (from decoding or from the sink).
absl::StatusOr<DecodeImageSummary> DecodeImage(const SnapshotReader& reader,
                                               const DecodeImageOptions& options,
                                               const ChunkSink& sink);

// ExtractImage writes the snapshot's flat raw image to `path` (atomically: temporary
// name, fsync, rename). Zero chunks and holes between regions are left sparse.
absl::StatusOr<DecodeImageSummary> ExtractImage(const SnapshotReader& reader,
                                                std::string_view path,
                                                const DecodeImageOptions& options);

}  // namespace lazysnap

#endif  // LAZYSNAP_SNAPSHOT_FORMAT_IMAGE_DECODER_H_
