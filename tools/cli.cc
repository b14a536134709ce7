// Command-line plumbing.
#include "tools/cli.h"

#include <unistd.h>

#include <cctype>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "base/json_writer.h"

namespace lazysnap::cli {

std::string ParsedArgs::Value(std::string_view flag, std::string_view fallback) const {
  auto it = values_.find(std::string(flag));
  if (it == values_.end() || it->second.empty()) return std::string(fallback);
  return it->second.back();
}

const std::vector<std::string>& ParsedArgs::Values(std::string_view flag) const {
  static const std::vector<std::string>* empty = new std::vector<std::string>();
  auto it = values_.find(std::string(flag));
  return it == values_.end() ? *empty : it->second;
}

absl::StatusOr<ParsedArgs> Parse(const CommandSpec& spec, int argc, char** argv) {
  ParsedArgs args;
  bool only_positional = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (only_positional || arg == "-" || arg.empty() || arg[0] != '-') {
      args.positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    const bool long_form = arg[1] == '-';
    std::string name = arg.substr(long_form ? 2 : 1);
    std::optional<std::string> inline_value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const FlagSpec* flag = nullptr;
    for (const FlagSpec& f : spec.flags) {
      if (long_form ? f.name == name
                    : (name.size() == 1 && f.short_name == name[0])) {
        flag = &f;
      }
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat("unknown flag %s", arg));
    }
    std::vector<std::string>& values = args.values_[flag->name];
    if (flag->value_name.empty()) {
      if (inline_value) {
        return absl::InvalidArgumentError(absl::StrFormat("flag --%s takes no value", flag->name));
      }
      values.push_back("true");
      continue;
    }
    if (inline_value) {
      values.push_back(*inline_value);
    } else if (i + 1 < argc) {
      values.push_back(argv[++i]);
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("flag --%s needs a value (%s)", flag->name, flag->value_name));
    }
    if (!flag->repeated && values.size() > 1) {
      return absl::InvalidArgumentError(absl::StrFormat("flag --%s given twice", flag->name));
    }
  }
  if (args.positional_.size() < spec.min_positional ||
      args.positional_.size() > spec.max_positional) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "expected %s, got %d argument%s", spec.synopsis, args.positional_.size(),
        args.positional_.size() == 1 ? "" : "s"));
  }
  return args;
}

namespace {

// Invocation is how a user calls the command: "lazysnap create", or "format_sweep".
std::string Invocation(const CommandSpec& spec) {
  return spec.program.empty() ? spec.name : spec.program + " " + spec.name;
}

}  // namespace

std::string HelpText(const CommandSpec& spec) {
  std::string text = absl::StrFormat("usage: %s %s\n\n%s\n", Invocation(spec), spec.synopsis,
                                     spec.summary);
  if (!spec.description.empty()) text += "\n" + spec.description + "\n";
  if (!spec.flags.empty()) text += "\nflags:\n";
  for (const FlagSpec& f : spec.flags) {
    std::string left =
        f.short_name != 0 ? absl::StrFormat("-%c, --%s", f.short_name, f.name) : "--" + f.name;
    if (!f.value_name.empty()) left += " " + f.value_name;
    text += absl::StrFormat("  %-24s %s%s\n", left, f.help, f.repeated ? " (repeatable)" : "");
  }
  text += absl::StrFormat("  %-24s %s\n", "-h, --help", "show this help");
  return text;
}

bool WantsHelp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") return false;
    if (arg == "-h" || arg == "--help") return true;
  }
  return false;
}

int UsageError(const CommandSpec& spec, std::string_view message) {
  const std::string invocation = Invocation(spec);
  std::fprintf(stderr, "%s: %s (see: %s --help)\n", invocation.c_str(),
               std::string(message).c_str(), invocation.c_str());
  return kExitUsage;
}

int Fail(std::string_view command, const absl::Status& status, bool json) {
  std::fprintf(stderr, "lazysnap %s: %s\n", std::string(command).c_str(),
               std::string(status.message()).c_str());
  if (json) {
    JsonWriter writer;
    writer.BeginObject()
        .Member("error", std::string(status.message()))
        .Member("code", absl::StatusCodeToString(status.code()))
        .EndObject();
    std::printf("%s\n", writer.text().c_str());
  }
  return kExitFailure;
}

uint64_t HostMemoryBudgetBytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return uint64_t{1} << 30;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) / 4;
}

absl::Status CheckMemoryBudget(std::string_view what, uint64_t bytes, std::string_view advice) {
  const uint64_t budget = HostMemoryBudgetBytes();
  if (bytes <= budget) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s needs %s, more than a quarter of this host's memory (%s); %s", what,
      FormatBytes(bytes), FormatBytes(budget), advice));
}

absl::StatusOr<uint64_t> ParseSize(std::string_view text) {
  std::string s(text);
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  uint64_t number;
  if (digits == 0 || !absl::SimpleAtoi(s.substr(0, digits), &number)) {
    return absl::InvalidArgumentError(absl::StrFormat("'%s' is not a size (e.g. 65536, 64K, 1G)", text));
  }
  std::string suffix = s.substr(digits);
  for (char& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (suffix.size() > 1 && (suffix.substr(1) == "IB" || suffix.substr(1) == "B")) suffix.resize(1);
  int shift = 0;
  if (suffix.empty() || suffix == "B") {
    shift = 0;
  } else if (suffix == "K") {
    shift = 10;
  } else if (suffix == "M") {
    shift = 20;
  } else if (suffix == "G") {
    shift = 30;
  } else if (suffix == "T") {
    shift = 40;
  } else {
    return absl::InvalidArgumentError(absl::StrFormat("'%s' is not a size (e.g. 65536, 64K, 1G)", text));
  }
  if (shift > 0 && number > (UINT64_MAX >> shift)) {
    return absl::InvalidArgumentError(absl::StrFormat("size '%s' is too large", text));
  }
  return number << shift;
}

absl::StatusOr<int64_t> ParseInt(std::string_view text, int64_t min, int64_t max) {
  int64_t value;
  if (!absl::SimpleAtoi(std::string(text), &value) || value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrFormat("'%s' is not a whole number in [%d, %d]", text, min, max));
  }
  return value;
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> items;
  size_t at = 0;
  while (at <= text.size()) {
    size_t comma = text.find(',', at);
    if (comma == std::string_view::npos) comma = text.size();
    if (comma > at) items.emplace_back(text.substr(at, comma - at));
    at = comma + 1;
  }
  return items;
}

absl::StatusOr<std::vector<int64_t>> ParseIntList(std::string_view flag, std::string_view text,
                                                  int64_t min, int64_t max) {
  std::vector<int64_t> values;
  for (const std::string& item : SplitList(text)) {
    absl::StatusOr<int64_t> value = ParseInt(item, min, max);
    if (!value.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat("--%s: %s", flag, value.status().message()));
    }
    values.push_back(*value);
  }
  if (values.empty()) return absl::InvalidArgumentError(absl::StrFormat("--%s: empty list", flag));
  return values;
}

std::string FormatBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 5) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0) return absl::StrFormat("%d B", bytes);
  return absl::StrFormat(value < 10 ? "%.2f %s" : value < 100 ? "%.1f %s" : "%.0f %s", value,
                         kUnits[unit]);
}

std::string FormatRate(double bytes_per_second) {
  if (bytes_per_second >= 1e9) return absl::StrFormat("%.2f GB/s", bytes_per_second / 1e9);
  return absl::StrFormat("%.0f MB/s", bytes_per_second / 1e6);
}

std::string FormatDuration(double seconds) {
  if (seconds < 1e-3) return absl::StrFormat("%.0f us", seconds * 1e6);
  if (seconds < 1) return absl::StrFormat("%.1f ms", seconds * 1e3);
  return absl::StrFormat("%.2f s", seconds);
}

}  // namespace lazysnap::cli
