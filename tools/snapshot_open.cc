// Snapshot opening for the CLI.
#include "tools/snapshot_open.h"

#include <sys/stat.h>

#include "absl/strings/str_format.h"
#include "base/random_access_file.h"

namespace lazysnap::cli {

absl::StatusOr<ParentResolver> AncestorResolver(const std::vector<std::string>& ancestor_paths) {
  if (ancestor_paths.empty()) return LocalParentResolver();
  std::vector<std::shared_ptr<const RandomAccessFile>> files;
  for (const std::string& path : ancestor_paths) {
    auto file = LocalFile::Open(path);
    if (!file.ok()) return file.status();
    files.push_back(std::move(*file));
  }
  return FirstFoundParentResolver({ParentSearchList(std::move(files)), LocalParentResolver()});
}

absl::StatusOr<std::unique_ptr<SnapshotReader>> OpenSnapshot(
    const std::string& path, const std::vector<std::string>& ancestor_paths,
    OpenOptions options) {
  auto resolver = AncestorResolver(ancestor_paths);
  if (!resolver.ok()) return resolver.status();
  options.resolve_parent = std::move(*resolver);
  return SnapshotReader::Open(path, options);
}

absl::Status RefuseOverwritingChain(const std::string& output, const SnapshotReader& reader,
                                    uint32_t first_member) {
  struct stat out;
  if (::stat(output.c_str(), &out) != 0) return absl::OkStatus();  // a new file
  for (uint32_t i = first_member; i < reader.chain_length(); ++i) {
    struct stat member;
    const std::string& path = reader.chain_member(i).path();
    if (::stat(path.c_str(), &member) == 0 && member.st_dev == out.st_dev &&
        member.st_ino == out.st_ino) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "-o %s would replace %s, a snapshot of the chain being read", output, path));
    }
  }
  return absl::OkStatus();
}

}  // namespace lazysnap::cli
