// RemoteChunkSource: cache first, then join or start a fetch; fetched chunks are copied
// to their waiters from the fetcher's thread and written to the cache behind them.
#include "remote/remote_chunk_source.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "base/checksum.h"
#include "base/errno_status.h"
#include "base/unique_fd.h"

namespace lazysnap::remote {

class RemoteChunkSource::Reader final : public ChunkReader {
 public:
  Reader(RemoteChunkSource* source, uint32_t capacity, UniqueFd event_fd)
      : source_(source), capacity_(capacity), event_fd_(std::move(event_fd)) {
    queued_.reserve(capacity);
  }
  ~Reader() override { source_->Forget(this); }

  uint32_t capacity() const override { return capacity_; }

  absl::Status Queue(const StoredChunk& chunk, uint32_t offset_in_chunk,
                     std::span<uint8_t> buffer, uint64_t tag) override {
    if (outstanding_ >= capacity_) {
      return absl::FailedPreconditionError(
          absl::StrFormat("remote reader: %d reads in flight already", capacity_));
    }
    queued_.push_back({chunk, offset_in_chunk, buffer, tag});
    ++outstanding_;
    return absl::OkStatus();
  }

  absl::Status Submit() override {
    for (const Queued& q : queued_) source_->Read(this, q.chunk, q.offset_in_chunk, q.buffer, q.tag);
    queued_.clear();
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Reap(std::span<ReadCompletion> out, bool wait) override {
    details_.clear();
    if (wait && outstanding_ > 0) {
      while (true) {
        {
          std::lock_guard lock(mutex_);
          if (!done_.empty()) break;
        }
        pollfd p = {event_fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, -1) < 0 && errno != EINTR) return ErrnoToStatus(errno, "poll eventfd");
      }
    }
    uint64_t signalled;
    while (::read(event_fd_.get(), &signalled, sizeof(signalled)) < 0 && errno == EINTR) {
    }
    size_t n = 0;
    std::lock_guard lock(mutex_);
    while (n < out.size() && !done_.empty()) {
      Done& d = done_.front();
      out[n++] = {d.tag, d.result};
      if (!d.detail.empty()) details_.emplace_back(d.tag, std::move(d.detail));
      done_.pop_front();
    }
    if (!done_.empty()) Signal();
    outstanding_ -= static_cast<uint32_t>(n);
    return n;
  }

  int poll_fd() const override { return event_fd_.get(); }
  const char* name() const override { return "http"; }

  std::string_view ErrorDetail(uint64_t tag) const override {
    for (const auto& [t, detail] : details_) {
      if (t == tag) return detail;
    }
    return {};
  }

  // Complete delivers a completion; any thread.
  void Complete(uint64_t tag, int64_t result, std::string detail) {
    std::lock_guard lock(mutex_);
    const bool was_empty = done_.empty();
    done_.push_back({tag, result, std::move(detail)});
    if (was_empty) Signal();
  }

 private:
  struct Queued {
    StoredChunk chunk;
    uint32_t offset_in_chunk;
    std::span<uint8_t> buffer;
    uint64_t tag;
  };
  struct Done {
    uint64_t tag;
    int64_t result;
    std::string detail;
  };

  void Signal() {
    const uint64_t one = 1;
    while (::write(event_fd_.get(), &one, sizeof(one)) < 0 && errno == EINTR) {
    }
  }

  RemoteChunkSource* const source_;
  const uint32_t capacity_;
  UniqueFd event_fd_;
  std::vector<Queued> queued_;
  uint32_t outstanding_ = 0;  // queued, in flight, or completed and not reaped
  std::mutex mutex_;
  std::deque<Done> done_;
  std::vector<std::pair<uint64_t, std::string>> details_;  // of the last Reap's failures
};

std::shared_ptr<RemoteChunkSource> RemoteChunkSource::Create(
    std::shared_ptr<RemoteFile> file, std::shared_ptr<const SnapshotReader> snapshot,
    std::shared_ptr<ChunkCache> cache, const RemoteChunkSourceOptions& options) {
  return std::shared_ptr<RemoteChunkSource>(
      new RemoteChunkSource(std::move(file), std::move(snapshot), std::move(cache), options));
}

RemoteChunkSource::RemoteChunkSource(std::shared_ptr<RemoteFile> file,
                                     std::shared_ptr<const SnapshotReader> snapshot,
                                     std::shared_ptr<ChunkCache> cache,
                                     const RemoteChunkSourceOptions& options)
    : file_(std::move(file)),
      snapshot_(std::move(snapshot)),
      cache_(std::move(cache)),
      options_(options) {
  uint32_t group = 1;
  while (group * 2 <= std::min<uint32_t>(options_.group_chunks, format::kIndexSegmentEntries)) {
    group *= 2;
  }
  options_.group_chunks = cache_ != nullptr ? group : 1;
  if (cache_ != nullptr) writer_ = std::thread([this] { WriteBehind(); });
}

RemoteChunkSource::~RemoteChunkSource() {
  std::unique_lock lock(mutex_);
  // Fetches in flight call back into this object: wait for them (they end within the
  // fetcher's timeouts and retries).
  fetches_done_.wait(lock, [this] { return fetches_in_flight_ == 0; });
  stopping_ = true;
  write_wanted_.notify_all();
  lock.unlock();
  if (writer_.joinable()) writer_.join();
}

absl::StatusOr<std::unique_ptr<ChunkReader>> RemoteChunkSource::NewReader(uint32_t max_in_flight) {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return ErrnoToStatus(errno, "eventfd for a remote chunk reader");
  return std::unique_ptr<ChunkReader>(
      new Reader(this, std::max<uint32_t>(1, max_in_flight), UniqueFd(fd)));
}

RemoteSourceStats RemoteChunkSource::stats() const {
  RemoteSourceStats s;
  s.reads = reads_.load();
  s.cache_hits = cache_hits_.load();
  s.joined = joined_.load();
  s.fetched = fetched_.load();
  s.group_chunks_fetched = group_fetched_.load();
  s.bytes_fetched = bytes_fetched_.load();
  s.failed = failed_.load();
  s.cache_writes = cache_writes_.load();
  s.cache_writes_dropped = cache_writes_dropped_.load();
  return s;
}

RemoteChunkSource::Inflight* RemoteChunkSource::NewInflightLocked(const StoredChunk& chunk,
                                                                  bool keyed) {
  auto owned = std::make_unique<Inflight>();
  Inflight* f = owned.get();
  f->chunk = chunk;
  f->keyed = keyed;
  f->bytes.resize(chunk.stored_length_bytes);
  f->request.offset_bytes = chunk.file_offset_bytes;
  f->request.buffer = f->bytes;
  f->request.done = [this, f](FetchRequest&) { OnFetched(f); };
  if (keyed) {
    inflight_.emplace(chunk.file_offset_bytes, std::move(owned));
  } else {
    direct_.emplace(f, std::move(owned));
  }
  ++fetches_in_flight_;
  return f;
}

void RemoteChunkSource::Read(Reader* reader, const StoredChunk& chunk, uint32_t offset_in_chunk,
                             std::span<uint8_t> buffer, uint64_t tag) {
  reads_.fetch_add(1, std::memory_order_relaxed);
  if (offset_in_chunk != 0 || buffer.size() != chunk.stored_length_bytes) {
    // The rest of a chunk after a short delivery (this source never delivers one) or a
    // part of one: fetch exactly that, bypassing the cache.
    StoredChunk part = chunk;
    part.file_offset_bytes += offset_in_chunk;
    part.stored_length_bytes = static_cast<uint32_t>(buffer.size());
    FetchRequest* request;
    {
      std::lock_guard lock(mutex_);
      Inflight* f = NewInflightLocked(part, /*keyed=*/false);
      f->waiters.push_back({reader, buffer, tag});
      request = &f->request;
    }
    fetched_.fetch_add(1, std::memory_order_relaxed);
    file_->fetcher().Start({&request, 1});
    return;
  }
  if (cache_ != nullptr && cache_->Read(ChunkKey::Of(chunk), buffer)) {
    cache_hits_.fetch_add(1, std::memory_order_relaxed);
    reader->Complete(tag, static_cast<int64_t>(buffer.size()), {});
    return;
  }
  // The other chunks of the group that nobody has: fetched with this one.
  std::vector<StoredChunk> group;
  if (options_.group_chunks > 1) {
    const uint64_t first = chunk.chunk_number / options_.group_chunks * options_.group_chunks;
    const uint64_t end = std::min(first + options_.group_chunks, snapshot_->chunk_count());
    group.reserve(end - first);
    for (uint64_t c = first; c < end; ++c) {
      if (c == chunk.chunk_number) continue;
      auto location = snapshot_->Locate(c);
      if (!location.ok() || location->stored.kind == format::ChunkKind::kZero) continue;
      if (location->stored.file_offset_bytes == chunk.file_offset_bytes) continue;
      if (cache_->Contains(ChunkKey::Of(location->stored))) continue;
      group.push_back(location->stored);
    }
  }
  std::vector<FetchRequest*> starts;
  starts.reserve(group.size() + 1);
  {
    std::lock_guard lock(mutex_);
    auto it = inflight_.find(chunk.file_offset_bytes);
    if (it != inflight_.end()) {
      Inflight* f = it->second.get();
      joined_.fetch_add(1, std::memory_order_relaxed);
      if (!f->fetched) {
        f->waiters.push_back({reader, buffer, tag});
      } else {
        // Fetched and verified, waiting for its cache write: served from memory.
        std::memcpy(buffer.data(), f->bytes.data(), buffer.size());
        reader->Complete(tag, static_cast<int64_t>(buffer.size()), {});
      }
      return;
    }
    Inflight* f = NewInflightLocked(chunk, /*keyed=*/true);
    f->waiters.push_back({reader, buffer, tag});
    starts.push_back(&f->request);
    for (const StoredChunk& other : group) {
      if (inflight_.count(other.file_offset_bytes) != 0) continue;
      starts.push_back(&NewInflightLocked(other, /*keyed=*/true)->request);
    }
  }
  fetched_.fetch_add(1, std::memory_order_relaxed);
  group_fetched_.fetch_add(starts.size() - 1, std::memory_order_relaxed);
  file_->fetcher().Start(starts);
}

void RemoteChunkSource::OnFetched(Inflight* f) {
  const FetchRequest& request = f->request;
  const bool ok = request.error_number == 0;
  const bool verified = ok && Checksum64(f->bytes) == f->chunk.stored_checksum;
  if (ok) bytes_fetched_.fetch_add(f->bytes.size(), std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  for (const Waiter& w : f->waiters) {
    if (ok) {
      // The engine checks the checksums of what it is given, verified here or not.
      std::memcpy(w.buffer.data(), f->bytes.data(), w.buffer.size());
      w.reader->Complete(w.tag, static_cast<int64_t>(w.buffer.size()), {});
    } else {
      failed_.fetch_add(1, std::memory_order_relaxed);
      // The engine's message names the source and the chunk; this says what happened.
      w.reader->Complete(w.tag, -static_cast<int64_t>(request.error_number), request.error);
    }
  }
  f->waiters.clear();
  f->fetched = true;
  --fetches_in_flight_;
  if (!f->keyed) {
    direct_.erase(f);
  } else if (!verified || cache_ == nullptr) {
    inflight_.erase(f->chunk.file_offset_bytes);
  } else if (to_write_bytes_ + f->bytes.size() > options_.max_pending_cache_bytes) {
    cache_writes_dropped_.fetch_add(1, std::memory_order_relaxed);
    inflight_.erase(f->chunk.file_offset_bytes);
  } else {
    to_write_.push_back(f);
    to_write_bytes_ += f->bytes.size();
    write_wanted_.notify_one();
  }
  if (fetches_in_flight_ == 0) fetches_done_.notify_all();
}

void RemoteChunkSource::WriteBehind() {
  while (true) {
    Inflight* f;
    {
      std::unique_lock lock(mutex_);
      write_wanted_.wait(lock, [this] { return stopping_ || !to_write_.empty(); });
      if (to_write_.empty()) return;
      f = to_write_.front();
      to_write_.pop_front();
    }
    const absl::Status written = cache_->Insert(ChunkKey::Of(f->chunk), f->bytes);
    (written.ok() ? cache_writes_ : cache_writes_dropped_).fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    to_write_bytes_ -= f->bytes.size();
    inflight_.erase(f->chunk.file_offset_bytes);
  }
}

void RemoteChunkSource::Forget(Reader* reader) {
  std::lock_guard lock(mutex_);
  auto drop = [reader](Inflight& f) {
    std::erase_if(f.waiters, [reader](const Waiter& w) { return w.reader == reader; });
  };
  for (auto& [offset, f] : inflight_) drop(*f);
  for (auto& [ptr, f] : direct_) drop(*f);
}

}  // namespace lazysnap::remote
