// lazysnap itself: open the snapshot's tables and start a restore session.
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "bench/restore_strategy.h"
#include "engine/restore_session.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::bench {
namespace {

class LazysnapMemory final : public RestoredMemory {
 public:
  LazysnapMemory(std::unique_ptr<RestoreSession> session, uint32_t regions, int handler_threads,
                 bool sigbus)
      : session_(std::move(session)), handler_threads_(handler_threads), sigbus_(sigbus) {
    for (uint32_t r = 0; r < regions; ++r) view_.push_back(session_->region_memory(r));
  }
  ~LazysnapMemory() override { session_->Close(CloseMode::kDiscard).IgnoreError(); }

  MemoryView view() const override { return view_; }

  EngineReport Report() const override {
    const RestoreStats stats = session_->stats();
    EngineReport report;
    report.faults = stats.faults;
    report.bytes_read = stats.bytes_read;
    report.has_service_latency = true;
    report.service_p50_ns = stats.latency_p50_ns;
    report.service_p99_ns = stats.latency_p99_ns;
    report.detail =
        sigbus_ ? absl::StrFormat("SIGBUS, %s", session_->features().reader)
                : absl::StrFormat("%d handler threads, %s", handler_threads_, session_->features().reader);
    absl::StrAppendFormat(&report.detail, "; %d chunks installed (%d readahead)",
                          stats.chunks_installed, stats.chunks_readahead);
    return report;
  }

  absl::Status status() const override { return session_->status(); }

 private:
  std::unique_ptr<RestoreSession> session_;
  int handler_threads_;
  bool sigbus_;
  MemoryView view_;
};

class LazysnapStrategy final : public RestoreStrategy {
 public:
  LazysnapStrategy(std::string name, std::string snapshot_path, RestoreOptions options)
      : name_(std::move(name)), snapshot_path_(std::move(snapshot_path)), options_(options) {
    options_.close_mode = CloseMode::kDiscard;
  }
  const std::string& name() const override { return name_; }
  std::vector<std::string> files() const override { return {snapshot_path_}; }

  absl::StatusOr<std::unique_ptr<RestoredMemory>> Restore() override {
    LAZYSNAP_ASSIGN_OR_RETURN(std::shared_ptr<const SnapshotReader> reader,
                              SnapshotReader::Open(snapshot_path_, {.validate_index = false}));
    const uint32_t regions = static_cast<uint32_t>(reader->regions().size());
    LAZYSNAP_ASSIGN_OR_RETURN(std::unique_ptr<RestoreSession> session,
                              RestoreSession::Start(std::move(reader), options_));
    const int handlers = session->features().handler_threads;
    return std::make_unique<LazysnapMemory>(std::move(session), regions, handlers,
                                            options_.serving == ServingMode::kSigbus);
  }

 private:
  std::string name_;
  std::string snapshot_path_;
  RestoreOptions options_;
};

}  // namespace

std::unique_ptr<RestoreStrategy> NewLazysnapStrategy(std::string name, std::string snapshot_path,
                                                     RestoreOptions options) {
  return std::make_unique<LazysnapStrategy>(std::move(name), std::move(snapshot_path),
                                            std::move(options));
}

}  // namespace lazysnap::bench
