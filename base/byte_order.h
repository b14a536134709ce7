// Little-endian encoding of fixed-width integers, for on-disk structures. Encoders and
// decoders go field by field through these helpers; no struct is ever memcpy'd to disk.
#ifndef LAZYSNAP_BASE_BYTE_ORDER_H_
#define LAZYSNAP_BASE_BYTE_ORDER_H_

#include <bit>
#include <cstdint>
#include <cstring>

namespace lazysnap {

static_assert(std::endian::native == std::endian::little ||
                  std::endian::native == std::endian::big,
              "mixed-endian hosts are not supported");

template <typename T>
inline T ToLittleEndian(T value) {
  if constexpr (std::endian::native == std::endian::little) {
    return value;
  } else if constexpr (sizeof(T) == 2) {
    return static_cast<T>(__builtin_bswap16(value));
  } else if constexpr (sizeof(T) == 4) {
    return static_cast<T>(__builtin_bswap32(value));
  } else if constexpr (sizeof(T) == 8) {
    return static_cast<T>(__builtin_bswap64(value));
  } else {
    return value;
  }
}

// LoadLe<T> reads a little-endian T from `bytes` (no alignment needed).
template <typename T>
inline T LoadLe(const uint8_t* bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  return ToLittleEndian(value);
}

// StoreLe<T> writes `value` little-endian to `bytes` (no alignment needed).
template <typename T>
inline void StoreLe(uint8_t* bytes, T value) {
  value = ToLittleEndian(value);
  std::memcpy(bytes, &value, sizeof(T));
}

}  // namespace lazysnap

#endif  // LAZYSNAP_BASE_BYTE_ORDER_H_
