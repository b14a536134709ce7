// UploadFile: blocking libcurl requests: one PUT, or S3's multipart upload (initiate,
// parts, complete; abort on failure), each retried on transient errors.
#include "remote/object_upload.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_io.h"
#include "base/unique_fd.h"
#include "remote/internal/text.h"
#include "remote/range_fetcher.h"

namespace lazysnap::remote {
namespace {

struct Body {
  int fd = -1;  // read [offset, offset + length) of fd, or
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t sent = 0;
  std::string text;  // this text (POST)
};

struct Reply {
  CURLcode result = CURLE_OK;
  int status = 0;
  std::string body;
  std::string etag;
};

size_t ReadBody(char* out, size_t size, size_t count, void* user) {
  auto* body = static_cast<Body*>(user);
  const size_t want = std::min<uint64_t>(size * count, body->length - body->sent);
  if (want == 0) return 0;
  const ssize_t n = ::pread(body->fd, out, want, static_cast<off_t>(body->offset + body->sent));
  if (n <= 0) return CURL_READFUNC_ABORT;
  body->sent += static_cast<uint64_t>(n);
  return static_cast<size_t>(n);
}

size_t KeepBody(char* data, size_t size, size_t count, void* user) {
  auto* reply = static_cast<Reply*>(user);
  if (reply->body.size() < (1 << 20)) reply->body.append(data, size * count);
  return size * count;
}

size_t KeepEtag(char* data, size_t size, size_t count, void* user) {
  std::string_view line(data, size * count);
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos && internal::ToLower(line.substr(0, colon)) == "etag") {
    static_cast<Reply*>(user)->etag = std::string(internal::Trim(line.substr(colon + 1)));
  }
  return size * count;
}

std::string XmlValue(std::string_view xml, std::string_view tag) {
  const std::string open = absl::StrCat("<", std::string(tag), ">");
  const std::string close = absl::StrCat("</", std::string(tag), ">");
  const size_t a = xml.find(open);
  if (a == std::string_view::npos) return {};
  const size_t b = xml.find(close, a);
  if (b == std::string_view::npos) return {};
  return std::string(xml.substr(a + open.size(), b - a - open.size()));
}

class Uploader {
 public:
  Uploader(ObjectEndpoint endpoint, const UploadOptions& options)
      : endpoint_(std::move(endpoint)), options_(options) {}

  // Send performs one request, retrying transient failures. `body` is rewound per try.
  Reply Send(const char* method, const std::string& query, Body* body) {
    Reply reply;
    for (uint32_t attempt = 1; attempt <= std::max<uint32_t>(1, options_.max_attempts); ++attempt) {
      reply = SendOnce(method, query, body);
      const bool transient = (reply.result != CURLE_OK && reply.result != CURLE_ABORTED_BY_CALLBACK &&
                              reply.result != CURLE_READ_ERROR) ||
                             reply.status == 429 || reply.status >= 500;
      if (!transient) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100 << (attempt - 1)));
    }
    return reply;
  }

  absl::Status Check(const Reply& reply, std::string_view what) const {
    if (reply.result != CURLE_OK) {
      return absl::UnavailableError(absl::StrFormat("%s %s: %s", what, endpoint_.display_name,
                                                    curl_easy_strerror(reply.result)));
    }
    // S3 may answer 200 to CompleteMultipartUpload and put an error in the body.
    const std::string code = XmlValue(reply.body, "Code");
    if (reply.status >= 200 && reply.status < 300 && code.empty()) return absl::OkStatus();
    const std::string message = absl::StrFormat(
        "%s %s: HTTP %d%s", what, endpoint_.display_name, reply.status,
        code.empty() ? "" : absl::StrCat(" (", code, ")"));
    switch (reply.status) {
      case 401:
      case 403:
        return absl::PermissionDeniedError(message);
      case 404:
        return absl::NotFoundError(message);
      default:
        return reply.status >= 500 || reply.status == 429 ? absl::UnavailableError(message)
                                                           : absl::FailedPreconditionError(message);
    }
  }

 private:
  Reply SendOnce(const char* method, const std::string& query, Body* body) {
    Reply reply;
    CURL* e = curl_easy_init();
    if (e == nullptr) {
      reply.result = CURLE_FAILED_INIT;
      return reply;
    }
    // No "Expect:" header to suppress 100-continue: curl 7.88's SigV4 signs it, and an
    // empty header is not sent, so the server computes another signature.
    curl_slist* headers = nullptr;
    if (!endpoint_.sigv4.empty()) {
      headers = curl_slist_append(headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
      if (!endpoint_.session_token.empty()) {
        headers = curl_slist_append(
            headers, ("x-amz-security-token: " + endpoint_.session_token).c_str());
      }
      curl_easy_setopt(e, CURLOPT_AWS_SIGV4, endpoint_.sigv4.c_str());
      curl_easy_setopt(e, CURLOPT_USERPWD, endpoint_.user_password.c_str());
    }
    const std::string url = query.empty() ? endpoint_.url : endpoint_.url + "?" + query;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "lazysnap");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &KeepBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &KeepEtag);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &reply);
    const std::string_view m(method);
    if (body != nullptr && body->fd >= 0) {
      body->sent = 0;
      curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(e, CURLOPT_READFUNCTION, &ReadBody);
      curl_easy_setopt(e, CURLOPT_READDATA, body);
      curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body->length));
    } else if (m == "POST") {
      const std::string& text = body != nullptr ? body->text : empty_;
      // Not curl's default form encoding: S3 parses the body as XML.
      headers = curl_slist_append(headers, "Content-Type: application/xml");
      curl_easy_setopt(e, CURLOPT_POST, 1L);
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, text.c_str());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(text.size()));
    } else {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    reply.result = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    reply.status = static_cast<int>(status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(e);
    return reply;
  }

  const ObjectEndpoint endpoint_;
  const UploadOptions& options_;
  const std::string empty_;
};

std::string EncodeQueryValue(std::string_view value) {
  std::string out = PercentEncodePath(value);
  std::string encoded;
  for (char c : out) encoded += c == '/' ? std::string("%2F") : std::string(1, c);
  return encoded;
}

}  // namespace

absl::StatusOr<UploadSummary> UploadFile(std::string_view local_path, std::string_view url,
                                         const UploadOptions& options, const AwsEnvironment& env) {
  InitializeNetworking();
  const auto start = std::chrono::steady_clock::now();
  auto endpoint = ResolveObjectUrl(url, env);
  if (!endpoint.ok()) return endpoint.status();
  auto fd = OpenFile(local_path, O_RDONLY);
  if (!fd.ok()) return fd.status();
  auto size = FileSizeBytes(fd->get(), local_path);
  if (!size.ok()) return size.status();
  UploadSummary summary;
  summary.size_bytes = *size;
  Uploader uploader(*endpoint, options);
  auto finish = [&]() {
    summary.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return summary;
  };

  if (!endpoint->is_s3 || *size <= options.single_put_max_bytes) {
    Body body{.fd = fd->get(), .offset = 0, .length = *size};
    const Reply reply = uploader.Send("PUT", "", &body);
    absl::Status status = uploader.Check(reply, "PUT");
    if (!status.ok()) return status;
    summary.etag = reply.etag;
    if (options.progress) options.progress(*size, *size);
    return finish();
  }

  const uint64_t part_bytes = std::max<uint64_t>(options.part_size_bytes, 5 << 20);
  const uint64_t parts = (*size + part_bytes - 1) / part_bytes;
  if (parts > 10000) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %d bytes need %d parts of %d bytes; S3 allows 10000 (raise the part size)",
        local_path, *size, parts, part_bytes));
  }
  const Reply initiated = uploader.Send("POST", "uploads=", nullptr);
  absl::Status status = uploader.Check(initiated, "POST ?uploads (start a multipart upload)");
  if (!status.ok()) return status;
  const std::string upload_id = XmlValue(initiated.body, "UploadId");
  if (upload_id.empty()) {
    return absl::DataLossError(absl::StrFormat("%s: no UploadId in the reply to ?uploads: %s",
                                               endpoint->display_name, initiated.body));
  }
  const std::string id_query = "uploadId=" + EncodeQueryValue(upload_id);
  std::string complete = "<CompleteMultipartUpload>";
  for (uint64_t part = 0; part < parts && status.ok(); ++part) {
    Body body{.fd = fd->get(),
              .offset = part * part_bytes,
              .length = std::min(part_bytes, *size - part * part_bytes)};
    const Reply reply = uploader.Send(
        "PUT", absl::StrFormat("partNumber=%d&%s", part + 1, id_query), &body);
    status = uploader.Check(reply, absl::StrFormat("PUT part %d", part + 1));
    if (status.ok() && reply.etag.empty()) {
      status = absl::DataLossError(
          absl::StrFormat("%s: no ETag for part %d", endpoint->display_name, part + 1));
    }
    absl::StrAppend(&complete, "<Part><PartNumber>", part + 1, "</PartNumber><ETag>", reply.etag,
                    "</ETag></Part>");
    if (status.ok() && options.progress) options.progress(body.offset + body.length, *size);
  }
  if (status.ok()) {
    complete += "</CompleteMultipartUpload>";
    Body body{.text = complete};
    const Reply reply = uploader.Send("POST", id_query, &body);
    status = uploader.Check(reply, "POST ?uploadId (complete a multipart upload)");
    summary.etag = XmlValue(reply.body, "ETag");
  }
  if (!status.ok()) {
    // Leave no parts behind to be billed for.
    uploader.Send("DELETE", id_query, nullptr);
    return status;
  }
  summary.parts = static_cast<uint32_t>(parts);
  return finish();
}

}  // namespace lazysnap::remote
