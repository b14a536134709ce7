// The 4 KiB userfaultfd handler baseline, shaped like Firecracker's example page fault
// handlers (src/firecracker/examples/uffd: valid_4k_handler.rs and uffd_utils.rs): the
// raw memory file is mapped read-only, and one thread polls the userfaultfd, reads one
// message and answers a page fault with one UFFDIO_COPY of the 4 KiB page from that
// mapping. What it leaves out is what the benchmark does not exercise (the UDS handshake
// with another process, balloon REMOVE events); what it does is done as a careful
// runtime would: no per-page hash map (the kernel knows which pages are missing), EEXIST
// answered with a wake, EAGAIN retried. All kernel calls go through the engine's kernel
// seam and Userfaultfd, as lazysnap's own.
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/file_io.h"
#include "base/status_macros.h"
#include "bench/restore_strategy.h"
#include "engine/guest_memory.h"
#include "engine/kernel.h"
#include "engine/restore_stats.h"
#include "engine/userfaultfd.h"

namespace lazysnap::bench {
namespace {

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

class UffdPageHandlerMemory final : public RestoredMemory {
 public:
  UffdPageHandlerMemory(Kernel& kernel, uint64_t page_bytes)
      : kernel_(kernel), page_bytes_(page_bytes) {}

  ~UffdPageHandlerMemory() override {
    if (handler_.joinable()) {
      kernel_.SignalEventFd(stop_.get()).IgnoreError();
      handler_.join();
    }
    // Unregistering wakes any thread still waiting in a fault (none: touching is over).
    registrations_.clear();
    uffd_.reset();
    if (source_ != nullptr) ::munmap(source_, source_length_);
  }

  absl::Status Init(const RawImage& image) {
    // The source: the raw image mapped privately and read-only, as in uffd_utils.rs.
    LAZYSNAP_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(image.path, O_RDONLY));
    LAZYSNAP_ASSIGN_OR_RETURN(uint64_t size, FileSizeBytes(fd.get(), image.path));
    source_length_ = (size + page_bytes_ - 1) / page_bytes_ * page_bytes_;
    void* source = ::mmap(nullptr, source_length_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (source == MAP_FAILED) return ErrnoToStatus(errno, "mmap " + image.path);
    source_ = static_cast<uint8_t*>(source);

    const std::vector<uint64_t> offsets = PackedRegionOffsets(image.regions, page_bytes_);
    LAZYSNAP_ASSIGN_OR_RETURN(memory_, GuestMemory::MapAnonymous(offsets.back()));
    for (size_t i = 0; i < image.regions.size(); ++i) {
      const format::Region& region = image.regions[i];
      if (region.image_offset_bytes + region.length_bytes > size) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s: region %d ends past the end of the file", image.path, i));
      }
      const uint64_t start = memory_->address() + offsets[i];
      view_.emplace_back(memory_->data() + offsets[i], region.length_bytes);
      targets_.push_back({start, offsets[i + 1] - offsets[i], region.image_offset_bytes});
    }

    UffdOptions options;  // no features: page faults are all this handler needs
    LAZYSNAP_ASSIGN_OR_RETURN(Userfaultfd uffd, Userfaultfd::Open(kernel_, options));
    uffd_.emplace(std::move(uffd));
    for (const Target& target : targets_) {
      LAZYSNAP_ASSIGN_OR_RETURN(
          RangeRegistration registration,
          uffd_->Register(target.start, target.length, UFFDIO_REGISTER_MODE_MISSING));
      registrations_.push_back(std::move(registration));
    }
    LAZYSNAP_ASSIGN_OR_RETURN(stop_, kernel_.CreateEventFd());
    handler_ = std::thread([this] { Serve(); });
    return absl::OkStatus();
  }

  MemoryView view() const override { return view_; }

  EngineReport Report() const override {
    EngineReport report;
    report.faults = faults_.load(std::memory_order_relaxed);
    report.has_service_latency = true;
    report.service_p50_ns = latency_.Percentile(0.50);
    report.service_p99_ns = latency_.Percentile(0.99);
    report.detail = "1 handler thread, 4 KiB UFFDIO_COPY per fault";
    return report;
  }

  absl::Status status() const override {
    std::lock_guard<std::mutex> lock(error_mutex_);
    return error_;
  }

 private:
  struct Target {
    uint64_t start;         // address of the region's memory
    uint64_t length;        // page-rounded
    uint64_t image_offset;  // where its bytes are in the raw image
  };

  void Fail(const absl::Status& status) {
    std::lock_guard<std::mutex> lock(error_mutex_);
    if (error_.ok()) error_ = status;
  }

  // Serve is the handler thread: block in poll(2) until the userfaultfd (or the stop
  // eventfd) is readable, read one message, serve it, repeat.
  void Serve() {
    const int uffd = uffd_->fd();
    while (true) {
      pollfd fds[2] = {{uffd, POLLIN, 0}, {stop_.get(), POLLIN, 0}};
      auto ready = kernel_.Poll(fds, -1);
      if (!ready.ok()) return Fail(ready.status());
      if (fds[1].revents != 0) return;
      if ((fds[0].revents & POLLIN) == 0) continue;
      uffd_msg message;
      auto n = kernel_.ReadUffdMessages(uffd, {&message, 1});
      if (!n.ok()) return Fail(n.status());
      if (*n == 0 || message.event != UFFD_EVENT_PAGEFAULT) continue;
      const uint64_t seen_ns = NowNs();
      const uint64_t page = message.arg.pagefault.address & ~(page_bytes_ - 1);
      // The region holding the page: the last one starting at or before it.
      auto it = std::upper_bound(targets_.begin(), targets_.end(), page,
                                 [](uint64_t a, const Target& t) { return a < t.start; });
      if (it == targets_.begin() || page >= std::prev(it)->start + std::prev(it)->length) {
        return Fail(absl::InternalError(
            absl::StrFormat("fault at 0x%x outside every region", message.arg.pagefault.address)));
      }
      const Target& target = *std::prev(it);
      const uint8_t* from = source_ + target.image_offset + (page - target.start);
      UffdIoctlResult r;
      do {
        r = kernel_.UffdCopy(uffd, page, from, page_bytes_, /*wake=*/true);
      } while (r.error == EAGAIN);  // the mappings changed under the copy: try again
      if (r.error == EEXIST) {
        // Present already (two threads faulted on it): the copy did not wake anybody.
        absl::Status woken = kernel_.UffdWake(uffd, page, page_bytes_);
        if (!woken.ok()) return Fail(woken);
      } else if (r.error != 0) {
        return Fail(ErrnoToStatus(r.error, absl::StrFormat("UFFDIO_COPY to 0x%x", page)));
      }
      latency_.Record(NowNs() - seen_ns);
      faults_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  Kernel& kernel_;
  const uint64_t page_bytes_;
  uint8_t* source_ = nullptr;
  uint64_t source_length_ = 0;
  std::shared_ptr<GuestMemory> memory_;
  MemoryView view_;
  std::vector<Target> targets_;  // in address order (packed layout)
  std::optional<Userfaultfd> uffd_;
  std::vector<RangeRegistration> registrations_;
  UniqueFd stop_;
  std::atomic<uint64_t> faults_{0};
  LatencyHistogram latency_;
  mutable std::mutex error_mutex_;
  absl::Status error_;
  std::thread handler_;
};

class UffdPageHandlerStrategy final : public RestoreStrategy {
 public:
  UffdPageHandlerStrategy(std::string name, RawImage image)
      : name_(std::move(name)), image_(std::move(image)) {}
  const std::string& name() const override { return name_; }
  std::vector<std::string> files() const override { return {image_.path}; }

  absl::StatusOr<std::unique_ptr<RestoredMemory>> Restore() override {
    auto memory = std::make_unique<UffdPageHandlerMemory>(
        LinuxKernel(), LinuxKernel().PageSize());
    LAZYSNAP_RETURN_IF_ERROR(memory->Init(image_));
    return memory;
  }

 private:
  std::string name_;
  RawImage image_;
};

}  // namespace

std::unique_ptr<RestoreStrategy> NewUffdPageHandlerStrategy(std::string name, RawImage image) {
  return std::make_unique<UffdPageHandlerStrategy>(std::move(name), std::move(image));
}

}  // namespace lazysnap::bench
