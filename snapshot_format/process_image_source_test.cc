// ProcessImageSource against real child processes: a child maps memory with known
// contents (patterned, never touched, explicitly zeroed, a PROT_NONE guard page inside a
// writable area, a MAP_SHARED area, a private file view that extends past its file's
// end), the parent captures it, writes a snapshot and reads every byte back. Also the
// error paths (no such process, no permission, a zombie, a process that exits during
// the capture) and the freeze guard.
#include "snapshot_format/process_image_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/signal_cleanup.h"
#include "base/unique_fd.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/snapshot_writer.h"
#include "snapshot_format/test_util.h"

namespace lazysnap {
namespace {

// Child runs a function in a forked process and always kills and reaps it. The child
// gets a pipe to report on and a control pipe whose end of file tells it to exit.
class Child {
 public:
  using Body = int (*)(int report_fd, int control_fd);

  explicit Child(Body body) {
    int report[2], control[2];
    if (::pipe2(report, O_CLOEXEC) != 0 || ::pipe2(control, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2: " << std::strerror(errno);
      return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls from here on: no destructors, no allocation.
      ::close(report[0]);
      ::close(control[1]);
      ::_exit(body(report[1], control[0]));
    }
    ::close(report[1]);
    ::close(control[0]);
    report_ = UniqueFd(report[0]);
    control_ = UniqueFd(control[1]);
    if (pid_ < 0) ADD_FAILURE() << "fork: " << std::strerror(errno);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { KillAndReap(); }

  pid_t pid() const { return pid_; }

  // ReadReport reads exactly `length` bytes the child reported; false at end of file
  // (the child failed before reporting).
  bool ReadReport(void* data, size_t length) {
    size_t done = 0;
    while (done < length) {
      ssize_t n = ::read(report_.get(), static_cast<char*>(data) + done, length - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  void KillAndReap() {
    control_.Reset();
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  UniqueFd report_;
  UniqueFd control_;
};

// WaitForEof blocks the child until the parent closes the control pipe.
int WaitForEof(int control_fd) {
  char byte;
  while (true) {
    ssize_t n = ::read(control_fd, &byte, 1);
    if (n == 0) return 0;
    if (n < 0 && errno != EINTR) return 3;
  }
}

bool WriteAll(int fd, const void* data, size_t length) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::write(fd, static_cast<const char*>(data) + done, length - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Pattern is the byte at `index` of page `page` of the area tagged `tag`; never a
// constant page, so a patterned page is never a zero chunk.
uint8_t Pattern(uint64_t tag, uint64_t page, uint64_t index) {
  return static_cast<uint8_t>((tag * 131 + page * 31 + index * 7 + (index >> 9)) ^ 0x5a);
}

void FillPattern(uint8_t* data, uint64_t length, uint64_t tag, uint64_t page_size) {
  for (uint64_t i = 0; i < length; ++i) data[i] = Pattern(tag, i / page_size, i % page_size);
}

// What the memory child maps (all addresses in the child).
constexpr uint64_t kPatternedPages = 16;  // page p: p%4==1 never touched, p%4==3 zeroed
constexpr uint64_t kGuardedPages = 5;     // page 2 is PROT_NONE
constexpr uint64_t kGuardPage = 2;
constexpr uint64_t kSharedPages = 4;
constexpr uint64_t kFileViewPages = 3;  // of a one-page file: pages 1 and 2 unreadable

constexpr uint64_t kPatternedTag = 1, kGuardedTag = 2, kSharedTag = 3, kFileTag = 4,
                   kFileWriteTag = 5;

struct Layout {
  uint64_t page_size = 0;
  uint64_t patterned = 0;
  uint64_t guarded = 0;
  uint64_t shared = 0;
  uint64_t file_view = 0;
};

uint8_t* MapAnonymous(uint64_t length, int flags) {
  void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
}

int MemoryChildBody(int report_fd, int control_fd) {
  Layout layout;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  layout.page_size = page;

  uint8_t* patterned = MapAnonymous(kPatternedPages * page, MAP_PRIVATE);
  if (patterned == nullptr) return 10;
  for (uint64_t p = 0; p < kPatternedPages; ++p) {
    if (p % 4 == 1) continue;  // never touched: reads as the zero page
    FillPattern(patterned + p * page, page, kPatternedTag + p, page);
    if (p % 4 == 3) std::memset(patterned + p * page, 0, page);  // allocated, zero
  }

  uint8_t* guarded = MapAnonymous(kGuardedPages * page, MAP_PRIVATE);
  if (guarded == nullptr) return 11;
  FillPattern(guarded, kGuardedPages * page, kGuardedTag, page);
  if (::mprotect(guarded + kGuardPage * page, page, PROT_NONE) != 0) return 12;

  uint8_t* shared = MapAnonymous(kSharedPages * page, MAP_SHARED);
  if (shared == nullptr) return 13;
  FillPattern(shared, kSharedPages * page, kSharedTag, page);

  // A private, writable view of a one-page file, three pages long: page 0 is half
  // copied-on-write; pages 1 and 2 lie past the file's end, where any access (a read
  // through /proc/PID/mem included) faults.
  int file = ::memfd_create("lazysnap-test", MFD_CLOEXEC);
  if (file < 0) return 14;
  uint8_t file_page[65536];
  if (page > sizeof(file_page)) return 15;
  FillPattern(file_page, page, kFileTag, page);
  if (!WriteAll(file, file_page, page)) return 16;
  void* view = ::mmap(nullptr, kFileViewPages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, file, 0);
  if (view == MAP_FAILED) return 17;
  uint8_t* file_view = static_cast<uint8_t*>(view);
  FillPattern(file_view, page / 2, kFileWriteTag, page);

  layout.patterned = reinterpret_cast<uint64_t>(patterned);
  layout.guarded = reinterpret_cast<uint64_t>(guarded);
  layout.shared = reinterpret_cast<uint64_t>(shared);
  layout.file_view = reinterpret_cast<uint64_t>(file_view);
  if (!WriteAll(report_fd, &layout, sizeof(layout))) return 18;
  return WaitForEof(control_fd);
}

// The bytes the parent expects in each of the child's areas.
std::vector<uint8_t> ExpectedPatterned(uint64_t page) {
  std::vector<uint8_t> bytes(kPatternedPages * page, 0);
  for (uint64_t p = 0; p < kPatternedPages; ++p) {
    if (p % 4 == 0 || p % 4 == 2) FillPattern(&bytes[p * page], page, kPatternedTag + p, page);
  }
  return bytes;
}

std::vector<uint8_t> ExpectedGuardedPage(uint64_t page, uint64_t p) {
  std::vector<uint8_t> all(kGuardedPages * page);
  FillPattern(all.data(), all.size(), kGuardedTag, page);
  return std::vector<uint8_t>(all.begin() + p * page, all.begin() + (p + 1) * page);
}

std::vector<uint8_t> ExpectedFileView(uint64_t page) {
  std::vector<uint8_t> bytes(kFileViewPages * page, 0);
  FillPattern(bytes.data(), page, kFileTag, page);
  FillPattern(bytes.data(), page / 2, kFileWriteTag, page);
  return bytes;
}

// FindRegion returns the region holding guest addresses [address, address + length),
// or nullptr. Adjacent mappings with the same flags may have been merged by the
// kernel, so a child's area can be part of a larger region.
const format::Region* FindRegion(std::span<const format::Region> regions, uint64_t address,
                                 uint64_t length) {
  for (const format::Region& r : regions) {
    if (r.guest_address <= address && address + length <= r.guest_address + r.length_bytes) {
      return &r;
    }
  }
  return nullptr;
}

bool Overlaps(std::span<const format::Region> regions, uint64_t address, uint64_t length) {
  for (const format::Region& r : regions) {
    if (r.guest_address < address + length && address < r.guest_address + r.length_bytes) {
      return true;
    }
  }
  return false;
}

// ReadGuestRange reads guest addresses [address, address + length) back from a snapshot.
std::vector<uint8_t> ReadGuestRange(const SnapshotReader& reader, uint64_t address,
                                    uint64_t length) {
  const format::Region* region = FindRegion(reader.regions(), address, length);
  if (region == nullptr) {
    ADD_FAILURE() << "no region of the snapshot holds 0x" << std::hex << address << "+"
                  << length;
    return {};
  }
  const uint32_t region_index = static_cast<uint32_t>(region - reader.regions().data());
  const uint64_t chunk_size = reader.chunk_size_bytes();
  auto decoder = ChunkDecoder::Create();
  std::vector<uint8_t> scratch, chunk_bytes, out;
  uint64_t in_region = address - region->guest_address;
  const uint64_t in_region_end = in_region + length;
  while (in_region < in_region_end) {
    const uint64_t chunk_in_region = in_region / chunk_size;
    const uint64_t chunk_start = chunk_in_region * chunk_size;
    chunk_bytes.resize(std::min(chunk_size, region->length_bytes - chunk_start));
    const uint64_t chunk = reader.region_first_chunk(region_index) + chunk_in_region;
    absl::Status status = reader.ReadChunk(chunk, *decoder, scratch, chunk_bytes);
    if (!status.ok()) {
      ADD_FAILURE() << status;
      return {};
    }
    const uint64_t from = in_region - chunk_start;
    const uint64_t n = std::min<uint64_t>(chunk_bytes.size() - from, in_region_end - in_region);
    out.insert(out.end(), chunk_bytes.begin() + from, chunk_bytes.begin() + from + n);
    in_region += n;
  }
  return out;
}

// ExpectRegionsTileTheImage checks the layout contract of regions().
void ExpectRegionsTileTheImage(const std::vector<format::Region>& regions, uint64_t page) {
  uint64_t image_offset = 0;
  uint64_t previous_end_address = 0;
  for (const format::Region& r : regions) {
    EXPECT_EQ(r.image_offset_bytes, image_offset);
    EXPECT_EQ(r.image_offset_bytes % page, 0u);
    EXPECT_EQ(r.length_bytes % page, 0u);
    EXPECT_GT(r.length_bytes, 0u);
    EXPECT_GE(r.guest_address, previous_end_address);
    image_offset += r.length_bytes;
    previous_end_address = r.guest_address + r.length_bytes;
  }
}

TEST(ProcessImageSource, CapturesPrivateMemoryIntoASnapshotThatReadsBack) {
  Child child(MemoryChildBody);
  Layout layout;
  ASSERT_TRUE(child.ReadReport(&layout, sizeof(layout))) << "the child failed to set up";
  const uint64_t page = layout.page_size;

  auto source = ProcessImageSource::Open(child.pid());
  ASSERT_TRUE(source.ok()) << source.status();
  const std::string name = (*source)->name();
  EXPECT_EQ(name.rfind("pid " + std::to_string(child.pid()) + " (", 0), 0u) << name;
  EXPECT_EQ(name.back(), ')') << name;
  EXPECT_TRUE((*source)->random_access());

  const std::vector<format::Region> regions = (*source)->regions();
  ExpectRegionsTileTheImage(regions, page);
  EXPECT_NE(FindRegion(regions, layout.patterned, kPatternedPages * page), nullptr);
  EXPECT_NE(FindRegion(regions, layout.guarded, kGuardPage * page), nullptr);
  EXPECT_NE(FindRegion(regions, layout.guarded + (kGuardPage + 1) * page,
                       (kGuardedPages - kGuardPage - 1) * page),
            nullptr);
  EXPECT_NE(FindRegion(regions, layout.file_view, kFileViewPages * page), nullptr);
  EXPECT_FALSE(Overlaps(regions, layout.guarded + kGuardPage * page, page))
      << "the PROT_NONE guard page was captured";
  EXPECT_FALSE(Overlaps(regions, layout.shared, kSharedPages * page))
      << "the MAP_SHARED area was captured";
  const ProcessSelection& selection = (*source)->selection();
  EXPECT_EQ(selection.captured_mappings, regions.size());
  EXPECT_GT(selection.skipped_mappings, 0u);

  const std::string path = testing::TempPath("process");
  WriterOptions options;
  options.chunk_size_bytes = static_cast<uint32_t>(std::max<uint64_t>(page, 4096));
  options.threads = 2;
  auto summary = WriteSnapshot(**source, path, options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_GT(summary->zero_chunks, 0u);
  // Pages 1 and 2 of the file view lie past the file's end.
  EXPECT_EQ((*source)->unreadable_bytes(), 2 * page);

  auto reader = SnapshotReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ((*reader)->regions().size(), regions.size());
  for (size_t i = 0; i < regions.size(); ++i) EXPECT_EQ((*reader)->regions()[i], regions[i]);

  EXPECT_EQ(ReadGuestRange(**reader, layout.patterned, kPatternedPages * page),
            ExpectedPatterned(page));
  for (uint64_t p = 0; p < kGuardedPages; ++p) {
    if (p == kGuardPage) continue;
    EXPECT_EQ(ReadGuestRange(**reader, layout.guarded + p * page, page),
              ExpectedGuardedPage(page, p))
        << "guarded area page " << p;
  }
  EXPECT_EQ(ReadGuestRange(**reader, layout.file_view, kFileViewPages * page),
            ExpectedFileView(page));

  // Reading the unreadable pages again does not count them twice.
  const format::Region* view = FindRegion(regions, layout.file_view, kFileViewPages * page);
  ASSERT_NE(view, nullptr);
  std::vector<uint8_t> again(kFileViewPages * page);
  auto got = (*source)->Read(view->image_offset_bytes + (layout.file_view - view->guest_address),
                             again);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(again, ExpectedFileView(page));
  EXPECT_EQ((*source)->unreadable_bytes(), 2 * page);
}

TEST(ProcessImageSource, ReadsAcrossRegionBoundariesAndRefusesPastTheEnd) {
  Child child(MemoryChildBody);
  Layout layout;
  ASSERT_TRUE(child.ReadReport(&layout, sizeof(layout)));
  const uint64_t page = layout.page_size;
  auto source = ProcessImageSource::Open(child.pid());
  ASSERT_TRUE(source.ok()) << source.status();

  // The guard page splits the guarded area into two regions, one after the other in
  // the image: one read spanning both returns the pages either side of the guard.
  const std::vector<format::Region> regions = (*source)->regions();
  const format::Region* before = FindRegion(regions, layout.guarded, kGuardPage * page);
  const format::Region* after =
      FindRegion(regions, layout.guarded + (kGuardPage + 1) * page, page);
  ASSERT_NE(before, nullptr);
  ASSERT_NE(after, nullptr);
  ASSERT_EQ(after, before + 1);
  std::vector<uint8_t> bytes(2 * page);
  auto got = (*source)->Read(after->image_offset_bytes - page, bytes);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, bytes.size());
  std::vector<uint8_t> expected = ExpectedGuardedPage(page, kGuardPage - 1);
  std::vector<uint8_t> next = ExpectedGuardedPage(page, kGuardPage + 1);
  expected.insert(expected.end(), next.begin(), next.end());
  EXPECT_EQ(bytes, expected);

  const format::Region& last = regions.back();
  std::vector<uint8_t> past(page + 1);
  auto refused = (*source)->Read(last.image_offset_bytes + last.length_bytes - page, past);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kOutOfRange) << refused.status();
}

TEST(ProcessImageSource, IncludeReadonlyAlsoCapturesSharedMemory) {
  Child child(MemoryChildBody);
  Layout layout;
  ASSERT_TRUE(child.ReadReport(&layout, sizeof(layout)));
  const uint64_t page = layout.page_size;
  auto source = ProcessImageSource::Open(child.pid(), {.include_readonly = true});
  ASSERT_TRUE(source.ok()) << source.status();
  const std::vector<format::Region> regions = (*source)->regions();
  ExpectRegionsTileTheImage(regions, page);
  EXPECT_FALSE(Overlaps(regions, layout.guarded + kGuardPage * page, page))
      << "an unreadable PROT_NONE page was captured";
  const format::Region* shared = FindRegion(regions, layout.shared, kSharedPages * page);
  ASSERT_NE(shared, nullptr);
  std::vector<uint8_t> bytes(kSharedPages * page);
  auto got = (*source)->Read(shared->image_offset_bytes + (layout.shared - shared->guest_address),
                             bytes);
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<uint8_t> expected(kSharedPages * page);
  FillPattern(expected.data(), expected.size(), kSharedTag, page);
  EXPECT_EQ(bytes, expected);
}

TEST(ProcessImageSource, MissingProcessIsNotFoundNamingThePid) {
  // A child that has exited and been reaped leaves a pid that (barring a quick reuse)
  // names no process.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
  auto source = ProcessImageSource::Open(pid);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), absl::StatusCode::kNotFound) << source.status();
  EXPECT_NE(source.status().message().find(std::to_string(pid)), std::string::npos)
      << source.status();
}

TEST(ProcessImageSource, NonPositivePidIsInvalidArgument) {
  EXPECT_EQ(ProcessImageSource::Open(0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ProcessImageSource::Open(-1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ProcessImageSource, ZombieHasNoMemoryToCapture) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(0);
  // Wait for the exit without reaping: the pid stays a zombie with no memory.
  siginfo_t info;
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);
  auto source = ProcessImageSource::Open(pid);
  ::waitpid(pid, nullptr, 0);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), absl::StatusCode::kFailedPrecondition) << source.status();
}

TEST(ProcessImageSource, ProcessThatExitsDuringTheCaptureIsNotFound) {
  Child child(MemoryChildBody);
  Layout layout;
  ASSERT_TRUE(child.ReadReport(&layout, sizeof(layout)));
  auto source = ProcessImageSource::Open(child.pid());
  ASSERT_TRUE(source.ok()) << source.status();
  child.KillAndReap();
  std::vector<uint8_t> bytes(layout.page_size);
  auto got = (*source)->Read(0, bytes);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
}

TEST(ProcessImageSource, WithoutPtraceAccessIsPermissionDenied) {
  // A child that gives up root tries to capture its (root-owned) parent. The child
  // reports through its exit status: 0 PermissionDenied, 1 another result, 77 not root,
  // 78 root could not become nobody (a user namespace that does not map uid 65534).
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::getuid() != 0) ::_exit(77);
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(78);
    }
    auto source = ProcessImageSource::Open(parent);
    ::_exit(!source.ok() && source.status().code() == absl::StatusCode::kPermissionDenied &&
                    source.status().message().find("ptrace") != absl::string_view::npos
                ? 0
                : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "needs root, to drop to another user";
  if (WEXITSTATUS(status) == 78) {
    GTEST_SKIP() << "cannot become uid 65534 (in a user namespace that does not map it?)";
  }
  EXPECT_EQ(WEXITSTATUS(status), 0) << "capturing a root process as nobody was not refused "
                                       "with PermissionDenied mentioning ptrace";
}

// State returns the state letter of /proc/PID/stat.
char State(pid_t pid) {
  std::vector<uint8_t> stat = testing::ReadFileBytes("/proc/" + std::to_string(pid) + "/stat");
  std::string text(stat.begin(), stat.end());
  size_t paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size() ? '?' : text[paren + 2];
}

TEST(ProcessImageSource, FreezeStopsTheProcessUntilTheSourceIsDestroyed) {
  Child child(MemoryChildBody);
  Layout layout;
  ASSERT_TRUE(child.ReadReport(&layout, sizeof(layout)));
  auto source = ProcessImageSource::Open(child.pid(), {.freeze = true});
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ(State(child.pid()), 'T');
  int status = 0;
  // The stop is complete, so this returns at once (the report may trail the state by a
  // moment, hence no WNOHANG).
  ASSERT_EQ(::waitpid(child.pid(), &status, WUNTRACED), child.pid());
  EXPECT_TRUE(WIFSTOPPED(status));
  EXPECT_EQ(WSTOPSIG(status), SIGSTOP);

  source->reset();
  // Blocks until the child is continued; hangs (and times out) if it never is.
  ASSERT_EQ(::waitpid(child.pid(), &status, WCONTINUED), child.pid());
  EXPECT_TRUE(WIFCONTINUED(status));
  EXPECT_NE(State(child.pid()), 'T');
}

// SpinningChildBody runs three threads that never block, so that each must be stopped
// while running.
int SpinningChildBody(int report_fd, int control_fd) {
  for (int i = 0; i < 3; ++i) {
    pthread_t thread;
    if (::pthread_create(
            &thread, nullptr,
            [](void*) -> void* {
              volatile uint64_t counter = 0;
              while (true) counter = counter + 1;
            },
            nullptr) != 0) {
      return 20;
    }
  }
  const char ready = 'r';
  if (!WriteAll(report_fd, &ready, 1)) return 21;
  return WaitForEof(control_fd);
}

// ThreadStates returns the state letter of every thread of `pid`.
std::string ThreadStates(pid_t pid) {
  std::string states;
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(task_dir.c_str());
  if (dir == nullptr) return "?";
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::vector<uint8_t> stat =
        testing::ReadFileBytes(task_dir + "/" + entry->d_name + "/stat");
    std::string text(stat.begin(), stat.end());
    size_t paren = text.rfind(')');
    states += paren == std::string::npos || paren + 2 >= text.size() ? '?' : text[paren + 2];
  }
  ::closedir(dir);
  return states;
}

TEST(ProcessImageSource, FreezeWaitsUntilEveryRunningThreadHasStopped) {
  Child child(SpinningChildBody);
  char ready;
  ASSERT_TRUE(child.ReadReport(&ready, 1));
  auto source = ProcessImageSource::Open(child.pid(), {.freeze = true});
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ(ThreadStates(child.pid()), "TTTT");
  source->reset();
  int status = 0;
  ASSERT_EQ(::waitpid(child.pid(), &status, WCONTINUED), child.pid());
  EXPECT_TRUE(WIFCONTINUED(status));
}

TEST(ProcessImageSource, FreezeLeavesAnAlreadyStoppedProcessStopped) {
  Child child(MemoryChildBody);
  Layout layout;
  ASSERT_TRUE(child.ReadReport(&layout, sizeof(layout)));
  ASSERT_EQ(::kill(child.pid(), SIGSTOP), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child.pid(), &status, WUNTRACED), child.pid());
  ASSERT_TRUE(WIFSTOPPED(status));

  auto source = ProcessImageSource::Open(child.pid(), {.freeze = true});
  ASSERT_TRUE(source.ok()) << source.status();
  source->reset();
  // SIGCONT wakes the process synchronously in the sender, so a wrongly sent one would
  // already show.
  EXPECT_EQ(::waitpid(child.pid(), &status, WCONTINUED | WNOHANG), 0);
  EXPECT_EQ(State(child.pid()), 'T');
}

TEST(ProcessStopGuard, MoveHandsOverTheDutyToResume) {
  Child child(MemoryChildBody);
  Layout layout;
  ASSERT_TRUE(child.ReadReport(&layout, sizeof(layout)));
  auto guard = ProcessStopGuard::Stop(child.pid());
  ASSERT_TRUE(guard.ok()) << guard.status();
  EXPECT_FALSE(guard->was_already_stopped());
  {
    ProcessStopGuard moved = std::move(*guard);
    guard->Resume();  // the moved-from guard owns nothing: the child stays stopped
    EXPECT_EQ(State(child.pid()), 'T');
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child.pid(), &status, WCONTINUED), child.pid());
  EXPECT_TRUE(WIFCONTINUED(status));
}

TEST(ProcessStopGuard, RefusesToStopThisProcess) {
  // Neither by its pid nor by the id of one of its threads: it would stop itself forever.
  auto source = ProcessImageSource::Open(::getpid(), {.freeze = true});
  EXPECT_TRUE(absl::IsInvalidArgument(source.status())) << source.status();
  EXPECT_NE(source.status().message().find("this process"), absl::string_view::npos);
  std::atomic<pid_t> live_id{0};
  std::atomic<bool> done{false};
  std::thread live([&] {
    live_id = static_cast<pid_t>(::gettid());
    while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (live_id == 0) std::this_thread::yield();
  auto guard = ProcessStopGuard::Stop(live_id);
  done = true;
  live.join();
  EXPECT_TRUE(absl::IsInvalidArgument(guard.status())) << guard.status();
  // Without freezing, capturing itself is allowed (its memory is just not still).
  EXPECT_TRUE(ProcessImageSource::Open(::getpid()).ok());
}

TEST(ProcessStopGuard, SignalEndingTheCapturerResumesTheProcess) {
  Child child(MemoryChildBody);
  Layout layout;
  ASSERT_TRUE(child.ReadReport(&layout, sizeof(layout)));
  const pid_t target = child.pid();
  pid_t capturer = ::fork();
  if (capturer == 0) {
    ::signal(SIGTERM, SIG_DFL);
    if (!InstallSignalCleanup().ok()) ::_exit(3);
    auto source = ProcessImageSource::Open(target, {.freeze = true});
    if (!source.ok()) ::_exit(4);
    ::raise(SIGTERM);  // as if killed in the middle of writing the snapshot
    ::_exit(5);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(capturer, &status, 0), capturer);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  // Blocks until the child is continued; hangs (and times out) if it never is.
  ASSERT_EQ(::waitpid(target, &status, WUNTRACED | WCONTINUED), target);
  if (WIFSTOPPED(status)) {
    ASSERT_EQ(::waitpid(target, &status, WCONTINUED), target);
  }
  EXPECT_TRUE(WIFCONTINUED(status)) << status;
}

}  // namespace
}  // namespace lazysnap
