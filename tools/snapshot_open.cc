// Snapshot opening for the CLI.
#include "tools/snapshot_open.h"

#include <sys/stat.h>

#include "absl/strings/str_format.h"
#include "base/random_access_file.h"

namespace lazysnap::cli {

absl::StatusOr<ParentResolver> AncestorResolver(const std::vector<std::string>& ancestors,
                                                const remote::SnapshotLocationOptions& location) {
  ParentResolver beside = remote::BesideParentResolver(location);
  if (ancestors.empty()) return beside;
  std::vector<std::shared_ptr<const RandomAccessFile>> files;
  for (const std::string& ancestor : ancestors) {
    if (remote::IsRemoteUrl(ancestor)) {
      auto endpoint = remote::ResolveObjectUrl(ancestor, location.aws);
      if (!endpoint.ok()) return endpoint.status();
      auto file = remote::RemoteFile::Open(std::move(*endpoint), location.file);
      if (!file.ok()) return file.status();
      files.push_back(std::move(*file));
    } else {
      auto file = LocalFile::Open(ancestor);
      if (!file.ok()) return file.status();
      files.push_back(std::move(*file));
    }
  }
  return FirstFoundParentResolver({ParentSearchList(std::move(files)), std::move(beside)});
}

absl::StatusOr<remote::OpenedSnapshot> OpenSnapshot(const std::string& path_or_url,
                                                    const std::vector<std::string>& ancestors,
                                                    remote::SnapshotLocationOptions location) {
  auto resolver = AncestorResolver(ancestors, location);
  if (!resolver.ok()) return resolver.status();
  location.open.resolve_parent = std::move(*resolver);
  return remote::OpenSnapshot(path_or_url, location);
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
