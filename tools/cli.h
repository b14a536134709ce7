// Command-line plumbing shared by the lazysnap subcommands: flag parsing with one-line
// usage errors, byte-size and duration formatting, and exit codes.
#ifndef LAZYSNAP_TOOLS_CLI_H_
#define LAZYSNAP_TOOLS_CLI_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace lazysnap::cli {

// Exit codes: kExitUsage for a command line that cannot be run as written (an unknown
// flag, a bad or missing value, contradicting flags); kExitFailure when the operation
// failed, whatever the reason (a missing or corrupt file, an I/O error, a refused chunk).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct FlagSpec {
  std::string name;        // without dashes: "chunk-size"
  std::string value_name;  // "SIZE"; empty for a boolean flag
  std::string help;
  bool repeated = false;
  char short_name = 0;     // 'o' for -o; 0 for none
};

struct CommandSpec {
  std::string name;       // "create"
  std::string synopsis;   // "IMAGE -o SNAP [flags]"
  std::string summary;    // one line
  std::string description;  // paragraphs for --help
  size_t min_positional = 0;
  size_t max_positional = 0;
  std::vector<FlagSpec> flags;
  // program: what help and usage errors put before `name` ("lazysnap create"); empty for
  // a program of its own (a bench binary named `name`).
  std::string program = "lazysnap";
};

// ParsedArgs: the result of parsing one subcommand's arguments.
class ParsedArgs {
 public:
  const std::vector<std::string>& positional() const { return positional_; }
  bool Has(std::string_view flag) const { return values_.count(std::string(flag)) != 0; }
  // Value returns the flag's last value, or `fallback`.
  std::string Value(std::string_view flag, std::string_view fallback = "") const;
  const std::vector<std::string>& Values(std::string_view flag) const;

 private:
  friend absl::StatusOr<ParsedArgs> Parse(const CommandSpec&, int, char**);
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>> values_;
};

// Parse parses argv (argv[0] is the subcommand name). InvalidArgument with a one-line
// message for an unknown flag, a missing value or a wrong number of arguments.
absl::StatusOr<ParsedArgs> Parse(const CommandSpec& spec, int argc, char** argv);

// HelpText renders `lazysnap <command> --help`.
std::string HelpText(const CommandSpec& spec);

// WantsHelp is true when argv holds -h or --help.
bool WantsHelp(int argc, char** argv);

// UsageError prints "lazysnap <command>: <message>" and a hint to stderr; returns 2.
int UsageError(const CommandSpec& spec, std::string_view message);

// Fail prints "lazysnap <command>: <status message>" to stderr and returns kExitFailure.
// With `json` (the command was given --json), stdout also gets one JSON object,
// {"error": message, "code": "DATA_LOSS"}, so a program reading the output always finds
// a document.
int Fail(std::string_view command, const absl::Status& status, bool json = false);

// HostMemoryBudgetBytes is what one command's buffers may take: a quarter of this host's
// physical memory. Flags whose product exceeds it (threads x buffer sizes) are refused
// before any work rather than left to the out-of-memory killer.
uint64_t HostMemoryBudgetBytes();

// CheckMemoryBudget: OK, or InvalidArgument "<what> needs <bytes>, more than a quarter of
// this host's memory (<budget>); <advice>".
absl::Status CheckMemoryBudget(std::string_view what, uint64_t bytes, std::string_view advice);

// ParseSize parses "4096", "64K", "64KiB", "1M", "2G" (binary multiples).
absl::StatusOr<uint64_t> ParseSize(std::string_view text);
// ParseInt parses a decimal integer within [min, max].
absl::StatusOr<int64_t> ParseInt(std::string_view text, int64_t min, int64_t max);
// SplitList splits "a,b,,c" into {"a", "b", "c"} (empty items are dropped).
std::vector<std::string> SplitList(std::string_view text);
// ParseIntList parses a comma-separated list of integers within [min, max]; the error
// names `flag`. An empty list is an error.
absl::StatusOr<std::vector<int64_t>> ParseIntList(std::string_view flag, std::string_view text,
                                                  int64_t min, int64_t max);

// ParseIntFlag parses the value of flag `name`, when it was given, into *out (an integer
// type that holds [min, max]); InvalidArgument naming the flag otherwise. Absent: *out is
// left as it is.
template <typename T>
absl::Status ParseIntFlag(const ParsedArgs& args, std::string_view name, int64_t min,
                          int64_t max, T* out) {
  if (!args.Has(name)) return absl::OkStatus();
  absl::StatusOr<int64_t> value = ParseInt(args.Value(name), min, max);
  if (!value.ok()) {
    return absl::InvalidArgumentError("--" + std::string(name) + ": " +
                                      std::string(value.status().message()));
  }
  *out = static_cast<T>(*value);
  return absl::OkStatus();
}

// FormatBytes renders 1536 as "1.5 KiB", 1073741824 as "1.00 GiB".
std::string FormatBytes(uint64_t bytes);
// FormatRate renders bytes per second as "523 MB/s" (decimal units, as disks quote).
std::string FormatRate(double bytes_per_second);
// FormatDuration renders seconds as "850 us", "12.3 ms", "1.52 s".
std::string FormatDuration(double seconds);

}  // namespace lazysnap::cli

#endif  // LAZYSNAP_TOOLS_CLI_H_
