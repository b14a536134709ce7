// Input and output files of the lazysnap commands: opening an input without ever blocking
// (a FIFO would block open(2) until a writer comes) and refusing, before any work starts,
// inputs and outputs that are not files. Snapshots are opened by SnapshotReader (LocalFile
// refuses what is not a regular file the same way).
#ifndef LAZYSNAP_TOOLS_INPUT_FILES_H_
#define LAZYSNAP_TOOLS_INPUT_FILES_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace lazysnap::cli {

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
