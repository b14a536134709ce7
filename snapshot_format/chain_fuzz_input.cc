// Packing and unpacking chain fuzz inputs.
#include "snapshot_format/chain_fuzz_input.h"

#include <algorithm>

#include "base/byte_order.h"

namespace lazysnap {

std::vector<uint8_t> EncodeChainInput(std::span<const std::vector<uint8_t>* const> files) {
  const size_t count = std::min(files.size(), kMaxChainFuzzFiles);
  std::vector<uint8_t> out(1 + 4 * count);
  out[0] = static_cast<uint8_t>(count);
  for (size_t i = 0; i < count; ++i) {
    StoreLe<uint32_t>(out.data() + 1 + 4 * i, static_cast<uint32_t>(files[i]->size()));
  }
  for (size_t i = 0; i < count; ++i) out.insert(out.end(), files[i]->begin(), files[i]->end());
  return out;
}

std::vector<std::span<const uint8_t>> DecodeChainInput(std::span<const uint8_t> input) {
  std::vector<std::span<const uint8_t>> files;
  if (input.empty()) return files;
  const size_t count = std::min<size_t>(input[0], kMaxChainFuzzFiles);
  size_t header = 1;
  std::vector<uint32_t> lengths;
  for (size_t i = 0; i < count && header + 4 <= input.size(); ++i, header += 4) {
    lengths.push_back(LoadLe<uint32_t>(input.data() + header));
  }
  size_t at = header;
  for (uint32_t length : lengths) {
    const size_t n = std::min<size_t>(length, input.size() - at);
    files.push_back(input.subspan(at, n));
    at += n;
  }
  return files;
}

}  // namespace lazysnap
