// ErrnoToStatus: errno values to absl::Status codes and messages.
#include "base/errno_status.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"

namespace lazysnap {

std::string_view ErrnoName(int error_number) {
  switch (error_number) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case ESPIPE: return "ESPIPE";
    case EROFS: return "EROFS";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EXDEV: return "EXDEV";
    case EISDIR: return "EISDIR";
    case ENOTDIR: return "ENOTDIR";
    case ENXIO: return "ENXIO";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ELOOP: return "ELOOP";
    case EISCONN: return "EISCONN";
    case ETXTBSY: return "ETXTBSY";
    default: return "errno";
  }
}

absl::Status ErrnoToStatus(int error_number, std::string_view what) {
  char buffer[128];
  // GNU strerror_r returns the message (which may not be in buffer).
  const char* text = strerror_r(error_number, buffer, sizeof(buffer));
  std::string message =
      absl::StrFormat("%s: %s (%s %d)", what, text, ErrnoName(error_number), error_number);
  switch (error_number) {
    case EPERM:
    case EACCES:
      return absl::PermissionDeniedError(message);
    case ENOENT:
      return absl::NotFoundError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case EINVAL:
      return absl::InvalidArgumentError(message);
    case ENOMEM:
    case ENOSPC:
    case EMFILE:
      return absl::ResourceExhaustedError(message);
    case EAGAIN:
    case EBUSY:
    case EINTR:
      return absl::UnavailableError(message);
    case ENOSYS:
    case EOPNOTSUPP:
      return absl::UnimplementedError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace lazysnap
