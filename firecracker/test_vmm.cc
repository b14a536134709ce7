// test_vmm: a stand-in for Firecracker restoring a microVM with a Uffd memory backend,
// doing what Firecracker does (src/vmm/src/persist.rs, v1.1 to v1.16) and nothing of
// lazysnap's own code, so that the daemon is tested against the protocol, not against
// itself:
//   1. map guest memory: one anonymous private mapping per region (MAP_NORESERVE), or
//      hugetlbfs 2 MiB pages with --hugepages;
//   2. open a userfaultfd (/dev/userfaultfd, else the syscall; never user-mode-only;
//      close-on-exec, non-blocking), negotiate only UFFD_FEATURE_EVENT_REMOVE;
//   3. register every region for MISSING faults;
//   4. connect to the handler's socket and send ONE message, the JSON array of regions in
//      the shape of the Firecracker version given by --shape, with the userfaultfd as
//      SCM_RIGHTS, and keep the socket open;
//   5. run the "guest": N vCPU threads touch pages (--access), as KVM would.
// Then, as asked: a kernel-mode fault (write(2) from and read(2) into guest memory),
// balloon-style madvise(MADV_DONTNEED) of a range that must read back as zeros, and a
// check of every touched page against the raw memory file (--image).
//
// Prints one JSON line on stdout and exits 0 when every check passed, 1 when one failed,
// 2 for a usage error, 3 when this host cannot set up a userfaultfd (tests skip then).
//
//   test_vmm --socket PATH --size BYTES [--regions N] [--shape v1.1|v1.7|v1.12|page_size]
//            [--image RAW] [--access random|seq|ws:PCT] [--threads N] [--seed N]
//            [--kernel-io] [--balloon] [--hugepages] [--hang-after-pages N]
//            [--bad-size] [--bad-offset]
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"
#include "engine/restore_stats.h"
#include "workload/access_pattern.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNoUffd = 3;

struct Flags {
  std::string socket;
  uint64_t size = 0;
  int regions = 1;
  std::string shape = "v1.12";
  std::string image;
  std::string access = "random";
  int threads = 2;
  uint64_t seed = 1;
  bool kernel_io = false;
  bool balloon = false;
  bool hugepages = false;
  uint64_t hang_after_pages = 0;
  bool bad_size = false;    // claims one page more than mapped in the last region
  bool bad_offset = false;  // claims the regions' bytes start one page later in the file
};

[[noreturn]] void Die(int code, const std::string& what) {
  std::printf("{\"ok\":false,\"error\":\"%s\"}\n", what.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "test_vmm: %s\n", what.c_str());
  std::exit(code);
}

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(kExitUsage, absl::StrFormat("%s needs a value", arg));
      return argv[++i];
    };
    if (arg == "--socket") flags.socket = value();
    else if (arg == "--size") flags.size = std::strtoull(value().c_str(), nullptr, 0);
    else if (arg == "--regions") flags.regions = std::atoi(value().c_str());
    else if (arg == "--shape") flags.shape = value();
    else if (arg == "--image") flags.image = value();
    else if (arg == "--access") flags.access = value();
    else if (arg == "--threads") flags.threads = std::atoi(value().c_str());
    else if (arg == "--seed") flags.seed = std::strtoull(value().c_str(), nullptr, 0);
    else if (arg == "--kernel-io") flags.kernel_io = true;
    else if (arg == "--balloon") flags.balloon = true;
    else if (arg == "--hugepages") flags.hugepages = true;
    else if (arg == "--hang-after-pages") flags.hang_after_pages = std::strtoull(value().c_str(), nullptr, 0);
    else if (arg == "--bad-size") flags.bad_size = true;
    else if (arg == "--bad-offset") flags.bad_offset = true;
    else Die(kExitUsage, absl::StrFormat("unknown flag %s", arg));
  }
  if (flags.socket.empty() || flags.size == 0 || flags.regions < 1 || flags.threads < 1) {
    Die(kExitUsage, "--socket and --size are required; --regions and --threads at least 1");
  }
  return flags;
}

struct GuestRegion {
  uint8_t* memory = nullptr;
  uint64_t size = 0;
  uint64_t offset = 0;  // in the memory file
};

// OpenUserfaultfd: as Firecracker does it (vmm/src/persist.rs guest_memory_from_uffd).
int OpenUserfaultfd() {
  const int flags = O_CLOEXEC | O_NONBLOCK;
  int device = ::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (device >= 0) {
    const int uffd = ::ioctl(device, USERFAULTFD_IOC_NEW, flags);
    ::close(device);
    if (uffd >= 0) return uffd;
  }
  return static_cast<int>(::syscall(SYS_userfaultfd, flags));
}

std::string MessageJson(const std::vector<GuestRegion>& regions, const Flags& flags,
                        uint64_t page_size) {
  std::string json = "[";
  for (size_t i = 0; i < regions.size(); ++i) {
    uint64_t size = regions[i].size;
    uint64_t offset = regions[i].offset;
    if (flags.bad_size && i + 1 == regions.size()) size += page_size;
    if (flags.bad_offset) offset += page_size;
    json += absl::StrFormat("%s{\"base_host_virt_addr\":%d,\"size\":%d,\"offset\":%d", i ? "," : "",
                            reinterpret_cast<uint64_t>(regions[i].memory), size, offset);
    if (flags.shape == "v1.7") {
      json += absl::StrFormat(",\"page_size_kib\":%d", page_size);
    } else if (flags.shape == "v1.12") {
      json += absl::StrFormat(",\"page_size\":%d,\"page_size_kib\":%d", page_size, page_size);
    } else if (flags.shape == "page_size") {
      json += absl::StrFormat(",\"page_size\":%d", page_size);
    } else if (flags.shape != "v1.1") {
      Die(kExitUsage, "--shape must be v1.1, v1.7, v1.12 or page_size");
    }
    json += "}";
  }
  return json + "]";
}

void SendHandshake(const std::string& path, const std::string& json, int uffd, int* socket_out) {
  const int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  if (sock < 0 || path.size() >= sizeof(address.sun_path)) Die(kExitFailed, "socket");
  std::memcpy(address.sun_path, path.data(), path.size());
  if (::connect(sock, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    Die(kExitFailed, absl::StrFormat("connect %s: %s", path, std::strerror(errno)));
  }
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  iovec data = {const_cast<char*>(json.data()), json.size()};
  msghdr message = {};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(header), &uffd, sizeof(int));
  if (::sendmsg(sock, &message, 0) != static_cast<ssize_t>(json.size())) {
    Die(kExitFailed, absl::StrFormat("sendmsg: %s", std::strerror(errno)));
  }
  *socket_out = sock;
}

}  // namespace

int main(int argc, char** argv) {
  using lazysnap::LatencyHistogram;
  const Flags flags = ParseFlags(argc, argv);
  const uint64_t page_size = flags.hugepages ? (2ull << 20) : 4096;
  if (flags.size % (page_size * flags.regions) != 0) {
    Die(kExitUsage, "--size must be a multiple of the page size times --regions");
  }

  // 1. Guest memory, region by region, each its own mapping (as Firecracker maps them).
  std::vector<GuestRegion> regions(flags.regions);
  const uint64_t region_size = flags.size / flags.regions;
  for (int i = 0; i < flags.regions; ++i) {
    int map_flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    if (flags.hugepages) map_flags |= MAP_HUGETLB | MAP_HUGE_2MB;
    void* memory = ::mmap(nullptr, region_size, PROT_READ | PROT_WRITE, map_flags, -1, 0);
    if (memory == MAP_FAILED) {
      Die(flags.hugepages ? kExitNoUffd : kExitFailed,
          absl::StrFormat("mmap %d bytes%s: %s", region_size, flags.hugepages ? " of huge pages" : "",
                          std::strerror(errno)));
    }
    regions[i] = {static_cast<uint8_t*>(memory), region_size, i * region_size};
  }

  // 2. The userfaultfd, with EVENT_REMOVE only.
  const int uffd = OpenUserfaultfd();
  if (uffd < 0) Die(kExitNoUffd, absl::StrFormat("userfaultfd: %s", std::strerror(errno)));
  uffdio_api api = {};
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_EVENT_REMOVE;
  if (::ioctl(uffd, UFFDIO_API, &api) != 0) {
    Die(kExitNoUffd, absl::StrFormat("UFFDIO_API with EVENT_REMOVE: %s", std::strerror(errno)));
  }
  // 3. Every region, MISSING.
  for (const GuestRegion& region : regions) {
    uffdio_register reg = {};
    reg.range.start = reinterpret_cast<uint64_t>(region.memory);
    reg.range.len = region.size;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (::ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
      Die(kExitNoUffd, absl::StrFormat("UFFDIO_REGISTER: %s", std::strerror(errno)));
    }
  }

  // 4. The one message, with the fd; the socket stays open while the VM lives.
  int sock = -1;
  const uint64_t handshake_ns = NowNs();
  SendHandshake(flags.socket, MessageJson(regions, flags, page_size), uffd, &sock);

  // 5. The guest. First, one touch (Firecracker's restore touches guest memory first).
  volatile uint8_t first = regions[0].memory[0];
  (void)first;
  const uint64_t first_fault_ns = NowNs() - handshake_ns;

  lazysnap::MemoryView view;
  for (const GuestRegion& region : regions) view.emplace_back(region.memory, region.size);
  auto pattern = lazysnap::AccessPattern::Parse(flags.access);
  if (!pattern.ok()) Die(kExitUsage, std::string(pattern.status().message()));
  pattern->seed = flags.seed;
  auto plan = lazysnap::PlanTouches(view, *pattern, flags.threads);
  if (flags.hang_after_pages > 0) {
    // The VMM stops mid-restore (to be killed by the test): touch a little, say so, wait.
    for (auto& pages : plan) pages.resize(std::min<size_t>(pages.size(), flags.hang_after_pages));
    lazysnap::TouchPages(view, plan, false);
    std::printf("{\"hung\":true}\n");
    std::fflush(stdout);
    while (true) ::pause();
  }
  lazysnap::TouchResult touched = lazysnap::TouchPages(view, plan, /*record_latency=*/true);
  LatencyHistogram latency;
  for (uint64_t ns : touched.page_latencies_ns) latency.Record(ns);

  // Checks, outside the timed part. Every touched page against the memory file.
  uint64_t mismatched = 0;
  std::string first_mismatch;
  const uint8_t* image = nullptr;
  uint64_t image_size = 0;
  if (!flags.image.empty()) {
    const int fd = ::open(flags.image.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) Die(kExitUsage, absl::StrFormat("open %s: %s", flags.image, std::strerror(errno)));
    image_size = static_cast<uint64_t>(::lseek(fd, 0, SEEK_END));
    void* mapped = ::mmap(nullptr, image_size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (mapped == MAP_FAILED) Die(kExitFailed, "mmap of the image");
    image = static_cast<const uint8_t*>(mapped);
  }
  // expected returns the byte the guest must see at file offset `at`.
  auto expected = [&](uint64_t at) -> uint8_t { return at < image_size ? image[at] : 0; };
  static const uint8_t kZeros[4096] = {};
  auto check_page = [&](const GuestRegion& region, uint64_t page_offset, bool zeros,
                        std::string_view what) {
    const uint64_t at = region.offset + page_offset;
    const uint8_t* want_page = zeros ? kZeros : at + 4096 <= image_size ? image + at : nullptr;
    if (want_page != nullptr && std::memcmp(region.memory + page_offset, want_page, 4096) == 0) {
      return;
    }
    for (uint64_t i = 0; i < 4096; ++i) {
      const uint8_t want = zeros ? 0 : expected(region.offset + page_offset + i);
      if (region.memory[page_offset + i] != want) {
        if (mismatched++ == 0) {
          first_mismatch = absl::StrFormat("%s: file offset %d: %d, expected %d", what,
                                           region.offset + page_offset + i,
                                           region.memory[page_offset + i], want);
        }
        return;
      }
    }
  };
  if (image != nullptr) {
    for (const auto& pages : plan) {
      for (const lazysnap::PageRef& ref : pages) {
        check_page(regions[ref.region], ref.page * 4096, false, "touched page");
      }
    }
  }

  // A kernel-mode fault each way: write(2) reads guest memory in the kernel, read(2)
  // writes it, as KVM's accesses do. The last region's last 64 KiB, which the random
  // patterns may or may not have touched.
  uint64_t kernel_io_bytes = 0;
  if (flags.kernel_io) {
    GuestRegion& region = regions.back();
    const uint64_t length = std::min<uint64_t>(65536, region.size);
    const uint64_t at = region.size - length;
    char path[] = "/tmp/test_vmm_kernel_io.XXXXXX";
    const char* tmpdir = std::getenv("TEST_TMPDIR");
    std::string temp = tmpdir != nullptr ? std::string(tmpdir) + "/kernel_io.XXXXXX" : path;
    const int fd = ::mkstemp(temp.data());
    if (fd < 0) Die(kExitFailed, "mkstemp");
    ::unlink(temp.c_str());
    if (::write(fd, region.memory + at, length) != static_cast<ssize_t>(length)) {
      Die(kExitFailed, absl::StrFormat("write(2) from guest memory: %s", std::strerror(errno)));
    }
    std::vector<uint8_t> written(length);
    if (::pread(fd, written.data(), length, 0) != static_cast<ssize_t>(length)) Die(kExitFailed, "pread");
    for (uint64_t i = 0; i < length; ++i) {
      if (image != nullptr && written[i] != expected(region.offset + at + i)) {
        if (mismatched++ == 0) {
          first_mismatch = absl::StrFormat("write(2) from guest memory: file offset %d", region.offset + at + i);
        }
        break;
      }
    }
    // read(2) into a part of the first region that nothing touched yet, if any: the
    // kernel faults it in (served by the handler) and then overwrites it.
    std::vector<uint8_t> ones(8192, 0x5a);
    if (::pwrite(fd, ones.data(), ones.size(), 0) != static_cast<ssize_t>(ones.size())) Die(kExitFailed, "pwrite");
    uint8_t* target = regions[0].memory + regions[0].size - 8192 - 4096 * 3;
    if (::pread(fd, target + 100, 8192, 0) != 8192) {
      Die(kExitFailed, absl::StrFormat("read(2) into guest memory: %s", std::strerror(errno)));
    }
    for (int i = 0; i < 8192; ++i) {
      if (target[100 + i] != 0x5a) {
        if (mismatched++ == 0) first_mismatch = "read(2) into guest memory";
        break;
      }
    }
    // The bytes around what read(2) wrote are the snapshot's.
    if (image != nullptr) {
      const uint64_t offset = target - regions[0].memory;
      for (uint64_t i = 0; i < 100; ++i) {
        if (target[i] != expected(regions[0].offset + offset + i)) {
          if (mismatched++ == 0) first_mismatch = "bytes beside read(2)'s";
          break;
        }
      }
    }
    ::close(fd);
    kernel_io_bytes = length + 8192;
  }

  // The balloon: madvise(MADV_DONTNEED) of 4 KiB granular ranges, some restored, some not
  // yet touched; all must read back as zeros, their neighbours as the snapshot.
  uint64_t balloon_pages = 0;
  if (flags.balloon) {
    GuestRegion& region = regions[0];
    const uint64_t touched_at = 4096 * 5;  // touch it first: restored, then removed
    volatile uint8_t sink = region.memory[touched_at];
    (void)sink;
    const uint64_t ranges[][2] = {{touched_at, 4096 * 3},
                                  {region.size / 2 + 4096 * 7, 4096},  // maybe not restored
                                  {region.size - 4096 * 9, 4096 * 2}};
    for (const auto& range : ranges) {
      if (::madvise(region.memory + range[0], range[1], MADV_DONTNEED) != 0) {
        Die(kExitFailed, absl::StrFormat("madvise DONTNEED: %s", std::strerror(errno)));
      }
      balloon_pages += range[1] / 4096;
    }
    for (const auto& range : ranges) {
      for (uint64_t p = 0; p < range[1]; p += 4096) check_page(region, range[0] + p, true, "removed page");
      // The page after the range keeps the snapshot's bytes.
      if (image != nullptr && range[0] + range[1] < region.size) {
        check_page(region, range[0] + range[1], false, "page beside a removed range");
      }
    }
    // Written after removal: the guest's own bytes stay.
    region.memory[touched_at] = 0x77;
    if (region.memory[touched_at] != 0x77) ++mismatched;
  }

  const std::string report = absl::StrFormat(
      "{\"ok\":%s,\"regions\":%d,\"memory_bytes\":%d,\"pages_touched\":%d,"
      "\"first_fault_ns\":%d,\"touch_seconds\":%.6f,\"touch_p50_ns\":%d,\"touch_p99_ns\":%d,"
      "\"touch_max_ns\":%d,\"kernel_io_bytes\":%d,\"balloon_pages\":%d,\"mismatched\":%d%s}\n",
      mismatched == 0 ? "true" : "false", flags.regions, flags.size, touched.pages,
      first_fault_ns, touched.seconds, latency.Percentile(0.5), latency.Percentile(0.99),
      latency.max(), kernel_io_bytes, balloon_pages, mismatched,
      first_mismatch.empty() ? "" : absl::StrFormat(",\"first_mismatch\":\"%s\"", first_mismatch));
  std::fputs(report.c_str(), stdout);
  std::fflush(stdout);
  ::close(sock);
  return mismatched == 0 ? kExitOk : kExitFailed;
}
