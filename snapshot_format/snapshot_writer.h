// WriteSnapshot: turns a raw memory image into a snapshot file. It streams the image
// once, compresses chunks on all cores, stores zero chunks as nothing, duplicates as a
// reference to their first occurrence and incompressible chunks raw, and publishes the
// file atomically (temporary name, fsync, rename).
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_SNAPSHOT_WRITER_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_SNAPSHOT_WRITER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "snapshot_format/chunk_codec.h"
#include "snapshot_format/image_source.h"

namespace lazysnap {

// Defaults, chosen by measurement (see FORMAT.md "Choosing chunk size and level").
inline constexpr uint32_t kDefaultChunkSizeBytes = 64 << 10;
inline constexpr int kDefaultCompressionLevel = 3;

// WriteProgress is reported after every batch of chunks.
struct WriteProgress {
  uint64_t bytes_done = 0;   // image bytes consumed
  uint64_t bytes_total = 0;  // 0 when streaming with unknown length
  uint64_t stored_bytes = 0; // file bytes written so far
};

struct WriterOptions {
  uint32_t chunk_size_bytes = kDefaultChunkSizeBytes;
  int compression_level = kDefaultCompressionLevel;
  // Compression threads; 0 means one per online CPU.
  int threads = 0;
  // Page size recorded in the header; 0 means the host's.
  uint32_t page_size_bytes = 0;
  // A dictionary every compressed chunk is compressed with (stored in the file as
  // dictionary slot 1); nullptr for none. Build one with TrainDictionary.
  std::shared_ptr<const CompressionDictionary> dictionary;
  // Called from the writer's output thread; must be cheap.
  std::function<void(const WriteProgress&)> progress;
};

struct WriteSummary {
  uint64_t image_bytes = 0;   // bytes of guest memory (sum of region lengths)
  uint64_t file_bytes = 0;    // size of the snapshot file
  uint64_t chunk_count = 0;
  uint64_t zero_chunks = 0;
  uint64_t compressed_chunks = 0;
  uint64_t raw_chunks = 0;
  uint64_t duplicate_chunks = 0;
  uint64_t index_bytes = 0;
  uint64_t dictionary_bytes = 0;
  uint32_t region_count = 0;
  double seconds = 0;
};

// WriteSnapshot reads `source` and writes the snapshot to `path`. On any error nothing is
// left at `path` (an existing file there is untouched). InvalidArgument for bad options or
// regions; errors from the source or the file system otherwise.
absl::StatusOr<WriteSummary> WriteSnapshot(ImageSource& source, std::string_view path,
                                           const WriterOptions& options);

}  // namespace lazysnap

#endif  // LAZYSNAP_SNAPSHOT_FORMAT_SNAPSHOT_WRITER_H_
