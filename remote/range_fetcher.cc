// RangeFetcher: one I/O thread drives a libcurl multi handle. Callers hand requests in
// through a locked inbox and curl_multi_wakeup; the thread merges adjacent waiting
// requests into one GET, starts as many as there are connections, checks each response
// as it arrives and writes the body straight into the requests' buffers.
#include "remote/range_fetcher.h"

#include <curl/curl.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "remote/internal/text.h"

namespace lazysnap::remote {
namespace {

uint64_t NowNanoseconds() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}


// RequestKind: Open's two requests learn their range from the response.
enum class RequestKind : uint8_t {
  kRange,   // exactly [offset, offset + size)
  kPrefix,  // the first size bytes, or the whole object when it is shorter
  kSuffix,  // the last size bytes, or the whole object when it is shorter
};

// OpenProbe: what one of Open's requests saw of the object.
struct OpenProbe {
  RequestKind kind = RequestKind::kRange;
  uint64_t requested_bytes = 0;
  bool total_known = false;
  ObjectVersion seen;
};

struct Transfer;

// Pending: a request with its Open probe, if any.
struct Pending {
  FetchRequest* request = nullptr;
  OpenProbe* probe = nullptr;
};

// Response: what the current attempt's response said.
struct Response {
  int status = 0;
  std::string etag;
  std::string content_range;
  std::string version_id;
  std::string last_modified;
  bool started = false;      // the body began and the headers were checked
  uint64_t body_offset = 0;  // object offset of the next body byte
  std::string error_body;    // the start of a non-2xx body (S3 sends an XML error)
};

struct Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::vector<Pending> parts;  // sorted by offset
  uint64_t start = 0;          // [start, end): the bytes asked for
  uint64_t end = 0;
  uint64_t received = 0;       // bytes of [start, end) delivered
  Response response;
  // A failure decided by the callbacks (a response that contradicts the request).
  int fail_errno = 0;
  bool fail_retryable = false;
  std::string fail_reason;
  bool finished_early = false;  // a 200: the wanted bytes arrived, the rest was dropped
  bool pinned = false;          // the version was pinned when the attempt began
  RangeFetcher::Impl* impl = nullptr;
};

bool ParseContentRange(std::string_view value, uint64_t* first, uint64_t* last,
                       uint64_t* total, bool* total_known) {
  value = internal::Trim(value);
  if (value.substr(0, 6) != "bytes ") return false;
  value.remove_prefix(6);
  const size_t dash = value.find('-');
  const size_t slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || dash > slash) {
    return false;
  }
  if (!internal::ParseU64(value.substr(0, dash), first) ||
      !internal::ParseU64(value.substr(dash + 1, slash - dash - 1), last) || *last < *first) {
    return false;
  }
  std::string_view total_text = value.substr(slash + 1);
  *total_known = total_text != "*";
  return !*total_known || internal::ParseU64(total_text, total);
}

// ErrorCodeOf returns S3's <Code> from an XML error body, or "".
std::string ErrorCodeOf(std::string_view body) {
  const size_t open = body.find("<Code>");
  if (open == std::string_view::npos) return {};
  const size_t close = body.find("</Code>", open);
  if (close == std::string_view::npos) return {};
  return std::string(body.substr(open + 6, close - open - 6));
}

bool RetryableStatus(int status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

int ErrnoForStatus(int status) {
  switch (status) {
    case 404:
      return ENOENT;
    case 401:
    case 403:
      return EACCES;
    case 412:
      return ESTALE;
    case 416:
      return EINVAL;
    default:
      return EIO;
  }
}

}  // namespace

void InitializeNetworking() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string ObjectVersion::identity() const {
  std::string id = absl::StrFormat("size %d", size_bytes);
  if (!etag.empty()) absl::StrAppend(&id, " etag ", etag);
  if (!version_id.empty()) absl::StrAppend(&id, " version ", version_id);
  if (etag.empty() && !last_modified.empty()) absl::StrAppend(&id, " modified ", last_modified);
  return id;
}

class RangeFetcher::Impl {
 public:
  Impl(ObjectEndpoint endpoint, FetchOptions options)
      : endpoint_(std::move(endpoint)), options_(options), random_(std::random_device()()) {
    options_.max_connections = std::max<uint32_t>(1, options_.max_connections);
    options_.max_attempts = std::max<uint32_t>(1, options_.max_attempts);
  }

  ~Impl() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    if (multi_ != nullptr) curl_multi_wakeup(multi_);
    if (thread_.joinable()) thread_.join();
    for (CURL* easy : idle_easies_) curl_easy_cleanup(easy);
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
  }

  absl::Status Init() {
    InitializeNetworking();
    multi_ = curl_multi_init();
    if (multi_ == nullptr) return absl::InternalError("curl_multi_init failed");
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS,
                      static_cast<long>(options_.max_connections));
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(options_.max_connections));
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  const ObjectEndpoint& endpoint() const { return endpoint_; }
  const ObjectVersion& version() const { return version_; }

  FetchStats stats() const {
    std::lock_guard lock(stats_mutex_);
    return stats_;
  }

  void Start(FetchRequest* request, OpenProbe* probe = nullptr) {
    {
      std::lock_guard lock(mutex_);
      inbox_.push_back({request, probe});
    }
    curl_multi_wakeup(multi_);
  }

  void Start(std::span<FetchRequest* const> requests) {
    {
      std::lock_guard lock(mutex_);
      for (FetchRequest* r : requests) inbox_.push_back({r, nullptr});
    }
    curl_multi_wakeup(multi_);
  }

  absl::Status Fetch(uint64_t offset_bytes, std::span<uint8_t> out, bool background) {
    if (out.empty()) return absl::OkStatus();
    std::mutex m;
    std::condition_variable cv;
    bool finished = false;
    FetchRequest request;
    request.offset_bytes = offset_bytes;
    request.buffer = out;
    request.background = background;
    request.done = [&](FetchRequest&) {
      std::lock_guard lock(m);
      finished = true;
      cv.notify_all();
    };
    Start(&request);
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return finished; });
    return StatusForRequest(request);
  }

  absl::StatusOr<OpenResult> Open(uint64_t head_bytes, uint64_t tail_bytes) {
    absl::Status last;
    for (int attempt = 0; attempt < 3; ++attempt) {
      OpenResult result;
      result.head.resize(head_bytes);
      result.tail.resize(tail_bytes);
      OpenProbe head_probe{.kind = RequestKind::kPrefix, .requested_bytes = head_bytes};
      OpenProbe tail_probe{.kind = RequestKind::kSuffix, .requested_bytes = tail_bytes};
      FetchRequest head, tail;
      head.buffer = result.head;
      tail.buffer = result.tail;
      std::mutex m;
      std::condition_variable cv;
      int finished = 0;
      auto done = [&](FetchRequest&) {
        std::lock_guard lock(m);
        ++finished;
        cv.notify_all();
      };
      head.done = done;
      tail.done = done;
      Start(&head, &head_probe);
      Start(&tail, &tail_probe);
      {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return finished == 2; });
      }
      if (head.error_number != 0) return StatusForRequest(head);
      if (tail.error_number != 0) return StatusForRequest(tail);
      const ObjectVersion& a = head_probe.seen;
      const ObjectVersion& b = tail_probe.seen;
      if (!tail_probe.total_known) {
        return absl::DataLossError(absl::StrFormat(
            "%s: the server did not say how large the object is (no total in Content-Range, "
            "no Content-Length)",
            endpoint_.display_name));
      }
      if (a.etag != b.etag || a.version_id != b.version_id ||
          (head_probe.total_known && a.size_bytes != b.size_bytes) ||
          (a.etag.empty() && a.last_modified != b.last_modified)) {
        last = absl::AbortedError(absl::StrFormat(
            "%s: the object changed while it was being opened (%s, then %s)",
            endpoint_.display_name, a.identity(), b.identity()));
        continue;
      }
      result.head.resize(head.buffer.size());
      result.tail.assign(tail.buffer.begin(), tail.buffer.end());
      {
        std::lock_guard lock(mutex_);
        version_ = b;
        pinned_ = true;
        if (endpoint_.is_s3 && !version_.version_id.empty() && version_.version_id != "null") {
          versioned_url_ = absl::StrCat(endpoint_.url, "?versionId=",
                                        PercentEncodePath(version_.version_id));
        }
      }
      return result;
    }
    return last;
  }

 private:
  void Run() {
    std::deque<Pending> demand;
    std::deque<Pending> background;
    std::vector<Pending> retries;
    std::vector<Pending> arrived;
    while (true) {
      {
        std::lock_guard lock(mutex_);
        if (stop_) break;
        arrived.swap(inbox_);
      }
      for (Pending& p : arrived) (p.request->background ? background : demand).push_back(p);
      arrived.clear();
      const uint64_t now = NowNanoseconds();
      uint64_t next_retry = UINT64_MAX;
      for (size_t i = 0; i < retries.size();) {
        if (retries[i].request->retry_at_ns <= now) {
          demand.push_back(retries[i]);
          retries[i] = retries.back();
          retries.pop_back();
        } else {
          next_retry = std::min(next_retry, retries[i].request->retry_at_ns);
          ++i;
        }
      }
      StartTransfers(demand, background);
      int running = 0;
      curl_multi_perform(multi_, &running);
      ProcessDone(retries);
      StartTransfers(demand, background);
      int timeout_ms = 1000;
      if (next_retry != UINT64_MAX) {
        const uint64_t wait_ns = next_retry > now ? next_retry - now : 0;
        timeout_ms = static_cast<int>(std::min<uint64_t>(timeout_ms, wait_ns / 1000000 + 1));
      }
      curl_multi_poll(multi_, nullptr, 0, timeout_ms, nullptr);
    }
    // Stopping: fail everything that has not finished.
    for (Transfer* t : active_) {
      curl_multi_remove_handle(multi_, t->easy);
      for (Pending& p : t->parts) Fail(p, ECANCELED, 0, "the fetcher was closed");
      ReleaseTransfer(t);
    }
    active_.clear();
    std::vector<Pending> left;
    {
      std::lock_guard lock(mutex_);
      left.swap(inbox_);
    }
    for (auto* queue : {&demand, &background}) left.insert(left.end(), queue->begin(), queue->end());
    left.insert(left.end(), retries.begin(), retries.end());
    for (Pending& p : left) Fail(p, ECANCELED, 0, "the fetcher was closed");
  }

  static uint64_t EndOf(const Pending& p) { return p.request->offset_bytes + p.request->buffer.size(); }

  void StartTransfers(std::deque<Pending>& demand, std::deque<Pending>& background) {
    while (active_.size() < options_.max_connections && (!demand.empty() || !background.empty())) {
      std::deque<Pending>& queue = demand.empty() ? background : demand;
      Pending first = queue.front();
      queue.pop_front();
      auto* t = new Transfer();
      t->parts.push_back(first);
      if (first.probe == nullptr) {
        t->start = first.request->offset_bytes;
        t->end = EndOf(first);
        // Merge waiting requests that touch or nearly touch the range, in either queue.
        bool merged = true;
        while (merged) {
          merged = false;
          for (auto* q : {&demand, &background}) {
            for (auto it = q->begin(); it != q->end(); ++it) {
              if (it->probe != nullptr) continue;
              const uint64_t s = it->request->offset_bytes;
              const uint64_t e = EndOf(*it);
              if (s > t->end + options_.max_gap_bytes || e + options_.max_gap_bytes < t->start) {
                continue;
              }
              const uint64_t ns = std::min(s, t->start);
              const uint64_t ne = std::max(e, t->end);
              if (ne - ns > options_.max_request_bytes) continue;
              t->start = ns;
              t->end = ne;
              t->parts.push_back(*it);
              q->erase(it);
              merged = true;
              break;
            }
          }
        }
        std::sort(t->parts.begin(), t->parts.end(), [](const Pending& a, const Pending& b) {
          return a.request->offset_bytes < b.request->offset_bytes;
        });
      } else {
        t->start = 0;
        t->end = first.probe->requested_bytes;
      }
      if (t->parts.size() > 1) AddStat(&FetchStats::coalesced, t->parts.size());
      Begin(t);
    }
  }

  CURL* TakeEasy() {
    if (!idle_easies_.empty()) {
      CURL* easy = idle_easies_.back();
      idle_easies_.pop_back();
      curl_easy_reset(easy);
      return easy;
    }
    return curl_easy_init();
  }

  void Begin(Transfer* t) {
    t->easy = TakeEasy();
    CURL* e = t->easy;
    const Pending& first = t->parts.front();
    std::string range;
    if (first.probe != nullptr && first.probe->kind == RequestKind::kSuffix) {
      range = absl::StrFormat("Range: bytes=-%d", first.probe->requested_bytes);
    } else {
      range = absl::StrFormat("Range: bytes=%d-%d", t->start, t->end - 1);
    }
    t->headers = curl_slist_append(t->headers, range.c_str());
    bool pinned;
    std::string url;
    std::string if_match;
    {
      std::lock_guard lock(mutex_);
      pinned = pinned_;
      url = versioned_url_.empty() ? endpoint_.url : versioned_url_;
      if (pinned && !version_.etag.empty()) if_match = "If-Match: " + version_.etag;
    }
    if (!if_match.empty()) t->headers = curl_slist_append(t->headers, if_match.c_str());
    if (!endpoint_.sigv4.empty()) {
      t->headers = curl_slist_append(t->headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
      if (!endpoint_.session_token.empty()) {
        t->headers = curl_slist_append(
            t->headers, ("x-amz-security-token: " + endpoint_.session_token).c_str());
      }
      curl_easy_setopt(e, CURLOPT_AWS_SIGV4, endpoint_.sigv4.c_str());
      curl_easy_setopt(e, CURLOPT_USERPWD, endpoint_.user_password.c_str());
    }
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "lazysnap");
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L << 10);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout_ms));
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(std::max<uint32_t>(1, (options_.stall_timeout_ms + 999) / 1000)));
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Impl::OnHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::OnBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    t->pinned = pinned;
    t->impl = this;
    for (Pending& p : t->parts) ++p.request->attempts;
    AddStat(&FetchStats::http_requests, 1);
    curl_multi_add_handle(multi_, e);
    active_.push_back(t);
  }

  static size_t OnHeader(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t n = size * count;
    std::string_view line(data, n);
    if (line.substr(0, 5) == "HTTP/") {
      t->response = Response();  // a new response (after a 100 Continue, say)
      return n;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return n;
    const std::string name = internal::ToLower(line.substr(0, colon));
    std::string value(internal::Trim(line.substr(colon + 1)));
    if (name == "etag") t->response.etag = std::move(value);
    else if (name == "content-range") t->response.content_range = std::move(value);
    else if (name == "x-amz-version-id") t->response.version_id = std::move(value);
    else if (name == "last-modified") t->response.last_modified = std::move(value);
    return n;
  }

  // Reject: the response contradicts the request; abort the transfer.
  static size_t Reject(Transfer* t, int error_number, bool retryable, std::string reason) {
    t->fail_errno = error_number;
    t->fail_retryable = retryable;
    t->fail_reason = std::move(reason);
    return 0;
  }

  // BeginBody checks a 200/206 response's headers against the request and the pinned
  // version and positions the body. Returns false (with fail_* set) to abort.
  bool BeginBody(Transfer* t) {
    Response& r = t->response;
    r.started = true;
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    r.status = static_cast<int>(code);
    if (r.status != 200 && r.status != 206) return true;
    Pending& first = t->parts.front();
    OpenProbe* probe = first.probe;
    if (t->pinned) {
      // version_ does not change once pinned.
      if (!version_.etag.empty() && r.etag != version_.etag) {
        Reject(t, ESTALE, false,
               absl::StrFormat("the object changed: ETag %s where %s was opened",
                               r.etag.empty() ? "(none)" : r.etag, version_.etag));
        return false;
      }
      if (version_.etag.empty() && !version_.last_modified.empty() &&
          r.last_modified != version_.last_modified) {
        Reject(t, ESTALE, false,
               absl::StrFormat("the object changed: Last-Modified %s where %s was opened",
                               r.last_modified, version_.last_modified));
        return false;
      }
    }
    uint64_t total = 0;
    bool total_known = false;
    if (r.status == 206) {
      uint64_t first_byte = 0, last_byte = 0;
      if (!ParseContentRange(r.content_range, &first_byte, &last_byte, &total, &total_known)) {
        Reject(t, EPROTO, false,
               absl::StrFormat("206 with a malformed Content-Range '%s'", r.content_range));
        return false;
      }
      if (probe != nullptr && total_known) {
        const uint64_t n = std::min(probe->requested_bytes, total);
        t->start = probe->kind == RequestKind::kSuffix ? total - n : 0;
        t->end = t->start + n;
      }
      if (first_byte != t->start || last_byte + 1 != t->end) {
        Reject(t, EPROTO, false,
               absl::StrFormat("Content-Range '%s' does not match the requested bytes %d-%d",
                               r.content_range, t->start, t->end - 1));
        return false;
      }
      r.body_offset = first_byte;
    } else {
      // 200: the server ignored Range and sends the whole object.
      AddStat(&FetchStats::range_ignored, 1);
      curl_off_t length = -1;
      curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
      total_known = length >= 0;
      total = total_known ? static_cast<uint64_t>(length) : 0;
      if (probe != nullptr) {
        if (!total_known && probe->kind == RequestKind::kSuffix) {
          Reject(t, EPROTO, false, "200 without Content-Length to a suffix range request");
          return false;
        }
        const uint64_t n = total_known ? std::min(probe->requested_bytes, total)
                                       : probe->requested_bytes;
        t->start = probe->kind == RequestKind::kSuffix ? total - n : 0;
        t->end = t->start + n;
      }
      r.body_offset = 0;
    }
    if (t->pinned && total_known && total != version_.size_bytes) {
      Reject(t, ESTALE, false,
             absl::StrFormat("the object changed: %d bytes where %d were opened", total,
                             version_.size_bytes));
      return false;
    }
    if (!t->pinned && probe == nullptr) {
      Reject(t, EPROTO, false, "range request before the object was opened");
      return false;
    }
    if (probe != nullptr) {
      probe->total_known = total_known;
      probe->seen.size_bytes = total;
      probe->seen.etag = r.etag;
      probe->seen.version_id = r.version_id;
      probe->seen.last_modified = r.last_modified;
      // The request's buffer shrinks to what the object holds.
      first.request->offset_bytes = t->start;
      first.request->buffer = first.request->buffer.first(t->end - t->start);
    }
    return true;
  }

  static size_t OnBody(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    Impl* self = t->impl;
    const size_t n = size * count;
    Response& r = t->response;
    if (!r.started && !self->BeginBody(t)) return 0;
    if (r.status != 200 && r.status != 206) {
      if (r.error_body.size() < 2048) r.error_body.append(data, std::min<size_t>(n, 2048));
      return n;
    }
    self->AddStat(&FetchStats::bytes_received, n);
    const uint64_t off = r.body_offset;
    r.body_offset += n;
    const uint64_t lo = std::max(off, t->start);
    const uint64_t hi = std::min<uint64_t>(off + n, t->end);
    if (lo < hi) {
      for (Pending& p : t->parts) {
        const uint64_t ps = p.request->offset_bytes;
        const uint64_t pe = ps + p.request->buffer.size();
        const uint64_t a = std::max(lo, ps);
        const uint64_t b = std::min(hi, pe);
        if (a < b) std::memcpy(p.request->buffer.data() + (a - ps), data + (a - off), b - a);
      }
      t->received += hi - lo;
    }
    if (off + n >= t->end && r.status == 200) {
      // Everything wanted has arrived; drop the rest of the whole object.
      t->finished_early = t->received == t->end - t->start;
      return 0;
    }
    if (off + n > t->end) {
      return Reject(t, EPROTO, false,
                    absl::StrFormat("the response holds more than the %d bytes asked for",
                                    t->end - t->start));
    }
    return n;
  }

  void ProcessDone(std::vector<Pending>& retries) {
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
      if (message->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
      const CURLcode result = message->data.result;
      curl_multi_remove_handle(multi_, t->easy);
      active_.erase(std::find(active_.begin(), active_.end(), t));
      long connects = 0;
      curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &connects);
      AddStat(&FetchStats::connections_opened, static_cast<uint64_t>(connects));
      Finish(t, result, retries);
      ReleaseTransfer(t);
    }
  }

  void Finish(Transfer* t, CURLcode result, std::vector<Pending>& retries) {
    const Response& r = t->response;
    int status = r.status;
    if (status == 0) {
      long code = 0;
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
      status = static_cast<int>(code);
    }
    int error_number = 0;
    bool retryable = false;
    std::string reason;
    if (t->fail_errno != 0) {
      error_number = t->fail_errno;
      retryable = t->fail_retryable;
      reason = t->fail_reason;
    } else if (result != CURLE_OK && !(result == CURLE_WRITE_ERROR && t->finished_early)) {
      switch (result) {
        case CURLE_OPERATION_TIMEDOUT:
          error_number = ETIMEDOUT;
          break;
        case CURLE_COULDNT_CONNECT:
          error_number = ECONNREFUSED;
          break;
        default:
          error_number = EIO;
      }
      retryable = result == CURLE_OPERATION_TIMEDOUT || result == CURLE_COULDNT_CONNECT ||
                  result == CURLE_COULDNT_RESOLVE_HOST || result == CURLE_SEND_ERROR ||
                  result == CURLE_RECV_ERROR || result == CURLE_GOT_NOTHING ||
                  result == CURLE_PARTIAL_FILE || result == CURLE_HTTP2 ||
                  result == CURLE_HTTP2_STREAM || result == CURLE_SSL_CONNECT_ERROR;
      reason = curl_easy_strerror(result);
      if (result == CURLE_PARTIAL_FILE) reason = "truncated body (connection closed early)";
    } else if (status != 200 && status != 206) {
      error_number = ErrnoForStatus(status);
      retryable = RetryableStatus(status);
      const std::string code = ErrorCodeOf(r.error_body);
      reason = code.empty() ? absl::StrFormat("HTTP %d", status)
                            : absl::StrFormat("HTTP %d (%s)", status, code);
      if (status == 412) reason += ": the object changed since it was opened (If-Match failed)";
    } else if (t->received < t->end - t->start) {
      error_number = EIO;
      retryable = true;
      reason = absl::StrFormat("truncated body: %d of %d bytes", t->received, t->end - t->start);
    }
    for (Pending& p : t->parts) {
      FetchRequest* request = p.request;
      request->http_status = status;
      if (error_number == 0) {
        Succeed(p);
        continue;
      }
      if (retryable && request->attempts < options_.max_attempts) {
        AddStat(&FetchStats::retries, 1);
        request->retry_at_ns = NowNanoseconds() + BackoffNs(request->attempts);
        if (p.probe != nullptr) request->buffer = {request->buffer.data(), p.probe->requested_bytes};
        retries.push_back(p);
        continue;
      }
      Fail(p, error_number, status,
           absl::StrFormat("%s (bytes %d-%d, attempt %d of %d)", reason, request->offset_bytes,
                           request->offset_bytes + request->buffer.size() - 1, request->attempts,
                           options_.max_attempts));
    }
  }

  uint64_t BackoffNs(uint32_t attempt) {
    const uint64_t base_ms = std::min<uint64_t>(
        options_.backoff_max_ms,
        uint64_t{options_.backoff_initial_ms} << std::min<uint32_t>(attempt - 1, 20));
    std::uniform_int_distribution<uint64_t> jitter(base_ms * 500000, base_ms * 1000000);
    return jitter(random_);
  }

  void Succeed(Pending& p) {
    p.request->error_number = 0;
    p.request->error.clear();
    AddStat(&FetchStats::requests, 1);
    auto done = std::move(p.request->done);
    done(*p.request);
  }

  void Fail(Pending& p, int error_number, int status, std::string reason) {
    FetchRequest* request = p.request;
    request->error_number = error_number;
    request->http_status = status;
    request->error = absl::StrFormat("GET %s: %s", endpoint_.display_name, reason);
    AddStat(&FetchStats::requests, 1);
    AddStat(&FetchStats::failures, 1);
    auto done = std::move(request->done);
    done(*request);
  }

  void ReleaseTransfer(Transfer* t) {
    curl_slist_free_all(t->headers);
    idle_easies_.push_back(t->easy);
    delete t;
  }

  void AddStat(uint64_t FetchStats::*field, uint64_t n) {
    std::lock_guard lock(stats_mutex_);
    stats_.*field += n;
  }

  const ObjectEndpoint endpoint_;
  FetchOptions options_;
  CURLM* multi_ = nullptr;
  std::thread thread_;

  std::mutex mutex_;  // guards the inbox, stop_, and the pinned version
  std::vector<Pending> inbox_;
  bool stop_ = false;
  bool pinned_ = false;
  ObjectVersion version_;
  std::string versioned_url_;

  // The I/O thread's own.
  std::vector<Transfer*> active_;
  std::vector<CURL*> idle_easies_;
  std::mt19937_64 random_;

  mutable std::mutex stats_mutex_;
  FetchStats stats_;
};

RangeFetcher::RangeFetcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RangeFetcher::~RangeFetcher() = default;

absl::StatusOr<std::unique_ptr<RangeFetcher>> RangeFetcher::Create(ObjectEndpoint endpoint,
                                                                   FetchOptions options) {
  auto impl = std::make_unique<Impl>(std::move(endpoint), options);
  absl::Status init = impl->Init();
  if (!init.ok()) return init;
  return std::unique_ptr<RangeFetcher>(new RangeFetcher(std::move(impl)));
}

absl::StatusOr<RangeFetcher::OpenResult> RangeFetcher::Open(uint64_t head_bytes,
                                                            uint64_t tail_bytes) {
  return impl_->Open(head_bytes, tail_bytes);
}

void RangeFetcher::Start(std::span<FetchRequest* const> requests) { impl_->Start(requests); }

absl::Status RangeFetcher::Fetch(uint64_t offset_bytes, std::span<uint8_t> out, bool background) {
  return impl_->Fetch(offset_bytes, out, background);
}

const ObjectEndpoint& RangeFetcher::endpoint() const { return impl_->endpoint(); }
const ObjectVersion& RangeFetcher::version() const { return impl_->version(); }
FetchStats RangeFetcher::stats() const { return impl_->stats(); }

absl::Status RangeFetcher::StatusForRequest(const FetchRequest& request) {
  switch (request.error_number) {
    case 0:
      return absl::OkStatus();
    case ENOENT:
      return absl::NotFoundError(request.error);
    case EACCES:
      return absl::PermissionDeniedError(request.error);
    case ESTALE:
      return absl::FailedPreconditionError(request.error);
    case ETIMEDOUT:
      return absl::DeadlineExceededError(request.error);
    case EPROTO:
    case EINVAL:
      return absl::DataLossError(request.error);
    case ECANCELED:
      return absl::CancelledError(request.error);
    default:
      return absl::UnavailableError(request.error);
  }
}

}  // namespace lazysnap::remote
