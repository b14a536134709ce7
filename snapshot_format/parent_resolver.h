// ParentResolver: how a reader finds the parent of an incremental snapshot (FORMAT.md,
// "Incremental snapshots and chains"). The reader never opens a path on its own: it hands
// the child's file and the parent section's reference to a resolver and gets back a
// RandomAccessFile, which it then checks against the reference (identity, depth, layout)
// before it serves a byte. So a parent can live on local disk beside the child, in a
// list of files the caller names, or in an object store, without the reader knowing.
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_PARENT_RESOLVER_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_PARENT_RESOLVER_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/random_access_file.h"
#include "snapshot_format/format.h"

namespace lazysnap {

// ParentResolver returns the file that should hold the snapshot `parent` names, the
// parent of `child`. NotFound when there is none (the message says where it looked);
// other errors (PermissionDenied, I/O, network) as the resolver meets them. It need not
// check the file's identity: the reader does. Called from SnapshotReader::Open, once per
// ancestor, from the thread that opens; it must be safe to call from several threads
// when several snapshots are opened at once.
using ParentResolver = std::function<absl::StatusOr<std::shared_ptr<const RandomAccessFile>>(
    const RandomAccessFile& child, const format::ParentReference& parent)>;

// ResolveRelativeName returns where `name` (a parent section's name: '/'-separated,
// relative) is, seen from `child_name` (a path or a URL): the child's name up to and
// including its last '/', then `name`. "" when `name` is empty.
std::string ResolveRelativeName(std::string_view child_name, std::string_view name);

// RelativeParentName returns the name a child written to `child_path` records for a
// parent at `parent_path` (local paths): the parent's path relative to the child's
// directory, '/'-separated (lexically: symbolic links are not followed).
std::string RelativeParentName(std::string_view child_path, std::string_view parent_path);

// LocalParentResolver opens the parent section's name relative to the directory of the
// child (child.name() is a local path) as a LocalFile. NotFound when the section records
// no name or nothing is there.
ParentResolver LocalParentResolver();

// ParentSearchList finds the parent among `files` by its snapshot id (the first 64 bytes
// of each file are read on every call: chains are short); NotFound, naming the files,
// when none has the id. The files are shared with every reader the resolver opens.
ParentResolver ParentSearchList(std::vector<std::shared_ptr<const RandomAccessFile>> files);

// FirstFoundParentResolver asks each resolver in turn and returns the first file found.
// A resolver's NotFound moves on to the next; any other error is returned at once. When
// all say NotFound, the messages are joined.
ParentResolver FirstFoundParentResolver(std::vector<ParentResolver> resolvers);

}  // namespace lazysnap

#endif  // LAZYSNAP_SNAPSHOT_FORMAT_PARENT_RESOLVER_H_
