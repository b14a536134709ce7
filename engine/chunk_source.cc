// Chunk sources over files: io_uring and pread readers of a local file's descriptor, and a
// blocking reader over any RandomAccessFile.
#include "engine/chunk_source.h"

#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap {
namespace {

// CompletionRing: a fixed ring of completions, allocated once, for readers that complete
// reads within Submit.
class CompletionRing {
 public:
  explicit CompletionRing(uint32_t capacity) : slots_(capacity) {}
  bool full() const { return count_ == slots_.size(); }
  uint32_t size() const { return count_; }
  void Push(ReadCompletion completion) {
    slots_[(head_ + count_) % slots_.size()] = completion;
    ++count_;
  }
  size_t PopInto(std::span<ReadCompletion> out) {
    size_t n = 0;
    while (n < out.size() && count_ > 0) {
      out[n++] = slots_[head_];
      head_ = (head_ + 1) % slots_.size();
      --count_;
    }
    return n;
  }

 private:
  std::vector<ReadCompletion> slots_;
  uint32_t head_ = 0;
  uint32_t count_ = 0;
};

// PreadAll reads up to buffer.size() bytes at `offset` with pread(2), retrying EINTR and
// short transfers until the end of the file: the bytes read, or -errno. Signal-safe.
int64_t PreadAll(int fd, std::span<uint8_t> buffer, uint64_t offset) {
  size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t n = ::pread(fd, buffer.data() + done, buffer.size() - done,
                              static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -static_cast<int64_t>(errno);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<int64_t>(done);
}

// FdOf returns the descriptor of the chain file that holds `chunk`'s stored bytes, or -1
// for a file index the source does not have (a StoredChunk from another snapshot).
int FdOf(std::span<const int> fds, const StoredChunk& chunk) {
  return chunk.file_index < fds.size() ? fds[chunk.file_index] : -1;
}

class IoUringChunkReader : public ChunkReader {
 public:
  // `fds`: one per file of the snapshot's chain, open for as long as the reader is (the
  // source that makes the reader owns them).
  static absl::StatusOr<std::unique_ptr<ChunkReader>> Create(std::span<const int> fds,
                                                             uint32_t entries) {
    std::unique_ptr<IoUringChunkReader> reader(new IoUringChunkReader(fds, entries));
    const int rc = io_uring_queue_init(entries, &reader->ring_, 0);
    if (rc < 0) {
      return ErrnoToStatus(-rc, absl::StrFormat("io_uring_setup with %d entries", entries));
    }
    reader->initialised_ = true;
    return std::unique_ptr<ChunkReader>(std::move(reader));
  }

  ~IoUringChunkReader() override {
    if (initialised_) io_uring_queue_exit(&ring_);
  }

  uint32_t capacity() const override { return capacity_; }

  absl::Status Queue(const StoredChunk& chunk, uint32_t offset_in_chunk,
                     std::span<uint8_t> buffer, uint64_t tag) override {
    if (in_flight_ >= capacity_) {
      return absl::FailedPreconditionError("io_uring reader: too many reads in flight");
    }
    const int fd = FdOf(fds_, chunk);
    if (fd < 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "io_uring reader: chunk %d is stored in file %d of a chain of %d", chunk.chunk_number,
          chunk.file_index, fds_.size()));
    }
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      return absl::FailedPreconditionError("io_uring reader: submission queue full");
    }
    io_uring_prep_read(sqe, fd, buffer.data(), static_cast<unsigned>(buffer.size()),
                       chunk.file_offset_bytes + offset_in_chunk);
    io_uring_sqe_set_data64(sqe, tag);
    ++in_flight_;
    return absl::OkStatus();
  }

  absl::Status Submit() override {
    while (true) {
      const int rc = io_uring_submit(&ring_);
      if (rc >= 0) return absl::OkStatus();
      if (rc != -EINTR && rc != -EAGAIN) return ErrnoToStatus(-rc, "io_uring_submit");
    }
  }

  absl::StatusOr<size_t> Reap(std::span<ReadCompletion> out, bool wait) override {
    size_t n = 0;
    while (n < out.size()) {
      io_uring_cqe* cqe = nullptr;
      const int rc = (wait && n == 0 && in_flight_ > 0) ? io_uring_wait_cqe(&ring_, &cqe)
                                                        : io_uring_peek_cqe(&ring_, &cqe);
      if (rc == -EINTR) continue;
      if (rc == -EAGAIN || cqe == nullptr) break;
      if (rc < 0) return ErrnoToStatus(-rc, "io_uring_wait_cqe");
      out[n++] = ReadCompletion{io_uring_cqe_get_data64(cqe), cqe->res};
      io_uring_cqe_seen(&ring_, cqe);
      --in_flight_;
    }
    return n;
  }

  int poll_fd() const override { return ring_.ring_fd; }
  const char* name() const override { return "io_uring"; }

 private:
  IoUringChunkReader(std::span<const int> fds, uint32_t entries)
      : fds_(fds.begin(), fds.end()), capacity_(entries) {}
  const std::vector<int> fds_;
  io_uring ring_ = {};
  bool initialised_ = false;
  const uint32_t capacity_;
  uint32_t in_flight_ = 0;
};

// SynchronousChunkReader completes every read within Submit, with `read` (a pread of a
// descriptor, or RandomAccessFile::ReadAt).
class SynchronousChunkReader : public ChunkReader {
 public:
  using ReadFunction = int64_t (*)(const void* context, const StoredChunk& chunk,
                                   uint64_t offset_in_chunk, std::span<uint8_t> buffer);

  SynchronousChunkReader(const char* name, ReadFunction read, const void* context,
                         uint32_t capacity)
      : name_(name), read_(read), context_(context), queued_(capacity), done_(capacity) {}

  uint32_t capacity() const override { return static_cast<uint32_t>(queued_.size()); }

  absl::Status Queue(const StoredChunk& chunk, uint32_t offset_in_chunk,
                     std::span<uint8_t> buffer, uint64_t tag) override {
    if (queued_count_ + done_.size() >= queued_.size()) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s reader: too many reads in flight", name_));
    }
    queued_[queued_count_++] = {chunk, offset_in_chunk, buffer, tag};
    return absl::OkStatus();
  }

  absl::Status Submit() override {
    for (uint32_t i = 0; i < queued_count_; ++i) {
      const Request& r = queued_[i];
      done_.Push({r.tag, read_(context_, r.chunk, r.offset_in_chunk, r.buffer)});
    }
    queued_count_ = 0;
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Reap(std::span<ReadCompletion> out, bool /*wait*/) override {
    return done_.PopInto(out);
  }

  int poll_fd() const override { return -1; }
  const char* name() const override { return name_; }

 private:
  struct Request {
    StoredChunk chunk;
    uint32_t offset_in_chunk = 0;
    std::span<uint8_t> buffer;
    uint64_t tag = 0;
  };
  const char* name_;
  ReadFunction read_;
  const void* context_;
  std::vector<Request> queued_;
  uint32_t queued_count_ = 0;
  CompletionRing done_;
};

// LocalChunkSource reads the local files of a snapshot's chain (one file for a snapshot
// without a parent), each chunk from the file its StoredChunk::file_index names.
class LocalChunkSource : public ChunkSource {
 public:
  LocalChunkSource(std::vector<std::shared_ptr<const LocalFile>> files,
                   ChunkSourceOptions options)
      : files_(std::move(files)), options_(options) {
    for (const auto& file : files_) fds_.push_back(file->fd());
  }

  const std::string& name() const override { return files_[0]->name(); }

  absl::StatusOr<std::unique_ptr<ChunkReader>> NewReader(uint32_t max_in_flight) override {
    if (options_.use_io_uring) {
      auto reader = IoUringChunkReader::Create(fds_, max_in_flight);
      // Unavailable io_uring (seccomp, kernel.io_uring_disabled, old kernels) is why
      // the pread reader exists: fall back to it.
      if (reader.ok()) return reader;
    }
    return std::unique_ptr<ChunkReader>(
        new SynchronousChunkReader("pread", &PreadChunk, this, max_in_flight));
  }

  bool can_read_quietly() const override { return true; }

  int64_t ReadQuietly(const StoredChunk& chunk, std::span<uint8_t> buffer) override {
    const int fd = FdOf(fds_, chunk);
    if (fd < 0) return -EINVAL;
    return PreadAll(fd, buffer, chunk.file_offset_bytes);
  }

 private:
  static int64_t PreadChunk(const void* context, const StoredChunk& chunk,
                            uint64_t offset_in_chunk, std::span<uint8_t> buffer) {
    const auto* self = static_cast<const LocalChunkSource*>(context);
    const int fd = FdOf(self->fds_, chunk);
    if (fd < 0) return -EINVAL;
    return PreadAll(fd, buffer, chunk.file_offset_bytes + offset_in_chunk);
  }

  std::vector<std::shared_ptr<const LocalFile>> files_;
  std::vector<int> fds_;  // files_[i]->fd(), for readers and signal handlers
  ChunkSourceOptions options_;
};

// RandomAccessChunkSource reads the files of a snapshot's chain through ReadAt, each
// chunk from the file its StoredChunk::file_index names.
class RandomAccessChunkSource : public ChunkSource {
 public:
  explicit RandomAccessChunkSource(std::vector<std::shared_ptr<const RandomAccessFile>> files)
      : files_(std::move(files)) {}

  const std::string& name() const override { return files_[0]->name(); }

  absl::StatusOr<std::unique_ptr<ChunkReader>> NewReader(uint32_t max_in_flight) override {
    return std::unique_ptr<ChunkReader>(
        new SynchronousChunkReader("read", &ReadChunk, this, max_in_flight));
  }

  bool can_read_quietly() const override { return false; }
  int64_t ReadQuietly(const StoredChunk&, std::span<uint8_t>) override { return -ENOTSUP; }

 private:
  static int64_t ReadChunk(const void* context, const StoredChunk& chunk,
                           uint64_t offset_in_chunk, std::span<uint8_t> buffer) {
    const auto* self = static_cast<const RandomAccessChunkSource*>(context);
    if (chunk.file_index >= self->files_.size()) return -EINVAL;
    const absl::Status read = self->files_[chunk.file_index]->ReadAt(
        chunk.file_offset_bytes + offset_in_chunk, buffer);
    if (read.ok()) return static_cast<int64_t>(buffer.size());
    return absl::IsOutOfRange(read) ? 0 : -EIO;
  }

  std::vector<std::shared_ptr<const RandomAccessFile>> files_;
};

}  // namespace

std::shared_ptr<ChunkSource> NewLocalChunkSource(std::shared_ptr<const LocalFile> file,
                                                 const ChunkSourceOptions& options) {
  return std::make_shared<LocalChunkSource>(
      std::vector<std::shared_ptr<const LocalFile>>{std::move(file)}, options);
}

std::shared_ptr<ChunkSource> NewRandomAccessChunkSource(
    std::shared_ptr<const RandomAccessFile> file) {
  return std::make_shared<RandomAccessChunkSource>(
      std::vector<std::shared_ptr<const RandomAccessFile>>{std::move(file)});
}

std::shared_ptr<ChunkSource> DefaultChunkSource(const SnapshotReader& snapshot,
                                                const ChunkSourceOptions& options) {
  // One source for the whole chain, so that a chunk stored in an ancestor is read from
  // the ancestor's file. io_uring and pread need every file to be local.
  std::vector<std::shared_ptr<const RandomAccessFile>> files;
  std::vector<std::shared_ptr<const LocalFile>> local_files;
  for (uint32_t i = 0; i < snapshot.chain_length(); ++i) {
    files.push_back(snapshot.chain_file(i));
    if (auto local = std::dynamic_pointer_cast<const LocalFile>(files.back())) {
      local_files.push_back(std::move(local));
    }
  }
  if (local_files.size() == files.size()) {
    return std::make_shared<LocalChunkSource>(std::move(local_files), options);
  }
  return std::make_shared<RandomAccessChunkSource>(std::move(files));
}

}  // namespace lazysnap
