// UploadFile: puts a local file (a snapshot) at an `s3://bucket/key` or `http(s)://`
// URL, so that a user can try the whole loop with `lazysnap push`. S3 objects up to
// `single_put_max_bytes` go up in one signed PUT, larger ones as a multipart upload
// (aborted when a part fails for good); an http(s) URL takes one PUT (WebDAV, a
// presigned URL).
#ifndef LAZYSNAP_REMOTE_OBJECT_UPLOAD_H_
#define LAZYSNAP_REMOTE_OBJECT_UPLOAD_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "remote/object_url.h"

namespace lazysnap::remote {

struct UploadOptions {
  // S3 objects larger than this go up in parts (S3 allows one PUT up to 5 GiB).
  uint64_t single_put_max_bytes = uint64_t{1} << 30;
  // Part size of a multipart upload (S3: at least 5 MiB, at most 10,000 parts).
  uint64_t part_size_bytes = uint64_t{64} << 20;
  // Attempts per request for transient failures (connection errors, 5xx).
  uint32_t max_attempts = 4;
  uint32_t connect_timeout_ms = 10000;
  // Called after each part (or the whole file) with bytes sent so far.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct UploadSummary {
  uint64_t size_bytes = 0;
  uint32_t parts = 0;  // 0: one PUT
  std::string etag;    // of the object written
  double seconds = 0;
};

// UploadFile uploads `local_path` to `url`. Errors name the URL and the HTTP status:
// PermissionDenied (401/403), NotFound (404: no such bucket), InvalidArgument (a bad
// URL, a file too large for the part size), Unavailable (transient errors that
// outlasted the retries), or the local file's read errors.
absl::StatusOr<UploadSummary> UploadFile(std::string_view local_path, std::string_view url,
                                         const UploadOptions& options = {},
                                         const AwsEnvironment& env = AwsEnvironment::Process());

}  // namespace lazysnap::remote

#endif  // LAZYSNAP_REMOTE_OBJECT_UPLOAD_H_
