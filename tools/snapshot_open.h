// Opening snapshots from the command line: a snapshot path and the --ancestor files that
// may hold its chain, and the check that an output file is not part of a chain being read.
#ifndef LAZYSNAP_TOOLS_SNAPSHOT_OPEN_H_
#define LAZYSNAP_TOOLS_SNAPSHOT_OPEN_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "snapshot_format/parent_resolver.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::cli {

// kAncestorFlagHelp: the help of the --ancestor flag every command that reads snapshots has.
inline constexpr const char* kAncestorFlagHelp =
    "a file that may hold an ancestor of an incremental snapshot (repeatable; matched by "
    "snapshot id); ancestors are otherwise found where the snapshot records them";

// AncestorResolver finds parents among the files at `ancestor_paths` first, then by the
// name each child records (beside it). NotFound / PermissionDenied for a path that cannot
// be opened.
absl::StatusOr<ParentResolver> AncestorResolver(const std::vector<std::string>& ancestor_paths);

// OpenSnapshot opens `path` and its chain with AncestorResolver(ancestor_paths).
absl::StatusOr<std::unique_ptr<SnapshotReader>> OpenSnapshot(
    const std::string& path, const std::vector<std::string>& ancestor_paths,
    OpenOptions options = {});

// RefuseOverwritingChain is InvalidArgument when `output` is (a link to) the file of a
// member of `reader`'s chain from `first_member` on: writing it would replace a snapshot
// whose identity a child relies on.
absl::Status RefuseOverwritingChain(const std::string& output, const SnapshotReader& reader,
                                    uint32_t first_member);

}  // namespace lazysnap::cli

#endif  // LAZYSNAP_TOOLS_SNAPSHOT_OPEN_H_
