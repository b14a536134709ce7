// Parent resolvers: beside the child on local disk, in a caller's list, or the first of
// several that finds it.
#include "snapshot_format/parent_resolver.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace lazysnap {
namespace {

// kSnapshotIdOffset: where the header keeps the snapshot id (FORMAT.md, "Header").
constexpr size_t kSnapshotIdOffset = 40;

std::string HexId(const std::array<uint8_t, 16>& id) {
  std::string text;
  for (uint8_t b : id) text += absl::StrFormat("%02x", b);
  return text;
}

}  // namespace

std::string ResolveRelativeName(std::string_view child_name, std::string_view name) {
  if (name.empty()) return "";
  const size_t slash = child_name.rfind('/');
  if (slash == std::string_view::npos) return std::string(name);
  return absl::StrFormat("%s%s", child_name.substr(0, slash + 1), name);
}

std::string RelativeParentName(std::string_view child_path, std::string_view parent_path) {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path child = fs::absolute(fs::path(child_path), error).lexically_normal();
  const fs::path parent = fs::absolute(fs::path(parent_path), error).lexically_normal();
  if (error) return std::string(parent_path);
  return parent.lexically_relative(child.parent_path()).generic_string();
}

ParentResolver LocalParentResolver() {
  return [](const RandomAccessFile& child, const format::ParentReference& parent)
             -> absl::StatusOr<std::shared_ptr<const RandomAccessFile>> {
    if (parent.name.empty()) {
      return absl::NotFoundError(
          "the snapshot records no name for its parent: name the parent file explicitly");
    }
    const std::string path = ResolveRelativeName(child.name(), parent.name);
    auto file = LocalFile::Open(path);
    if (!file.ok()) return file.status();
    return std::shared_ptr<const RandomAccessFile>(std::move(*file));
  };
}

ParentResolver ParentSearchList(std::vector<std::shared_ptr<const RandomAccessFile>> files) {
  return [files = std::move(files)](const RandomAccessFile& /*child*/,
                                    const format::ParentReference& parent)
             -> absl::StatusOr<std::shared_ptr<const RandomAccessFile>> {
    std::vector<std::string> names;
    for (const std::shared_ptr<const RandomAccessFile>& file : files) {
      names.push_back(file->name());
      uint8_t id[16];
      if (file->size_bytes() < format::kHeaderSizeBytes ||
          !file->ReadAt(kSnapshotIdOffset, id).ok()) {
        continue;  // not a snapshot, or unreadable: not the parent
      }
      if (std::equal(parent.snapshot_id.begin(), parent.snapshot_id.end(), id)) return file;
    }
    return absl::NotFoundError(absl::StrFormat("none of the files given (%s) has snapshot id %s",
                                               absl::StrJoin(names, ", "),
                                               HexId(parent.snapshot_id)));
  };
}

ParentResolver FirstFoundParentResolver(std::vector<ParentResolver> resolvers) {
  return [resolvers = std::move(resolvers)](const RandomAccessFile& child,
                                            const format::ParentReference& parent)
             -> absl::StatusOr<std::shared_ptr<const RandomAccessFile>> {
    std::vector<std::string> misses;
    for (const ParentResolver& resolve : resolvers) {
      auto file = resolve(child, parent);
      if (file.ok() || !absl::IsNotFound(file.status())) return file;
      misses.emplace_back(file.status().message());
    }
    return absl::NotFoundError(misses.empty() ? std::string("no resolver was given")
                                              : absl::StrJoin(misses, "; "));
  };
}

}  // namespace lazysnap
