// Input files of the lazysnap commands: opening them without ever blocking (a FIFO given
// as a snapshot would block open(2) until a writer comes), and refusing what is not a
// file before any work starts.
#ifndef LAZYSNAP_TOOLS_INPUT_FILES_H_
#define LAZYSNAP_TOOLS_INPUT_FILES_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace lazysnap::cli {

// CheckSnapshotPath: OK when `path` names a regular file (following symbolic links);
// NotFound when nothing is there; FailedPrecondition naming what it is otherwise (a FIFO,
// a directory, a device). Checked before SnapshotReader::Open, which opens the path
// blocking.
absl::Status CheckSnapshotPath(const std::string& path);

// OpenInputFile opens `path` read-only without blocking and returns it when it is a
// regular file or a block device; FailedPrecondition naming what it is otherwise, with
// `what` ("the image to verify against") saying what it was given as.
absl::StatusOr<UniqueFd> OpenInputFile(const std::string& path, std::string_view what);

// CheckOutputPath: what `-o` names must be a regular file or a new path in an existing
// directory (base/atomic_file.h OutputProblem), and not the same file as `input` (which
// would be replaced by its own output). Checked before any work.
absl::Status CheckOutputPath(const std::string& output, const std::string& input);

}  // namespace lazysnap::cli

#endif  // LAZYSNAP_TOOLS_INPUT_FILES_H_
