// ChunkMap: address arithmetic and the per-page removed bitmap.
#include "engine/internal/chunk_map.h"

#include <algorithm>

namespace lazysnap::internal {

ChunkMap::ChunkMap(const SnapshotReader& snapshot, const std::vector<uint64_t>& addresses,
                   uint32_t page_size_bytes)
    : chunk_count_(snapshot.chunk_count()),
      chunk_size_bytes_(snapshot.chunk_size_bytes()),
      page_size_bytes_(page_size_bytes) {
  for (uint32_t r = 0; r < snapshot.regions().size(); ++r) {
    TargetRange range;
    range.address = addresses[r];
    range.region_bytes = snapshot.regions()[r].length_bytes;
    range.length_bytes = (range.region_bytes + page_size_bytes - 1) / page_size_bytes * page_size_bytes;
    range.first_chunk = snapshot.region_first_chunk(r);
    range.chunk_count = snapshot.region_first_chunk(r + 1) - range.first_chunk;
    range.first_page = page_count_;
    page_count_ += range.length_bytes / page_size_bytes;
    ranges_.push_back(range);
    by_address_.push_back(r);
  }
  std::sort(by_address_.begin(), by_address_.end(),
            [this](size_t a, size_t b) { return ranges_[a].address < ranges_[b].address; });
  states_.reset(static_cast<uint8_t*>(std::calloc(std::max<uint64_t>(1, chunk_count_), 1)));
  removed_.reset(static_cast<uint64_t*>(
      std::calloc(std::max<uint64_t>(1, (page_count_ + 63) / 64), sizeof(uint64_t))));
  if (states_ == nullptr || removed_ == nullptr) std::abort();  // as new[] would
}

int64_t ChunkMap::PageIndex(uint64_t address) const {
  // The last range starting at or before `address`.
  auto it = std::upper_bound(by_address_.begin(), by_address_.end(), address,
                             [this](uint64_t a, size_t r) { return a < ranges_[r].address; });
  if (it == by_address_.begin()) return -1;
  const TargetRange& range = ranges_[*(it - 1)];
  if (address >= range.address + range.length_bytes) return -1;
  return static_cast<int64_t>(range.first_page + (address - range.address) / page_size_bytes_);
}

bool ChunkMap::ChunkAt(uint64_t address, uint64_t* chunk) const {
  auto it = std::upper_bound(by_address_.begin(), by_address_.end(), address,
                             [this](uint64_t a, size_t r) { return a < ranges_[r].address; });
  if (it == by_address_.begin()) return false;
  const TargetRange& range = ranges_[*(it - 1)];
  if (address >= range.address + range.length_bytes) return false;
  *chunk = range.first_chunk + (address - range.address) / chunk_size_bytes_;
  return true;
}

const TargetRange& ChunkMap::RangeOf(uint64_t chunk) const {
  // Ranges are in region (and so chunk) order.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), chunk,
                             [](uint64_t c, const TargetRange& r) { return c < r.first_chunk; });
  return *(it - 1);
}

uint64_t ChunkMap::AddressOf(uint64_t chunk) const {
  const TargetRange& range = RangeOf(chunk);
  return range.address + (chunk - range.first_chunk) * chunk_size_bytes_;
}

uint32_t ChunkMap::InstallLengthOf(uint64_t chunk) const {
  const TargetRange& range = RangeOf(chunk);
  const uint64_t offset = (chunk - range.first_chunk) * chunk_size_bytes_;
  return static_cast<uint32_t>(std::min<uint64_t>(chunk_size_bytes_, range.length_bytes - offset));
}

void ChunkMap::MarkRemoved(uint64_t start, uint64_t end) {
  start &= ~static_cast<uint64_t>(page_size_bytes_ - 1);
  for (uint64_t page = start; page < end; page += page_size_bytes_) {
    int64_t index = PageIndex(page);
    if (index < 0) continue;
    RemovedWord(index / 64).fetch_or(1ull << (index % 64), std::memory_order_release);
    any_removed_.store(true, std::memory_order_release);
  }
}

bool ChunkMap::IsRemoved(uint64_t page_address) const {
  if (!any_removed_.load(std::memory_order_acquire)) return false;
  int64_t index = PageIndex(page_address);
  if (index < 0) return false;
  return (RemovedWord(index / 64).load(std::memory_order_acquire) >> (index % 64)) & 1;
}

bool ChunkMap::AnyRemoved(uint64_t address, uint64_t length) const {
  if (!any_removed_.load(std::memory_order_acquire)) return false;
  for (uint64_t page = address; page < address + length; page += page_size_bytes_) {
    if (IsRemoved(page)) return true;
  }
  return false;
}

}  // namespace lazysnap::internal
