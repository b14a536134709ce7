// ProcMaps: the /proc/PID/maps parser and the capture policy.
#include "snapshot_format/internal/proc_maps.h"

#include <charconv>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace lazysnap::internal {
namespace {

// Field splits off the next space-separated field of `line`.
std::string_view NextField(std::string_view& line) {
  size_t start = line.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    line = {};
    return {};
  }
  line.remove_prefix(start);
  size_t end = line.find(' ');
  std::string_view field = line.substr(0, end);
  line.remove_prefix(end == std::string_view::npos ? line.size() : end);
  return field;
}

bool ParseNumber(std::string_view text, int base, uint64_t& value) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  return error == std::errc() && end == text.data() + text.size();
}

absl::Status LineError(size_t line_number, std::string_view line, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "/proc maps line %d (\"%s\"): %s", line_number, std::string(line), std::string(why)));
}

absl::StatusOr<ProcMapping> ParseLine(size_t line_number, std::string_view line) {
  ProcMapping mapping;
  std::string_view rest = line;
  std::string_view range = NextField(rest);
  std::string_view permissions = NextField(rest);
  std::string_view offset = NextField(rest);
  std::string_view device = NextField(rest);
  std::string_view inode = NextField(rest);
  if (inode.empty()) return LineError(line_number, line, "fewer than five fields");

  size_t dash = range.find('-');
  if (dash == std::string_view::npos ||
      !ParseNumber(range.substr(0, dash), 16, mapping.start_address) ||
      !ParseNumber(range.substr(dash + 1), 16, mapping.end_address)) {
    return LineError(line_number, line, "address range is not START-END in hex");
  }
  if (mapping.end_address <= mapping.start_address) {
    return LineError(line_number, line, "empty or reversed address range");
  }
  if (permissions.size() != 4 || (permissions[0] != 'r' && permissions[0] != '-') ||
      (permissions[1] != 'w' && permissions[1] != '-') ||
      (permissions[2] != 'x' && permissions[2] != '-') ||
      (permissions[3] != 's' && permissions[3] != 'p')) {
    return LineError(line_number, line, "permissions are not [r-][w-][x-][sp]");
  }
  mapping.readable = permissions[0] == 'r';
  mapping.writable = permissions[1] == 'w';
  mapping.executable = permissions[2] == 'x';
  mapping.shared = permissions[3] == 's';
  if (!ParseNumber(offset, 16, mapping.file_offset_bytes)) {
    return LineError(line_number, line, "file offset is not hex");
  }
  size_t colon = device.find(':');
  uint64_t unused;
  if (colon == std::string_view::npos || !ParseNumber(device.substr(0, colon), 16, unused) ||
      !ParseNumber(device.substr(colon + 1), 16, unused)) {
    return LineError(line_number, line, "device is not MAJOR:MINOR in hex");
  }
  if (!ParseNumber(inode, 10, mapping.inode)) {
    return LineError(line_number, line, "inode is not a decimal number");
  }
  // The kernel pads the path to a column with spaces; what follows is the path, spaces
  // included.
  size_t path_start = rest.find_first_not_of(' ');
  if (path_start != std::string_view::npos) mapping.path = std::string(rest.substr(path_start));
  return mapping;
}

}  // namespace

absl::StatusOr<std::vector<ProcMapping>> ParseProcMaps(std::string_view text) {
  std::vector<ProcMapping> mappings;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (line.empty()) continue;
    auto mapping = ParseLine(line_number, line);
    if (!mapping.ok()) return mapping.status();
    mappings.push_back(std::move(*mapping));
  }
  return mappings;
}

MappingSelection SelectMapping(const ProcMapping& mapping, bool include_readonly) {
  // Newer kernels split [vvar] into [vvar] and [vvar_vclock]; all of them are the
  // kernel's and meaningless in a restored image (and reading [vvar] pages can fail).
  const std::string_view path = mapping.path;
  if (path.starts_with("[vvar") || path == "[vdso]" || path == "[vsyscall]") {
    return MappingSelection::kKernelSpecial;
  }
  // pread takes a signed offset and refuses a range whose end overflows it: /proc/PID/mem
  // cannot be read above 2^63 that way. Only [vsyscall] lives there on today's kernels.
  if (mapping.end_address > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return MappingSelection::kUnaddressable;
  }
  if (include_readonly) {
    return mapping.readable ? MappingSelection::kCapture : MappingSelection::kNotReadable;
  }
  if (mapping.shared) return MappingSelection::kShared;
  if (!mapping.writable) return MappingSelection::kNotWritable;
  return MappingSelection::kCapture;
}

}  // namespace lazysnap::internal
