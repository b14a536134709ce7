// Checksums and content hashes used by the snapshot format: XXH3 (xxHash 0.8), chosen for
// speed (tens of GB/s, far below the cost of decompressing the bytes it covers) and for
// its published, stable definition, so a second reader can compute it too.
#ifndef LAZYSNAP_BASE_CHECKSUM_H_
#define LAZYSNAP_BASE_CHECKSUM_H_

#include <cstdint>
#include <span>
#include <utility>

namespace lazysnap {

// Checksum64 returns XXH3_64bits of `bytes` with `seed` (0: plain XXH3_64bits).
uint64_t Checksum64(std::span<const uint8_t> bytes, uint64_t seed = 0);

// ContentHash128 is a 128-bit XXH3 digest, used to find duplicate chunks.
struct ContentHash128 {
  uint64_t low = 0;
  uint64_t high = 0;
  friend bool operator==(const ContentHash128&, const ContentHash128&) = default;
  template <typename H>
  friend H AbslHashValue(H state, const ContentHash128& hash) {
    return H::combine(std::move(state), hash.low, hash.high);
  }
};

// HashContent128 returns XXH3_128bits (seed 0) of `bytes`.
ContentHash128 HashContent128(std::span<const uint8_t> bytes);

}  // namespace lazysnap

#endif  // LAZYSNAP_BASE_CHECKSUM_H_
