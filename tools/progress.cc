// Progress bar rendering.
#include "tools/progress.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_format.h"
#include "tools/cli.h"

namespace lazysnap::cli {

Progress::Progress(std::string label, bool enabled)
    : label_(std::move(label)), enabled_(enabled), start_(std::chrono::steady_clock::now()) {}

bool Progress::StderrIsTerminal() { return ::isatty(STDERR_FILENO) == 1; }

void Progress::Update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another thread is drawing
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  drawn_ = true;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double rate = seconds > 0 ? done / seconds : 0;
  constexpr int kWidth = 30;
  std::string bar;
  if (total > 0) {
    const double fraction = std::min(1.0, static_cast<double>(done) / total);
    const int filled = static_cast<int>(fraction * kWidth);
    bar = absl::StrFormat("[%s%s] %3.0f%% %s / %s", std::string(filled, '='),
                          std::string(kWidth - filled, ' '), fraction * 100, FormatBytes(done),
                          FormatBytes(total));
  } else {
    bar = FormatBytes(done);
  }
  std::fprintf(stderr, "\r%s %s %s \033[K", label_.c_str(), bar.c_str(), FormatRate(rate).c_str());
  std::fflush(stderr);
}

void Progress::Finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (enabled_ && drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
  drawn_ = false;
  enabled_ = false;
}

}  // namespace lazysnap::cli
