// HandshakeMessage: the one message a Firecracker VMM sends to its page-fault handler
// when it restores a microVM with `mem_backend: {"backend_type": "Uffd", ...}`, and its
// parser.
//
// The message is a JSON array with one object per guest memory region:
//   {"base_host_virt_addr": u64, "size": u64, "offset": u64, "page_size": u64,
//    "page_size_kib": u64}
// base_host_virt_addr is where the region is mapped in the VMM, size its length, offset
// where its bytes are in the guest memory file the snapshot was taken as. Versions differ
// in the page size keys: v1.1-v1.6 send none (4 KiB pages), v1.7-v1.11 send
// page_size_kib (which, despite its name, holds bytes), v1.12 and later send both (equal).
// Unknown keys are ignored. A development branch of Firecracker adds "is_guest_memfd"
// (and more fds); such VMs are refused with Unimplemented for now.
//
// The parser accepts any input without crashing or aborting (it is fuzzed: see
// handshake_message_fuzzer.cc); everything it returns has been checked for alignment,
// overflow and overlap.
#ifndef LAZYSNAP_FIRECRACKER_HANDSHAKE_MESSAGE_H_
#define LAZYSNAP_FIRECRACKER_HANDSHAKE_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace lazysnap::firecracker {

// kMaxHandshakeBytes bounds the message: a VM with the most regions Firecracker creates
// sends well under 4 KiB.
inline constexpr size_t kMaxHandshakeBytes = 64 * 1024;
// kMaxGuestRegions bounds the regions of one message.
inline constexpr size_t kMaxGuestRegions = 256;
// kDefaultPageSizeBytes is the page size of messages that name none (v1.1-v1.6).
inline constexpr uint64_t kDefaultPageSizeBytes = 4096;

// GuestRegionMapping: one guest memory region of the VMM.
struct GuestRegionMapping {
  uint64_t base_host_virt_addr = 0;  // in the VMM's address space
  uint64_t size_bytes = 0;
  uint64_t offset_bytes = 0;  // of the region's bytes in the guest memory file
  uint64_t page_size_bytes = kDefaultPageSizeBytes;
  friend bool operator==(const GuestRegionMapping&, const GuestRegionMapping&) = default;
};

// MessageShape: which keys carried the page size, i.e. which Firecracker versions send
// messages of this shape.
enum class MessageShape {
  kNoPageSize,       // v1.1-v1.6
  kPageSizeKib,      // v1.7-v1.11
  kPageSize,         // page_size alone
  kBothPageSizes,    // v1.12 and later
};
std::string_view MessageShapeName(MessageShape shape);

// HandshakeMessage: a parsed, checked message.
struct HandshakeMessage {
  std::vector<GuestRegionMapping> regions;  // in the order sent
  MessageShape shape = MessageShape::kNoPageSize;
  uint64_t page_size_bytes = kDefaultPageSizeBytes;  // the same for every region
  uint64_t total_bytes = 0;                          // sum of the region sizes
};

// ParseHandshakeMessage parses `bytes`. Errors (each naming the region and key):
//   InvalidArgument  not a complete JSON document, wrong types, a missing key, a value
//                    that is not page aligned, overflows or overlaps another region;
//                    *incomplete_json (when given) is set when `bytes` is not (yet) a
//                    complete JSON document, so that a reader may wait for more bytes;
//   ResourceExhausted  more than kMaxHandshakeBytes or kMaxGuestRegions;
//   Unimplemented    a guest_memfd VM ("is_guest_memfd": true).
absl::StatusOr<HandshakeMessage> ParseHandshakeMessage(std::string_view bytes,
                                                       bool* incomplete_json = nullptr);

}  // namespace lazysnap::firecracker

#endif  // LAZYSNAP_FIRECRACKER_HANDSHAKE_MESSAGE_H_
