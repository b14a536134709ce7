// Unix-socket plumbing of the serve daemon: the listening socket (with its file mode),
// accepting, the peer's credentials (SO_PEERCRED), and recognising a userfaultfd among
// the descriptors a peer hands over.
#ifndef LAZYSNAP_FIRECRACKER_UNIX_SOCKET_H_
#define LAZYSNAP_FIRECRACKER_UNIX_SOCKET_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace lazysnap::firecracker {

// ListenUnixSocket binds a SOCK_STREAM socket at `path` with file mode `mode` (set before
// listen(2), so that no connection is accepted under a wider mode) and listens. A stale
// socket file left by a daemon that died is replaced; a socket some process still
// listens on is not (AlreadyExists), nor is any other kind of file. The returned socket
// is non-blocking and close-on-exec. InvalidArgument when `path` does not fit a
// sockaddr_un.
absl::StatusOr<UniqueFd> ListenUnixSocket(const std::string& path, uint32_t mode);

// AcceptConnection accepts one pending connection (non-blocking, close-on-exec); an empty
// UniqueFd when none is pending.
absl::StatusOr<UniqueFd> AcceptConnection(int listen_socket);

// PeerCredentials: who is at the other end of a connected Unix socket (at connect time).
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};
absl::StatusOr<PeerCredentials> PeerCredentialsOf(int socket);

// IsUserfaultfd is true when `fd` is a userfaultfd (an anonymous inode of that class, as
// /proc/self/fd shows it). FailedPrecondition when that cannot be told (no /proc).
absl::StatusOr<bool> IsUserfaultfd(int fd);

// DescribeFd returns what `fd` is, for messages ("anon_inode:[eventfd]", "/tmp/x").
std::string DescribeFd(int fd);

}  // namespace lazysnap::firecracker

#endif  // LAZYSNAP_FIRECRACKER_UNIX_SOCKET_H_
