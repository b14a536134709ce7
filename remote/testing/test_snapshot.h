// Test snapshots for the remote tests: a memory-like image written as a snapshot, and
// reads of its chunks through a ChunkSource the way the engine's handler threads read.
#ifndef LAZYSNAP_REMOTE_TESTING_TEST_SNAPSHOT_H_
#define LAZYSNAP_REMOTE_TESTING_TEST_SNAPSHOT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/chunk_source.h"
#include "remote/snapshot_location.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::remote::testing {

// TestSnapshot: a snapshot written for a test, and the raw image it holds.
struct TestSnapshot {
  std::string path;
  std::vector<uint8_t> image;
};

// MakeTestSnapshot writes a snapshot of a memory-like image of `image_bytes` (records,
// text, zeros, random and repeated chunks) with `chunk_bytes` chunks to `path`.
absl::StatusOr<TestSnapshot> MakeTestSnapshot(const std::string& path, uint64_t image_bytes,
                                              uint32_t chunk_bytes = 32 << 10,
                                              uint64_t seed = 5);

// ChunkReadResult: one chunk read through a ChunkReader.
struct ChunkReadResult {
  int64_t result = 0;          // bytes or -errno
  std::string detail;          // ErrorDetail of a failed read
  std::vector<uint8_t> bytes;  // the stored bytes read
};

// ReadChunksThrough reads the stored bytes of `chunks` (non-zero chunks of `snapshot`)
// through one reader of `source` with up to `in_flight` reads at a time, waiting on
// poll_fd, and returns them by position in `chunks`.
absl::StatusOr<std::vector<ChunkReadResult>> ReadChunksThrough(
    ChunkSource& source, const SnapshotReader& snapshot, const std::vector<uint64_t>& chunks,
    uint32_t in_flight);

// StoredChunksOf lists the chunks of `snapshot` that have stored bytes.
std::vector<uint64_t> StoredChunksOf(const SnapshotReader& snapshot);

// QuickRetryOptions: options for tests: a cache in `cache_dir` (empty: none), fetch
// groups of `group` chunks, two attempts with a millisecond's backoff, short timeouts.
SnapshotLocationOptions QuickRetryOptions(const std::string& cache_dir, uint32_t group = 8);

}  // namespace lazysnap::remote::testing

#endif  // LAZYSNAP_REMOTE_TESTING_TEST_SNAPSHOT_H_
