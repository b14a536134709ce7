// OpenSnapshot: a local path goes to SnapshotReader::Open; a URL to a RemoteFile, the
// reader over it, the index prefetch and a RemoteChunkSource.
#include "remote/snapshot_location.h"

#include <cstdlib>

#include "absl/strings/str_format.h"

#include "snapshot_format/format.h"

namespace lazysnap::remote {

std::string SnapshotLocationOptions::DefaultCacheDirectory() {
  if (const char* dir = std::getenv("LAZYSNAP_CACHE_DIR"); dir != nullptr) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/lazysnap";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::string(home) + "/.cache/lazysnap";
  }
  return {};
}

ParentResolver BesideParentResolver(const SnapshotLocationOptions& options) {
  ParentResolver local = LocalParentResolver();
  return [local, options](const RandomAccessFile& child, const format::ParentReference& parent)
             -> absl::StatusOr<std::shared_ptr<const RandomAccessFile>> {
    if (!IsRemoteUrl(child.name())) return local(child, parent);
    const std::string url = ResolveRelativeName(child.name(), parent.name);
    if (url.empty()) {
      return absl::NotFoundError(absl::StrFormat(
          "%s names its parent by no location: give it with --ancestor", child.name()));
    }
    auto endpoint = ResolveObjectUrl(url, options.aws);
    if (!endpoint.ok()) return endpoint.status();
    auto file = RemoteFile::Open(std::move(*endpoint), options.file);
    if (!file.ok()) return file.status();
    return std::shared_ptr<const RandomAccessFile>(std::move(*file));
  };
}

absl::StatusOr<OpenedSnapshot> OpenSnapshot(std::string_view path_or_url,
                                            const SnapshotLocationOptions& location) {
  SnapshotLocationOptions options = location;
  if (!options.open.resolve_parent) options.open.resolve_parent = BesideParentResolver(location);
  OpenedSnapshot opened;
  if (!IsRemoteUrl(path_or_url)) {
    auto reader = SnapshotReader::Open(path_or_url, options.open);
    if (!reader.ok()) return reader.status();
    opened.reader = std::move(*reader);
    return opened;
  }
  auto endpoint = ResolveObjectUrl(path_or_url, options.aws);
  if (!endpoint.ok()) return endpoint.status();
  std::shared_ptr<ChunkCache> cache;
  if (!options.cache_directory.empty()) {
    auto opened_cache = ChunkCache::Open(
        {.directory = options.cache_directory, .max_bytes = options.cache_max_bytes});
    if (!opened_cache.ok()) return opened_cache.status();
    cache = std::move(*opened_cache);
  }
  auto file = RemoteFile::Open(std::move(*endpoint), options.file);
  if (!file.ok()) return file.status();
  auto reader = SnapshotReader::Open(*file, options.open);
  if (!reader.ok()) return reader.status();
  opened.reader = std::move(*reader);
  if (options.prefetch_index && opened.reader->chunk_count() > 0) {
    // The index sits right before the trailer; the first fault of each segment would
    // otherwise wait a round trip for it.
    const uint64_t index_end = (*file)->size_bytes() - format::kTrailerSizeBytes;
    const uint64_t index_bytes = opened.reader->index_size_bytes();
    (*file)->Prefetch(index_end - index_bytes, index_bytes);
  }
  opened.remote_file = *file;
  if (opened.reader->chain_length() > 1) {
    // An incremental snapshot's chunks live in several objects; the remote source reads
    // one. Until it reads chains, the engine's default source reads each chunk from the
    // file that holds it, one blocking range read at a time (correct, not fast).
    opened.chunk_source = DefaultChunkSource(*opened.reader);
    return opened;
  }
  opened.remote_source = RemoteChunkSource::Create(*file, opened.reader, cache, options.source);
  opened.chunk_source = opened.remote_source;
  return opened;
}

}  // namespace lazysnap::remote
