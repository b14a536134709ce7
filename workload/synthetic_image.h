// Synthetic memory images: deterministic, memory-like contents for tests, the demo and
// benchmarks. Pages come in runs of 1 to 256 pages of one kind: zero (about 40% of pages,
// like untouched or freed guest memory), structured (heap-like records: pointers, small
// integers, text), repeated (structured pages drawn from a few templates, so whole chunks
// recur) and random (incompressible, like encrypted or compressed data).
#ifndef LAZYSNAP_WORKLOAD_SYNTHETIC_IMAGE_H_
#define LAZYSNAP_WORKLOAD_SYNTHETIC_IMAGE_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/status.h"

namespace lazysnap {

struct SyntheticImageOptions {
  uint64_t seed = 1;
  // Percent of pages of each kind (the rest are structured).
  uint32_t zero_percent = 40;
  uint32_t random_percent = 10;
  uint32_t repeated_percent = 10;
};

inline constexpr uint32_t kSyntheticPageBytes = 4096;

// FillSyntheticImage writes the image bytes that lie at [offset_bytes, offset_bytes +
// out.size()). The result depends only on the options and the offsets, so an image can be
// generated in pieces, in any order, on any number of threads.
void FillSyntheticImage(const SyntheticImageOptions& options, uint64_t offset_bytes,
                        std::span<uint8_t> out);

// WriteSyntheticImage writes a `size_bytes` image to `path` (zero pages left sparse),
// atomically. Uses all cores.
absl::Status WriteSyntheticImage(std::string_view path, uint64_t size_bytes,
                                 const SyntheticImageOptions& options);

}  // namespace lazysnap

#endif  // LAZYSNAP_WORKLOAD_SYNTHETIC_IMAGE_H_
