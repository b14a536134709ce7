// fc_example_handler: the baselines of bench/firecracker_compare, page-fault handlers in
// the style of Firecracker's examples (src/firecracker/examples/uffd): one process per
// VMM, which binds the socket, accepts one connection, receives the regions and the
// userfaultfd, maps the raw guest memory file privately and read-only, and then:
//   --mode on-demand  (on_demand_handler.rs) one thread reads every pending message,
//                     answers each page fault with one 4 KiB UFFDIO_COPY from the mapping
//                     (ZEROPAGE for pages a REMOVE event dropped), defers those that get
//                     EAGAIN, and polls again;
//   --mode fault-all  (fault_all_handler.rs) on the first fault, one UFFDIO_COPY of every
//                     whole region from the mapping; later faults (removed pages) as above.
// It runs until the VMM hangs up, then prints one JSON line: faults served, the service
// latency (message read to ioctl return) p50/p99, and for fault-all the time the copy
// of everything took. All kernel calls go through the engine's kernel seam.
//
//   fc_example_handler --mode on-demand|fault-all --socket PATH MEMORY_FILE
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/strings/str_format.h"
#include "engine/kernel.h"
#include "engine/restore_stats.h"
#include "firecracker/handshake_message.h"

namespace {

using lazysnap::firecracker::GuestRegionMapping;

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fc_example_handler: %s\n", what.c_str());
  std::exit(1);
}

int Accept(const std::string& path) {
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  if (listener < 0 || path.size() >= sizeof(address.sun_path)) Die("socket");
  std::memcpy(address.sun_path, path.data(), path.size());
  ::unlink(path.c_str());
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener, 1) != 0) {
    Die(absl::StrFormat("bind/listen %s: %s", path, std::strerror(errno)));
  }
  const int connection = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (connection < 0) Die("accept");
  ::close(listener);
  ::unlink(path.c_str());
  return connection;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode, socket_path, memory_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--mode" && i + 1 < argc) mode = argv[++i];
    else if (arg == "--socket" && i + 1 < argc) socket_path = argv[++i];
    else memory_path = arg;
  }
  if ((mode != "on-demand" && mode != "fault-all") || socket_path.empty() || memory_path.empty()) {
    std::fprintf(stderr, "usage: fc_example_handler --mode on-demand|fault-all --socket PATH MEMORY_FILE\n");
    return 2;
  }
  lazysnap::Kernel& kernel = lazysnap::LinuxKernel();
  const int file = ::open(memory_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file < 0) Die("open " + memory_path);
  const uint64_t file_size = static_cast<uint64_t>(::lseek(file, 0, SEEK_END));
  const int connection = Accept(socket_path);

  // The handshake: one message with the fd.
  char buffer[4096];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  iovec data = {buffer, sizeof(buffer)};
  msghdr message = {};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  const ssize_t n = ::recvmsg(connection, &message, MSG_CMSG_CLOEXEC);
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  if (n <= 0 || header == nullptr || header->cmsg_type != SCM_RIGHTS) Die("no handshake");
  int uffd;
  std::memcpy(&uffd, CMSG_DATA(header), sizeof(int));
  auto parsed = lazysnap::firecracker::ParseHandshakeMessage({buffer, static_cast<size_t>(n)});
  if (!parsed.ok()) Die(std::string(parsed.status().message()));
  const std::vector<GuestRegionMapping> regions = parsed->regions;
  const uint64_t page = parsed->page_size_bytes;

  // The source: the memory file mapped privately, read-only (uffd_utils.rs).
  void* mapped = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, file, 0);
  if (mapped == MAP_FAILED) Die("mmap");
  const uint8_t* source = static_cast<const uint8_t*>(mapped);

  lazysnap::LatencyHistogram latency;
  uint64_t faults = 0, populate_ns = 0;
  bool populated = false;
  std::unordered_set<uint64_t> removed;  // page addresses dropped by REMOVE events
  auto copy = [&](uint64_t address, const uint8_t* from, uint64_t length) -> int {
    lazysnap::UffdIoctlResult r = kernel.UffdCopy(uffd, address, from, length, /*wake=*/true);
    if (r.error == EEXIST) {
      kernel.UffdWake(uffd, address, length).IgnoreError();
      return 0;
    }
    return r.error;
  };
  // serve returns false when the fault must be retried (EAGAIN: an event is pending).
  auto serve = [&](uint64_t address) -> bool {
    const uint64_t at = address & ~(page - 1);
    if (removed.count(at) != 0) {
      lazysnap::UffdIoctlResult r = kernel.UffdZeropage(uffd, at, page, /*wake=*/true);
      if (r.error == EAGAIN) return false;
      if (r.error == EEXIST) kernel.UffdWake(uffd, at, page).IgnoreError();
      return true;
    }
    if (mode == "fault-all" && !populated) {
      const uint64_t start = NowNs();
      for (const GuestRegionMapping& region : regions) {
        uint64_t done = 0;
        while (done < region.size_bytes) {
          lazysnap::UffdIoctlResult r = kernel.UffdCopy(
              uffd, region.base_host_virt_addr + done, source + region.offset_bytes + done,
              region.size_bytes - done, /*wake=*/true);
          done += static_cast<uint64_t>(r.bytes);
          if (r.error == 0) break;
          if (r.error == EEXIST) done += page;  // present already: skip it
          else if (r.error != EAGAIN) Die(absl::StrFormat("UFFDIO_COPY: %s", std::strerror(r.error)));
        }
      }
      populate_ns = NowNs() - start;
      populated = true;
      return true;
    }
    for (const GuestRegionMapping& region : regions) {
      if (at < region.base_host_virt_addr || at >= region.base_host_virt_addr + region.size_bytes) continue;
      const int error = copy(at, source + region.offset_bytes + (at - region.base_host_virt_addr), page);
      if (error == EAGAIN) return false;
      if (error != 0 && error != ENOENT && error != ESRCH) {
        Die(absl::StrFormat("UFFDIO_COPY at 0x%x: %s", at, std::strerror(error)));
      }
      return true;
    }
    Die(absl::StrFormat("fault at 0x%x outside every region", address));
  };

  std::vector<uffd_msg> messages(64);
  std::vector<std::pair<uint64_t, uint64_t>> deferred;  // (address, seen_ns)
  while (true) {
    pollfd fds[2] = {{uffd, POLLIN, 0}, {connection, POLLIN | POLLRDHUP, 0}};
    if (deferred.empty()) {
      auto ready = kernel.Poll(fds, -1);
      if (!ready.ok()) Die(std::string(ready.status().message()));
      if (fds[1].revents != 0) break;  // the VMM hung up
    }
    auto read = kernel.ReadUffdMessages(uffd, {messages.data(), messages.size()});
    if (!read.ok()) break;
    const uint64_t now = NowNs();
    std::vector<std::pair<uint64_t, uint64_t>> work;
    work.swap(deferred);
    for (size_t i = 0; i < *read; ++i) {
      const uffd_msg& m = messages[i];
      if (m.event == UFFD_EVENT_REMOVE) {
        for (uint64_t at = m.arg.remove.start; at < m.arg.remove.end; at += page) removed.insert(at);
      } else if (m.event == UFFD_EVENT_PAGEFAULT) {
        work.push_back({m.arg.pagefault.address, now});
      }
    }
    for (const auto& [address, seen_ns] : work) {
      if (!serve(address)) {
        deferred.push_back({address, seen_ns});
        continue;
      }
      latency.Record(NowNs() - seen_ns);
      ++faults;
    }
  }
  const std::string report = absl::StrFormat(
      "{\"mode\":\"%s\",\"faults\":%d,\"service_p50_ns\":%d,\"service_p99_ns\":%d,"
      "\"populate_ns\":%d}\n",
      mode, faults, latency.Percentile(0.5), latency.Percentile(0.99), populate_ns);
  std::fputs(report.c_str(), stdout);
  return 0;
}
