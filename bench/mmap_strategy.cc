// The mmap baseline: map the raw image privately and let the kernel's page cache serve
// the faults, as runtimes restore from a plain memory file.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/file_io.h"
#include "base/status_macros.h"
#include "bench/restore_strategy.h"

namespace lazysnap::bench {
namespace {

class MmapMemory final : public RestoredMemory {
 public:
  MmapMemory() = default;
  ~MmapMemory() override {
    for (const auto& [address, length] : mappings_) ::munmap(address, length);
  }
  MmapMemory(const MmapMemory&) = delete;
  MmapMemory& operator=(const MmapMemory&) = delete;

  void Add(void* address, uint64_t length, uint64_t region_length) {
    mappings_.emplace_back(address, length);
    view_.emplace_back(static_cast<uint8_t*>(address), region_length);
  }
  MemoryView view() const override { return view_; }
  EngineReport Report() const override { return {}; }

 private:
  std::vector<std::pair<void*, uint64_t>> mappings_;
  MemoryView view_;
};

class MmapStrategy final : public RestoreStrategy {
 public:
  MmapStrategy(std::string name, RawImage image)
      : name_(std::move(name)), image_(std::move(image)) {}
  const std::string& name() const override { return name_; }
  std::vector<std::string> files() const override { return {image_.path}; }

  absl::StatusOr<std::unique_ptr<RestoredMemory>> Restore() override {
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(image_.path, O_RDONLY));
    auto memory = std::make_unique<MmapMemory>();
    for (const format::Region& region : image_.regions) {
      const uint64_t length = (region.length_bytes + page - 1) / page * page;
      // PROT_WRITE on a private mapping of a read-only descriptor: writes would copy the
      // page (copy on write) and never reach the file, as for a restored guest.
      void* address = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.get(),
                             static_cast<off_t>(region.image_offset_bytes));
      if (address == MAP_FAILED) {
        return ErrnoToStatus(errno, absl::StrFormat("mmap %s at offset %d (%d bytes)",
                                                    image_.path, region.image_offset_bytes,
                                                    length));
      }
      memory->Add(address, length, region.length_bytes);
    }
    return memory;
  }

 private:
  std::string name_;
  RawImage image_;
};

}  // namespace

std::unique_ptr<RestoreStrategy> NewMmapStrategy(std::string name, RawImage image) {
  return std::make_unique<MmapStrategy>(std::move(name), std::move(image));
}

}  // namespace lazysnap::bench
