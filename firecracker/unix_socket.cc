// Unix sockets: listen, accept, SO_PEERCRED, and what a received descriptor is.
#include "firecracker/unix_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"

namespace lazysnap::firecracker {
namespace {

absl::StatusOr<sockaddr_un> AddressOf(const std::string& path) {
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "socket path '%s' must be 1 to %d bytes long", path, sizeof(address.sun_path) - 1));
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  return address;
}

// RemoveStaleSocket unlinks a socket file nobody listens on any more.
absl::Status RemoveStaleSocket(const std::string& path, const sockaddr_un& address) {
  struct stat info;
  if (::lstat(path.c_str(), &info) != 0) {
    return errno == ENOENT ? absl::OkStatus() : ErrnoToStatus(errno, "stat " + path);
  }
  if (!S_ISSOCK(info.st_mode)) {
    return absl::AlreadyExistsError(absl::StrFormat("%s exists and is not a socket", path));
  }
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe.valid()) return ErrnoToStatus(errno, "socket");
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
    return absl::AlreadyExistsError(
        absl::StrFormat("%s: another process is listening on this socket", path));
  }
  if (errno != ECONNREFUSED) return ErrnoToStatus(errno, "connect " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoToStatus(errno, "unlink stale socket " + path);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UniqueFd> ListenUnixSocket(const std::string& path, uint32_t mode) {
  absl::StatusOr<sockaddr_un> address = AddressOf(path);
  if (!address.ok()) return address.status();
  absl::Status stale = RemoveStaleSocket(path, *address);
  if (!stale.ok()) return stale;
  UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!socket.valid()) return ErrnoToStatus(errno, "socket");
  if (::bind(socket.get(), reinterpret_cast<const sockaddr*>(&*address), sizeof(*address)) != 0) {
    return ErrnoToStatus(errno, "bind " + path);
  }
  // Connections are refused until listen(2): setting the mode in between leaves no window
  // in which the umask's mode would let someone in.
  if (::chmod(path.c_str(), mode) != 0) {
    const int error = errno;
    ::unlink(path.c_str());
    return ErrnoToStatus(error, absl::StrFormat("chmod %o %s", mode, path));
  }
  if (::listen(socket.get(), SOMAXCONN) != 0) {
    const int error = errno;
    ::unlink(path.c_str());
    return ErrnoToStatus(error, "listen " + path);
  }
  return socket;
}

absl::StatusOr<UniqueFd> AcceptConnection(int listen_socket) {
  while (true) {
    const int fd = ::accept4(listen_socket, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return UniqueFd(fd);
    // A peer that gave up before we accepted it is not our error.
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN) return UniqueFd();
    return ErrnoToStatus(errno, "accept");
  }
}

absl::StatusOr<PeerCredentials> PeerCredentialsOf(int socket) {
  ucred credentials = {};
  socklen_t length = sizeof(credentials);
  if (::getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
    return ErrnoToStatus(errno, "getsockopt SO_PEERCRED");
  }
  return PeerCredentials{credentials.pid, credentials.uid, credentials.gid};
}

std::string DescribeFd(int fd) {
  char target[256];
  const std::string link = absl::StrFormat("/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
  if (n < 0) return absl::StrFormat("fd %d (%s)", fd, std::strerror(errno));
  return std::string(target, static_cast<size_t>(n));
}

absl::StatusOr<bool> IsUserfaultfd(int fd) {
  char target[64];
  const std::string link = absl::StrFormat("/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link.c_str(), target, sizeof(target));
  if (n < 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "cannot tell what a received descriptor is: readlink %s: %s", link, std::strerror(errno)));
  }
  return std::string_view(target, static_cast<size_t>(n)) == "anon_inode:[userfaultfd]";
}

}  // namespace lazysnap::firecracker
