// FakeChunkSource: synchronous reads with rules, and readers whose completions can be held.
#include "engine/fake_chunk_source.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <thread>

#include "absl/strings/str_format.h"

namespace lazysnap {

// Reader completes reads within Submit (rules applied) and hands them out from Reap
// unless the source holds them; its eventfd polls readable while it has some to hand out.
class FakeChunkSource::Reader : public ChunkReader {
 public:
  Reader(FakeChunkSource& source, uint32_t capacity)
      : source_(source), capacity_(capacity), event_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~Reader() override {
    std::lock_guard<std::mutex> lock(source_.mutex_);
    source_.readers_.erase(std::find(source_.readers_.begin(), source_.readers_.end(), this));
    ::close(event_fd_);
  }

  uint32_t capacity() const override { return capacity_; }

  absl::Status Queue(const StoredChunk& chunk, uint32_t offset_in_chunk,
                     std::span<uint8_t> buffer, uint64_t tag) override {
    std::lock_guard<std::mutex> lock(source_.mutex_);
    if (queued_.size() + done_.size() >= capacity_) {
      return absl::FailedPreconditionError("fake reader: too many reads in flight");
    }
    queued_.push_back({chunk, offset_in_chunk, buffer, tag});
    return absl::OkStatus();
  }

  absl::Status Submit() override {
    std::vector<Request> requests;
    {
      std::lock_guard<std::mutex> lock(source_.mutex_);
      requests.swap(queued_);
    }
    if (!requests.empty()) source_.Sleep();
    for (const Request& r : requests) {
      const int64_t result = source_.Read(r.chunk, r.offset_in_chunk, r.buffer);
      std::lock_guard<std::mutex> lock(source_.mutex_);
      done_.push_back({r.tag, result});
    }
    Signal();
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Reap(std::span<ReadCompletion> out, bool wait) override {
    std::unique_lock<std::mutex> lock(source_.mutex_);
    if (wait) {
      source_.released_.wait(lock, [&] { return !source_.holding_ || done_.empty(); });
    }
    size_t n = 0;
    while (!source_.holding_ && n < out.size() && !done_.empty()) {
      out[n++] = done_.front();
      done_.pop_front();
    }
    uint64_t ignored;
    if (done_.empty() || source_.holding_) {
      while (::read(event_fd_, &ignored, sizeof(ignored)) > 0) {
      }
    }
    return n;
  }

  int poll_fd() const override { return event_fd_; }
  const char* name() const override { return "fake"; }

  // Signal makes poll_fd readable when completions can be handed out.
  void Signal() {
    std::lock_guard<std::mutex> lock(source_.mutex_);
    SignalLocked();
  }
  void SignalLocked() {
    if (source_.holding_ || done_.empty()) return;
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(event_fd_, &one, sizeof(one));
  }
  size_t done_count_locked() const { return done_.size(); }

 private:
  struct Request {
    StoredChunk chunk;
    uint32_t offset_in_chunk;
    std::span<uint8_t> buffer;
    uint64_t tag;
  };
  FakeChunkSource& source_;
  const uint32_t capacity_;
  const int event_fd_;
  std::vector<Request> queued_;
  std::deque<ReadCompletion> done_;
};

FakeChunkSource::FakeChunkSource(std::shared_ptr<const RandomAccessFile> file)
    : file_(std::move(file)) {}

FakeChunkSource::~FakeChunkSource() = default;

void FakeChunkSource::SetRule(uint64_t chunk_number, Rule rule) {
  std::lock_guard<std::mutex> lock(mutex_);
  rules_[chunk_number] = rule;
}

void FakeChunkSource::SetDelay(std::chrono::microseconds delay) {
  std::lock_guard<std::mutex> lock(mutex_);
  delay_ = delay;
}

void FakeChunkSource::Hold() {
  std::lock_guard<std::mutex> lock(mutex_);
  holding_ = true;
}

void FakeChunkSource::Release() {
  std::lock_guard<std::mutex> lock(mutex_);
  holding_ = false;
  for (Reader* reader : readers_) reader->SignalLocked();
  released_.notify_all();
}

size_t FakeChunkSource::HeldCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t n = 0;
  if (holding_) {
    for (const Reader* reader : readers_) n += reader->done_count_locked();
  }
  return n;
}

std::vector<uint64_t> FakeChunkSource::ReadOrder() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return read_order_;
}

absl::StatusOr<std::unique_ptr<ChunkReader>> FakeChunkSource::NewReader(uint32_t max_in_flight) {
  auto reader = std::make_unique<Reader>(*this, max_in_flight);
  if (reader->poll_fd() < 0) return absl::InternalError("fake reader: eventfd failed");
  std::lock_guard<std::mutex> lock(mutex_);
  readers_.push_back(reader.get());
  return std::unique_ptr<ChunkReader>(std::move(reader));
}

int64_t FakeChunkSource::ReadQuietly(const StoredChunk& chunk, std::span<uint8_t> buffer) {
  if (!quiet_reads_allowed_) return -ENOTSUP;
  Sleep();
  return Read(chunk, 0, buffer);
}

void FakeChunkSource::Sleep() const {
  std::chrono::microseconds delay;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    delay = delay_;
  }
  if (delay.count() > 0) std::this_thread::sleep_for(delay);
}

int64_t FakeChunkSource::Read(const StoredChunk& chunk, uint32_t offset_in_chunk,
                              std::span<uint8_t> buffer) {
  Rule rule;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    read_order_.push_back(chunk.chunk_number);
    auto it = rules_.find(chunk.chunk_number);
    if (it != rules_.end() && it->second.remaining != 0) {
      rule = it->second;
      if (it->second.remaining > 0) --it->second.remaining;
    }
  }
  if (rule.error != 0) return -rule.error;
  size_t length = buffer.size();
  if (rule.max_bytes_per_read > 0) length = std::min<size_t>(length, rule.max_bytes_per_read);
  const uint64_t offset = chunk.file_offset_bytes + offset_in_chunk;
  if (offset >= file_->size_bytes()) return 0;
  length = std::min<uint64_t>(length, file_->size_bytes() - offset);
  if (!file_->ReadAt(offset, buffer.first(length)).ok()) return -EIO;
  if (rule.corrupt && length > 0) buffer[0] ^= 0x01;
  return static_cast<int64_t>(length);
}

}  // namespace lazysnap
