// Chain fuzz inputs: several snapshot files (a child, then its parent, grandparent, ...)
// packed into one byte string, so that a fuzzer mutates a whole chain at once.
//
//   u8 file_count, then file_count x u32 length (little-endian), then the files' bytes.
//
// Decoding accepts any bytes: the count is capped, a length past the end is cut short.
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_CHAIN_FUZZ_INPUT_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_CHAIN_FUZZ_INPUT_H_

#include <cstdint>
#include <span>
#include <vector>

namespace lazysnap {

// kMaxChainFuzzFiles bounds the files one input may hold.
inline constexpr size_t kMaxChainFuzzFiles = 8;

// EncodeChainInput packs `files` (at most kMaxChainFuzzFiles) into one input.
std::vector<uint8_t> EncodeChainInput(std::span<const std::vector<uint8_t>* const> files);

// DecodeChainInput unpacks an input into its files (views into `input`).
std::vector<std::span<const uint8_t>> DecodeChainInput(std::span<const uint8_t> input);

}  // namespace lazysnap

#endif  // LAZYSNAP_SNAPSHOT_FORMAT_CHAIN_FUZZ_INPUT_H_
