// Checksums: thin wrappers so that only this file includes xxhash.h.
#include "base/checksum.h"

#include <xxhash.h>

namespace lazysnap {

uint64_t Checksum64(std::span<const uint8_t> bytes, uint64_t seed) {
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
}

ContentHash128 HashContent128(std::span<const uint8_t> bytes) {
  XXH128_hash_t hash = XXH3_128bits(bytes.data(), bytes.size());
  return ContentHash128{hash.low64, hash.high64};
}

}  // namespace lazysnap
