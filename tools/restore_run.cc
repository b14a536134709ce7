// One measured lazy restore.
#include "tools/restore_run.h"

#include <fcntl.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/file_io.h"
#include "base/status_macros.h"
#include "engine/restore_session.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::cli {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

absl::StatusOr<RestoreRunResult> RunRestore(const RestoreRunOptions& options) {
  RestoreRunResult result;
  auto start = std::chrono::steady_clock::now();
  LAZYSNAP_ASSIGN_OR_RETURN(std::shared_ptr<const SnapshotReader> reader,
                            SnapshotReader::Open(options.snapshot_path, {.validate_index = false}));
  result.open_seconds = SecondsSince(start);
  result.memory_bytes = reader->memory_size_bytes();
  result.regions = static_cast<uint32_t>(reader->regions().size());
  result.chunk_size_bytes = reader->chunk_size_bytes();

  UniqueFd image;
  if (!options.verify_image.empty()) {
    LAZYSNAP_ASSIGN_OR_RETURN(image, OpenFile(options.verify_image, O_RDONLY));
  }
  start = std::chrono::steady_clock::now();
  LAZYSNAP_ASSIGN_OR_RETURN(std::unique_ptr<RestoreSession> session,
                            RestoreSession::Start(reader, options.restore));
  result.start_seconds = SecondsSince(start);
  const SessionFeatures features = session->features();
  result.reader = features.reader;
  result.handler_threads = features.handler_threads;

  MemoryView memory;
  for (uint32_t r = 0; r < reader->regions().size(); ++r) memory.push_back(session->region_memory(r));
  std::vector<std::vector<PageRef>> plan = PlanTouches(memory, options.pattern, options.touch_threads);
  TouchResult touched = TouchPages(memory, plan, /*record_latency=*/false);
  result.touch_seconds = touched.seconds;
  result.pages_touched = touched.pages;

  if (image.valid()) {
    result.verified = true;
    std::vector<uint8_t> expected(4096);
    for (const auto& thread : plan) {
      for (const PageRef& ref : thread) {
        const format::Region& region = reader->regions()[ref.region];
        const uint64_t offset = ref.page * 4096;
        const size_t n = static_cast<size_t>(std::min<uint64_t>(4096, region.length_bytes - offset));
        LAZYSNAP_RETURN_IF_ERROR(PreadFull(image.get(), {expected.data(), n},
                                           region.image_offset_bytes + offset,
                                           options.verify_image));
        ++result.pages_verified;
        if (std::memcmp(memory[ref.region].data() + offset, expected.data(), n) != 0) {
          if (result.pages_mismatched++ == 0) {
            result.first_mismatch = absl::StrFormat("region %d page %d (image offset 0x%x)",
                                                    ref.region, ref.page,
                                                    region.image_offset_bytes + offset);
          }
        }
      }
    }
  }
  result.stats = session->stats();
  result.session_status = session->Close(CloseMode::kDiscard);
  result.stats = session->stats();
  return result;
}

}  // namespace lazysnap::cli
