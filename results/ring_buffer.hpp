#pragma once
// A FIFO of trivially copyable items in one power-of-two array that doubles when full and never shrinks: pushing at
// the back and popping at the front touch memory in order, with no allocation per item (std::deque allocates a
// block every few items and frees it again, from scattered places in the heap). Plain C++.
#include <cstddef>
#include <type_traits>
#include <vector>

namespace tf {

template <class T>
class RingBuffer {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](std::size_t i) { return items_[(head_ + i) & mask_]; }
  const T& operator[](std::size_t i) const { return items_[(head_ + i) & mask_]; }
  T& front() { return items_[head_]; }
  void push_back(const T& item) {
    if (size_ == items_.size()) grow();
    items_[(head_ + size_) & mask_] = item;
    ++size_;
  }
  // Makes room for one more at the back and returns it, as it was (for the caller to fill).
  T& push_back_slot() {
    if (size_ == items_.size()) grow();
    return items_[(head_ + size_++) & mask_];
  }
  void pop_front() { drop_front(1); }
  void drop_front(std::size_t n) {
    head_ = (head_ + n) & mask_;
    size_ -= n;
  }
  void clear() { head_ = size_ = 0; }

 private:
  void grow() {
    std::vector<T> bigger(items_.empty() ? 64 : 2 * items_.size());
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = (*this)[i];
    items_.swap(bigger);
    head_ = 0;
    mask_ = items_.size() - 1;
  }
  std::vector<T> items_;
  std::size_t head_ = 0, size_ = 0, mask_ = 0;
};

}  // namespace tf
