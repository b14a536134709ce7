// ErrnoToStatus: the one place where an errno value becomes an absl::Status.
#ifndef LAZYSNAP_BASE_ERRNO_STATUS_H_
#define LAZYSNAP_BASE_ERRNO_STATUS_H_

#include <string_view>

#include "absl/status/status.h"

namespace lazysnap {

// ErrnoToStatus returns a Status for a failed call: `what` names the call and its object
// ("pread /snap/a.lzs at offset 4096"); the message appends strerror and the errno name.
// The code follows the errno: EPERM/EACCES -> PermissionDenied, ENOENT -> NotFound, EEXIST -> AlreadyExists,
// EINVAL -> InvalidArgument, ENOMEM/ENOSPC/EMFILE -> ResourceExhausted,
// EAGAIN/EBUSY/EINTR -> Unavailable, ENOSYS/EOPNOTSUPP -> Unimplemented, others Internal.
absl::Status ErrnoToStatus(int error_number, std::string_view what);

// ErrnoName returns the symbolic name of an errno value ("EINVAL"), or "errno N".
std::string_view ErrnoName(int error_number);

}  // namespace lazysnap

#endif  // LAZYSNAP_BASE_ERRNO_STATUS_H_
