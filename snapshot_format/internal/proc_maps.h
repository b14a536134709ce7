// ProcMaps: parsing /proc/PID/maps and deciding which mappings hold a process's own data.
// Pure functions over the text, so that the selection policy is tested without a live
// process; ProcessImageSource (process_image_source.h) is the only user.
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_INTERNAL_PROC_MAPS_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_INTERNAL_PROC_MAPS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace lazysnap::internal {

// ProcMapping is one line of /proc/PID/maps: a VMA.
struct ProcMapping {
  uint64_t start_address = 0;
  uint64_t end_address = 0;  // exclusive
  bool readable = false;
  bool writable = false;
  bool executable = false;
  bool shared = false;  // 's' in the fourth permission column; 'p' is private
  uint64_t file_offset_bytes = 0;
  uint64_t inode = 0;
  // path is the file name, a kernel name in brackets ("[heap]", "[stack]", "[vdso]",
  // "[anon:name]"), or empty for anonymous memory. Deleted files end in " (deleted)";
  // the kernel escapes a newline in a file name as "\012".
  std::string path;

  uint64_t length_bytes() const { return end_address - start_address; }
  // anonymous: no file behind the mapping (including [heap], [stack] and [anon:...]).
  bool anonymous() const { return inode == 0; }
};

// ParseProcMaps parses the whole text of /proc/PID/maps. InvalidArgument, naming the
// line, when a line does not have the kernel's format or its range is empty or reversed.
absl::StatusOr<std::vector<ProcMapping>> ParseProcMaps(std::string_view text);

// MappingSelection: whether a mapping is captured and, if not, why.
enum class MappingSelection {
  kCapture,
  kKernelSpecial,     // [vvar], [vdso], [vsyscall]: the kernel's, recreated on exec
  kShared,            // MAP_SHARED: the data lives in a file or shared memory object
  kNotWritable,       // code, read-only data, guard pages: re-readable from their files
  kNotReadable,       // include_readonly, but the mapping cannot even be read (PROT_NONE)
  kUnaddressable,     // ends above 2^63: pread on /proc/PID/mem cannot reach it
};

// SelectMapping is the capture policy. By default a mapping is captured when it is
// private and writable: anonymous memory, [heap], [stack], and private writable file
// mappings (.data/.bss, copy-on-write file views). With `include_readonly`, every
// readable mapping is captured, shared ones included. The kernel's special mappings are
// never captured.
MappingSelection SelectMapping(const ProcMapping& mapping, bool include_readonly);

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_SNAPSHOT_FORMAT_INTERNAL_PROC_MAPS_H_
