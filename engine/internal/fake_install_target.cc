// FakeInstallTarget: installs recorded in memory.
#include "engine/internal/fake_install_target.h"

namespace lazysnap::internal {

FakeInstallTarget::FakeInstallTarget(const ChunkMap& map, bool in_place)
    : map_(map), in_place_(in_place) {
  if (in_place_) memory_.assign(map_.chunk_count() * map_.chunk_size_bytes(), 0xEE);
}

uint8_t* FakeInstallTarget::Destination(uint64_t chunk, uint8_t* scratch) {
  return in_place_ ? memory_.data() + chunk * map_.chunk_size_bytes() : scratch;
}

void FakeInstallTarget::Script(InstallResult result) {
  std::lock_guard<std::mutex> lock(mutex_);
  script_.push_back(std::move(result));
}

InstallResult FakeInstallTarget::Install(uint64_t chunk, const uint8_t* bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!script_.empty()) {
    InstallResult result = script_.front();
    script_.pop_front();
    return result;
  }
  ++installs_;
  if (in_place_ && bytes == memory_.data() + chunk * map_.chunk_size_bytes()) {
    ++installs_from_destination_;
  }
  installed_[chunk].assign(bytes, bytes + map_.InstallLengthOf(chunk));
  return {};
}

InstallResult FakeInstallTarget::InstallZero(uint64_t chunk) {
  std::vector<uint8_t> zeros(map_.InstallLengthOf(chunk), 0);
  return Install(chunk, zeros.data());
}

InstallResult FakeInstallTarget::ZeroPage(uint64_t) { return {}; }

InstallResult FakeInstallTarget::Poison(uint64_t chunk) {
  std::lock_guard<std::mutex> lock(mutex_);
  poisoned_[chunk] = true;
  return {};
}

std::vector<uint8_t> FakeInstallTarget::Installed(uint64_t chunk) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = installed_.find(chunk);
  return it == installed_.end() ? std::vector<uint8_t>() : it->second;
}

bool FakeInstallTarget::Poisoned(uint64_t chunk) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return poisoned_.count(chunk) != 0;
}

int FakeInstallTarget::installs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return installs_;
}

int FakeInstallTarget::installs_from_destination() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return installs_from_destination_;
}

}  // namespace lazysnap::internal
