// ScratchDir: mkdtemp on creation; unlink the files and rmdir on destruction.
#include "bench/scratch_dir.h"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "base/errno_status.h"

namespace lazysnap {

absl::StatusOr<ScratchDir> ScratchDir::Create(std::string_view parent) {
  std::string base(parent);
  if (base.empty()) {
    const char* env = std::getenv("TMPDIR");
    base = env != nullptr && env[0] != '\0' ? env : "/tmp";
  }
  std::string path_template = base + "/lazysnap-bench.XXXXXX";
  std::vector<char> buffer(path_template.begin(), path_template.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) {
    return ErrnoToStatus(errno, "mkdtemp " + path_template);
  }
  return ScratchDir(std::string(buffer.data()));
}

ScratchDir& ScratchDir::operator=(ScratchDir&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

void ScratchDir::Remove() {
  if (path_.empty()) return;
  // Best effort: a destructor has nobody to report to, and a leftover file in a temporary
  // directory is harmless.
  if (DIR* dir = ::opendir(path_.c_str())) {
    while (dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      ::unlink(File(name).c_str());
    }
    ::closedir(dir);
  }
  ::rmdir(path_.c_str());
  path_.clear();
}

}  // namespace lazysnap
