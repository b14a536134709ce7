// DelayProxy: one thread accepts; each connection gets a thread per direction that reads
// what arrives, stamps it with its release time, and writes it out when that comes.
#include "remote/testing/delay_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <string>

#include "base/errno_status.h"

namespace lazysnap::remote::testing {
namespace {

using Clock = std::chrono::steady_clock;

bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DelayProxy>> DelayProxy::Start(int target_port,
                                                              std::chrono::microseconds rtt) {
  std::unique_ptr<DelayProxy> proxy(new DelayProxy());
  proxy->target_port_ = target_port;
  proxy->one_way_ = rtt / 2;
  proxy->listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (proxy->listen_fd_ < 0) return ErrnoToStatus(errno, "socket");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  if (::bind(proxy->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(proxy->listen_fd_, 128) != 0 ||
      ::getsockname(proxy->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    return ErrnoToStatus(errno, "listen on 127.0.0.1:0");
  }
  proxy->port_ = ntohs(addr.sin_port);
  proxy->acceptor_ = std::thread([p = proxy.get()] { p->AcceptLoop(); });
  return proxy;
}

DelayProxy::~DelayProxy() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
  {
    std::lock_guard lock(mutex_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (std::thread& t : pumps_) t.join();
  for (int fd : fds_) ::close(fd);
}

void DelayProxy::AcceptLoop() {
  while (!stopping_) {
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR) continue;
      return;
    }
    const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(target_port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(client);
      ::close(server);
      continue;
    }
    const int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::lock_guard lock(mutex_);
    fds_.push_back(client);
    fds_.push_back(server);
    pumps_.emplace_back([this, client, server] { Pump(client, server, true); });
    pumps_.emplace_back([this, client, server] { Pump(server, client, false); });
  }
}

void DelayProxy::Pump(int from, int to, bool first_waits_handshake) {
  struct Piece {
    Clock::time_point due;
    std::string bytes;
  };
  std::deque<Piece> queue;
  bool open = true;
  bool first = first_waits_handshake;
  std::string buffer(256 << 10, '\0');
  while (open || !queue.empty()) {
    timespec timeout = {};
    timespec* timeout_ptr = nullptr;
    if (!queue.empty()) {
      const int64_t wait_ns = std::max<int64_t>(
          0, std::chrono::duration_cast<std::chrono::nanoseconds>(queue.front().due - Clock::now())
                 .count());
      timeout = {static_cast<time_t>(wait_ns / 1000000000), static_cast<long>(wait_ns % 1000000000)};
      timeout_ptr = &timeout;
    }
    if (open) {
      pollfd p = {from, POLLIN, 0};
      const int n = ::ppoll(&p, 1, timeout_ptr, nullptr);
      if (n > 0) {
        const ssize_t r = ::recv(from, buffer.data(), buffer.size(), 0);
        if (r <= 0) {
          open = false;
        } else {
          auto delay = one_way_;
          if (first) delay += 2 * one_way_;  // the handshake's round trip
          first = false;
          queue.push_back({Clock::now() + delay, buffer.substr(0, static_cast<size_t>(r))});
        }
      }
    } else if (!queue.empty()) {
      std::this_thread::sleep_until(queue.front().due);
    }
    while (!queue.empty() && queue.front().due <= Clock::now()) {
      if (!WriteAll(to, queue.front().bytes.data(), queue.front().bytes.size())) {
        queue.clear();
        open = false;
        break;
      }
      queue.pop_front();
    }
    if (!open && queue.empty()) break;
  }
  ::shutdown(to, SHUT_WR);
}

}  // namespace lazysnap::remote::testing
