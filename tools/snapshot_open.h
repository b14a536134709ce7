// Opening snapshots from the command line: a snapshot path or URL and the --ancestor files
// (paths or URLs) that may hold its chain, and the check that an output file is not part
// of a chain being read.
#ifndef LAZYSNAP_TOOLS_SNAPSHOT_OPEN_H_
#define LAZYSNAP_TOOLS_SNAPSHOT_OPEN_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "remote/snapshot_location.h"
#include "snapshot_format/parent_resolver.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::cli {

// kAncestorFlagHelp: the help of the --ancestor flag every command that reads snapshots has.
inline constexpr const char* kAncestorFlagHelp =
    "a file or URL that may hold an ancestor of an incremental snapshot (repeatable; matched "
    "by snapshot id); ancestors are otherwise found where the snapshot records them";

// AncestorResolver finds parents among `ancestors` (paths or URLs, opened now) first,
// then beside each child (remote::BesideParentResolver). Errors of opening an ancestor.
absl::StatusOr<ParentResolver> AncestorResolver(const std::vector<std::string>& ancestors,
                                                const remote::SnapshotLocationOptions& location);

// OpenSnapshot opens `path_or_url` and its chain (remote::OpenSnapshot with
// AncestorResolver(ancestors)).
absl::StatusOr<remote::OpenedSnapshot> OpenSnapshot(const std::string& path_or_url,
                                                    const std::vector<std::string>& ancestors,
                                                    remote::SnapshotLocationOptions location);

// RefuseOverwritingChain is InvalidArgument when `output` is (a link to) the file of a
// member of `reader`'s chain from `first_member` on: writing it would replace a snapshot
// whose identity a child relies on.
absl::Status RefuseOverwritingChain(const std::string& output, const SnapshotReader& reader,
                                    uint32_t first_member);

}  // namespace lazysnap::cli

#endif  // LAZYSNAP_TOOLS_SNAPSHOT_OPEN_H_
