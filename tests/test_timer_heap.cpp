// The event loop's TimerHeap against the heap it replaced (every set pushed with a version, replaced entries left
// in the heap and skipped when they reach the top): the same wake-ups in the same order, ties included, over
// random sets, replacements, cancellations and pops.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "sim/engine/timer_heap.hpp"

using tf::engine::TimerHeap;

namespace {

class VersionedHeap {
 public:
  explicit VersionedHeap(std::size_t owners) : version_(owners, 0) {}
  void set(std::size_t owner, double t) {
    heap_.push_back({t, seq_++, owner, ++version_[owner]});
    std::push_heap(heap_.begin(), heap_.end(), std::greater<>{});
  }
  void cancel(std::size_t owner) { ++version_[owner]; }
  bool empty() {
    skip_stale();
    return heap_.empty();
  }
  std::pair<double, std::size_t> pop() {
    skip_stale();
    const E e = heap_.front();
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
    heap_.pop_back();
    ++version_[e.owner];
    return {e.t, e.owner};
  }

 private:
  struct E {
    double t;
    std::uint64_t seq;
    std::size_t owner;
    std::uint64_t version;
    bool operator>(const E& o) const { return t != o.t ? t > o.t : seq > o.seq; }
  };
  void skip_stale() {
    while (!heap_.empty() && heap_.front().version != version_[heap_.front().owner]) {
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
      heap_.pop_back();
    }
  }
  std::vector<E> heap_;
  std::vector<std::uint64_t> version_;
  std::uint64_t seq_ = 0;
};

}  // namespace

TEST_CASE("the timer heap wakes in the order of a heap of versioned timers, ties by the order set", "[timer_heap]") {
  for (std::size_t owners : {1, 2, 7, 100, 1001}) {
    CAPTURE(owners);
    std::mt19937_64 rng(owners);
    TimerHeap heap(owners);
    VersionedHeap ref(owners);
    std::uniform_int_distribution<std::size_t> who(0, owners - 1);
    std::uniform_int_distribution<int> op(0, 9);
    std::uniform_int_distribution<int> tick(0, 40);  // coarse times: many ties
    double now = 0.0;
    std::size_t pops = 0;
    for (int step = 0; step < 200000; ++step) {
      const int o = op(rng);
      const std::size_t w = who(rng);
      if (o < 5) {
        const double t = now + 0.25 * tick(rng);
        heap.set(w, t);
        ref.set(w, t);
      } else if (o < 6) {
        heap.cancel(w);
        ref.cancel(w);
      } else {
        REQUIRE(heap.empty() == ref.empty());
        if (heap.empty()) continue;
        const TimerHeap::Entry e = heap.pop();
        const auto [t, owner] = ref.pop();
        REQUIRE(e.t == t);
        REQUIRE(e.owner == owner);
        REQUIRE(!heap.pending(owner));
        REQUIRE(e.t >= now);
        now = e.t;
        ++pops;
      }
      REQUIRE(heap.size() <= owners);
    }
    CHECK(pops > 10000);
  }
}

TEST_CASE("the timer heap replaces, cancels and refuses an empty pop", "[timer_heap]") {
  TimerHeap h(3);
  h.set(0, 5.0);
  h.set(1, 3.0);
  h.set(2, 3.0);
  h.set(0, 1.0);  // replaced, now the earliest
  CHECK(h.size() == 3);
  h.set(1, 3.0);  // set again: now after owner 2 at the same time
  CHECK(h.pop().owner == 0);
  CHECK(h.pop().owner == 2);
  h.cancel(1);
  h.cancel(1);  // nothing pending: no-op
  CHECK(h.empty());
  CHECK_THROWS_AS(h.pop(), std::logic_error);
}

TEST_CASE("the timer heap orders negative times, zero of either sign and huge ones as doubles do, and refuses NaN",
          "[timer_heap]") {
  // Its comparisons are on the times' bits as integers: every sign and magnitude must order as the doubles do, and
  // -0 tie with +0 (by the order set).
  const std::vector<double> times{3.0, 0.0, 1e300, -2.5, -0.0, -1e-300, 5e-324, -1e300, 0.5,
                                  std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
  TimerHeap h(times.size());
  for (std::size_t i = 0; i < times.size(); ++i) h.set(i, times[i]);
  std::vector<std::size_t> want(times.size());
  for (std::size_t i = 0; i < want.size(); ++i) want[i] = i;
  std::stable_sort(want.begin(), want.end(), [&](std::size_t a, std::size_t b) { return times[a] < times[b]; });
  for (std::size_t w : want) {
    const TimerHeap::Entry e = h.pop();
    CHECK(e.owner == w);
  }
  CHECK_THROWS_AS(h.set(0, std::numeric_limits<double>::quiet_NaN()), std::logic_error);
  CHECK(h.empty());
}
