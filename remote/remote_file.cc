// RemoteFile: Open's two ends and prefetched ranges held in memory, range GETs for the
// rest.
#include "remote/remote_file.h"

#include <cstring>

#include "absl/strings/str_format.h"

namespace lazysnap::remote {

absl::StatusOr<std::shared_ptr<RemoteFile>> RemoteFile::Open(ObjectEndpoint endpoint,
                                                              const RemoteFileOptions& options) {
  std::shared_ptr<RemoteFile> file(new RemoteFile());
  file->name_ = endpoint.display_name;
  auto fetcher = RangeFetcher::Create(std::move(endpoint), options.fetch);
  if (!fetcher.ok()) return fetcher.status();
  file->fetcher_ = std::move(*fetcher);
  auto ends = file->fetcher_->Open(options.head_bytes, options.tail_bytes);
  if (!ends.ok()) return ends.status();
  file->size_bytes_ = file->fetcher_->version().size_bytes;
  auto head = std::make_unique<Window>();
  head->bytes = std::move(ends->head);
  head->ready = true;
  auto tail = std::make_unique<Window>();
  tail->offset_bytes = file->size_bytes_ - ends->tail.size();
  tail->bytes = std::move(ends->tail);
  tail->ready = true;
  file->windows_.push_back(std::move(head));
  file->windows_.push_back(std::move(tail));
  return file;
}

RemoteFile::~RemoteFile() { fetcher_.reset(); }

absl::Status RemoteFile::ReadAt(uint64_t offset_bytes, std::span<uint8_t> out) const {
  uint64_t end;
  if (__builtin_add_overflow(offset_bytes, out.size(), &end) || end > size_bytes_) {
    return absl::OutOfRangeError(absl::StrFormat(
        "%s: reading %d bytes at offset %d passes the end of the object (%d bytes)", name_,
        out.size(), offset_bytes, size_bytes_));
  }
  {
    std::unique_lock lock(mutex_);
    for (const auto& w : windows_) {
      if (offset_bytes < w->offset_bytes || end > w->offset_bytes + w->bytes.size()) continue;
      window_ready_.wait(lock, [&] { return w->ready || w->failed; });
      if (w->failed) continue;
      std::memcpy(out.data(), w->bytes.data() + (offset_bytes - w->offset_bytes), out.size());
      return absl::OkStatus();
    }
  }
  return fetcher_->Fetch(offset_bytes, out);
}

void RemoteFile::Prefetch(uint64_t offset_bytes, uint64_t length_bytes) {
  if (length_bytes == 0 || offset_bytes >= size_bytes_) return;
  length_bytes = std::min(length_bytes, size_bytes_ - offset_bytes);
  auto window = std::make_unique<Window>();
  Window* w = window.get();
  w->offset_bytes = offset_bytes;
  w->bytes.resize(length_bytes);
  w->request.offset_bytes = offset_bytes;
  w->request.buffer = w->bytes;
  w->request.background = true;
  w->request.done = [this, w](FetchRequest& request) {
    std::lock_guard lock(mutex_);
    (request.error_number == 0 ? w->ready : w->failed) = true;
    window_ready_.notify_all();
  };
  {
    std::lock_guard lock(mutex_);
    windows_.push_back(std::move(window));
  }
  FetchRequest* request = &w->request;
  fetcher_->Start({&request, 1});
}

}  // namespace lazysnap::remote
