// `lazysnap inspect --estimate`: what a snapshot's chunks would take with and without a
// dictionary, from a sample of its chunks decoded and compressed again both ways.
#ifndef LAZYSNAP_TOOLS_DICTIONARY_ESTIMATE_H_
#define LAZYSNAP_TOOLS_DICTIONARY_ESTIMATE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "snapshot_format/dictionary_trainer.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::cli {

struct DictionaryEstimate {
  int level = 0;                   // the level the sample was compressed at
  bool trained = false;            // the snapshot has none: one was trained for the estimate
  uint64_t dictionary_bytes = 0;   // the snapshot's, or the trained one's (0: none)
  uint64_t sample_chunks = 0;      // chunks compressed both ways
  uint64_t sample_bytes = 0;       // their uncompressed bytes
  uint64_t stored_without = 0;     // what the writer would store for them without ...
  uint64_t stored_with = 0;        // ... and with the dictionary
  // The snapshot's whole file, projected to the other choice: the chunk data scaled by the
  // sample's ratio, the dictionary section added or removed.
  uint64_t file_bytes_without = 0;
  uint64_t file_bytes_with = 0;
  std::string note;  // when the snapshot has none and none could be trained: why
};

// EstimateDictionary samples up to `sample_bytes` of `reader`'s chunks (uniformly, zero
// and repeated chunks left out), decoding them, and compresses them at `level` without a
// dictionary and with the snapshot's own. A snapshot without one gets one trained on seven
// eighths of the sample (dictionary_size_bytes at most) and measured on the rest, as the
// writer would. `reader` must have a validated index. DataLoss when a chunk does not
// decode; InvalidArgument for bad sizes.
absl::StatusOr<DictionaryEstimate> EstimateDictionary(const SnapshotReader& reader, int level,
                                                      uint64_t sample_bytes,
                                                      size_t dictionary_size_bytes);

}  // namespace lazysnap::cli

#endif  // LAZYSNAP_TOOLS_DICTIONARY_ESTIMATE_H_
