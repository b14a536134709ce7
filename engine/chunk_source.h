// ChunkSource: where the engine gets the stored bytes of a snapshot's chunks, the first of
// the two seams of the chunk pipeline (the other, InstallTarget, is where decoded pages
// go). The local file (io_uring, pread where io_uring is unavailable) is one
// implementation; a remote object store, a host-wide cache and tests' fakes (fault
// injection: errors, short reads, corrupt bytes, stalls) are others. The engine never
// reads snapshot bytes through a path or a descriptor of its own.
//
// A ChunkSource is shared by every serving thread of a session (and may be shared by
// sessions); each handler thread reads through its own ChunkReader, which keeps several
// reads in flight and completes them out of order.
#ifndef LAZYSNAP_ENGINE_CHUNK_SOURCE_H_
#define LAZYSNAP_ENGINE_CHUNK_SOURCE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/random_access_file.h"
#include "snapshot_format/chunk_codec.h"

namespace lazysnap {

class SnapshotReader;

// ReadCompletion: `result` is the number of bytes read (short only at the end of the
// data, or when a source chooses to deliver part: the caller asks for the rest) or
// -errno. A failed read's ErrorDetail says more where the source knows more.
struct ReadCompletion {
  uint64_t tag = 0;
  int64_t result = 0;
};

// ChunkReader is used by one thread at a time. Buffers must stay valid until their
// completion has been reaped. Queue/Submit/Reap do not allocate.
class ChunkReader {
 public:
  virtual ~ChunkReader() = default;

  // capacity is how many reads may be in flight at once.
  virtual uint32_t capacity() const = 0;

  // Queue adds a read of buffer.size() bytes of `chunk`'s stored bytes, starting
  // `offset_in_chunk` bytes into them (non-zero to continue after a short read). Nothing
  // need reach the source before Submit. FailedPrecondition when capacity reads are in
  // flight.
  virtual absl::Status Queue(const StoredChunk& chunk, uint32_t offset_in_chunk,
                             std::span<uint8_t> buffer, uint64_t tag) = 0;

  // Submit starts every queued read.
  virtual absl::Status Submit() = 0;

  // Reap stores up to out.size() completions and returns how many. With `wait`, blocks
  // until at least one completion is available (when reads are in flight).
  virtual absl::StatusOr<size_t> Reap(std::span<ReadCompletion> out, bool wait) = 0;

  // poll_fd polls readable when completions are pending; -1 when every read completes
  // within Submit (then Reap never needs to wait).
  virtual int poll_fd() const = 0;

  // name is the mechanism, for reports: "io_uring", "pread", ...
  virtual const char* name() const = 0;

  // ErrorDetail describes the failure of the read with `tag` reaped last ("HTTP 503 from
  // https://..."), valid until the next Reap; empty when strerror(-result) says it all.
  virtual std::string_view ErrorDetail(uint64_t /*tag*/) const { return {}; }
};

// ChunkSource: thread-safe.
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;

  // name identifies where the bytes come from in messages: a path or a URL.
  virtual const std::string& name() const = 0;

  // NewReader makes a reader for one thread with up to `max_in_flight` reads in flight.
  virtual absl::StatusOr<std::unique_ptr<ChunkReader>> NewReader(uint32_t max_in_flight) = 0;

  // can_read_quietly is true when ReadQuietly works: the source can read without
  // allocating or locking (a local file), as a SIGBUS handler must.
  virtual bool can_read_quietly() const = 0;

  // ReadQuietly reads buffer.size() bytes of `chunk`'s stored bytes synchronously and
  // returns how many it read (short only at the end of the data) or -errno; -ENOTSUP
  // when !can_read_quietly(). Async-signal-safe: no allocation, no lock, no Status.
  virtual int64_t ReadQuietly(const StoredChunk& chunk, std::span<uint8_t> buffer) = 0;
};

// ChunkSourceOptions: how DefaultChunkSource reads.
struct ChunkSourceOptions {
  // Use io_uring for local files (falls back to pread when it is unavailable).
  bool use_io_uring = true;
};

// NewLocalChunkSource reads a local file's stored chunks with io_uring (pread when
// io_uring is unavailable or turned off); ReadQuietly is pread(2).
std::shared_ptr<ChunkSource> NewLocalChunkSource(std::shared_ptr<const LocalFile> file,
                                                 const ChunkSourceOptions& options = {});

// NewRandomAccessChunkSource reads through RandomAccessFile::ReadAt, one read at a time,
// completed within Submit (no ReadQuietly): for files that offer nothing better.
std::shared_ptr<ChunkSource> NewRandomAccessChunkSource(
    std::shared_ptr<const RandomAccessFile> file);

// DefaultChunkSource returns the source for `snapshot`'s files (its own, and its
// ancestors' when it is incremental: each chunk is read from the file its
// StoredChunk::file_index names): io_uring / pread on the descriptors when every file is
// a LocalFile, or blocking RandomAccessFile::ReadAt calls (completed within Submit)
// otherwise.
std::shared_ptr<ChunkSource> DefaultChunkSource(const SnapshotReader& snapshot,
                                                const ChunkSourceOptions& options = {});

}  // namespace lazysnap

#endif  // LAZYSNAP_ENGINE_CHUNK_SOURCE_H_
