#include "base/signal_cleanup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_format.h"

namespace lazysnap {
namespace {

std::string TempPath(const std::string& name) {
  const char* root = std::getenv("TEST_TMPDIR");
  return absl::StrFormat("%s/%s", root != nullptr ? root : "/tmp", name);
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

void Touch(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0) << path;
  ::close(fd);
}

TEST(SignalCleanup, SignalUnlinksRegisteredPathsOnlyAndStillEndsTheProcess) {
  const std::string kept = TempPath("cleanup_kept");
  const std::string released = TempPath("cleanup_released");
  const std::string removed = TempPath("cleanup_removed");
  for (const std::string& path : {kept, released, removed}) Touch(path);
  pid_t child = ::fork();
  if (child == 0) {
    ::signal(SIGTERM, SIG_DFL);
    if (!InstallSignalCleanup().ok()) ::_exit(3);
    auto gone = SignalCleanupEntry::UnlinkOnSignal(removed);
    auto withdrawn = SignalCleanupEntry::UnlinkOnSignal(released);
    if (!gone.ok() || !withdrawn.ok()) ::_exit(4);
    withdrawn->Release();
    ::raise(SIGTERM);
    ::_exit(5);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  EXPECT_FALSE(Exists(removed));
  EXPECT_TRUE(Exists(released));
  EXPECT_TRUE(Exists(kept));
}

TEST(SignalCleanup, DirectoriesAreRemovedAfterTheirFiles) {
  const std::string dir = TempPath("cleanup_dir");
  ::mkdir(dir.c_str(), 0755);
  const std::string file = dir + "/file";
  Touch(file);
  pid_t child = ::fork();
  if (child == 0) {
    ::signal(SIGTERM, SIG_DFL);
    if (!InstallSignalCleanup().ok()) ::_exit(3);
    // Registered directory first, as a command makes it before its files.
    auto d = SignalCleanupEntry::RemoveDirectoryOnSignal(dir);
    auto f = SignalCleanupEntry::UnlinkOnSignal(file);
    if (!d.ok() || !f.ok()) ::_exit(4);
    ::raise(SIGTERM);
    ::_exit(5);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  EXPECT_FALSE(Exists(dir));
}

TEST(SignalCleanup, IgnoredSignalStaysIgnored) {
  pid_t child = ::fork();
  if (child == 0) {
    ::signal(SIGHUP, SIG_IGN);
    if (!InstallSignalCleanup().ok()) ::_exit(3);
    ::raise(SIGHUP);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(SignalCleanup, SignalResumesAStoppedProcess) {
  pid_t stopped = ::fork();
  if (stopped == 0) {
    ::pause();
    ::_exit(0);
  }
  ASSERT_EQ(::kill(stopped, SIGSTOP), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(stopped, &status, WUNTRACED), stopped);
  ASSERT_TRUE(WIFSTOPPED(status));
  pid_t stopper = ::fork();
  if (stopper == 0) {
    ::signal(SIGINT, SIG_DFL);
    if (!InstallSignalCleanup().ok()) ::_exit(3);
    int proc_dir = ::open(absl::StrFormat("/proc/%d", stopped).c_str(),
                          O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (proc_dir < 0) ::_exit(4);
    auto entry = SignalCleanupEntry::ContinueOnSignal(proc_dir);
    if (!entry.ok()) ::_exit(5);
    ::raise(SIGINT);
    ::_exit(6);
  }
  ASSERT_EQ(::waitpid(stopper, &status, 0), stopper);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) << status;
  EXPECT_EQ(::waitpid(stopped, &status, WCONTINUED), stopped);
  EXPECT_TRUE(WIFCONTINUED(status)) << status;
  ::kill(stopped, SIGKILL);
  ::waitpid(stopped, nullptr, 0);
}

TEST(SignalCleanup, TableIsBounded) {
  std::vector<SignalCleanupEntry> entries;
  absl::Status last;
  for (int i = 0; i <= SignalCleanupEntry::kMaxEntries; ++i) {
    auto entry = SignalCleanupEntry::UnlinkOnSignal(TempPath("never_created"));
    if (!entry.ok()) {
      last = entry.status();
      break;
    }
    entries.push_back(std::move(*entry));
  }
  EXPECT_TRUE(absl::IsResourceExhausted(last)) << last;
  entries.clear();
  EXPECT_TRUE(SignalCleanupEntry::UnlinkOnSignal(TempPath("never_created")).ok());
}

}  // namespace
}  // namespace lazysnap
