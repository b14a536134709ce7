// The eager baseline: read and decode the whole snapshot into anonymous memory before
// the program may run (what `lazysnap extract` does, into memory instead of a file).
#include <unistd.h>

#include <cstring>

#include "base/status_macros.h"
#include "bench/restore_strategy.h"
#include "engine/guest_memory.h"
#include "snapshot_format/image_decoder.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::bench {
namespace {

class EagerMemory final : public RestoredMemory {
 public:
  EagerMemory(std::shared_ptr<GuestMemory> memory, MemoryView view, uint64_t stored_bytes)
      : memory_(std::move(memory)), view_(std::move(view)), stored_bytes_(stored_bytes) {}
  MemoryView view() const override { return view_; }
  EngineReport Report() const override {
    EngineReport report;
    report.bytes_read = stored_bytes_;
    return report;
  }

 private:
  std::shared_ptr<GuestMemory> memory_;
  MemoryView view_;
  uint64_t stored_bytes_;
};

class EagerStrategy final : public RestoreStrategy {
 public:
  EagerStrategy(std::string name, std::string snapshot_path, int threads)
      : name_(std::move(name)), snapshot_path_(std::move(snapshot_path)), threads_(threads) {}
  const std::string& name() const override { return name_; }
  std::vector<std::string> files() const override { return {snapshot_path_}; }

  absl::StatusOr<std::unique_ptr<RestoredMemory>> Restore() override {
    LAZYSNAP_ASSIGN_OR_RETURN(std::unique_ptr<SnapshotReader> reader,
                              SnapshotReader::Open(snapshot_path_));
    const std::vector<format::Region> regions(reader->regions().begin(), reader->regions().end());
    const std::vector<uint64_t> offsets =
        PackedRegionOffsets(regions, static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)));
    LAZYSNAP_ASSIGN_OR_RETURN(std::shared_ptr<GuestMemory> memory,
                              GuestMemory::MapAnonymous(offsets.back()));
    uint8_t* base = memory->data();
    DecodeImageOptions options;
    options.threads = threads_;
    // Zero chunks are skipped: fresh anonymous memory already reads as zeros.
    LAZYSNAP_ASSIGN_OR_RETURN(
        DecodeImageSummary decoded,
        DecodeImage(*reader, options,
                    [&](const ChunkLocation& location, std::span<const uint8_t> bytes) {
                      std::memcpy(base + offsets[location.region_index] +
                                      location.region_offset_bytes,
                                  bytes.data(), bytes.size());
                      return absl::OkStatus();
                    }));
    MemoryView view;
    for (size_t i = 0; i < regions.size(); ++i) {
      view.emplace_back(base + offsets[i], regions[i].length_bytes);
    }
    return std::make_unique<EagerMemory>(std::move(memory), std::move(view),
                                         decoded.stored_bytes);
  }

 private:
  std::string name_;
  std::string snapshot_path_;
  int threads_;
};

}  // namespace

std::unique_ptr<RestoreStrategy> NewEagerStrategy(std::string name, std::string snapshot_path,
                                                  int threads) {
  return std::make_unique<EagerStrategy>(std::move(name), std::move(snapshot_path), threads);
}

}  // namespace lazysnap::bench
