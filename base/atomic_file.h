// AtomicFile: write a file under a temporary name and publish it with rename(2), so that
// a crash or an error never leaves a half-written file under the final name.
#ifndef LAZYSNAP_BASE_ATOMIC_FILE_H_
#define LAZYSNAP_BASE_ATOMIC_FILE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace lazysnap {

// AtomicFile owns a temporary file beside `final_path`. Commit() fsyncs it, renames it
// over `final_path` and fsyncs the directory; destroying an uncommitted AtomicFile unlinks
// the temporary file. Move-only; not thread-safe.
class AtomicFile {
 public:
  // Create makes "<final_path>.tmp.<pid>.<n>" with O_EXCL, mode 0644.
  static absl::StatusOr<AtomicFile> Create(std::string_view final_path);

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&& other) noexcept;
  ~AtomicFile();

  int fd() const { return fd_.get(); }
  const std::string& temp_path() const { return temp_path_; }
  const std::string& final_path() const { return final_path_; }

  // Commit publishes the file. After an error the temporary file is removed and the
  // final path is untouched.
  absl::Status Commit();

 private:
  AtomicFile(UniqueFd fd, std::string temp_path, std::string final_path);
  void Abandon();

  UniqueFd fd_;
  std::string temp_path_;
  std::string final_path_;
  bool committed_ = false;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_BASE_ATOMIC_FILE_H_
