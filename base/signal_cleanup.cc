// Signal cleanup: a fixed table of actions the handler can read without locks.
#include "base/signal_cleanup.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"

namespace lazysnap {
namespace {

constexpr size_t kMaxPathBytes = 4096;  // with the terminating NUL

enum SlotState : int { kFree = 0, kFilling = 1, kUnlink = 2, kContinue = 3, kRmdir = 4 };

// A slot is claimed (kFree -> kFilling), filled, then published with its action; the
// handler acts only on published slots, so it never reads a path being written.
struct Slot {
  std::atomic<int> state{kFree};
  int process_fd = -1;
  char path[kMaxPathBytes];
};

Slot g_slots[SignalCleanupEntry::kMaxEntries];
// Set by the handler: from then on slots are neither freed nor reused, so a slot the
// handler is reading keeps its contents.
std::atomic<bool> g_terminating{false};

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE};

void OnFatalSignal(int signal_number) {
  const int saved_errno = errno;
  g_terminating.store(true, std::memory_order_seq_cst);
  for (Slot& slot : g_slots) {
    switch (slot.state.load(std::memory_order_acquire)) {
      case kUnlink:
        ::unlink(slot.path);
        break;
      case kContinue:
        ::syscall(SYS_pidfd_send_signal, slot.process_fd, SIGCONT, nullptr, 0);
        break;
      default:
        break;
    }
  }
  // Directories last: the files in them are gone now.
  for (Slot& slot : g_slots) {
    if (slot.state.load(std::memory_order_acquire) == kRmdir) ::rmdir(slot.path);
  }
  // End the way the signal would have: it is blocked while this handler runs, so the
  // raised one is delivered, with the default action, as soon as the handler returns.
  struct sigaction default_action = {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  ::sigaction(signal_number, &default_action, nullptr);
  ::raise(signal_number);
  errno = saved_errno;
}

absl::StatusOr<int> ClaimSlot() {
  for (int i = 0; i < SignalCleanupEntry::kMaxEntries; ++i) {
    int expected = kFree;
    if (g_slots[i].state.compare_exchange_strong(expected, kFilling, std::memory_order_acquire)) {
      return i;
    }
  }
  return absl::ResourceExhaustedError(absl::StrFormat(
      "more than %d signal cleanup actions registered at once", SignalCleanupEntry::kMaxEntries));
}

}  // namespace

absl::Status InstallSignalCleanup() {
  static std::mutex mutex;
  static bool installed = false;
  std::lock_guard<std::mutex> lock(mutex);
  if (installed) return absl::OkStatus();
  for (int signal_number : kSignals) {
    struct sigaction current;
    if (::sigaction(signal_number, nullptr, &current) != 0) {
      return ErrnoToStatus(errno, absl::StrFormat("sigaction(%d)", signal_number));
    }
    // An ignored signal stays ignored (nohup; background jobs without job control),
    // and a handler someone else installed stays theirs.
    if ((current.sa_flags & SA_SIGINFO) != 0 || current.sa_handler != SIG_DFL) continue;
    struct sigaction action = {};
    action.sa_handler = OnFatalSignal;
    // Every cleanup signal is held off while one is handled: the first one decides.
    sigemptyset(&action.sa_mask);
    for (int other : kSignals) sigaddset(&action.sa_mask, other);
    if (::sigaction(signal_number, &action, nullptr) != 0) {
      return ErrnoToStatus(errno, absl::StrFormat("sigaction(%d)", signal_number));
    }
  }
  installed = true;
  return absl::OkStatus();
}

namespace {

absl::StatusOr<int> RegisterPath(std::string_view path, SlotState action) {
  if (path.empty() || path.size() >= kMaxPathBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cannot register a path of %d bytes for cleanup", path.size()));
  }
  auto slot = ClaimSlot();
  if (!slot.ok()) return slot.status();
  Slot& s = g_slots[*slot];
  std::memcpy(s.path, path.data(), path.size());
  s.path[path.size()] = '\0';
  s.state.store(action, std::memory_order_release);
  return *slot;
}

}  // namespace

absl::StatusOr<SignalCleanupEntry> SignalCleanupEntry::UnlinkOnSignal(std::string_view path) {
  auto slot = RegisterPath(path, kUnlink);
  if (!slot.ok()) return slot.status();
  return SignalCleanupEntry(*slot);
}

absl::StatusOr<SignalCleanupEntry> SignalCleanupEntry::RemoveDirectoryOnSignal(
    std::string_view path) {
  auto slot = RegisterPath(path, kRmdir);
  if (!slot.ok()) return slot.status();
  return SignalCleanupEntry(*slot);
}

absl::StatusOr<SignalCleanupEntry> SignalCleanupEntry::ContinueOnSignal(int process_fd) {
  auto slot = ClaimSlot();
  if (!slot.ok()) return slot.status();
  Slot& s = g_slots[*slot];
  s.process_fd = process_fd;
  s.state.store(kContinue, std::memory_order_release);
  return SignalCleanupEntry(*slot);
}

SignalCleanupEntry::SignalCleanupEntry(SignalCleanupEntry&& other) noexcept
    : slot_(other.slot_) {
  other.slot_ = -1;
}

SignalCleanupEntry& SignalCleanupEntry::operator=(SignalCleanupEntry&& other) noexcept {
  if (this != &other) {
    Release();
    slot_ = other.slot_;
    other.slot_ = -1;
  }
  return *this;
}

void SignalCleanupEntry::Release() {
  if (slot_ < 0) return;
  // Once the handler runs, the process is ending: leave the slot as the handler saw it.
  if (!g_terminating.load(std::memory_order_seq_cst)) {
    g_slots[slot_].state.store(kFree, std::memory_order_release);
  }
  slot_ = -1;
}

}  // namespace lazysnap
