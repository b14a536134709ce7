// The remote source over a slow, lossy link: a child process makes a network namespace
// of its own (so only its loopback is touched), adds `tc netem` delay and loss on its
// loopback, starts nginx there and reads every chunk of a snapshot through the remote
// source. Skips with the reason when the host cannot (no CAP_NET_ADMIN, or a kernel
// without sch_netem).
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "base/random_access_file.h"
#include "gtest/gtest.h"
#include "remote/snapshot_location.h"
#include "remote/testing/test_servers.h"
#include "remote/testing/test_snapshot.h"
#include "snapshot_format/test_util.h"

namespace lazysnap::remote {
namespace {

using lazysnap::testing::TempPath;

constexpr int kSkip = 77;

// InChild runs in the forked child: returns an exit code, writing why to `note`.
int InChild(const std::string& root, const std::string& note_path) {
  std::ofstream note(note_path);
  if (::unshare(CLONE_NEWNET) != 0) {
    note << "cannot make a network namespace: " << std::strerror(errno);
    return kSkip;
  }
  if (std::system("ip link set lo up") != 0) {
    note << "ip link set lo up failed";
    return kSkip;
  }
  // 4 ms each way on loopback (8 ms RTT), 2% loss.
  if (std::system("tc qdisc add dev lo root netem delay 4ms loss 2% 2>/dev/null") != 0) {
    note << "tc netem is not available (kernel without sch_netem, or no iproute2 tc)";
    return kSkip;
  }
  auto server = testing::StartNginx(root, root + "/../nginx_netem");
  if (!server.ok()) {
    note << server.status();
    return 1;
  }
  SnapshotLocationOptions options;
  options.cache_directory.clear();
  auto opened = OpenSnapshot(server->base_url() + "/snap.lzs", options);
  if (!opened.ok()) {
    note << opened.status();
    return 1;
  }
  auto local = LocalFile::Open(root + "/snap.lzs");
  const auto chunks = testing::StoredChunksOf(*opened->reader);
  auto results = testing::ReadChunksThrough(*opened->chunk_source, *opened->reader, chunks, 16);
  if (!results.ok()) {
    note << results.status();
    return 1;
  }
  for (size_t i = 0; i < chunks.size(); ++i) {
    auto location = opened->reader->Locate(chunks[i]);
    std::vector<uint8_t> expected(location->stored.stored_length_bytes);
    if (!(*local)->ReadAt(location->stored.file_offset_bytes, expected).ok() ||
        results->at(i).bytes != expected) {
      note << "chunk " << chunks[i] << " differs: " << results->at(i).detail;
      return 1;
    }
  }
  note << "ok: " << chunks.size() << " chunks, "
       << opened->remote_file->fetcher().stats().http_requests << " requests";
  return 0;
}

TEST(Netem, DelayAndLossOnLoopbackStillGiveEveryChunkByteExact) {
  if (testing::NginxPath().empty()) GTEST_SKIP() << "nginx is not installed";
  const std::string root = TempPath("netem_www");
  std::filesystem::create_directories(root);
  ASSERT_TRUE(testing::MakeTestSnapshot(root + "/snap.lzs", 4 << 20).ok());
  const std::string note_path = TempPath("netem_note");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(InChild(root, note_path));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  std::ifstream in(note_path);
  std::string note((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(WIFEXITED(status)) << note;
  if (WEXITSTATUS(status) == kSkip) GTEST_SKIP() << note;
  EXPECT_EQ(WEXITSTATUS(status), 0) << note;
}

}  // namespace
}  // namespace lazysnap::remote
