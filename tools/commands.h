// The lazysnap subcommands. Each command file defines one Command; lazysnap_main.cc
// dispatches argv[1] to it.
#ifndef LAZYSNAP_TOOLS_COMMANDS_H_
#define LAZYSNAP_TOOLS_COMMANDS_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

#include "tools/cli.h"

namespace lazysnap::cli {

struct Command {
  CommandSpec spec;
  // run executes a parsed command line and returns the process exit code.
  int (*run)(const ParsedArgs& args);
};

const Command& CreateCommand();
const Command& InspectCommand();
const Command& VerifyCommand();
const Command& ExtractCommand();
const Command& FlattenCommand();
const Command& FeaturesCommand();
const Command& RestoreCommand();
const Command& DemoCommand();
const Command& PushCommand();
const Command& ServeCommand();

// ParseChunkSize parses a --chunk-size value: a power of two from 4K to 4M
// (InvalidArgument naming the value otherwise).
absl::StatusOr<uint32_t> ParseChunkSize(std::string_view text);

// AllCommands in the order `lazysnap --help` lists them.
std::vector<const Command*> AllCommands();

}  // namespace lazysnap::cli

#endif  // LAZYSNAP_TOOLS_COMMANDS_H_
