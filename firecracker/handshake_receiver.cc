// HandshakeReceiver: recvmsg with SCM_RIGHTS, bounded accumulation, and the checks on
// what was handed over.
#include "firecracker/handshake_receiver.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "firecracker/unix_socket.h"

namespace lazysnap::firecracker {
namespace {
// Room for a few descriptors: a peer that sends more than this gets MSG_CTRUNC (the
// kernel closes the excess) and is refused like one that sends two.
constexpr size_t kMaxDescriptorsPerMessage = 8;
}  // namespace

absl::Status HandshakeReceiver::TakeDescriptors(void* message_header) {
  msghdr* message = static_cast<msghdr*>(message_header);
  for (cmsghdr* header = CMSG_FIRSTHDR(message); header != nullptr;
       header = CMSG_NXTHDR(message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
      fds_.emplace_back(fd);  // owned from here on, whatever happens next
    }
  }
  if ((message->msg_flags & MSG_CTRUNC) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the peer sent more than %d descriptors in one message", kMaxDescriptorsPerMessage));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Handshake>> HandshakeReceiver::OnReadable() {
  while (true) {
    // One byte more than a handshake may hold, so that an oversized one is seen.
    char buffer[4096];
    const size_t room = kMaxHandshakeBytes + 1 - bytes_.size();
    iovec data = {buffer, std::min(sizeof(buffer), room)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxDescriptorsPerMessage)];
    msghdr message = {};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(socket_, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return std::optional<Handshake>();
      return ErrnoToStatus(errno, "recvmsg of the handshake");
    }
    absl::Status taken = TakeDescriptors(&message);
    if (!taken.ok()) return taken;
    if (n == 0) {
      return absl::UnavailableError(absl::StrFormat(
          "the peer hung up before its handshake was complete (%d bytes, %d descriptors%s%s)",
          bytes_.size(), fds_.size(), incomplete_.ok() ? "" : ": ", incomplete_.message()));
    }
    bytes_.append(buffer, static_cast<size_t>(n));
    if (bytes_.size() > kMaxHandshakeBytes) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "the peer sent more than %d bytes without completing a handshake",
          kMaxHandshakeBytes));
    }
    absl::StatusOr<std::optional<Handshake>> done = TryComplete();
    if (!done.ok() || done->has_value()) return done;
  }
}

absl::StatusOr<std::optional<Handshake>> HandshakeReceiver::TryComplete() {
  bool incomplete_json = false;
  absl::StatusOr<HandshakeMessage> message = ParseHandshakeMessage(bytes_, &incomplete_json);
  if (!message.ok()) {
    // A stream socket may deliver the message in pieces: wait for the rest (the deadline
    // refuses a peer that never completes it).
    if (incomplete_json) {
      incomplete_ = message.status();
      return std::optional<Handshake>();
    }
    return message.status();
  }
  if (fds_.empty()) {
    return absl::InvalidArgumentError(
        "the handshake message came without a userfaultfd (SCM_RIGHTS)");
  }
  if (fds_.size() > 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the handshake came with %d descriptors; a VMM with anonymous guest memory sends "
        "exactly one userfaultfd",
        fds_.size()));
  }
  absl::StatusOr<bool> is_uffd = IsUserfaultfd(fds_[0].get());
  if (!is_uffd.ok()) return is_uffd.status();
  if (!*is_uffd) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the descriptor handed over is not a userfaultfd but %s", DescribeFd(fds_[0].get())));
  }
  // The handler threads read it without blocking. O_NONBLOCK belongs to the open file
  // description, which the VMM shares, but the VMM never reads it.
  const int flags = ::fcntl(fds_[0].get(), F_GETFL);
  if (flags < 0) return ErrnoToStatus(errno, "fcntl F_GETFL of the userfaultfd");
  if ((flags & O_NONBLOCK) == 0 && ::fcntl(fds_[0].get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return ErrnoToStatus(errno, "fcntl F_SETFL O_NONBLOCK of the userfaultfd");
  }
  Handshake handshake{std::move(*message), std::move(fds_[0])};
  fds_.clear();
  return std::optional<Handshake>(std::move(handshake));
}

absl::Status HandshakeReceiver::Expire() const {
  return absl::DeadlineExceededError(absl::StrFormat(
      "no complete handshake before the deadline (%d bytes, %d descriptors received%s%s)",
      bytes_.size(), fds_.size(), incomplete_.ok() ? "" : ": ", incomplete_.message()));
}

}  // namespace lazysnap::firecracker
