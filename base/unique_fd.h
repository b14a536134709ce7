// UniqueFd: the move-only owner of a file descriptor. Every fd lazysnap opens lives in
// one of these from the moment the syscall returns, so none leaks on an error path.
#ifndef LAZYSNAP_BASE_UNIQUE_FD_H_
#define LAZYSNAP_BASE_UNIQUE_FD_H_

namespace lazysnap {

// UniqueFd owns one file descriptor (or none, -1) and closes it on destruction.
// Move-only; not thread-safe (like any value type).
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  // get returns the descriptor without giving up ownership (-1 when empty).
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

  // Release gives up ownership and returns the descriptor.
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

  // Reset closes the owned descriptor (errors from close(2) are ignored: the fd is gone
  // either way) and takes ownership of fd.
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_BASE_UNIQUE_FD_H_
