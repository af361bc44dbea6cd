#pragma once
// The event loop's pending wake-ups: at most one per owner (a replica, or the workload's source), in a binary
// min-heap ordered by time, ties in the order they were set. Setting an owner's timer replaces its pending one in
// place, so the heap never holds stale entries: it stays as small as the fleet, and checking the top touches
// nothing but the heap (the former heap of versioned entries kept every replaced one, and read each replica's
// state to find them stale). Plain C++, no SimGrid.
#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

namespace tf::engine {

class TimerHeap {
 public:
  struct Entry {
    double t = 0.0;
    std::uint64_t seq = 0;  // the order set: ties go to the earliest
    std::uint32_t owner = 0;
    std::uint64_t key = 0;  // t's bits, made to order as unsigned integers as t does as a double
  };

  explicit TimerHeap(std::size_t owners = 0) : pos_(owners, kNone) {}
  void resize(std::size_t owners) { pos_.assign(owners, kNone), heap_.clear(); }
  std::size_t size() const { return heap_.size(); }
  bool empty() const { return heap_.empty(); }
  bool pending(std::size_t owner) const { return pos_.at(owner) != kNone; }
  const Entry& top() const { return heap_.front(); }

  // Sets `owner`'s timer at `t`, replacing its pending one (which then counts as set now, for ties). Throws
  // std::logic_error for a NaN time.
  void set(std::size_t owner, double t) {
    std::uint32_t& p = pos_.at(owner);
    if (std::isnan(t)) throw std::logic_error("TimerHeap::set: a timer at NaN");
    const Entry e{t, seq_++, static_cast<std::uint32_t>(owner), order_key(t)};
    if (p == kNone) {
      p = static_cast<std::uint32_t>(heap_.size());
      heap_.push_back(e);
      up(p);
      return;
    }
    const bool earlier = before(e, heap_[p]);
    heap_[p] = e;
    earlier ? up(p) : down(p);
  }
  // Drops `owner`'s pending timer, if any.
  void cancel(std::size_t owner) {
    const std::uint32_t p = pos_.at(owner);
    if (p != kNone) remove_at(p);
  }
  // Takes the earliest.
  Entry pop() {
    if (heap_.empty()) throw std::logic_error("TimerHeap::pop on an empty heap");
    const Entry e = heap_.front();
    remove_at(0);
    return e;
  }

 private:
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
  // Integer comparisons without branches: on a fleet of a thousand replicas the heap is ten levels deep, and which
  // child is earlier is a coin toss that a branch would mispredict half the time.
  static bool before(const Entry& a, const Entry& b) {
    return (a.key < b.key) | ((a.key == b.key) & (a.seq < b.seq));
  }
  // A double's bits as an unsigned integer that orders as the double does (-0 taken as +0, which compare equal):
  // positive ones with the sign bit set, negative ones with every bit flipped.
  static std::uint64_t order_key(double t) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &t, sizeof bits);
    if ((bits << 1) == 0) bits = 0;  // -0 is +0 (on the bits: whatever the rounding mode or the compiler's flags)
    return bits >> 63 ? ~bits : bits | (std::uint64_t{1} << 63);
  }
  void place(std::uint32_t i, const Entry& e) {
    heap_[i] = e;
    pos_[e.owner] = i;
  }
  void up(std::uint32_t i) {
    const Entry e = heap_[i];
    while (i > 0) {
      const std::uint32_t parent = (i - 1) / 2;
      if (!before(e, heap_[parent])) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, e);
  }
  void down(std::uint32_t i) {
    const Entry e = heap_[i];
    const auto n = static_cast<std::uint32_t>(heap_.size());
    for (;;) {
      std::uint32_t c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n) c += static_cast<std::uint32_t>(before(heap_[c + 1], heap_[c]));
      if (!before(heap_[c], e)) break;
      place(i, heap_[c]);
      i = c;
    }
    place(i, e);
  }
  void remove_at(std::uint32_t p) {
    pos_[heap_[p].owner] = kNone;
    const Entry last = heap_.back();
    heap_.pop_back();
    if (p == heap_.size()) return;
    const bool earlier = before(last, heap_[p]);
    heap_[p] = last;
    pos_[last.owner] = p;
    earlier ? up(p) : down(p);
  }
  std::vector<Entry> heap_;
  std::vector<std::uint32_t> pos_;  // each owner's place in heap_, or kNone
  std::uint64_t seq_ = 0;
};

}  // namespace tf::engine
