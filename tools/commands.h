// The lazysnap subcommands. Each command file defines one Command; lazysnap_main.cc
// dispatches argv[1] to it.
#ifndef LAZYSNAP_TOOLS_COMMANDS_H_
#define LAZYSNAP_TOOLS_COMMANDS_H_

#include <vector>

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
const Command& FeaturesCommand();
const Command& RestoreCommand();
const Command& DemoCommand();
const Command& ServeCommand();

// AllCommands in the order `lazysnap --help` lists them.
std::vector<const Command*> AllCommands();

}  // namespace lazysnap::cli

#endif  // LAZYSNAP_TOOLS_COMMANDS_H_
