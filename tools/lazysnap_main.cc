// lazysnap: create, inspect, verify, extract and lazily restore memory snapshots.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "base/signal_cleanup.h"
#include "tools/commands.h"

namespace lazysnap::cli {

std::vector<const Command*> AllCommands() {
  return {&DemoCommand(), &CreateCommand(), &InspectCommand(), &VerifyCommand(),
          &ExtractCommand(), &FlattenCommand(), &RestoreCommand(), &PushCommand(),
          &ServeCommand(),
          &FeaturesCommand()};
}

namespace {

void PrintOverview(FILE* out) {
  std::fprintf(out,
               "usage: lazysnap COMMAND [ARGS...]\n\n"
               "lazysnap snapshots memory images into compressed, randomly accessible files\n"
               "and restores them lazily: pages are filled on first touch through\n"
               "userfaultfd, so a workload runs long before the whole image is loaded.\n\n"
               "commands:\n");
  for (const Command* command : AllCommands()) {
    std::fprintf(out, "  %-10s %s\n", command->spec.name.c_str(), command->spec.summary.c_str());
  }
  std::fprintf(out, "\n'lazysnap COMMAND --help' explains a command.\n");
}

int Main(int argc, char** argv) {
  // A signal that ends the process removes the temporary file being written and resumes
  // a process `create --pid --freeze` stopped (base/signal_cleanup.h).
  if (absl::Status status = InstallSignalCleanup(); !status.ok()) {
    std::fprintf(stderr, "lazysnap: %s\n", std::string(status.message()).c_str());
    return kExitFailure;
  }
  // Past the file size limit (ulimit -f), write(2) then fails with EFBIG, which is
  // reported and cleaned up like any write error, instead of SIGXFSZ killing the process.
  std::signal(SIGXFSZ, SIG_IGN);
  if (argc < 2) {
    PrintOverview(stderr);
    return kExitUsage;
  }
  std::string_view name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    if (name == "help" && argc > 2) {
      for (const Command* command : AllCommands()) {
        if (command->spec.name == argv[2]) {
          std::fputs(HelpText(command->spec).c_str(), stdout);
          return kExitOk;
        }
      }
    }
    PrintOverview(stdout);
    return kExitOk;
  }
  for (const Command* command : AllCommands()) {
    if (command->spec.name != name) continue;
    if (WantsHelp(argc - 1, argv + 1)) {
      std::fputs(HelpText(command->spec).c_str(), stdout);
      return kExitOk;
    }
    auto args = Parse(command->spec, argc - 1, argv + 1);
    if (!args.ok()) return UsageError(command->spec, std::string(args.status().message()));
    const int code = command->run(*args);
    // A result that could not be written (stdout on a full disk, /dev/full) is a
    // failure: a script reading it would otherwise take silence for success.
    errno = 0;
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
      std::fprintf(stderr, "lazysnap %s: writing standard output: %s\n", argv[1],
                   errno != 0 ? std::strerror(errno) : "error");
      return code == kExitOk ? kExitFailure : code;
    }
    return code;
  }
  std::fprintf(stderr, "lazysnap: unknown command '%s' (see: lazysnap --help)\n", argv[1]);
  return kExitUsage;
}

}  // namespace
}  // namespace lazysnap::cli

int main(int argc, char** argv) { return lazysnap::cli::Main(argc, argv); }
