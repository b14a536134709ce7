// PlaceSnapshotRegions: matching file offsets to guest regions.
#include "firecracker/guest_layout.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_format.h"

namespace lazysnap::firecracker {

absl::StatusOr<std::vector<uint64_t>> PlaceSnapshotRegions(
    const HandshakeMessage& message, std::span<const format::Region> regions) {
  // The image the snapshot was taken of ends where its last region ends (rounded up to
  // the page: a memory file is a whole number of pages).
  const uint64_t page = message.page_size_bytes;
  uint64_t image_end = 0;
  for (const format::Region& region : regions) {
    image_end = std::max(image_end, region.image_offset_bytes + region.length_bytes);
  }
  image_end = (image_end + page - 1) / page * page;
  for (size_t j = 0; j < message.regions.size(); ++j) {
    const GuestRegionMapping& guest = message.regions[j];
    if (guest.offset_bytes + guest.size_bytes > image_end) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "guest region %d holds file bytes [%d, %d), past the end of the snapshot's image "
          "(%d bytes): was the snapshot made from this VM's memory file?",
          j, guest.offset_bytes, guest.offset_bytes + guest.size_bytes, image_end));
    }
  }
  std::vector<uint64_t> addresses;
  for (size_t i = 0; i < regions.size(); ++i) {
    const uint64_t start = regions[i].image_offset_bytes;
    const uint64_t end = start + regions[i].length_bytes;
    const GuestRegionMapping* holder = nullptr;
    for (const GuestRegionMapping& guest : message.regions) {
      if (guest.offset_bytes <= start && end <= guest.offset_bytes + guest.size_bytes) {
        holder = &guest;
        break;
      }
    }
    if (holder == nullptr) {
      std::string flags;
      for (const GuestRegionMapping& guest : message.regions) {
        flags += absl::StrFormat(" --region %d:%d", guest.offset_bytes, guest.size_bytes);
      }
      return absl::InvalidArgumentError(absl::StrFormat(
          "snapshot region %d (file bytes [%d, %d)) is not inside one guest memory region of "
          "this VM: make the snapshot with one --region OFFSET:LENGTH per guest region "
          "(lazysnap create MEMORY_FILE -o SNAP%s)",
          i, start, end, flags));
    }
    addresses.push_back(holder->base_host_virt_addr + (start - holder->offset_bytes));
  }
  return addresses;
}

}  // namespace lazysnap::firecracker
