// AtomicFile: write a file under a temporary name and publish it with rename(2), so that
// a crash, a signal or an error never leaves a half-written file under the final name,
// and what an interrupted write leaves behind is cleaned up.
//
// Where the file system supports it (ext4, xfs, btrfs, tmpfs), the file is written as an
// unnamed O_TMPFILE inode: a process killed while writing (even by SIGKILL) leaves
// nothing at all, and its blocks are freed when it dies. Commit links it under a
// temporary name for the instant before the rename. Elsewhere the file is written under
// "<final>.tmp.<pid>.<n>", locked with flock(2) while its writer lives; the signals of
// base/signal_cleanup.h remove it, and the next AtomicFile for the same final path
// removes those whose writer is gone (the pid is not running and the lock is free).
#ifndef LAZYSNAP_BASE_ATOMIC_FILE_H_
#define LAZYSNAP_BASE_ATOMIC_FILE_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/signal_cleanup.h"
#include "base/unique_fd.h"

namespace lazysnap {

struct AtomicFileOptions {
  // new_file_mode: permissions of a file that did not exist (the umask applies). 0600:
  // snapshots and images hold memory (keys, tokens). A file that is replaced keeps the
  // permission bits it had (set-id bits dropped).
  mode_t new_file_mode = 0600;
  // allow_unnamed: write an unnamed O_TMPFILE where possible. Tests turn it off to
  // exercise the named temporary file.
  bool allow_unnamed = true;
};

// AtomicFile owns a temporary file beside `final_path`. Commit() fsyncs it, renames it
// over `final_path` and fsyncs the directory; destroying an uncommitted AtomicFile removes
// the temporary file. Move-only; not thread-safe.
class AtomicFile {
 public:
  // Create checks `final_path` before anything is written, then opens the temporary file.
  // FailedPrecondition when the path names something other than a regular file (a
  // directory, a symbolic link, a device, a FIFO, a socket): rename would replace that
  // thing itself. InvalidArgument for an empty path; NotFound when its directory does
  // not exist; the file system's errors otherwise.
  static absl::StatusOr<AtomicFile> Create(std::string_view final_path,
                                           AtomicFileOptions options = {});

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&& other) noexcept;
  ~AtomicFile();

  int fd() const { return fd_.get(); }
  // temp_path names the temporary file in messages; for an unnamed file it is not a path
  // ("<final> (unnamed temporary file)").
  const std::string& temp_path() const { return temp_path_; }
  const std::string& final_path() const { return final_path_; }
  // unnamed is true when the file is an O_TMPFILE with no name until Commit.
  bool unnamed() const { return unnamed_; }
  // stale_files_removed counts the temporary files of earlier, dead writers of the same
  // final path that Create removed.
  int stale_files_removed() const { return stale_files_removed_; }

  // Commit publishes the file. FailedPrecondition (and nothing published) when the final
  // path has meanwhile become something other than a regular file. After an error the
  // temporary file is removed and the final path is untouched.
  absl::Status Commit();

 private:
  AtomicFile() = default;
  void Abandon();
  absl::Status Link(std::string& linked_path);

  UniqueFd fd_;
  std::string temp_path_;
  std::string final_path_;
  bool unnamed_ = false;
  bool committed_ = false;
  bool open_ = false;
  int stale_files_removed_ = 0;
  SignalCleanupEntry cleanup_;
};

// RemoveStaleTemporaryFiles removes "<final_path>.tmp.<pid>.<n>" files whose writer is
// gone: no process `pid` is running and nobody holds the file's lock. Returns how many
// it removed. A pid running in another pid namespace looks dead here; its file is
// still kept while its lock is held, which its writer takes right after creating it.
int RemoveStaleTemporaryFiles(std::string_view final_path);

// OutputProblem checks, without opening anything, whether `final_path` may be replaced by
// an AtomicFile: the FailedPrecondition / InvalidArgument / NotFound that Create would
// return, or OK. Commands call it before the work, so that a bad -o fails at once.
absl::Status OutputProblem(std::string_view final_path);

// SameFile is true when both paths name the same file (device and inode, following
// symbolic links); false when either does not exist.
bool SameFile(std::string_view a, std::string_view b);

}  // namespace lazysnap

#endif  // LAZYSNAP_BASE_ATOMIC_FILE_H_
