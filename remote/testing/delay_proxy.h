// DelayProxy: a TCP proxy on loopback that holds every byte for a one-way delay in each
// direction, so that a request/response exchange costs the round-trip time it adds, and
// the first bytes of each new connection wait one round trip more (the handshake a real
// link would cost). It stands in for `tc netem delay` on kernels built without
// sch_netem (as the project's Firecracker guests are); unlike netem it does not make TCP
// itself see the delay (no slow start over the long link), which favours large
// transfers, so a whole-file download measured through it is a lower bound.
#ifndef LAZYSNAP_REMOTE_TESTING_DELAY_PROXY_H_
#define LAZYSNAP_REMOTE_TESTING_DELAY_PROXY_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace lazysnap::remote::testing {

class DelayProxy {
 public:
  // Start listens on a free loopback port and forwards to 127.0.0.1:target_port, adding
  // `rtt / 2` each way.
  static absl::StatusOr<std::unique_ptr<DelayProxy>> Start(int target_port,
                                                           std::chrono::microseconds rtt);
  ~DelayProxy();
  int port() const { return port_; }

 private:
  DelayProxy() = default;
  void AcceptLoop();
  void Pump(int from, int to, bool first_waits_handshake);

  int listen_fd_ = -1;
  int port_ = 0;
  int target_port_ = 0;
  std::chrono::microseconds one_way_{0};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> pumps_;
  std::vector<int> fds_;
};

}  // namespace lazysnap::remote::testing

#endif  // LAZYSNAP_REMOTE_TESTING_DELAY_PROXY_H_
