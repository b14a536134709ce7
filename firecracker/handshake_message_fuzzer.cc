// Fuzz target for ParseHandshakeMessage: any bytes a peer could send. Beyond "no crash,
// no sanitizer report", every accepted message must satisfy what the daemon relies on
// (aborts otherwise): regions present and bounded, page-aligned, non-overflowing and
// disjoint, a consistent page size; and placing it onto a snapshot's regions must not
// crash either.
//
//   tools/bazel build --config=fuzz //firecracker:handshake_message_fuzzer
//   bazel-bin/firecracker/handshake_message_fuzzer firecracker/testdata/handshake_corpus
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "firecracker/guest_layout.h"
#include "firecracker/handshake_message.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckInvariants(const lazysnap::firecracker::HandshakeMessage& message) {
  using lazysnap::firecracker::GuestRegionMapping;
  Check(!message.regions.empty());
  Check(message.regions.size() <= lazysnap::firecracker::kMaxGuestRegions);
  const uint64_t page = message.page_size_bytes;
  Check(page >= 4096 && (page & (page - 1)) == 0);
  uint64_t total = 0;
  for (const GuestRegionMapping& region : message.regions) {
    Check(region.page_size_bytes == page);
    Check(region.size_bytes > 0 && region.size_bytes % page == 0);
    Check(region.base_host_virt_addr % page == 0 && region.offset_bytes % page == 0);
    Check(region.base_host_virt_addr + region.size_bytes > region.base_host_virt_addr);
    Check(region.offset_bytes + region.size_bytes > region.offset_bytes);
    total += region.size_bytes;
  }
  Check(total == message.total_bytes);
  for (size_t i = 0; i < message.regions.size(); ++i) {
    for (size_t j = i + 1; j < message.regions.size(); ++j) {
      const GuestRegionMapping& a = message.regions[i];
      const GuestRegionMapping& b = message.regions[j];
      Check(a.base_host_virt_addr + a.size_bytes <= b.base_host_virt_addr ||
            b.base_host_virt_addr + b.size_bytes <= a.base_host_virt_addr);
      Check(a.offset_bytes + a.size_bytes <= b.offset_bytes ||
            b.offset_bytes + b.size_bytes <= a.offset_bytes);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  bool incomplete = false;
  auto message = lazysnap::firecracker::ParseHandshakeMessage(bytes, &incomplete);
  if (!message.ok()) {
    Check(!message.status().message().empty());
    return 0;
  }
  Check(!incomplete);
  CheckInvariants(*message);
  // A snapshot of a 128 MiB memory file in two regions with a hole between them.
  std::vector<lazysnap::format::Region> regions(2);
  regions[0].length_bytes = 64 << 20;
  regions[1].image_offset_bytes = 80 << 20;
  regions[1].length_bytes = 48 << 20;
  auto addresses = lazysnap::firecracker::PlaceSnapshotRegions(*message, regions);
  if (addresses.ok()) Check(addresses->size() == regions.size());
  return 0;
}
