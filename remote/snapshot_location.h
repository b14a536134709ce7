// OpenSnapshot: the one entry point that opens a snapshot from a local path or a URL
// (`http://`, `https://`, `s3://bucket/key`), for the CLI and for embedders:
//
//   auto opened = lazysnap::remote::OpenSnapshot("s3://snaps/vm.lzs");
//   lazysnap::RestoreOptions options;
//   options.chunk_source = opened->chunk_source;   // nullptr for a local file: the default
//   auto session = lazysnap::RestoreSession::Start(opened->reader, options);
//
// For a URL it opens a RemoteFile (one round trip for both ends of the object), reads
// only the tables, starts fetching the index in the background, and makes a
// RemoteChunkSource over the host's chunk cache. An incremental snapshot's ancestors are
// found by OpenOptions::resolve_parent, by default beside the child (BesideParentResolver:
// a path relative to a local child, a URL relative to a remote one).
#ifndef LAZYSNAP_REMOTE_SNAPSHOT_LOCATION_H_
#define LAZYSNAP_REMOTE_SNAPSHOT_LOCATION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/chunk_source.h"
#include "remote/chunk_cache.h"
#include "remote/object_url.h"
#include "remote/remote_chunk_source.h"
#include "remote/remote_file.h"
#include "snapshot_format/parent_resolver.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::remote {

struct SnapshotLocationOptions {
  // How the reader validates the index (validate_index = false: tables only).
  OpenOptions open = {.validate_index = false};
  RemoteFileOptions file;
  RemoteChunkSourceOptions source;
  // The host chunk cache for URLs; an empty directory means no cache.
  std::string cache_directory = DefaultCacheDirectory();
  uint64_t cache_max_bytes = uint64_t{8} << 30;
  // Fetch the whole index in the background once the tables are read.
  bool prefetch_index = true;
  // Where S3 settings come from (the process's environment and ~/.aws by default).
  AwsEnvironment aws = AwsEnvironment::Process();

  // DefaultCacheDirectory: $LAZYSNAP_CACHE_DIR, else $XDG_CACHE_HOME/lazysnap, else
  // $HOME/.cache/lazysnap (empty when none is set).
  static std::string DefaultCacheDirectory();
};

struct OpenedSnapshot {
  std::shared_ptr<const SnapshotReader> reader;
  // The chunk source for RestoreOptions::chunk_source: null for a local file (the
  // engine's default source reads it with io_uring), the remote source for a URL.
  std::shared_ptr<ChunkSource> chunk_source;
  // Set for a URL.
  std::shared_ptr<RemoteFile> remote_file;
  std::shared_ptr<RemoteChunkSource> remote_source;
};

// BesideParentResolver finds a parent where its child records it: relative to the
// child's path (a LocalFile) or to the child's URL (a RemoteFile opened with `options`).
ParentResolver BesideParentResolver(const SnapshotLocationOptions& options);

// OpenSnapshot opens `path_or_url`. Errors: SnapshotReader::Open's for a path; for a URL
// ResolveObjectUrl's, RemoteFile::Open's, then the reader's; and the cache directory's
// when it cannot be created.
absl::StatusOr<OpenedSnapshot> OpenSnapshot(std::string_view path_or_url,
                                            const SnapshotLocationOptions& options = {});

}  // namespace lazysnap::remote

#endif  // LAZYSNAP_REMOTE_SNAPSHOT_LOCATION_H_
