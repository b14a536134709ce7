// GuestMemory: the move-only owner of an anonymous memory mapping that a restore session
// fills, shared (by shared_ptr) between the session and whoever uses the memory, so that
// threads still touching it never see it unmapped under them.
#ifndef LAZYSNAP_ENGINE_GUEST_MEMORY_H_
#define LAZYSNAP_ENGINE_GUEST_MEMORY_H_

#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/statusor.h"

namespace lazysnap {

class GuestMemory {
 public:
  // MapAnonymous maps `length_bytes` (rounded up to pages) of private anonymous memory
  // with MAP_NORESERVE: nothing is committed until pages are installed, so a 64 GiB
  // snapshot of which little is touched costs little. ResourceExhausted when the
  // address space cannot hold it.
  static absl::StatusOr<std::shared_ptr<GuestMemory>> MapAnonymous(uint64_t length_bytes);
  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  uint8_t* data() const { return static_cast<uint8_t*>(address_); }
  uint64_t length_bytes() const { return length_bytes_; }
  uint64_t address() const { return reinterpret_cast<uint64_t>(address_); }
  std::span<uint8_t> bytes() const { return {data(), length_bytes_}; }

 private:
  GuestMemory(void* address, uint64_t length_bytes)
      : address_(address), length_bytes_(length_bytes) {}
  void* address_;
  uint64_t length_bytes_;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_ENGINE_GUEST_MEMORY_H_
