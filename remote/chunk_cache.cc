// ChunkCache: a directory of content-keyed chunk files, written by rename, checked on
// every read, evicted oldest-first by a scan.
#include "remote/chunk_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <random>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/checksum.h"
#include "base/errno_status.h"
#include "base/file_io.h"
#include "base/unique_fd.h"

namespace lazysnap::remote {
namespace {

absl::Status MakeDirectory(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return absl::OkStatus();
  return ErrnoToStatus(errno, absl::StrFormat("mkdir %s", path));
}

absl::Status MakeDirectories(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    absl::Status s = MakeDirectory(path.substr(0, slash));
    if (!s.ok()) return s;
  }
  return MakeDirectory(path);
}

}  // namespace

absl::StatusOr<std::shared_ptr<ChunkCache>> ChunkCache::Open(const ChunkCacheOptions& options) {
  if (options.directory.empty()) {
    return absl::InvalidArgumentError("chunk cache: no directory given");
  }
  std::shared_ptr<ChunkCache> cache(new ChunkCache());
  cache->options_ = options;
  cache->root_ = options.directory + "/v1";
  cache->temp_salt_ = std::random_device()() | (uint64_t{std::random_device()()} << 32);
  // The 256 fan-out directories are made when first written to: opening a new cache
  // stays cheap (it is on the way to a restore's first fault).
  absl::Status made = MakeDirectories(cache->root_ + "/tmp");
  if (!made.ok()) return made;
  return cache;
}

std::string ChunkCache::PathOf(const ChunkKey& key) const {
  return absl::StrFormat("%s/%02x/%016x%016x-%x", root_, key.stored_checksum >> 56,
                         key.stored_checksum, key.checksum, key.stored_length_bytes);
}

bool ChunkCache::Read(const ChunkKey& key, std::span<uint8_t> out) {
  if (out.size() != key.stored_length_bytes) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  const std::string path = PathOf(key);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  UniqueFd owner(fd);
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  if (done != out.size() || Checksum64(out) != key.stored_checksum) {
    // A torn or damaged entry: never served; remove it so that the chunk is fetched again.
    ::unlink(path.c_str());
    corrupt_.fetch_add(1, std::memory_order_relaxed);
    misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  struct stat st;
  if (::fstat(fd, &st) == 0 &&
      st.st_mtime + static_cast<time_t>(options_.refresh_after_seconds) <= ::time(nullptr)) {
    ::futimens(fd, nullptr);
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool ChunkCache::Contains(const ChunkKey& key) const {
  return ::access(PathOf(key).c_str(), F_OK) == 0;
}

absl::Status ChunkCache::Insert(const ChunkKey& key, std::span<const uint8_t> bytes) {
  if (bytes.size() != key.stored_length_bytes || Checksum64(bytes) != key.stored_checksum) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "chunk cache: %d bytes do not match the key %016x (%d bytes)", bytes.size(),
        key.stored_checksum, key.stored_length_bytes));
  }
  const std::string path = PathOf(key);
  if (::access(path.c_str(), F_OK) == 0) return absl::OkStatus();
  // Unique across processes (pid, and a random value for other pid namespaces) and
  // across caches of one process (the random value again).
  const std::string temp = absl::StrFormat("%s/tmp/%d.%016x.%d.tmp", root_, ::getpid(),
                                           temp_salt_, temp_counter_.fetch_add(1));
  absl::Status status;
  {
    auto fd = OpenFile(temp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (!fd.ok()) {
      insert_failures_.fetch_add(1);
      return fd.status();
    }
    status = WriteFull(fd->get(), bytes, temp);
  }
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    if (errno == ENOENT) {
      status = MakeDirectory(path.substr(0, path.rfind('/')));
      if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
        status = ErrnoToStatus(errno, absl::StrFormat("rename %s to %s", temp, path));
      }
    } else {
      status = ErrnoToStatus(errno, absl::StrFormat("rename %s to %s", temp, path));
    }
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    insert_failures_.fetch_add(1);
    return status;
  }
  inserts_.fetch_add(1, std::memory_order_relaxed);
  bool over;
  {
    std::lock_guard lock(size_mutex_);
    size_bytes_ += bytes.size();
    // The first insert of a process learns the directory's size from a scan.
    over = !size_known_ || size_bytes_ > options_.max_bytes;
  }
  if (over) {
    auto left = Evict(options_.max_bytes);
    if (!left.ok()) return left.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ChunkCache::Evict(uint64_t max_bytes) {
  struct Entry {
    std::string path;
    uint64_t size_bytes;
    int64_t mtime_ns;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  const int64_t now = ::time(nullptr);
  for (int i = 0; i <= 256; ++i) {
    const std::string dir =
        i < 256 ? absl::StrFormat("%s/%02x", root_, i) : absl::StrFormat("%s/tmp", root_);
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) continue;
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string path = dir + "/" + e->d_name;
      struct stat st;
      if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (i == 256) {
        // A temporary file an hour old belongs to a writer that crashed.
        if (st.st_mtime + 3600 < now) ::unlink(path.c_str());
        continue;
      }
      total += static_cast<uint64_t>(st.st_size);
      entries.push_back({std::move(path), static_cast<uint64_t>(st.st_size),
                         int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec});
    }
    ::closedir(d);
  }
  if (total > max_bytes) {
    // Oldest first, down to 90% of the bound so that the next scan is not right away.
    const uint64_t target = max_bytes - max_bytes / 10;
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.mtime_ns < b.mtime_ns; });
    for (const Entry& e : entries) {
      if (total <= target) break;
      if (::unlink(e.path.c_str()) == 0) {
        evicted_entries_.fetch_add(1, std::memory_order_relaxed);
        evicted_bytes_.fetch_add(e.size_bytes, std::memory_order_relaxed);
      }
      total -= e.size_bytes;
    }
  }
  std::lock_guard lock(size_mutex_);
  size_known_ = true;
  size_bytes_ = total;
  return total;
}

ChunkCacheStats ChunkCache::stats() const {
  ChunkCacheStats s;
  s.hits = hits_.load();
  s.misses = misses_.load();
  s.corrupt = corrupt_.load();
  s.inserts = inserts_.load();
  s.insert_failures = insert_failures_.load();
  s.evicted_entries = evicted_entries_.load();
  s.evicted_bytes = evicted_bytes_.load();
  return s;
}

}  // namespace lazysnap::remote
