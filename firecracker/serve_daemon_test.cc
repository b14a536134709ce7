// The serve daemon against test_vmm, a stand-in that does what Firecracker does (see
// test_vmm.cc), and against hostile peers that do what Firecracker never would.
#include "firecracker/serve_daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <linux/userfaultfd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/file_io.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/snapshot_writer.h"
#include "snapshot_format/test_util.h"

extern char** environ;

namespace lazysnap::firecracker {
namespace {

using testing::Fill;

constexpr uint64_t kMiB = 1 << 20;

// SocketPath returns a fresh socket path short enough for sockaddr_un (the test's
// temporary directory may not be).
std::string SocketPath(std::string_view name) {
  static int counter = 0;
  return absl::StrFormat("/tmp/lazysnap-test-%d-%d-%s.sock", ::getpid(), counter++, name);
}

bool WaitFor(const std::function<bool()>& condition, int timeout_ms = 10000) {
  for (int waited = 0; waited < timeout_ms; waited += 5) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

// A raw guest memory file and its snapshot (one region per `region_count` equal part).
struct GuestImage {
  std::string raw_path;
  std::string snapshot_path;
  std::shared_ptr<const SnapshotReader> reader;
};

GuestImage MakeGuestImage(std::string_view name, uint64_t size, int region_count,
                          uint32_t chunk_bytes = 32768) {
  GuestImage image;
  image.raw_path = testing::TempPath(std::string(name) + ".mem");
  image.snapshot_path = testing::TempPath(std::string(name) + ".lzs");
  std::vector<uint8_t> bytes = testing::MixedImage(
      size, 32768, {Fill::kText, Fill::kZero, Fill::kRecords, Fill::kRandom, Fill::kCopyOfFirstText});
  testing::WriteFileBytes(image.raw_path, bytes);
  std::vector<format::Region> regions;
  for (int i = 0; i < region_count; ++i) {
    format::Region region;
    region.image_offset_bytes = i * (size / region_count);
    region.length_bytes = size / region_count;
    regions.push_back(region);
  }
  auto source = FileImageSource::Open(image.raw_path, region_count > 1 ? regions
                                                                        : std::vector<format::Region>{});
  EXPECT_TRUE(source.ok()) << source.status();
  WriterOptions writer;
  writer.chunk_size_bytes = chunk_bytes;
  absl::StatusOr<WriteSummary> written = WriteSnapshot(**source, image.snapshot_path, writer);
  EXPECT_TRUE(written.ok()) << written.status();
  auto reader = SnapshotReader::Open(image.snapshot_path, {.validate_index = false});
  EXPECT_TRUE(reader.ok()) << reader.status();
  image.reader = std::move(*reader);
  return image;
}

// DaemonUnderTest: a ServeDaemon running on its own thread, with its log captured.
class DaemonUnderTest {
 public:
  DaemonUnderTest(std::shared_ptr<const SnapshotReader> reader, ServeOptions options) {
    if (options.socket_path.empty()) options.socket_path = SocketPath("serve");
    options.log = [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.emplace_back(line);
    };
    socket_path_ = options.socket_path;
    auto daemon = ServeDaemon::Create(std::move(reader), std::move(options));
    EXPECT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    thread_ = std::thread([this] { run_status_ = daemon_->Run(); });
  }
  ~DaemonUnderTest() { Stop().IgnoreError(); }

  absl::Status Stop() {
    if (thread_.joinable()) {
      daemon_->RequestStop();
      thread_.join();
    }
    return run_status_;
  }

  ServeDaemon& daemon() { return *daemon_; }
  const std::string& socket_path() const { return socket_path_; }
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }
  bool Logged(std::string_view part) {
    for (const std::string& line : lines()) {
      if (line.find(part) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::unique_ptr<ServeDaemon> daemon_;
  std::string socket_path_;
  std::thread thread_;
  absl::Status run_status_;
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

// Vmm: a test_vmm process.
struct Vmm {
  pid_t pid = -1;
  int stdout_fd = -1;
  int exit_code = -1;    // when exited
  int term_signal = 0;   // when killed
  std::string output;

  static Vmm Spawn(const std::vector<std::string>& args) {
    Vmm vmm;
    int pipe_fds[2];
    EXPECT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    const std::string binary = testing::RunfilesPath("firecracker/test_vmm");
    std::vector<char*> argv = {const_cast<char*>(binary.c_str())};
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&vmm.pid, binary.c_str(), &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[1]);
    vmm.stdout_fd = pipe_fds[0];
    return vmm;
  }

  // ReadLine reads stdout up to the first newline (blocking).
  std::string ReadLine() {
    std::string line;
    char c;
    while (::read(stdout_fd, &c, 1) == 1 && c != '\n') line += c;
    return line;
  }

  void Wait() {
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(stdout_fd, buffer, sizeof(buffer))) > 0) output.append(buffer, n);
    ::close(stdout_fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status)) exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) term_signal = WTERMSIG(status);
  }

  // Field reads an unsigned field of the JSON line it printed.
  uint64_t Field(const char* key) const {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    uint64_t value = 0;
    if (parser.parse(output).get(root) == simdjson::SUCCESS) {
      if (root[key].get_uint64().get(value) != simdjson::SUCCESS) value = 0;
    }
    return value;
  }
};

std::vector<std::string> VmmArgs(const DaemonUnderTest& daemon, const GuestImage& image,
                                 uint64_t size, std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--socket", daemon.socket_path(), "--size",
                                   std::to_string(size), "--image", image.raw_path};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

#define RUN_VMM_OR_SKIP(vmm, args)                                                 \
  Vmm vmm = Vmm::Spawn(args);                                                      \
  vmm.Wait();                                                                      \
  if (vmm.exit_code == 3) GTEST_SKIP() << "no userfaultfd here: " << vmm.output;

ServeOptions Options() {
  ServeOptions options;
  options.handshake_timeout_ms = 2000;
  options.shutdown_grace_ms = 0;
  return options;
}

TEST(ServeDaemon, ServesEveryFirecrackerMessageShape) {
  GuestImage image = MakeGuestImage("shapes", 4 * kMiB, 1);
  DaemonUnderTest daemon(image.reader, Options());
  for (const char* shape : {"v1.1", "v1.7", "v1.12", "page_size"}) {
    SCOPED_TRACE(shape);
    RUN_VMM_OR_SKIP(vmm, VmmArgs(daemon, image, 4 * kMiB, {"--shape", shape, "--kernel-io", "--balloon"}));
    EXPECT_EQ(vmm.exit_code, 0) << vmm.output;
    EXPECT_EQ(vmm.Field("mismatched"), 0u) << vmm.output;
    EXPECT_EQ(vmm.Field("pages_touched"), 4 * kMiB / 4096);
    EXPECT_GT(vmm.Field("kernel_io_bytes"), 0u);
    EXPECT_GT(vmm.Field("balloon_pages"), 0u);
  }
  EXPECT_TRUE(WaitFor([&] { return daemon.daemon().counts().vms_active == 0; }));
  DaemonCounts counts = daemon.daemon().counts();
  EXPECT_EQ(counts.vms_served, 4u);
  EXPECT_EQ(counts.refused, 0u);
  EXPECT_TRUE(daemon.Logged("message shape: page_size_kib (Firecracker v1.7-v1.11)"));
  EXPECT_TRUE(daemon.Logged("ended (the VMM hung up)"));
  EXPECT_TRUE(daemon.Stop().ok());
}

TEST(ServeDaemon, ServesSeveralRegionsAndAWorkingSet) {
  GuestImage image = MakeGuestImage("regions", 6 * kMiB, 3);
  ServeOptions options = Options();
  options.vm.policy = ServePolicy::kBackground;
  DaemonUnderTest daemon(image.reader, options);
  RUN_VMM_OR_SKIP(vmm, VmmArgs(daemon, image, 6 * kMiB,
                               {"--regions", "3", "--access", "ws:10", "--kernel-io", "--balloon"}));
  EXPECT_EQ(vmm.exit_code, 0) << vmm.output;
  EXPECT_EQ(vmm.Field("regions"), 3u);
}

TEST(ServeDaemon, PolicyAllPopulatesEverythingWhileServingDemand) {
  GuestImage image = MakeGuestImage("all", 6 * kMiB, 1);
  ServeOptions options = Options();
  options.vm.policy = ServePolicy::kAll;
  DaemonUnderTest daemon(image.reader, options);
  RUN_VMM_OR_SKIP(vmm, VmmArgs(daemon, image, 6 * kMiB, {"--kernel-io", "--balloon"}));
  EXPECT_EQ(vmm.exit_code, 0) << vmm.output;
  EXPECT_TRUE(daemon.Logged("serving (policy all"));
}

TEST(ServeDaemon, ServesConcurrentVmmsEachWithItsOwnSession) {
  GuestImage image = MakeGuestImage("concurrent", 8 * kMiB, 1);
  DaemonUnderTest daemon(image.reader, Options());
  std::vector<Vmm> vmms;
  for (int i = 0; i < 4; ++i) {
    vmms.push_back(Vmm::Spawn(VmmArgs(daemon, image, 8 * kMiB,
                                      {"--seed", std::to_string(i + 1), "--balloon"})));
  }
  for (Vmm& vmm : vmms) vmm.Wait();
  for (Vmm& vmm : vmms) {
    if (vmm.exit_code == 3) GTEST_SKIP() << "no userfaultfd here: " << vmm.output;
    EXPECT_EQ(vmm.exit_code, 0) << vmm.output;
  }
  EXPECT_TRUE(WaitFor([&] { return daemon.daemon().counts().vms_active == 0; }));
  EXPECT_EQ(daemon.daemon().counts().vms_served, 4u);
}

TEST(ServeDaemon, AVmmKilledMidRestoreEndsItsSessionOnly) {
  GuestImage image = MakeGuestImage("killed", 8 * kMiB, 1);
  DaemonUnderTest daemon(image.reader, Options());
  Vmm hung = Vmm::Spawn(VmmArgs(daemon, image, 8 * kMiB, {"--hang-after-pages", "100"}));
  const std::string line = hung.ReadLine();
  if (line.find("\"hung\"") == std::string::npos) {
    hung.Wait();
    if (hung.exit_code == 3) GTEST_SKIP() << "no userfaultfd here: " << line;
    FAIL() << line << hung.output;
  }
  // A second VMM is served while the first one is stuck.
  Vmm other = Vmm::Spawn(VmmArgs(daemon, image, 8 * kMiB, {"--hang-after-pages", "1"}));
  EXPECT_NE(other.ReadLine().find("\"hung\""), std::string::npos);
  EXPECT_EQ(daemon.daemon().counts().vms_active, 2u);
  ::kill(hung.pid, SIGKILL);
  hung.Wait();
  EXPECT_TRUE(WaitFor([&] { return daemon.daemon().counts().vms_active == 1; }));
  EXPECT_TRUE(daemon.Logged(absl::StrFormat("vm pid %d", hung.pid)));
  // The survivor's session goes on; a new VMM is served in full.
  RUN_VMM_OR_SKIP(fresh, VmmArgs(daemon, image, 8 * kMiB));
  EXPECT_EQ(fresh.exit_code, 0) << fresh.output;
  ::kill(other.pid, SIGKILL);
  other.Wait();
  EXPECT_TRUE(WaitFor([&] { return daemon.daemon().counts().vms_active == 0; }));
}

TEST(ServeDaemon, AGuestThatDoesNotFitTheSnapshotIsRefusedAndItsVmmKilled) {
  GuestImage image = MakeGuestImage("misfit", 4 * kMiB, 1);
  DaemonUnderTest daemon(image.reader, Options());  // fatal policy: kill
  for (std::vector<std::string> lie : {std::vector<std::string>{"--bad-size"},
                                       std::vector<std::string>{"--bad-offset"},
                                       std::vector<std::string>{"--regions", "2"}}) {
    SCOPED_TRACE(lie[0]);
    Vmm vmm = Vmm::Spawn(VmmArgs(daemon, image, 4 * kMiB, lie));
    vmm.Wait();
    if (vmm.exit_code == 3) GTEST_SKIP() << "no userfaultfd here: " << vmm.output;
    // Without a handler its first fault would block forever: the policy kills it.
    EXPECT_EQ(vmm.term_signal, SIGKILL) << vmm.output;
  }
  EXPECT_EQ(daemon.daemon().counts().killed, 3u);
  EXPECT_EQ(daemon.daemon().counts().vms_served, 0u);
  EXPECT_TRUE(daemon.Logged("was the snapshot made from this VM's memory file?"));
  EXPECT_TRUE(daemon.Logged("--region OFFSET:LENGTH"));
}

// FreeHugePages reads HugePages_Free from /proc/meminfo. A guest mapped MAP_NORESERVE
// without free huge pages maps fine but its faults can never be satisfied (the kernel
// retries them forever), so huge-page tests need pages reserved beforehand.
uint64_t FreeHugePages() {
  auto meminfo = ReadFileToString("/proc/meminfo");
  if (!meminfo.ok()) return 0;
  const size_t at = meminfo->find("HugePages_Free:");
  if (at == std::string::npos) return 0;
  return std::strtoull(meminfo->c_str() + at + std::strlen("HugePages_Free:"), nullptr, 10);
}

#define SKIP_WITHOUT_HUGE_PAGES(n)                                                       \
  if (FreeHugePages() < (n)) {                                                            \
    GTEST_SKIP() << "needs " << (n) << " free 2 MiB huge pages (vm.nr_hugepages); the "   \
                 << "host has " << FreeHugePages();                                       \
  }

TEST(ServeDaemon, HugetlbfsGuestIsServedWholeHugePagesAtATime) {
  SKIP_WITHOUT_HUGE_PAGES(4);
  // Chunks of 2 MiB line up with the guest's huge pages: each install is one huge page.
  GuestImage image = MakeGuestImage("huge", 8 * kMiB, 1, 2 * kMiB);
  DaemonUnderTest daemon(image.reader, Options());
  Vmm vmm = Vmm::Spawn(VmmArgs(daemon, image, 8 * kMiB, {"--hugepages", "--kernel-io"}));
  vmm.Wait();
  if (vmm.exit_code == 3) GTEST_SKIP() << "no huge pages or userfaultfd here: " << vmm.output;
  EXPECT_EQ(vmm.exit_code, 0) << vmm.output;
}

TEST(ServeDaemon, HugetlbfsGuestWithSmallerChunksIsRefusedNamingTheChunkSize) {
  SKIP_WITHOUT_HUGE_PAGES(2);
  // 32 KiB chunks cannot fill a 2 MiB page each: refused before anything is served, with
  // the snapshot's fix in the log, and the VMM killed (it would wait forever).
  GuestImage image = MakeGuestImage("huge_small", 4 * kMiB, 1);
  DaemonUnderTest daemon(image.reader, Options());
  Vmm vmm = Vmm::Spawn(VmmArgs(daemon, image, 4 * kMiB, {"--hugepages"}));
  vmm.Wait();
  if (vmm.exit_code == 3) GTEST_SKIP() << "no huge pages or userfaultfd here: " << vmm.output;
  EXPECT_EQ(vmm.term_signal, SIGKILL) << vmm.output;
  EXPECT_TRUE(daemon.Logged("--chunk-size 2097152"));
}

TEST(ServeDaemon, AChunkThatFailsItsChecksumKillsOnlyItsVmm) {
  GuestImage image = MakeGuestImage("corrupt", 4 * kMiB, 1);
  // Chunk 0 (text, compressed) now fails its content checksum when decoded.
  std::vector<uint8_t> file = testing::ReadFileBytes(image.snapshot_path);
  testing::PatchIndexEntry(file, 0, [](format::IndexEntry& entry) { entry.checksum ^= 1; });
  const std::string corrupt_path = testing::TempPath("corrupt_chunk.lzs");
  testing::WriteFileBytes(corrupt_path, file);
  auto reader = SnapshotReader::Open(corrupt_path, {.validate_index = false});
  ASSERT_TRUE(reader.ok()) << reader.status();
  DaemonUnderTest daemon(std::move(*reader), Options());  // fatal policy: kill
  // Its first touch is on chunk 0: it would wait forever; the policy kills it.
  Vmm victim = Vmm::Spawn(VmmArgs(daemon, image, 4 * kMiB));
  victim.Wait();
  if (victim.exit_code == 3) GTEST_SKIP() << "no userfaultfd here: " << victim.output;
  EXPECT_EQ(victim.term_signal, SIGKILL) << victim.output;
  EXPECT_TRUE(WaitFor([&] { return daemon.daemon().counts().killed == 1; }));
  EXPECT_EQ(daemon.daemon().counts().fatal, 1u);
  EXPECT_TRUE(daemon.Logged(absl::StrFormat("vm pid %d", victim.pid)));
  EXPECT_TRUE(daemon.Logged("killed the VMM (fatal-error policy 'kill')"));
  EXPECT_TRUE(WaitFor([&] { return daemon.daemon().counts().vms_active == 0; }));
}

// --- Hostile peers: the test process itself connects and misbehaves. ----------------

int Connect(const std::string& path) {
  const int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  EXPECT_EQ(::connect(sock, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  return sock;
}

void SendWithFds(int sock, std::string_view bytes, const std::vector<int>& fds) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)] = {};
  iovec data = {const_cast<char*>(bytes.data()), bytes.size()};
  msghdr message = {};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  if (!fds.empty()) {
    message.msg_control = control;
    message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
  }
  ASSERT_EQ(::sendmsg(sock, &message, MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

// ClosedByDaemon waits until the daemon closes its end (a close with bytes it did not
// read shows as ECONNRESET).
bool ClosedByDaemon(int sock) {
  timeval timeout = {10, 0};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  char c;
  const ssize_t n = ::recv(sock, &c, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

TEST(ServeDaemon, HostilePeersAreRefusedAndEveryoneElseIsStillServed) {
  GuestImage image = MakeGuestImage("hostile", 4 * kMiB, 1);
  ServeOptions options = Options();
  options.handshake_timeout_ms = 300;
  options.fatal_policy = FatalPolicy::kLeave;  // the peer is this test process
  DaemonUnderTest daemon(image.reader, options);
  const std::string good =
      R"([{"base_host_virt_addr":1048576,"size":4194304,"offset":0,"page_size":4096,"page_size_kib":4096}])";
  const int event = ::eventfd(0, EFD_CLOEXEC);
  const std::string file_path = testing::TempPath("not_a_uffd");
  testing::WriteFileBytes(file_path, std::vector<uint8_t>(10));
  const int file = ::open(file_path.c_str(), O_RDONLY | O_CLOEXEC);
  const int uffd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  struct Case {
    std::string name;
    std::function<void(int sock)> misbehave;
    std::string reason;
  };
  std::vector<Case> cases = {
      {"malformed JSON", [&](int s) { SendWithFds(s, "[{\"base_host_virt_addr\": }]", {event}); },
       "not a complete JSON"},
      {"not an array", [&](int s) { SendWithFds(s, R"({"size": 1})", {event}); },
       "expected a JSON array"},
      {"oversized", [&](int s) { SendWithFds(s, std::string(kMaxHandshakeBytes + 10, '['), {event}); },
       "more than 65536 bytes"},
      {"no fd", [&](int s) { SendWithFds(s, good, {}); }, "without a userfaultfd"},
      {"several fds", [&](int s) { SendWithFds(s, good, {event, file}); }, "2 descriptors"},
      {"eventfd", [&](int s) { SendWithFds(s, good, {event}); }, "not a userfaultfd but anon_inode:[eventfd]"},
      {"regular file", [&](int s) { SendWithFds(s, good, {file}); }, "not a userfaultfd but /"},
      {"guest_memfd", [&](int s) {
         SendWithFds(s, R"([{"base_host_virt_addr":4096,"size":4096,"offset":0,"is_guest_memfd":true}])", {event});
       }, "guest_memfd"},
      {"half a message, then gone", [&](int s) {
         SendWithFds(s, good.substr(0, 30), {event});
         ::shutdown(s, SHUT_WR);
       }, "hung up before its handshake was complete"},
      {"silent", [&](int) {}, "no complete handshake before the deadline"},
      {"message in two pieces, too slow", [&](int s) { SendWithFds(s, good.substr(0, 10), {}); },
       "no complete handshake before the deadline"},
  };
  if (uffd >= 0) {
    // A real userfaultfd (of this process, which registered nothing) with regions that
    // do not fit the snapshot.
    cases.push_back({"regions that do not fit", [&](int s) {
                       SendWithFds(s, R"([{"base_host_virt_addr":1048576,"size":8388608,"offset":0}])", {uffd});
                     }, "past the end of the snapshot's image"});
  }
  uint64_t refused = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const int sock = Connect(daemon.socket_path());
    c.misbehave(sock);
    EXPECT_TRUE(ClosedByDaemon(sock));
    ::close(sock);
    ++refused;
    EXPECT_TRUE(WaitFor([&] { return daemon.daemon().counts().refused == refused; }));
    EXPECT_TRUE(daemon.Logged(c.reason)) << "no log line with: " << c.reason;
  }
  // Every refusal line names the peer.
  for (const std::string& line : daemon.lines()) {
    if (line.find("refused") != std::string::npos) {
      EXPECT_NE(line.find(absl::StrFormat("vm pid %d", ::getpid())), std::string::npos) << line;
    }
  }
  // The message split over two sends, completed in time, is accepted (a stream socket may
  // cut a message anywhere); the daemon still serves a real VMM after all of the above.
  RUN_VMM_OR_SKIP(vmm, VmmArgs(daemon, image, 4 * kMiB));
  EXPECT_EQ(vmm.exit_code, 0) << vmm.output;
  ::close(event);
  ::close(file);
  if (uffd >= 0) ::close(uffd);
}

TEST(ServeDaemon, AMessageSplitAcrossSendsIsReassembled) {
  GuestImage image = MakeGuestImage("split", 4 * kMiB, 1);
  ServeOptions options = Options();
  options.fatal_policy = FatalPolicy::kLeave;
  DaemonUnderTest daemon(image.reader, options);
  const int uffd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (uffd < 0) GTEST_SKIP() << "no userfaultfd(2) here";
  uffdio_api api = {UFFD_API, UFFD_FEATURE_EVENT_REMOVE, 0};
  ASSERT_EQ(::ioctl(uffd, UFFDIO_API, &api), 0);
  const std::string message =
      R"([{"base_host_virt_addr":1048576,"size":4194304,"offset":0,"page_size":4096,"page_size_kib":4096}])";
  const int sock = Connect(daemon.socket_path());
  SendWithFds(sock, message.substr(0, 17), {uffd});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  SendWithFds(sock, message.substr(17), {});
  EXPECT_TRUE(WaitFor([&] { return daemon.daemon().counts().vms_served == 1; }));
  ::close(sock);
  EXPECT_TRUE(WaitFor([&] { return daemon.daemon().counts().vms_active == 0; }));
  ::close(uffd);
}

TEST(ServeDaemon, PeersOutsideTheUidAllowListAreRefused) {
  GuestImage image = MakeGuestImage("uids", 4 * kMiB, 1);
  ServeOptions options = Options();
  options.allowed_uids = {::getuid() + 1};
  DaemonUnderTest daemon(image.reader, options);
  const int sock = Connect(daemon.socket_path());
  EXPECT_TRUE(ClosedByDaemon(sock));
  ::close(sock);
  EXPECT_TRUE(daemon.Logged(absl::StrFormat("uid %d is not in the allowed list", ::getuid())));

  ServeOptions allowed = Options();
  allowed.socket_path = SocketPath("uids_allowed");
  allowed.allowed_uids = {::getuid()};
  DaemonUnderTest served(image.reader, allowed);
  RUN_VMM_OR_SKIP(vmm, VmmArgs(served, image, 4 * kMiB));
  EXPECT_EQ(vmm.exit_code, 0) << vmm.output;
}

TEST(ServeDaemon, SocketHasItsModeAndIsNotStolenFromALiveDaemon) {
  GuestImage image = MakeGuestImage("socket", 1 * kMiB, 1);
  ServeOptions options = Options();
  options.socket_mode = 0660;
  DaemonUnderTest daemon(image.reader, options);
  struct stat info;
  ASSERT_EQ(::stat(daemon.socket_path().c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0660u);
  ServeOptions second = Options();
  second.socket_path = daemon.socket_path();
  EXPECT_TRUE(absl::IsAlreadyExists(ServeDaemon::Create(image.reader, second).status()));
  EXPECT_TRUE(daemon.Stop().ok());
  EXPECT_NE(::access(daemon.socket_path().c_str(), F_OK), 0) << "socket left behind";

  // A stale socket file (its daemon died) is replaced; a regular file is not.
  const std::string stale = SocketPath("stale");
  {
    const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address = {};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, stale.data(), stale.size());
    ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    ::close(sock);
  }
  ServeOptions replace = Options();
  replace.socket_path = stale;
  EXPECT_TRUE(ServeDaemon::Create(image.reader, replace).ok());
  const std::string regular = SocketPath("regular");
  testing::WriteFileBytes(regular, std::vector<uint8_t>(1));
  replace.socket_path = regular;
  EXPECT_TRUE(absl::IsAlreadyExists(ServeDaemon::Create(image.reader, replace).status()));
  ::unlink(regular.c_str());
}

TEST(ServeDaemon, StatsFileShowsEachVmWhileItRuns) {
  GuestImage image = MakeGuestImage("stats", 4 * kMiB, 1);
  ServeOptions options = Options();
  options.stats_path = testing::TempPath("stats.json");
  options.stats_interval_ms = 20;
  DaemonUnderTest daemon(image.reader, options);
  Vmm vmm = Vmm::Spawn(VmmArgs(daemon, image, 4 * kMiB, {"--hang-after-pages", "64"}));
  const std::string line = vmm.ReadLine();
  if (line.find("\"hung\"") == std::string::npos) {
    vmm.Wait();
    if (vmm.exit_code == 3) GTEST_SKIP() << "no userfaultfd here";
    FAIL() << line;
  }
  uint64_t faults = 0, pid = 0;
  EXPECT_TRUE(WaitFor([&] {
    auto text = ReadFileToString(options.stats_path);
    if (!text.ok()) return false;
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(*text).get(root) != simdjson::SUCCESS) return false;
    simdjson::dom::array vms;
    if (root["vms"].get_array().get(vms) != simdjson::SUCCESS || vms.size() != 1) return false;
    simdjson::dom::element vm = vms.at(0).value_unsafe();
    return vm["pid"].get_uint64().get(pid) == simdjson::SUCCESS &&
           vm["faults"]["total"].get_uint64().get(faults) == simdjson::SUCCESS && faults > 0;
  }));
  EXPECT_EQ(pid, static_cast<uint64_t>(vmm.pid));
  ::kill(vmm.pid, SIGKILL);
  vmm.Wait();
  EXPECT_TRUE(WaitFor([&] { return daemon.daemon().StatsJson().find("\"ended_vms\":[{") != std::string::npos; }));
}

TEST(ServeDaemon, StopWithAVmStillConnectedAppliesTheFatalPolicyAfterTheGrace) {
  GuestImage image = MakeGuestImage("stop", 4 * kMiB, 1);
  DaemonUnderTest daemon(image.reader, Options());  // grace 0, policy kill
  Vmm vmm = Vmm::Spawn(VmmArgs(daemon, image, 4 * kMiB, {"--hang-after-pages", "8"}));
  const std::string line = vmm.ReadLine();
  if (line.find("\"hung\"") == std::string::npos) {
    vmm.Wait();
    if (vmm.exit_code == 3) GTEST_SKIP() << "no userfaultfd here";
    FAIL() << line;
  }
  EXPECT_TRUE(daemon.Stop().ok());
  vmm.Wait();
  EXPECT_EQ(vmm.term_signal, SIGKILL);
  EXPECT_NE(::access(daemon.socket_path().c_str(), F_OK), 0);
  EXPECT_TRUE(daemon.Logged("the daemon stopped while the VM was running"));
}

}  // namespace
}  // namespace lazysnap::firecracker
