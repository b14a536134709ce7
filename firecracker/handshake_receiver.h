// HandshakeReceiver: reads one VMM's handshake (the JSON message and the userfaultfd that
// comes with it as SCM_RIGHTS) from a non-blocking connected socket, a little at a time,
// so that the daemon's one loop serves every connection without blocking on any.
//
// A peer is refused (an error from OnReadable or Expire) when it sends more than
// kMaxHandshakeBytes, no descriptor or more than one, a descriptor that is not a
// userfaultfd, a message that is not a valid handshake, when it hangs up before the
// message is complete, or when the deadline passes first. The daemon never trusts
// anything of a refused peer.
#ifndef LAZYSNAP_FIRECRACKER_HANDSHAKE_RECEIVER_H_
#define LAZYSNAP_FIRECRACKER_HANDSHAKE_RECEIVER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "firecracker/handshake_message.h"

namespace lazysnap::firecracker {

// Handshake: what a complete handshake handed over.
struct Handshake {
  HandshakeMessage message;
  UniqueFd uffd;  // a userfaultfd, non-blocking, close-on-exec in this process
};

class HandshakeReceiver {
 public:
  // `socket` is borrowed: the caller keeps it open while receiving.
  explicit HandshakeReceiver(int socket) : socket_(socket) {}

  // OnReadable reads what the socket holds. Returns the handshake once it is complete,
  // nullopt while more bytes are needed, or the refusal: InvalidArgument (malformed
  // message, no descriptor, several descriptors, a descriptor that is not a
  // userfaultfd), ResourceExhausted (oversized), Unimplemented (guest_memfd VM),
  // Unavailable (the peer hung up mid-handshake), or a socket error.
  absl::StatusOr<std::optional<Handshake>> OnReadable();

  // Expire returns the refusal for a peer whose deadline passed mid-handshake.
  absl::Status Expire() const;

  // bytes_received and descriptors_received, for logs.
  size_t bytes_received() const { return bytes_.size(); }
  size_t descriptors_received() const { return fds_.size(); }

 private:
  absl::Status TakeDescriptors(void* message_header);
  absl::StatusOr<std::optional<Handshake>> TryComplete();

  int socket_;
  std::string bytes_;
  std::vector<UniqueFd> fds_;
  absl::Status incomplete_;  // why the bytes so far are not a handshake yet
};

}  // namespace lazysnap::firecracker

#endif  // LAZYSNAP_FIRECRACKER_HANDSHAKE_RECEIVER_H_
