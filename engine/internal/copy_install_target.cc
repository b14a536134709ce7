// CopyInstallTarget: COPY / ZEROPAGE / POISON loops.
#include "engine/internal/copy_install_target.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"

namespace lazysnap::internal {
namespace {

enum class Op { kCopy, kZero, kPoison };

const char* OpName(Op op) {
  switch (op) {
    case Op::kCopy: return "UFFDIO_COPY";
    case Op::kZero: return "UFFDIO_ZEROPAGE";
    case Op::kPoison: return "UFFDIO_POISON";
  }
  return "?";
}

// RangeLoop runs one range ioctl over [address, address + length) until every page is
// present, skipping pages that already are.
template <typename Call>
InstallResult RangeLoop(Op op, uint64_t address, uint64_t length, uint32_t page,
                        SessionCounters& counters, Call call) {
  uint64_t done = 0;
  while (done < length) {
    UffdIoctlResult r = call(done);
    if (r.error == 0) return {};
    done += static_cast<uint64_t>(r.bytes);
    switch (r.error) {
      case EAGAIN:
        if (r.bytes > 0) continue;  // partial progress: carry on
        SessionCounters::Add(counters.copy_eagain);
        return {InstallOutcome::kRetry, {}};
      case EEXIST:
        // The page at `done` is present already (installed by another path, or a
        // dropped page refilled): leave it and go on with the rest.
        SessionCounters::Add(counters.copy_eexist);
        done += page;
        continue;
      case ENOENT:
      case ESRCH:
        return {InstallOutcome::kGone, {}};
      default:
        return {InstallOutcome::kError,
                ErrnoToStatus(r.error, absl::StrFormat("%s at 0x%x length %d", OpName(op),
                                                       address + done, length - done))};
    }
  }
  return {};
}

}  // namespace

CopyInstallTarget::CopyInstallTarget(Kernel& kernel, int uffd, ChunkMap& map,
                                     SessionCounters& counters, RangeCapability zeropage,
                                     RangeCapability poison)
    : kernel_(kernel),
      uffd_(uffd),
      map_(map),
      counters_(counters),
      zeropage_(zeropage),
      poison_(poison) {
  if (zeropage != RangeCapability::kYes) {
    zeros_.reset(static_cast<uint8_t*>(std::calloc(map_.chunk_size_bytes(), 1)));
    if (zeros_ == nullptr) std::abort();  // as new[] would
  }
}

uint64_t CopyInstallTarget::register_mode() const { return UFFDIO_REGISTER_MODE_MISSING; }

InstallResult CopyInstallTarget::Copy(uint64_t address, const uint8_t* bytes, uint64_t length) {
  InstallResult result = RangeLoop(Op::kCopy, address, length, map_.page_size_bytes(), counters_,
                                   [&](uint64_t done) {
                                     return kernel_.UffdCopy(uffd_, address + done, bytes + done,
                                                             length - done, /*wake=*/true);
                                   });
  if (result.outcome == InstallOutcome::kDone) {
    SessionCounters::Add(counters_.bytes_installed, length);
  }
  return result;
}

InstallResult CopyInstallTarget::CopyZeros(uint64_t address, uint64_t length) {
  for (uint64_t at = 0; at < length; at += map_.chunk_size_bytes()) {
    const uint64_t n = std::min<uint64_t>(map_.chunk_size_bytes(), length - at);
    InstallResult r = Copy(address + at, zeros_.get(), n);
    if (r.outcome != InstallOutcome::kDone) return r;
  }
  return {};
}

InstallResult CopyInstallTarget::Zero(uint64_t address, uint64_t length) {
  if (zeropage_.load(std::memory_order_relaxed) == RangeCapability::kNo) {
    // Ranges without ZEROPAGE (hugetlbfs, some shmem setups) get copies of zeros.
    return CopyZeros(address, length);
  }
  InstallResult result = RangeLoop(Op::kZero, address, length, map_.page_size_bytes(), counters_,
                                   [&](uint64_t done) {
                                     return kernel_.UffdZeropage(uffd_, address + done,
                                                                 length - done, /*wake=*/true);
                                   });
  if (result.outcome == InstallOutcome::kError &&
      zeropage_.load(std::memory_order_relaxed) == RangeCapability::kUnknown &&
      absl::IsInvalidArgument(result.status)) {
    // A handed-over range whose registration we never saw refuses ZEROPAGE: learn it.
    zeropage_.store(RangeCapability::kNo, std::memory_order_relaxed);
    return CopyZeros(address, length);
  }
  if (result.outcome == InstallOutcome::kDone) {
    zeropage_.store(RangeCapability::kYes, std::memory_order_relaxed);
    SessionCounters::Add(counters_.bytes_zero_installed, length);
  }
  return result;
}

InstallResult CopyInstallTarget::Install(uint64_t chunk, const uint8_t* bytes) {
  const uint64_t address = map_.AddressOf(chunk);
  const uint32_t length = map_.InstallLengthOf(chunk);
  if (!map_.AnyRemoved(address, length)) return Copy(address, bytes, length);
  // Some pages were dropped before the chunk arrived: they must read as zeros.
  const uint32_t page = map_.page_size_bytes();
  uint64_t run_start = 0;
  while (run_start < length) {
    const bool removed = map_.IsRemoved(address + run_start);
    uint64_t run_end = run_start + page;
    while (run_end < length && map_.IsRemoved(address + run_end) == removed) run_end += page;
    InstallResult r = removed ? Zero(address + run_start, run_end - run_start)
                              : Copy(address + run_start, bytes + run_start, run_end - run_start);
    if (r.outcome != InstallOutcome::kDone) return r;
    run_start = run_end;
  }
  return {};
}

InstallResult CopyInstallTarget::InstallZero(uint64_t chunk) {
  return Zero(map_.AddressOf(chunk), map_.InstallLengthOf(chunk));
}

InstallResult CopyInstallTarget::ZeroPage(uint64_t page_address) {
  InstallResult r = Zero(page_address, map_.page_size_bytes());
  if (r.outcome == InstallOutcome::kDone) {
    // When the page was present already nothing was woken: wake explicitly so a thread
    // whose fault raced with the install cannot be left waiting.
    absl::Status wake = kernel_.UffdWake(uffd_, page_address, map_.page_size_bytes());
    if (!wake.ok() && !absl::IsNotFound(wake)) return {InstallOutcome::kError, wake};
  }
  return r;
}

InstallResult CopyInstallTarget::Poison(uint64_t chunk) {
  if (poison_.load(std::memory_order_relaxed) == RangeCapability::kNo) {
    return {InstallOutcome::kError,
            absl::UnimplementedError("the range does not allow UFFDIO_POISON")};
  }
  const uint64_t address = map_.AddressOf(chunk);
  const uint32_t length = map_.InstallLengthOf(chunk);
  InstallResult result = RangeLoop(Op::kPoison, address, length, map_.page_size_bytes(),
                                   counters_, [&](uint64_t done) {
                                     return kernel_.UffdPoison(uffd_, address + done,
                                                               length - done, /*wake=*/true);
                                   });
  if (result.outcome == InstallOutcome::kError &&
      poison_.load(std::memory_order_relaxed) == RangeCapability::kUnknown &&
      (absl::IsInvalidArgument(result.status) || absl::IsInternal(result.status))) {
    // EINVAL (range without POISON) or ENOTTY (a kernel without the ioctl).
    poison_.store(RangeCapability::kNo, std::memory_order_relaxed);
  }
  return result;
}

}  // namespace lazysnap::internal
