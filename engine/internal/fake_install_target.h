// FakeInstallTarget: an InstallTarget for tests, with no kernel underneath. It keeps what
// was installed per chunk and can stand in for either kind of target: one that copies
// from the caller's buffer, or one that hands out its own memory to decode into (as a
// shared-memory target for UFFDIO_CONTINUE does), so that the pipeline's use of
// Destination is tested. Outcomes can be scripted (kRetry, kGone, kError).
#ifndef LAZYSNAP_ENGINE_INTERNAL_FAKE_INSTALL_TARGET_H_
#define LAZYSNAP_ENGINE_INTERNAL_FAKE_INSTALL_TARGET_H_

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <vector>

#include "engine/internal/chunk_map.h"
#include "engine/internal/install_target.h"

namespace lazysnap::internal {

class FakeInstallTarget final : public InstallTarget {
 public:
  // `in_place`: Destination returns the target's own memory for the chunk.
  FakeInstallTarget(const ChunkMap& map, bool in_place);

  const char* name() const override { return in_place_ ? "fake-in-place" : "fake-copy"; }
  uint64_t register_mode() const override { return 0; }
  uint8_t* Destination(uint64_t chunk, uint8_t* scratch) override;
  InstallResult Install(uint64_t chunk, const uint8_t* bytes) override;
  InstallResult InstallZero(uint64_t chunk) override;
  InstallResult ZeroPage(uint64_t page_address) override;
  InstallResult Poison(uint64_t chunk) override;
  bool can_poison() const override { return can_poison_; }

  void set_can_poison(bool can) { can_poison_ = can; }
  // Script: the next Install / InstallZero returns `result` instead of installing.
  void Script(InstallResult result);

  // Installed: a chunk's installed bytes (its install length), or empty when it was not
  // installed. installs_from_destination: installs whose bytes pointer was the target's
  // own memory (no copy needed).
  std::vector<uint8_t> Installed(uint64_t chunk) const;
  bool Poisoned(uint64_t chunk) const;
  int installs() const;
  int installs_from_destination() const;

 private:
  const ChunkMap& map_;
  const bool in_place_;
  bool can_poison_ = true;
  std::vector<uint8_t> memory_;  // in place: chunk_count * chunk_size bytes
  mutable std::mutex mutex_;
  std::deque<InstallResult> script_;
  std::map<uint64_t, std::vector<uint8_t>> installed_;
  std::map<uint64_t, bool> poisoned_;
  int installs_ = 0;
  int installs_from_destination_ = 0;
};

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_ENGINE_INTERNAL_FAKE_INSTALL_TARGET_H_
