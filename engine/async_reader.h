// AsyncReader: positional reads with several in flight, completed out of order: the
// fault path's I/O interface. Implemented with io_uring (io_uring_reader.cc), with plain
// pread(2) where io_uring is unavailable (blocked by seccomp in many container runtimes,
// or disabled by kernel.io_uring_disabled), and by fakes in tests.
#ifndef LAZYSNAP_ENGINE_ASYNC_READER_H_
#define LAZYSNAP_ENGINE_ASYNC_READER_H_

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace lazysnap {

// ReadCompletion: `result` is the byte count read (short only at end of file) or -errno.
struct ReadCompletion {
  uint64_t tag = 0;
  int64_t result = 0;
};

// AsyncReader is used by one thread at a time. Buffers must stay valid until their
// completion has been reaped.
class AsyncReader {
 public:
  virtual ~AsyncReader() = default;

  // capacity is how many reads may be in flight at once.
  virtual uint32_t capacity() const = 0;

  // Queue adds a read of `buffer.size()` bytes at `offset_bytes` of `fd`; nothing is sent
  // to the kernel until Submit. FailedPrecondition when capacity reads are in flight.
  virtual absl::Status Queue(int fd, std::span<uint8_t> buffer, uint64_t offset_bytes,
                             uint64_t tag) = 0;

  // Submit sends every queued read.
  virtual absl::Status Submit() = 0;

  // Reap stores up to out.size() completions and returns how many. With `wait`, blocks
  // until at least one completion is available (when reads are in flight).
  virtual absl::StatusOr<size_t> Reap(std::span<ReadCompletion> out, bool wait) = 0;

  // poll_fd is a descriptor that polls readable when completions are pending, or -1 when
  // reads complete during Submit (pread).
  virtual int poll_fd() const = 0;

  // name is "io_uring" or "pread", for reports.
  virtual const char* name() const = 0;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_ENGINE_ASYNC_READER_H_
