// RangeFetcher: HTTP range GETs of one object, many in flight at once over a pool of
// reused connections (libcurl's multi interface, driven by one I/O thread), with
// adjacent requests coalesced, transient failures retried with backoff and the object's
// version pinned so that a replaced object is detected instead of mixed.
//
// Every response is checked before a byte of it is delivered: the status (206, or 200
// when a server ignores Range: the wanted bytes are cut out of the whole object), the
// Content-Range (start, end and total must be what was asked for), and the ETag (and
// S3 version id) against the version pinned by Open. Requests after Open carry If-Match
// and, for versioned S3 objects, the versionId, so S3 keeps serving the pinned version.
#ifndef LAZYSNAP_REMOTE_RANGE_FETCHER_H_
#define LAZYSNAP_REMOTE_RANGE_FETCHER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "remote/object_url.h"

namespace lazysnap::remote {

// InitializeNetworking initialises libcurl (and its TLS library) once per process;
// RangeFetcher::Create calls it. It costs 15-20 ms here (OpenSSL loads its
// configuration), so a long-lived process calls it at start-up, before any restore.
void InitializeNetworking();

struct FetchOptions {
  // Connections to the server (each carries one request at a time over HTTP/1.1).
  uint32_t max_connections = 16;
  // Adjacent waiting requests are merged into one range GET up to this many bytes.
  uint64_t max_request_bytes = 4 << 20;
  // Requests this close are merged too; the bytes between them are fetched and dropped.
  uint32_t max_gap_bytes = 16 << 10;
  uint32_t connect_timeout_ms = 5000;
  // One attempt may take this long in all.
  uint32_t request_timeout_ms = 60000;
  // An attempt that receives nothing for this long is abandoned (and retried).
  uint32_t stall_timeout_ms = 10000;
  // Attempts per request, the first included; transient failures only (timeouts,
  // connection errors, truncated bodies, HTTP 408, 429, 500, 502, 503, 504).
  uint32_t max_attempts = 5;
  // Backoff before retry n: a random delay in [d/2, d], d = min(initial * 2^(n-1), max).
  uint32_t backoff_initial_ms = 50;
  uint32_t backoff_max_ms = 2000;
};

// ObjectVersion: the version of the object that Open pinned.
struct ObjectVersion {
  uint64_t size_bytes = 0;
  std::string etag;           // as the server sent it (quotes included); may be empty
  std::string version_id;     // S3 x-amz-version-id; empty when unversioned
  std::string last_modified;  // used when the server sends no ETag
  // identity: a string naming this version ("etag \"abc\" size 123"), for caches.
  std::string identity() const;
};

// FetchRequest: one range to read, owned by the caller until `done` has run.
struct FetchRequest {
  uint64_t offset_bytes = 0;
  std::span<uint8_t> buffer;  // receives [offset_bytes, offset_bytes + buffer.size())
  // Background requests (prefetches) start only when no demand request waits.
  bool background = false;
  // Called once from the fetcher's thread when the request has succeeded or failed
  // for good. The request may be destroyed from inside the call.
  std::function<void(FetchRequest&)> done;

  // Results.
  int error_number = 0;  // 0: success; else ENOENT (404), EACCES (401/403), ESTALE
                         // (the object changed), ETIMEDOUT, ECONNREFUSED, EPROTO (a
                         // response that contradicts the request), EIO (other), ECANCELED
  int http_status = 0;   // of the last attempt (0 when no response arrived)
  uint32_t attempts = 0;
  std::string error;     // when failed: URL, byte range, status and reason

  // Internal to the fetcher.
  uint64_t retry_at_ns = 0;
};

// FetchStats: counters since Create.
struct FetchStats {
  uint64_t requests = 0;          // FetchRequests completed (success or failure)
  uint64_t http_requests = 0;     // range GETs sent, retries included
  uint64_t coalesced = 0;         // FetchRequests that shared a GET with another
  uint64_t retries = 0;
  uint64_t failures = 0;
  uint64_t bytes_received = 0;    // response body bytes, dropped gap bytes included
  uint64_t range_ignored = 0;     // 200 responses to a range request
  uint64_t connections_opened = 0;
};

class RangeFetcher {
 public:
  // Create starts the I/O thread. Nothing is sent before Open.
  static absl::StatusOr<std::unique_ptr<RangeFetcher>> Create(ObjectEndpoint endpoint,
                                                              FetchOptions options);
  // ~RangeFetcher fails requests still waiting with ECANCELED and stops the thread.
  ~RangeFetcher();

  // OpenResult: the object's first and last bytes, fetched in parallel.
  struct OpenResult {
    std::vector<uint8_t> head;  // bytes [0, head.size())
    std::vector<uint8_t> tail;  // bytes [size - tail.size(), size)
  };
  // Open fetches the first `head_bytes` and the last `tail_bytes` of the object at once
  // (two requests in flight; a suffix range needs no size) and pins its version. Errors
  // name the URL: NotFound (404), PermissionDenied (401/403), Unavailable (the server
  // could not be reached after the retries), DataLoss (a response that contradicts
  // itself), Aborted (the object changed while it was being opened, three times).
  absl::StatusOr<OpenResult> Open(uint64_t head_bytes, uint64_t tail_bytes);

  // Start queues `requests` (after Open) together, so that adjacent ones are merged
  // into one GET. Thread-safe; never blocks on the network.
  void Start(std::span<FetchRequest* const> requests);

  // Fetch reads `out.size()` bytes at `offset_bytes` and waits for them. The Status
  // code follows the error: NotFound, PermissionDenied, FailedPrecondition (the object
  // changed), DeadlineExceeded, Unavailable, DataLoss.
  absl::Status Fetch(uint64_t offset_bytes, std::span<uint8_t> out, bool background = false);

  const ObjectEndpoint& endpoint() const;
  // version is valid after a successful Open.
  const ObjectVersion& version() const;
  FetchStats stats() const;

  // StatusForRequest turns a failed request into a Status with the code above.
  static absl::Status StatusForRequest(const FetchRequest& request);

  class Impl;

 private:
  explicit RangeFetcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lazysnap::remote

#endif  // LAZYSNAP_REMOTE_RANGE_FETCHER_H_
