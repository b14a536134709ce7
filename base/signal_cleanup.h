// Signal cleanup: undo what a process has left visible to others when a signal that ends
// it by default arrives (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE): remove its named
// temporary files and resume the processes it stopped. SIGKILL cannot be caught; what
// it leaves is cleaned by the next run (see AtomicFile) or documented by the owner.
//
// The handler only makes async-signal-safe calls (unlink, pidfd_send_signal), then
// restores the default action and raises the signal again, so the process still ends
// the way the signal says (exit status 128 + signal in a shell).
#ifndef LAZYSNAP_BASE_SIGNAL_CLEANUP_H_
#define LAZYSNAP_BASE_SIGNAL_CLEANUP_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace lazysnap {

// InstallSignalCleanup installs the handler for the signals above. Idempotent and
// thread-safe. A signal whose disposition is SIG_IGN when it is first called (nohup, a
// background job of a shell without job control) stays ignored. Entries registered
// before it is called are honoured once it is.
absl::Status InstallSignalCleanup();

// SignalCleanupEntry is one registered cleanup action; destroying (or Release-ing) it
// withdraws the action. Move-only. At most kMaxEntries actions are registered at once
// (ResourceExhausted beyond).
class SignalCleanupEntry {
 public:
  static constexpr int kMaxEntries = 32;

  // UnlinkOnSignal registers `path` (absolute or relative to the working directory at
  // the time of the signal; at most 4095 bytes) to be unlinked.
  static absl::StatusOr<SignalCleanupEntry> UnlinkOnSignal(std::string_view path);
  // RemoveDirectoryOnSignal registers an (empty by then) directory to be removed, after
  // every file registered for unlinking is gone.
  static absl::StatusOr<SignalCleanupEntry> RemoveDirectoryOnSignal(std::string_view path);
  // ContinueOnSignal registers a process, named by a pidfd or a /proc/PID directory
  // descriptor that stays open while registered, to receive SIGCONT.
  static absl::StatusOr<SignalCleanupEntry> ContinueOnSignal(int process_fd);

  SignalCleanupEntry() = default;
  SignalCleanupEntry(SignalCleanupEntry&& other) noexcept;
  SignalCleanupEntry& operator=(SignalCleanupEntry&& other) noexcept;
  SignalCleanupEntry(const SignalCleanupEntry&) = delete;
  SignalCleanupEntry& operator=(const SignalCleanupEntry&) = delete;
  ~SignalCleanupEntry() { Release(); }

  // Release withdraws the action (nothing is done now).
  void Release();
  bool active() const { return slot_ >= 0; }

 private:
  explicit SignalCleanupEntry(int slot) : slot_(slot) {}
  int slot_ = -1;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_BASE_SIGNAL_CLEANUP_H_
