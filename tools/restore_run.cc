// One measured lazy restore.
#include "tools/restore_run.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/file_io.h"
#include "base/status_macros.h"
#include "engine/restore_session.h"
#include "snapshot_format/snapshot_reader.h"
#include "tools/cli.h"
#include "tools/guarded_touch.h"
#include "tools/input_files.h"
#include "tools/snapshot_open.h"

namespace lazysnap::cli {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// OpenVerifyImage opens the raw image restored pages are compared with: a regular file
// or a block device (never a FIFO, whose open would wait for a writer), at least as long
// as the snapshot's image.
absl::StatusOr<UniqueFd> OpenVerifyImage(const std::string& path, const SnapshotReader& reader) {
  LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenInputFile(path, "the image to verify against"));
  uint64_t size = 0;
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoToStatus(errno, absl::StrFormat("fstat %s", path));
  if (S_ISBLK(st.st_mode)) {
    const off_t end = ::lseek(fd.get(), 0, SEEK_END);
    if (end < 0) return ErrnoToStatus(errno, absl::StrFormat("lseek %s", path));
    size = static_cast<uint64_t>(end);
  } else {
    size = static_cast<uint64_t>(st.st_size);
  }
  uint64_t needed = 0;
  for (const format::Region& region : reader.regions()) {
    needed = std::max(needed, region.image_offset_bytes + region.length_bytes);
  }
  if (size < needed) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is %d bytes, shorter than the image of %s (%d bytes): it is not the image this "
        "snapshot was made from",
        path, size, reader.path(), needed));
  }
  return fd;
}

}  // namespace

absl::StatusOr<RestoreRunResult> RunRestore(const RestoreRunOptions& options) {
  RestoreRunResult result;
  // A process-wide start-up cost (libcurl and OpenSSL), not part of opening a snapshot.
  if (remote::IsRemoteUrl(options.snapshot_path)) remote::InitializeNetworking();
  auto start = std::chrono::steady_clock::now();
  remote::SnapshotLocationOptions location = options.location;
  location.open.validate_index = false;
  LAZYSNAP_ASSIGN_OR_RETURN(remote::OpenedSnapshot opened,
                            OpenSnapshot(options.snapshot_path, options.ancestors, location));
  result.open_seconds = SecondsSince(start);
  std::shared_ptr<const SnapshotReader> reader = opened.reader;
  RestoreOptions restore = options.restore;
  if (opened.chunk_source != nullptr) restore.chunk_source = opened.chunk_source;
  result.memory_bytes = reader->memory_size_bytes();
  result.regions = static_cast<uint32_t>(reader->regions().size());
  result.chunk_size_bytes = reader->chunk_size_bytes();
  result.chain_length = reader->chain_length();

  UniqueFd image;
  if (!options.verify_image.empty()) {
    LAZYSNAP_ASSIGN_OR_RETURN(image, OpenVerifyImage(options.verify_image, *reader));
  }

  // Flags that are each in range can still ask for terabytes together.
  const uint64_t budget = HostMemoryBudgetBytes();
  const int cpus = std::max(1, static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN)));
  const int handlers =
      options.restore.handler_threads > 0 ? options.restore.handler_threads : cpus;
  LAZYSNAP_RETURN_IF_ERROR(CheckMemoryBudget(
      absl::StrFormat("--handler-threads %d x --reads-in-flight %d with %s chunks", handlers,
                      options.restore.reads_in_flight, FormatBytes(reader->chunk_size_bytes())),
      RestoreBufferBytes(options.restore, reader->chunk_size_bytes(),
                         reader->max_stored_length_bytes(), cpus),
      "lower --handler-threads or --reads-in-flight"));
  LAZYSNAP_RETURN_IF_ERROR(ValidateRestoreOptions(options.restore, reader->chunk_size_bytes(),
                                                  reader->max_stored_length_bytes(), cpus,
                                                  budget));
  std::vector<uint64_t> lengths;
  for (const format::Region& region : reader->regions()) lengths.push_back(region.length_bytes);
  LAZYSNAP_RETURN_IF_ERROR(CheckMemoryBudget(
      absl::StrFormat("--access %s of %s of memory", options.pattern.ToString(),
                      FormatBytes(result.memory_bytes)),
      PlanMemoryBytes(lengths, options.pattern),
      "touch a smaller working set (ws:PCT)"));

  LAZYSNAP_ASSIGN_OR_RETURN(std::unique_ptr<TouchGuard> guard, TouchGuard::Create());
  restore.on_error = [&guard, user = options.restore.on_error](const absl::Status& status) {
    guard->Abort();
    if (user) user(status);
  };
  start = std::chrono::steady_clock::now();
  LAZYSNAP_ASSIGN_OR_RETURN(std::unique_ptr<RestoreSession> session,
                            RestoreSession::Start(reader, restore));
  result.start_seconds = SecondsSince(start);
  const SessionFeatures features = session->features();
  result.reader = features.reader;
  result.handler_threads = features.handler_threads;

  MemoryView memory;
  for (uint32_t r = 0; r < reader->regions().size(); ++r) memory.push_back(session->region_memory(r));
  std::vector<std::vector<PageRef>> plan = PlanTouches(memory, options.pattern, options.touch_threads);
  for (const auto& thread : plan) result.pages_planned += thread.size();
  GuardedTouchResult touched = guard->Touch(memory, plan);
  result.touch_seconds = touched.seconds;
  result.pages_touched = touched.pages;

  if (image.valid()) {
    result.verified = true;
    std::vector<uint8_t> expected(4096);
    for (size_t t = 0; t < plan.size(); ++t) {
      // Only pages whose touch completed: the rest may belong to a refused chunk.
      for (uint64_t i = 0; i < touched.pages_done[t]; ++i) {
        const PageRef& ref = plan[t][i];
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
  // Closing joins the serving threads, so an error they were still reporting is in.
  result.session_status = session->Close(CloseMode::kDiscard);
  result.stats = session->stats();
  if (result.session_status.ok() && touched.sigbus_code != 0) {
    result.session_status = absl::InternalError(absl::StrFormat(
        "touching address 0x%x raised SIGBUS (si_code %d) although no chunk was refused",
        touched.sigbus_address, touched.sigbus_code));
  }
  if (!result.session_status.ok() && result.pages_touched < result.pages_planned) {
    result.session_status = absl::Status(
        result.session_status.code(),
        absl::StrFormat("%s (touching stopped after %d of %d pages)",
                        result.session_status.message(), result.pages_touched,
                        result.pages_planned));
  }
  session.reset();
  if (opened.remote_source != nullptr) {
    result.remote = true;
    result.remote_stats = opened.remote_source->stats();
    result.fetch_stats = opened.remote_file->fetcher().stats();
    if (opened.remote_source->cache() != nullptr) {
      result.cache_stats = opened.remote_source->cache()->stats();
      result.cache_directory = opened.remote_source->cache()->directory();
    }
  }
  return result;
}

}  // namespace lazysnap::cli
