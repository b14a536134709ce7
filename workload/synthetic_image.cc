// Synthetic memory images: page kinds from a hash of (seed, run), contents from a hash of
// (seed, page), so any byte range can be produced independently.
#include "workload/synthetic_image.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/atomic_file.h"
#include "base/byte_order.h"
#include "base/errno_status.h"
#include "base/file_io.h"
#include "base/status_macros.h"

namespace lazysnap {
namespace {

// SplitMix64: a small, good mixing function.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

enum class PageKind { kZero, kStructured, kRepeated, kRandom };

constexpr uint64_t kSuperblockPages = 256;

PageKind KindOfPage(const SyntheticImageOptions& options, uint64_t page) {
  // Each 256-page superblock picks a run length (1..256 pages); each run picks a kind.
  const uint64_t superblock = page / kSuperblockPages;
  const uint64_t run_shift = Mix(options.seed ^ (superblock * 0x5851f42d4c957f2dull)) % 9;
  const uint64_t run = page >> run_shift;
  const uint64_t roll = Mix(options.seed * 31 + run * 0x2545f4914f6cdd1dull + run_shift) % 100;
  if (roll < options.zero_percent) return PageKind::kZero;
  if (roll < options.zero_percent + options.random_percent) return PageKind::kRandom;
  if (roll < options.zero_percent + options.random_percent + options.repeated_percent) {
    return PageKind::kRepeated;
  }
  return PageKind::kStructured;
}

constexpr std::string_view kWords[] = {
    "session", "user_id", "timestamp", "request", "response", "cache", "GET /api/v1/items",
    "application/json", "content-length", "keep-alive", "utf-8", "error", "status", "ok",
    "PyObject", "dict", "list", "tuple", "str", "int", "float", "None", "True", "False",
    "/usr/lib/python3/", "__init__", "self", "return", "import", "module", "value", "key"};

// StructuredPage fills a heap-like page: 64-byte records of a type tag, a pointer, a
// counter and a text field, with some records left zero.
void StructuredPage(uint64_t page_seed, uint8_t* page) {
  uint64_t state = Mix(page_seed);
  const uint64_t heap_base = 0x00007f0000000000ull + ((state & 0xfff) << 24);
  for (uint32_t offset = 0; offset < kSyntheticPageBytes; offset += 64) {
    state = Mix(state);
    uint8_t* record = page + offset;
    if ((state & 7) == 0) {
      std::memset(record, 0, 64);
      continue;
    }
    StoreLe<uint64_t>(record, (state >> 8) & 0x1f);                       // type tag
    StoreLe<uint64_t>(record + 8, heap_base + ((state >> 16) & 0xffff) * 16);  // pointer
    StoreLe<uint64_t>(record + 16, (state >> 32) & 0x3ff);                 // counter
    std::string_view word = kWords[(state >> 42) % std::size(kWords)];
    std::memset(record + 24, 0, 40);
    std::memcpy(record + 24, word.data(), std::min<size_t>(word.size(), 40));
  }
}

void RandomPage(uint64_t page_seed, uint8_t* page) {
  uint64_t state = page_seed;
  for (uint32_t offset = 0; offset < kSyntheticPageBytes; offset += 8) {
    state = Mix(state);
    StoreLe<uint64_t>(page + offset, state);
  }
}

void FillPage(const SyntheticImageOptions& options, uint64_t page, uint8_t* out) {
  switch (KindOfPage(options, page)) {
    case PageKind::kZero:
      std::memset(out, 0, kSyntheticPageBytes);
      return;
    case PageKind::kRandom:
      return RandomPage(Mix(options.seed ^ (page * 0x9e3779b97f4a7c15ull)), out);
    case PageKind::kRepeated:
      // One of 4 templates per 16-page group position, so aligned chunks recur exactly.
      return StructuredPage(options.seed * 1000003 + (Mix(page / 16) % 4) * 16 + page % 16,
                            out);
    case PageKind::kStructured:
      return StructuredPage(options.seed ^ (page * 0xd6e8feb86659fd93ull), out);
  }
}

}  // namespace

void FillSyntheticImage(const SyntheticImageOptions& options, uint64_t offset_bytes,
                        std::span<uint8_t> out) {
  uint8_t page_bytes[kSyntheticPageBytes];
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t position = offset_bytes + done;
    const uint64_t page = position / kSyntheticPageBytes;
    const size_t in_page = position % kSyntheticPageBytes;
    const size_t n = std::min<size_t>(kSyntheticPageBytes - in_page, out.size() - done);
    if (in_page == 0 && n == kSyntheticPageBytes) {
      FillPage(options, page, out.data() + done);
    } else {
      FillPage(options, page, page_bytes);
      std::memcpy(out.data() + done, page_bytes + in_page, n);
    }
    done += n;
  }
}

absl::Status WriteSyntheticImage(std::string_view path, uint64_t size_bytes,
                                 const SyntheticImageOptions& options) {
  LAZYSNAP_ASSIGN_OR_RETURN(AtomicFile file, AtomicFile::Create(path));
  if (::ftruncate(file.fd(), static_cast<off_t>(size_bytes)) != 0) {
    return ErrnoToStatus(errno, absl::StrFormat("ftruncate %s", file.temp_path()));
  }
  constexpr uint64_t kPieceBytes = 4 << 20;
  const uint64_t pieces = (size_bytes + kPieceBytes - 1) / kPieceBytes;
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  absl::Status first_error;
  std::mutex error_mutex;
  auto work = [&] {
    std::vector<uint8_t> buffer(kPieceBytes);
    for (uint64_t piece = next++; piece < pieces && !failed; piece = next++) {
      const uint64_t offset = piece * kPieceBytes;
      const size_t n = static_cast<size_t>(std::min(kPieceBytes, size_bytes - offset));
      FillSyntheticImage(options, offset, {buffer.data(), n});
      // Write only the non-zero pages so that zero pages stay holes in the file.
      for (size_t page = 0; page < n; page += kSyntheticPageBytes) {
        size_t len = std::min<size_t>(kSyntheticPageBytes, n - page);
        const uint8_t* p = buffer.data() + page;
        if (std::all_of(p, p + len, [](uint8_t b) { return b == 0; })) continue;
        absl::Status status = PwriteFull(file.fd(), {p, len}, offset + page, file.temp_path());
        if (!status.ok()) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (first_error.ok()) first_error = status;
          failed = true;
          return;
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < std::max(1u, std::thread::hardware_concurrency()); ++i) {
    threads.emplace_back(work);
  }
  work();
  for (std::thread& t : threads) t.join();
  LAZYSNAP_RETURN_IF_ERROR(first_error);
  return file.Commit();
}

}  // namespace lazysnap
