// RemoteFile: a snapshot object in HTTP(S) or S3-compatible storage as a
// RandomAccessFile, so that SnapshotReader opens it like a local file.
//
// Open fetches the object's first and last bytes in parallel (one round trip once
// connected; the suffix range needs no size) and keeps them in memory: with the default
// sizes they hold the header, the dictionary and the trailer, so that opening a snapshot
// costs two round trips more (its tables), whatever its size. Everything else is read
// with range GETs through the RangeFetcher, pinned to the version Open saw.
#ifndef LAZYSNAP_REMOTE_REMOTE_FILE_H_
#define LAZYSNAP_REMOTE_REMOTE_FILE_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/random_access_file.h"
#include "remote/object_url.h"
#include "remote/range_fetcher.h"

namespace lazysnap::remote {

struct RemoteFileOptions {
  FetchOptions fetch;
  // Bytes fetched from each end of the object by Open.
  uint64_t head_bytes = 128 << 10;
  uint64_t tail_bytes = 64 << 10;
};

// RemoteFile is thread-safe, like every RandomAccessFile.
class RemoteFile final : public RandomAccessFile {
 public:
  // Open connects and pins the object's version (RangeFetcher::Open's errors).
  static absl::StatusOr<std::shared_ptr<RemoteFile>> Open(ObjectEndpoint endpoint,
                                                          const RemoteFileOptions& options = {});
  ~RemoteFile() override;

  const std::string& name() const override { return name_; }
  uint64_t size_bytes() const override { return size_bytes_; }
  // ReadAt serves bytes held in memory (Open's ends, prefetched ranges: waiting for a
  // prefetch in flight) or fetches them. Errors name the URL and the range: NotFound,
  // PermissionDenied, FailedPrecondition (the object was replaced), DeadlineExceeded,
  // Unavailable (the server cannot be reached), DataLoss (a bad response).
  absl::Status ReadAt(uint64_t offset_bytes, std::span<uint8_t> out) const override;
  // identity names the pinned version: size, ETag, S3 version id.
  std::string identity() const override { return fetcher_->version().identity(); }

  // Prefetch fetches [offset_bytes, offset_bytes + length_bytes) in the background and
  // keeps it in memory for ReadAt (the snapshot's index, say). A failed prefetch is
  // forgotten: ReadAt then fetches what it needs itself.
  void Prefetch(uint64_t offset_bytes, uint64_t length_bytes);

  // fetcher is the object's fetcher, shared with the remote chunk source.
  RangeFetcher& fetcher() const { return *fetcher_; }

 private:
  struct Window {
    uint64_t offset_bytes = 0;
    std::vector<uint8_t> bytes;
    bool ready = false;
    bool failed = false;
    FetchRequest request;
  };

  RemoteFile() = default;
  std::string name_;
  uint64_t size_bytes_ = 0;
  mutable std::mutex mutex_;
  mutable std::condition_variable window_ready_;
  std::vector<std::unique_ptr<Window>> windows_;
  // Last: destroyed first, so that callbacks of requests still in flight (which it
  // cancels) find the windows and the mutex alive.
  std::unique_ptr<RangeFetcher> fetcher_;
};

}  // namespace lazysnap::remote

#endif  // LAZYSNAP_REMOTE_REMOTE_FILE_H_
