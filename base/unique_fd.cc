// UniqueFd: closing.
#include "base/unique_fd.h"

#include <unistd.h>

namespace lazysnap {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) {
    // Linux releases the descriptor even when close(2) fails with EINTR, so it must not
    // be retried (the number may already belong to another thread's open).
    ::close(fd_);
  }
  fd_ = fd;
}

}  // namespace lazysnap
