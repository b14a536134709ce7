// Input and output paths of the lazysnap commands.
#include "tools/input_files.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "absl/strings/str_format.h"
#include "base/atomic_file.h"
#include "base/errno_status.h"
#include "base/file_io.h"
#include "base/status_macros.h"

namespace lazysnap::cli {
absl::StatusOr<UniqueFd> OpenInputFile(const std::string& path, std::string_view what) {
  LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY | O_NONBLOCK));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoToStatus(errno, absl::StrFormat("fstat %s", path));
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is %s; %s must be a regular file or a block device", path, FileKindName(st.st_mode),
        std::string(what)));
  }
  // Only for the open: reads then wait for the disk like any other.
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return ErrnoToStatus(errno, absl::StrFormat("fcntl F_SETFL %s", path));
  }
  return fd;
}

absl::Status CheckOutputPath(const std::string& output, const std::string& input) {
  LAZYSNAP_RETURN_IF_ERROR(OutputProblem(output));
  if (!input.empty() && SameFile(output, input)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "cannot write %s: it is the input %s itself, which would be replaced by its own output",
        output, input));
  }
  return absl::OkStatus();
}

}  // namespace lazysnap::cli
