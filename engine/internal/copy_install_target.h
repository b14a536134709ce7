// CopyInstallTarget: the install target for memory that is filled by copying: decoded
// bytes go to the caller's private buffer and are placed with UFFDIO_COPY, zero chunks
// with UFFDIO_ZEROPAGE (or a copy of zeros where the range does not allow it), refused
// chunks are poisoned with UFFDIO_POISON where the range allows it.
//
// The userfaultfd protocol's expected outcomes are values, not errors: EEXIST (a page is
// already present: skip it and fill the rest), EAGAIN after partial progress (continue),
// EAGAIN without progress (the mappings are changing: retry after the pending event is
// read), ENOENT / ESRCH (the range or its process is gone).
//
// What the range allows is known from UFFDIO_REGISTER's reply when lazysnap registered it,
// and learned from the first attempt for a handed-over userfaultfd (a VMM registered it):
// ZEROPAGE refused with EINVAL means "copy zeros from now on"; POISON refused means "no
// poison".
#ifndef LAZYSNAP_ENGINE_INTERNAL_COPY_INSTALL_TARGET_H_
#define LAZYSNAP_ENGINE_INTERNAL_COPY_INSTALL_TARGET_H_

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "engine/internal/chunk_map.h"
#include "engine/internal/counters.h"
#include "engine/internal/install_target.h"
#include "engine/kernel.h"

namespace lazysnap::internal {

// RangeCapability: whether a registered range allows a range ioctl.
enum class RangeCapability : uint8_t { kUnknown, kYes, kNo };

class CopyInstallTarget final : public InstallTarget {
 public:
  CopyInstallTarget(Kernel& kernel, int uffd, ChunkMap& map, SessionCounters& counters,
                    RangeCapability zeropage, RangeCapability poison);

  const char* name() const override { return "copy"; }
  uint64_t register_mode() const override;
  uint8_t* Destination(uint64_t /*chunk*/, uint8_t* scratch) override { return scratch; }
  InstallResult Install(uint64_t chunk, const uint8_t* bytes) override;
  InstallResult InstallZero(uint64_t chunk) override;
  InstallResult ZeroPage(uint64_t page_address) override;
  InstallResult Poison(uint64_t chunk) override;
  bool can_poison() const override {
    return poison_.load(std::memory_order_relaxed) != RangeCapability::kNo;
  }

 private:
  InstallResult Copy(uint64_t address, const uint8_t* bytes, uint64_t length);
  InstallResult Zero(uint64_t address, uint64_t length);
  InstallResult CopyZeros(uint64_t address, uint64_t length);

  Kernel& kernel_;
  const int uffd_;
  ChunkMap& map_;
  SessionCounters& counters_;
  std::atomic<RangeCapability> zeropage_;
  std::atomic<RangeCapability> poison_;
  // A chunk of zeros to copy where ZEROPAGE is not allowed. calloc'd: its pages are the
  // shared zero page until something writes them (nothing does).
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t[], Free> zeros_;
};

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_ENGINE_INTERNAL_COPY_INSTALL_TARGET_H_
