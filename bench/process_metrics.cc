// Process metrics from /proc, mincore and posix_fadvise.
#include "bench/process_metrics.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/file_io.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace lazysnap::bench {
namespace {

// Lines returns the lines of `text` (without their '\n').
std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    lines.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

// ParseField parses "Name:   123 kB" or "name: 123" into `name` and the number.
bool ParseField(std::string_view line, std::string_view* name, uint64_t* value) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  *name = line.substr(0, colon);
  std::string_view rest = line.substr(colon + 1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  const size_t end = rest.find(' ');
  return absl::SimpleAtoi(std::string(rest.substr(0, end)), value);
}

// ParseMappingHeader parses the first line of a smaps entry ("start-end perms ...").
bool ParseMappingHeader(std::string_view line, uint64_t* start, uint64_t* end) {
  const size_t dash = line.find('-');
  const size_t space = line.find(' ');
  if (dash == std::string_view::npos || space == std::string_view::npos || dash > space) {
    return false;
  }
  const std::string first(line.substr(0, dash));
  const std::string second(line.substr(dash + 1, space - dash - 1));
  char* stop = nullptr;
  *start = std::strtoull(first.c_str(), &stop, 16);
  if (first.empty() || *stop != '\0') return false;
  *end = std::strtoull(second.c_str(), &stop, 16);
  return !second.empty() && *stop == '\0';
}

}  // namespace

absl::StatusOr<ProcessIo> ParseProcessIo(std::string_view text) {
  ProcessIo io;
  bool have_rchar = false;
  bool have_read_bytes = false;
  for (std::string_view line : Lines(text)) {
    std::string_view name;
    uint64_t value;
    if (!ParseField(line, &name, &value)) continue;
    if (name == "rchar") {
      io.rchar = value;
      have_rchar = true;
    } else if (name == "read_bytes") {
      io.read_bytes = value;
      have_read_bytes = true;
    }
  }
  if (!have_rchar || !have_read_bytes) {
    return absl::InvalidArgumentError("/proc/self/io: no rchar or read_bytes field");
  }
  return io;
}

absl::StatusOr<ProcessIo> ReadProcessIo() {
  LAZYSNAP_ASSIGN_OR_RETURN(std::string text, ReadFileToString("/proc/self/io"));
  return ParseProcessIo(text);
}

absl::StatusOr<MemoryUsage> ParseSmapsRollup(std::string_view text) {
  MemoryUsage usage;
  bool have_rss = false;
  for (std::string_view line : Lines(text)) {
    std::string_view name;
    uint64_t kib;
    if (!ParseField(line, &name, &kib)) continue;
    if (name == "Rss") {
      usage.rss_bytes = kib << 10;
      have_rss = true;
    } else if (name == "Anonymous") {
      usage.anonymous_bytes = kib << 10;
    }
  }
  if (!have_rss) return absl::InvalidArgumentError("/proc/self/smaps_rollup: no Rss field");
  return usage;
}

absl::StatusOr<MemoryUsage> ReadMemoryUsage() {
  LAZYSNAP_ASSIGN_OR_RETURN(std::string text, ReadFileToString("/proc/self/smaps_rollup"));
  return ParseSmapsRollup(text);
}

RangeResidency ParseSmapsResidency(std::string_view smaps, std::span<const AddressRange> ranges) {
  RangeResidency residency;
  bool counting = false;
  for (std::string_view line : Lines(smaps)) {
    uint64_t start, end;
    if (ParseMappingHeader(line, &start, &end)) {
      counting = false;
      for (const AddressRange& range : ranges) {
        if (start < range.second && range.first < end) {
          counting = true;
          if (start < range.first || end > range.second) {
            residency.partial_overlap = true;
            residency.partial_mappings += std::string(line) + "; ";
          }
        }
      }
      continue;
    }
    if (!counting) continue;
    std::string_view name;
    uint64_t kib;
    if (!ParseField(line, &name, &kib)) continue;
    if (name == "Rss") {
      residency.rss_bytes += kib << 10;
    } else if (name == "Anonymous") {
      residency.anonymous_bytes += kib << 10;
    }
  }
  return residency;
}

namespace {

constexpr uint64_t kPagemapPresent = 1ull << 63;
constexpr uint64_t kPagemapFileOrShared = 1ull << 61;
constexpr uint64_t kPagemapPfnMask = (1ull << 55) - 1;

// ZeroPagePfn returns the page frame number of the kernel's shared zero page, learned by
// reading a fresh anonymous page (which maps it), or 0 when pagemap hides frame numbers
// (no CAP_SYS_ADMIN).
uint64_t ZeroPagePfn(int pagemap_fd, uint64_t page_bytes) {
  void* map = ::mmap(nullptr, page_bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) return 0;
  const volatile uint8_t* p = static_cast<uint8_t*>(map);
  (void)*p;
  uint64_t entry = 0;
  const off_t at = static_cast<off_t>(reinterpret_cast<uint64_t>(map) / page_bytes * 8);
  const bool read = ::pread(pagemap_fd, &entry, sizeof(entry), at) == sizeof(entry);
  ::munmap(map, page_bytes);
  return read && (entry & kPagemapPresent) != 0 ? entry & kPagemapPfnMask : 0;
}

}  // namespace

absl::StatusOr<RangeResidency> ReadResidency(std::span<const AddressRange> ranges) {
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd pagemap, OpenFile("/proc/self/pagemap", O_RDONLY));
  const uint64_t zero_pfn = ZeroPagePfn(pagemap.get(), page);
  if (zero_pfn == 0) {
    LAZYSNAP_ASSIGN_OR_RETURN(std::string text,
                              ReadFileToString("/proc/self/smaps", size_t{1} << 30));
    RangeResidency residency = ParseSmapsResidency(text, ranges);
    residency.method = "smaps";
    return residency;
  }
  RangeResidency residency;
  residency.method = "pagemap";
  std::vector<uint64_t> entries(1 << 16);
  for (const AddressRange& range : ranges) {
    for (uint64_t first = range.first / page; first < (range.second + page - 1) / page;) {
      const uint64_t count =
          std::min<uint64_t>(entries.size(), (range.second + page - 1) / page - first);
      LAZYSNAP_RETURN_IF_ERROR(PreadFull(pagemap.get(),
                                         {reinterpret_cast<uint8_t*>(entries.data()), count * 8},
                                         first * 8, "/proc/self/pagemap"));
      for (uint64_t i = 0; i < count; ++i) {
        const uint64_t e = entries[i];
        if ((e & kPagemapPresent) == 0 || (e & kPagemapPfnMask) == zero_pfn) continue;
        residency.rss_bytes += page;
        if ((e & kPagemapFileOrShared) == 0) residency.anonymous_bytes += page;
      }
      first += count;
    }
  }
  return residency;
}

absl::StatusOr<uint64_t> AllocatedBytes(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, "stat " + path);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

absl::StatusOr<double> CachedFraction(const std::string& path) {
  LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  LAZYSNAP_ASSIGN_OR_RETURN(uint64_t size, FileSizeBytes(fd.get(), path));
  if (size == 0) return 1.0;
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) return ErrnoToStatus(errno, "mmap " + path);
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t pages = (size + page - 1) / page;
  std::vector<unsigned char> resident(pages);
  const int rc = ::mincore(map, size, resident.data());
  const int error = errno;
  ::munmap(map, size);
  if (rc != 0) return ErrnoToStatus(error, "mincore " + path);
  uint64_t cached = 0;
  for (unsigned char r : resident) cached += r & 1;
  return static_cast<double>(cached) / static_cast<double>(pages);
}

absl::Status EvictFromPageCache(const std::string& path) {
  LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  // Dirty pages are not dropped: write them back first.
  if (::fdatasync(fd.get()) != 0) return ErrnoToStatus(errno, "fdatasync " + path);
  const int rc = ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
  if (rc != 0) return ErrnoToStatus(rc, "posix_fadvise(DONTNEED) " + path);
  return absl::OkStatus();
}

absl::Status DropAllCaches() {
  ::sync();
  LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile("/proc/sys/vm/drop_caches", O_WRONLY));
  const char three[] = "3\n";
  return WriteFull(fd.get(), {reinterpret_cast<const uint8_t*>(three), 2},
                   "/proc/sys/vm/drop_caches");
}

absl::Status WarmPageCache(const std::string& path) {
  LAZYSNAP_ASSIGN_OR_RETURN(double cached, CachedFraction(path));
  if (cached >= 1.0) return absl::OkStatus();
  LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  std::vector<uint8_t> buffer(4 << 20);
  while (true) {
    LAZYSNAP_ASSIGN_OR_RETURN(size_t n, ReadUpTo(fd.get(), buffer, path));
    if (n < buffer.size()) break;
  }
  return absl::OkStatus();
}

}  // namespace lazysnap::bench
