// GuardedTouch: touchers under sigsetjmp, a SIGBUS handler and an interrupt signal.
#include "tools/guarded_touch.h"

#include <pthread.h>
#include <setjmp.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_format.h"

namespace lazysnap::cli {
namespace {

// Abort's signal: ignored by default, so one arriving after the guard is gone is harmless.
constexpr int kInterruptSignal = SIGURG;

// Where a toucher jumps back to, and what made it jump. Constant-initialised
// thread_local: safe to read in a signal handler.
struct ToucherJump {
  sigjmp_buf jump;
  volatile sig_atomic_t armed = 0;
  volatile uint64_t sigbus_address = 0;
  volatile int sigbus_code = 0;
};
thread_local ToucherJump* t_toucher = nullptr;

std::atomic<TouchGuard*> g_guard{nullptr};
std::atomic<bool> g_aborted{false};  // the guard's Abort, readable in a handler
struct sigaction g_previous_sigbus;

void PassOnSigbus(int signal_number, siginfo_t* info, void* context) {
  if ((g_previous_sigbus.sa_flags & SA_SIGINFO) != 0 && g_previous_sigbus.sa_sigaction != nullptr) {
    g_previous_sigbus.sa_sigaction(signal_number, info, context);
    return;
  }
  if (g_previous_sigbus.sa_handler != SIG_DFL && g_previous_sigbus.sa_handler != SIG_IGN &&
      g_previous_sigbus.sa_handler != nullptr) {
    g_previous_sigbus.sa_handler(signal_number);
    return;
  }
  // Default action: the access faults again on return and the process ends as it would
  // have without the guard.
  struct sigaction default_action = {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  ::sigaction(signal_number, &default_action, nullptr);
}

void OnSigbus(int signal_number, siginfo_t* info, void* context) {
  ToucherJump* toucher = t_toucher;
  if (toucher != nullptr && toucher->armed) {
    toucher->armed = 0;
    toucher->sigbus_address = reinterpret_cast<uint64_t>(info->si_addr);
    toucher->sigbus_code = info->si_code;
    siglongjmp(toucher->jump, 1);
  }
  PassOnSigbus(signal_number, info, context);
}

void OnInterrupt(int) {
  ToucherJump* toucher = t_toucher;
  if (toucher != nullptr && toucher->armed && g_aborted.load(std::memory_order_acquire)) {
    toucher->armed = 0;
    siglongjmp(toucher->jump, 2);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<TouchGuard>> TouchGuard::Create() {
  std::unique_ptr<TouchGuard> guard(new TouchGuard());
  TouchGuard* none = nullptr;
  if (!g_guard.compare_exchange_strong(none, guard.get())) {
    return absl::FailedPreconditionError("a TouchGuard exists already in this process");
  }
  g_aborted.store(false);
  struct sigaction action = {};
  action.sa_sigaction = OnSigbus;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  sigaddset(&action.sa_mask, kInterruptSignal);
  struct sigaction interrupt = {};
  interrupt.sa_handler = OnInterrupt;
  sigemptyset(&interrupt.sa_mask);
  if (::sigaction(SIGBUS, &action, &guard->previous_sigbus_) != 0) {
    g_guard.store(nullptr);
    return absl::InternalError(absl::StrFormat("sigaction(SIGBUS): %s", std::strerror(errno)));
  }
  g_previous_sigbus = guard->previous_sigbus_;
  if (::sigaction(kInterruptSignal, &interrupt, &guard->previous_interrupt_) != 0) {
    ::sigaction(SIGBUS, &guard->previous_sigbus_, nullptr);
    g_guard.store(nullptr);
    return absl::InternalError(absl::StrFormat("sigaction(SIGURG): %s", std::strerror(errno)));
  }
  return guard;
}

TouchGuard::~TouchGuard() {
  ::sigaction(kInterruptSignal, &previous_interrupt_, nullptr);
  ::sigaction(SIGBUS, &previous_sigbus_, nullptr);
  g_guard.store(nullptr);
}

void TouchGuard::Abort() {
  aborted_.store(true, std::memory_order_seq_cst);
  g_aborted.store(true, std::memory_order_seq_cst);
  // A toucher leaves `running_` (under the mutex) before it exits, so every thread
  // signalled here still exists.
  std::lock_guard<std::mutex> lock(threads_mutex_);
  for (pthread_t thread : running_) ::pthread_kill(thread, kInterruptSignal);
}

GuardedTouchResult TouchGuard::Touch(const MemoryView& memory,
                                     const std::vector<std::vector<PageRef>>& plan,
                                     uint32_t page_bytes) {
  GuardedTouchResult result;
  result.pages_done.assign(plan.size(), 0);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::mutex result_mutex;
  auto toucher = [&](size_t t) {
    ToucherJump jump;
    t_toucher = &jump;
    {
      std::lock_guard<std::mutex> lock(threads_mutex_);
      running_.push_back(::pthread_self());
    }
    ++ready;
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    const std::vector<PageRef>& mine = plan[t];
    volatile uint64_t done = 0;  // survives siglongjmp: how many touches completed
    if (sigsetjmp(jump.jump, 1) == 0) {
      jump.armed = 1;
      std::atomic_signal_fence(std::memory_order_seq_cst);
      volatile uint8_t sink;
      // Abort sets aborted_ before it signals: a toucher armed after the signal went
      // out still sees the flag here before its next touch.
      while (done < mine.size() && !aborted_.load(std::memory_order_relaxed)) {
        const PageRef& ref = mine[done];
        sink = *(static_cast<const volatile uint8_t*>(memory[ref.region].data()) +
                 ref.page * page_bytes);
        done = done + 1;
      }
      (void)sink;
      std::atomic_signal_fence(std::memory_order_seq_cst);
      jump.armed = 0;
    }
    {
      std::lock_guard<std::mutex> lock(threads_mutex_);
      running_.erase(std::find(running_.begin(), running_.end(), ::pthread_self()));
    }
    t_toucher = nullptr;
    result.pages_done[t] = done;
    if (jump.sigbus_code != 0) {
      {
        std::lock_guard<std::mutex> lock(result_mutex);
        if (result.sigbus_code == 0) {
          result.sigbus_address = jump.sigbus_address;
          result.sigbus_code = jump.sigbus_code;
        }
      }
      Abort();  // the others stop too: the restore has failed
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 0; t < plan.size(); ++t) threads.emplace_back(toucher, t);
  while (ready.load() < static_cast<int>(plan.size())) std::this_thread::yield();
  const auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (std::thread& thread : threads) thread.join();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (uint64_t n : result.pages_done) result.pages += n;
  result.aborted = aborted_.load();
  return result;
}

}  // namespace lazysnap::cli
