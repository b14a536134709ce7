// WriteSnapshot: turns a raw memory image into a snapshot file. It streams the image
// once, compresses chunks on all cores, stores zero chunks as nothing, duplicates as a
// reference to their first occurrence and incompressible chunks raw, and publishes the
// file atomically (temporary name, fsync, rename). Before that, unless told otherwise, it
// trains a zstd dictionary on a sample of the image (dictionary_trainer.h) and compresses
// every chunk with it.
//
// With WriterOptions::parent it writes an incremental snapshot (format 1.1): a chunk whose
// content equals that of the parent's chunk at the same image offset (by checksum) is
// stored as a reference to it, so the file holds only what changed.
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_SNAPSHOT_WRITER_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_SNAPSHOT_WRITER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "snapshot_format/chunk_codec.h"
#include "snapshot_format/dictionary_trainer.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap {

// Defaults, chosen by measurement (see FORMAT.md "Choosing chunk size and level").
inline constexpr uint32_t kDefaultChunkSizeBytes = 32 << 10;
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
  // dictionary slot 1). When nullptr, the writer trains one from the source as
  // `train_dictionary` says (dictionary_size_bytes = 0: no dictionary); streams and images
  // a dictionary would not shrink get none (WriteSummary::dictionary_note says why).
  std::shared_ptr<const CompressionDictionary> dictionary;
  DictionaryTrainingOptions train_dictionary;
  // How the dictionary section is stored. kAuto: as a format 1.2 compressed dictionary
  // section when compression saves at least kMinDictionaryCompressionSavingBytes, else
  // as a 1.0 dictionary section (readable by every 1.x reader). The file's minor version
  // is 2 exactly when it holds a compressed dictionary.
  enum class DictionaryStorage { kAuto, kRaw, kCompressed };
  DictionaryStorage dictionary_storage = DictionaryStorage::kAuto;
  // Called from the writer's output thread; must be cheap.
  std::function<void(const WriteProgress&)> progress;

  // Incremental snapshots. With `parent`, a chunk whose checksum and length equal those
  // of the parent's chunk at the same image offset is stored as a parent chunk, the file
  // gets a parent section naming `parent` (its identity and `parent_name`, the parent's
  // path relative to the new file's directory: RelativeParentName()) and format 1.1.
  // chunk_size_bytes must be the parent's; page_size_bytes 0 or the parent's. Without a
  // `dictionary` and with reuse_parent_dictionary, the parent's own dictionary (its
  // lowest slot), or none when it has none, is used rather than a new one trained
  // (unless train_dictionary.dictionary_size_bytes is 0: then none). The reader must stay open until
  // WriteSnapshot returns.
  const SnapshotReader* parent = nullptr;
  std::string parent_name;
  bool reuse_parent_dictionary = true;
};

struct WriteSummary {
  uint64_t image_bytes = 0;   // bytes of guest memory (sum of region lengths)
  uint64_t file_bytes = 0;    // size of the snapshot file
  uint64_t chunk_count = 0;
  uint64_t zero_chunks = 0;
  uint64_t compressed_chunks = 0;
  uint64_t raw_chunks = 0;
  uint64_t duplicate_chunks = 0;
  uint64_t parent_chunks = 0;  // stored as references to the parent
  bool incremental = false;    // written with a parent (format 1.1)
  uint64_t index_bytes = 0;
  uint64_t dictionary_bytes = 0;   // 0: no dictionary
  uint64_t dictionary_stored_bytes = 0;  // its section's payload (smaller when compressed)
  bool dictionary_compressed = false;    // a format 1.2 compressed dictionary section
  uint32_t dictionary_id = 0;
  // When the writer trained the dictionary: the image bytes it sampled and the time it
  // took (part of `seconds`); dictionary_note says why there is none, if there is none,
  // or that it is the parent's, reused.
  uint64_t dictionary_sample_bytes = 0;
  double dictionary_seconds = 0;
  std::string dictionary_note;
  uint32_t region_count = 0;
  double seconds = 0;  // all of it, training included
};

// WriterMemoryBytes bounds the memory WriteSnapshot takes for its pipeline with
// `threads` compression threads (0: one per CPU): the batches in flight (each about
// 4 MiB of image and its compressed form) and one zstd compression context per thread at
// options' level and chunk size. The dictionary trainer's sample is not included. A
// caller can refuse options before any work: --threads 1024 with 4 MiB chunks at level
// 22 would otherwise take tens of gigabytes.
uint64_t WriterMemoryBytes(const WriterOptions& options, int threads);

// WriteSnapshot reads `source` and writes the snapshot to `path`. On any error nothing is
// left at `path` (an existing file there is untouched). InvalidArgument for bad options or
// regions (a parent whose chain is already kMaxChainDepth deep included); errors from the
// source, the parent's chunks or the file system otherwise. Training uses options.threads
// too.
absl::StatusOr<WriteSummary> WriteSnapshot(ImageSource& source, std::string_view path,
                                           const WriterOptions& options);

}  // namespace lazysnap

#endif  // LAZYSNAP_SNAPSHOT_FORMAT_SNAPSHOT_WRITER_H_
