// The remote source over a slow, lossy link: a child process makes a network namespace
// of its own (so only its loopback is touched), adds `tc netem` delay and loss on its
// loopback, starts nginx there and reads every chunk of a snapshot through the remote
// source. On a kernel without sch_netem (the project's Firecracker guests) the loss comes
// from an nftables rule dropping 2% of loopback packets at random and the delay from the
// loopback delay proxy. Skips with the reason when the host can do neither (no
// CAP_NET_ADMIN, no tc nor nft).
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "base/random_access_file.h"
#include "gtest/gtest.h"
#include "remote/snapshot_location.h"
#include "remote/testing/delay_proxy.h"
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
  const bool netem =
      std::system("tc qdisc add dev lo root netem delay 4ms loss 2% 2>/dev/null") == 0;
  if (!netem &&
      std::system("nft add table ip lossy && "
                  "nft add chain ip lossy out '{ type filter hook output priority 0; }' && "
                  "nft add rule ip lossy out oif lo numgen random mod 100 '<' 2 drop") != 0) {
    note << "neither tc netem (kernel without sch_netem?) nor nft (nftables) can add loss";
    return kSkip;
  }
  auto server = testing::StartNginx(root, root + "/../nginx_netem");
  if (!server.ok()) {
    note << server.status();
    return 1;
  }
  int port = server->port;
  std::unique_ptr<testing::DelayProxy> proxy;
  if (!netem) {
    auto started = testing::DelayProxy::Start(port, std::chrono::milliseconds(8));
    if (!started.ok()) {
      note << started.status();
      return 1;
    }
    proxy = std::move(*started);
    port = proxy->port();
  }
  SnapshotLocationOptions options;
  options.cache_directory.clear();
  auto opened =
      OpenSnapshot("http://127.0.0.1:" + std::to_string(port) + "/snap.lzs", options);
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
  note << "ok (" << (netem ? "netem" : "nft loss + delay proxy") << "): " << chunks.size()
       << " chunks, " << opened->remote_file->fetcher().stats().http_requests << " requests";
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
  std::printf("%s\n", note.c_str());
}

}  // namespace
}  // namespace lazysnap::remote
