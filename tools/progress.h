// Progress: a progress bar on stderr for long operations, drawn only when stderr is a
// terminal and at most ten times a second; safe to call from several threads.
#ifndef LAZYSNAP_TOOLS_PROGRESS_H_
#define LAZYSNAP_TOOLS_PROGRESS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace lazysnap::cli {

class Progress {
 public:
  // `label` starts the line ("compressing"); `enabled` false draws nothing.
  Progress(std::string label, bool enabled);
  ~Progress() { Finish(); }

  // ForTerminal is enabled exactly when stderr is a terminal.
  static bool StderrIsTerminal();

  // Update reports `done` of `total` bytes (total 0: unknown).
  void Update(uint64_t done, uint64_t total);
  // Finish clears the bar (idempotent).
  void Finish();

 private:
  std::string label_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point last_draw_;
  bool drawn_ = false;
};

}  // namespace lazysnap::cli

#endif  // LAZYSNAP_TOOLS_PROGRESS_H_
