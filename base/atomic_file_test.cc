#include "base/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_format.h"
#include "base/file_io.h"
#include "base/signal_cleanup.h"

namespace lazysnap {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A fresh directory per test, so that a listing shows exactly what the test left.
std::string FreshDir(const std::string& name) {
  const char* root = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrFormat("%s/%s", root != nullptr ? root : "/tmp", name);
  std::system(absl::StrFormat("rm -rf '%s'", dir).c_str());
  EXPECT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir;
  return dir;
}

std::vector<std::string> List(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (const dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

void WriteWholeFile(const std::string& path, const std::string& contents, mode_t mode = 0644) {
  auto fd = OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  ASSERT_TRUE(fd.ok()) << fd.status();
  ASSERT_TRUE(WriteFull(fd->get(), Bytes(contents), path).ok());
  ASSERT_EQ(::fchmod(fd->get(), mode), 0);
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Runs `body` in a child process and returns its wait status.
template <typename Body>
int InChild(Body body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

pid_t DeadPid() {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

class AtomicFileModes : public ::testing::TestWithParam<bool> {
 protected:
  AtomicFileOptions Options() const {
    AtomicFileOptions options;
    options.allow_unnamed = GetParam();
    return options;
  }
};

TEST_P(AtomicFileModes, UncommittedFileLeavesNothingBehind) {
  const std::string dir = FreshDir(absl::StrFormat("uncommitted_%d", GetParam()));
  {
    auto file = AtomicFile::Create(dir + "/out", Options());
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE(WriteFull(file->fd(), Bytes("partial"), file->temp_path()).ok());
    if (!file->unnamed()) {
      EXPECT_EQ(List(dir), std::vector<std::string>{file->temp_path().substr(dir.size() + 1)});
    }
  }
  EXPECT_TRUE(List(dir).empty());
}

TEST_P(AtomicFileModes, CommitReplacesTheFinalFileAndKeepsItsMode) {
  const std::string dir = FreshDir(absl::StrFormat("committed_%d", GetParam()));
  const std::string path = dir + "/out";
  WriteWholeFile(path, "old contents", 0640);
  auto file = AtomicFile::Create(path, Options());
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(WriteFull(file->fd(), Bytes("new"), file->temp_path()).ok());
  // Until Commit, readers of the final path still see the old file.
  EXPECT_EQ(*ReadFileToString(path), "old contents");
  ASSERT_TRUE(file->Commit().ok());
  EXPECT_EQ(*ReadFileToString(path), "new");
  EXPECT_EQ(ModeOf(path), 0640u);
  EXPECT_FALSE(file->Commit().ok());
  EXPECT_EQ(List(dir), std::vector<std::string>{"out"});
}

TEST_P(AtomicFileModes, NewFileIsReadableByItsOwnerOnly) {
  const std::string dir = FreshDir(absl::StrFormat("private_%d", GetParam()));
  const mode_t old_umask = ::umask(022);
  auto file = AtomicFile::Create(dir + "/out", Options());
  ::umask(old_umask);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(file->Commit().ok());
  EXPECT_EQ(ModeOf(dir + "/out"), 0600u);
}

TEST_P(AtomicFileModes, CommitRefusesAFinalPathReplacedByADirectoryMeanwhile) {
  const std::string dir = FreshDir(absl::StrFormat("replaced_%d", GetParam()));
  auto file = AtomicFile::Create(dir + "/out", Options());
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(::mkdir((dir + "/out").c_str(), 0755), 0);
  absl::Status status = file->Commit();
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_EQ(List(dir), std::vector<std::string>{"out"});
  EXPECT_TRUE(List(dir + "/out").empty());
}

INSTANTIATE_TEST_SUITE_P(UnnamedAndNamed, AtomicFileModes, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Unnamed" : "Named"; });

TEST(AtomicFile, RefusesPathsThatAreNotRegularFilesBeforeWritingAnything) {
  const std::string dir = FreshDir("refused");
  WriteWholeFile(dir + "/target", "keep me");
  ASSERT_EQ(::symlink("target", (dir + "/link").c_str()), 0);
  ASSERT_EQ(::mkdir((dir + "/subdir").c_str(), 0755), 0);
  ASSERT_EQ(::mkfifo((dir + "/fifo").c_str(), 0644), 0);
  // Bound from inside the directory: the absolute path may be longer than sun_path.
  ASSERT_EQ(InChild([&] {
              sockaddr_un address = {};
              address.sun_family = AF_UNIX;
              std::snprintf(address.sun_path, sizeof(address.sun_path), "sock");
              int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
              if (::chdir(dir.c_str()) != 0 ||
                  ::bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
                ::_exit(1);
              }
            }),
            0);
  std::vector<std::string> refused = {"link", "subdir", "fifo", "sock"};
  // A device node made here, never a real one: a regression must not replace /dev/null.
  if (::mknod((dir + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0) {
    refused.push_back("null");
  }
  const std::vector<std::string> before = List(dir);
  for (const std::string& name : refused) {
    auto file = AtomicFile::Create(dir + "/" + name);
    EXPECT_TRUE(absl::IsFailedPrecondition(file.status())) << name << ": " << file.status();
    EXPECT_NE(file.status().message().find(name), absl::string_view::npos) << file.status();
    EXPECT_TRUE(absl::IsFailedPrecondition(OutputProblem(dir + "/" + name))) << name;
  }
  EXPECT_NE(AtomicFile::Create(dir + "/link").status().message().find("symbolic link to target"),
            absl::string_view::npos);
  EXPECT_TRUE(absl::IsInvalidArgument(AtomicFile::Create("").status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(AtomicFile::Create(dir + "/new/").status()));
  EXPECT_TRUE(absl::IsNotFound(AtomicFile::Create(dir + "/missing/out").status()));
  EXPECT_EQ(List(dir), before);
  EXPECT_EQ(*ReadFileToString(dir + "/target"), "keep me");
}

TEST_P(AtomicFileModes, NameOfTheLongestAllowedLengthIsWritten) {
  // The temporary name must fit too: a name near NAME_MAX failed at the final rename.
  const std::string dir = FreshDir(absl::StrFormat("long_%d", GetParam()));
  const std::string path = dir + "/" + std::string(NAME_MAX, 'x');
  {
    auto file = AtomicFile::Create(path, Options());
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE(WriteFull(file->fd(), Bytes("long"), file->temp_path()).ok());
    ASSERT_TRUE(file->Commit().ok());
  }
  EXPECT_EQ(*ReadFileToString(path), "long");
  EXPECT_EQ(List(dir).size(), 1u);
  // A killed writer's file of such a name is still recognised as stale.
  int status = InChild([&] {
    auto file = AtomicFile::Create(path, {.allow_unnamed = false});
    if (!file.ok()) ::_exit(3);
    ::kill(::getpid(), SIGKILL);
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(List(dir).size(), 2u);
  EXPECT_EQ(RemoveStaleTemporaryFiles(path), 1);
}

TEST(AtomicFile, SameFileSeesThroughLinks) {
  const std::string dir = FreshDir("same");
  WriteWholeFile(dir + "/a", "a");
  WriteWholeFile(dir + "/b", "b");
  ASSERT_EQ(::symlink("a", (dir + "/sym").c_str()), 0);
  ASSERT_EQ(::link((dir + "/a").c_str(), (dir + "/hard").c_str()), 0);
  EXPECT_TRUE(SameFile(dir + "/a", dir + "/a"));
  EXPECT_TRUE(SameFile(dir + "/a", dir + "/sym"));
  EXPECT_TRUE(SameFile(dir + "/hard", dir + "/a"));
  EXPECT_FALSE(SameFile(dir + "/a", dir + "/b"));
  EXPECT_FALSE(SameFile(dir + "/a", dir + "/missing"));
}

TEST(AtomicFile, KilledWriterOfAnUnnamedFileLeavesNothing) {
  const std::string dir = FreshDir("killed_unnamed");
  {
    auto probe = AtomicFile::Create(dir + "/probe");
    ASSERT_TRUE(probe.ok()) << probe.status();
    if (!probe->unnamed()) GTEST_SKIP() << "this file system has no O_TMPFILE";
  }
  int status = InChild([&] {
    auto file = AtomicFile::Create(dir + "/out");
    if (!file.ok()) ::_exit(3);
    std::string data(1 << 20, 'x');
    if (!WriteFull(file->fd(), Bytes(data), file->temp_path()).ok()) ::_exit(4);
    ::kill(::getpid(), SIGKILL);
  });
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_TRUE(List(dir).empty());
}

TEST(AtomicFile, NextWriterRemovesTheTemporaryFileOfAKilledOne) {
  const std::string dir = FreshDir("killed_named");
  int status = InChild([&] {
    auto file = AtomicFile::Create(dir + "/out", {.allow_unnamed = false});
    if (!file.ok()) ::_exit(3);
    if (!WriteFull(file->fd(), Bytes("partial"), file->temp_path()).ok()) ::_exit(4);
    ::kill(::getpid(), SIGKILL);
  });
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  ASSERT_EQ(List(dir).size(), 1u);
  // Files that only look alike are not touched.
  for (const char* name : {"out.tmp.x.1", "out.tmpfile", "other.tmp.1.1", "out.tmp.1"}) {
    WriteWholeFile(dir + "/" + name, "unrelated");
  }
  auto file = AtomicFile::Create(dir + "/out", {.allow_unnamed = false});
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->stale_files_removed(), 1);
  ASSERT_TRUE(file->Commit().ok());
  EXPECT_EQ(List(dir), (std::vector<std::string>{"other.tmp.1.1", "out", "out.tmp.1",
                                                  "out.tmp.x.1", "out.tmpfile"}));
}

TEST(AtomicFile, LockedTemporaryFileIsKeptEvenWhenItsPidLooksDead) {
  // A writer in another pid namespace: its pid means nothing here, its lock does.
  const std::string dir = FreshDir("locked");
  const std::string temp = absl::StrFormat("%s/out.tmp.%d.0", dir, DeadPid());
  WriteWholeFile(temp, "being written");
  auto fd = OpenFile(temp, O_RDONLY);
  ASSERT_TRUE(fd.ok());
  ASSERT_EQ(::flock(fd->get(), LOCK_EX), 0);
  EXPECT_EQ(RemoveStaleTemporaryFiles(dir + "/out"), 0);
  EXPECT_EQ(::access(temp.c_str(), F_OK), 0);
  fd->Reset();
  EXPECT_EQ(RemoveStaleTemporaryFiles(dir + "/out"), 1);
  EXPECT_NE(::access(temp.c_str(), F_OK), 0);
}

TEST(AtomicFile, TerminatingSignalsRemoveTheNamedTemporaryFile) {
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
    const std::string dir = FreshDir(absl::StrFormat("signal_%d", signal_number));
    int status = InChild([&] {
      ::signal(signal_number, SIG_DFL);
      if (!InstallSignalCleanup().ok()) ::_exit(3);
      auto file = AtomicFile::Create(dir + "/out", {.allow_unnamed = false});
      if (!file.ok()) ::_exit(4);
      if (!WriteFull(file->fd(), Bytes("partial"), file->temp_path()).ok()) ::_exit(5);
      ::raise(signal_number);
      ::_exit(6);  // not reached: the signal still ends the process
    });
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == signal_number)
        << "signal " << signal_number << ": status " << status;
    EXPECT_TRUE(List(dir).empty()) << "signal " << signal_number;
  }
}

}  // namespace
}  // namespace lazysnap
