// ScratchDir: a private temporary directory for benchmark inputs and outputs (images,
// snapshots), removed with everything in it when the owner goes away, so that a
// benchmark leaves nothing behind on success or on error.
#ifndef LAZYSNAP_BENCH_SCRATCH_DIR_H_
#define LAZYSNAP_BENCH_SCRATCH_DIR_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace lazysnap {

// ScratchDir owns a directory made by mkdtemp(3). The destructor removes the regular
// files directly inside it and then the directory (benchmarks create no subdirectories).
// Move-only; not thread-safe.
class ScratchDir {
 public:
  // Create makes "<parent>/lazysnap-bench.XXXXXX". An empty `parent` means $TMPDIR, or
  // /tmp when that is unset. Errors name the template (errno mapped to a Status).
  static absl::StatusOr<ScratchDir> Create(std::string_view parent = "");

  ScratchDir(ScratchDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  ScratchDir& operator=(ScratchDir&& other) noexcept;
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() { Remove(); }

  const std::string& path() const { return path_; }
  // File returns path()/name.
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  void Remove();
  std::string path_;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_BENCH_SCRATCH_DIR_H_
