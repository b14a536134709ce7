// BoundedQueue: a FIFO of at most `capacity` values in memory allocated once, for the
// fault path (no allocation after construction). Push on a full queue is refused: a
// caller that cannot lose an element must check room() first (the handler thread reads
// fault messages only when its queues have room for a whole batch).
#ifndef LAZYSNAP_ENGINE_INTERNAL_BOUNDED_QUEUE_H_
#define LAZYSNAP_ENGINE_INTERNAL_BOUNDED_QUEUE_H_

#include <cstddef>
#include <vector>

namespace lazysnap::internal {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : slots_(capacity) {}

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return slots_.size(); }
  size_t room() const { return slots_.size() - size_; }

  // Push appends `value`; false (and nothing changes) when the queue is full.
  bool Push(const T& value) {
    if (size_ == slots_.size()) return false;
    slots_[(head_ + size_) % slots_.size()] = value;
    ++size_;
    return true;
  }
  // front / Pop: the oldest value. Precondition: not empty.
  const T& front() const { return slots_[head_]; }
  T Pop() {
    T value = slots_[head_];
    head_ = (head_ + 1) % slots_.size();
    --size_;
    return value;
  }

 private:
  std::vector<T> slots_;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace lazysnap::internal

#endif  // LAZYSNAP_ENGINE_INTERNAL_BOUNDED_QUEUE_H_
