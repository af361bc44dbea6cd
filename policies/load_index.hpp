#pragma once
// An index over the replicas of a pool for routers that look for the least loaded one: a segment tree whose leaves
// hold a key per replica and whose nodes name the leaf with the smallest key below them (ties: the lowest index).
// Plain C++, no SimGrid: the engine keeps one per query it is asked (sim/engine/dispatcher.cpp), updated when a
// replica's state changes, in O(log n).
//
// min_index() is the least loaded replica when the keys are the loads. A key may instead be a lower bound of a load
// that moves in time without the replica's state changing: argmin(exact) then finds the replica with the smallest
// exact load by branch and bound, evaluating exact(i) only where the bound of i could still win, and returns exactly
// what a scan of every exact load would (ties to the lowest index). The engine does not use argmin: it keeps the
// moving loads exact, read again at each replica's next iteration boundary (a second MinTree of those times), which
// costs O(log n) per boundary instead of an evaluation per replica near the minimum.
#include <cstddef>
#include <vector>

namespace tf {

template <class Key>
class MinTree {
 public:
  bool built() const { return built_; }
  std::size_t size() const { return keys_.size(); }

  // n leaves, leaf i holding key_of(i); O(n).
  template <class KeyOf>
  void build(std::size_t n, KeyOf key_of) {
    keys_.clear();
    keys_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) keys_.push_back(key_of(i));
    leaves_ = 1;
    while (leaves_ < n) leaves_ *= 2;
    node_.assign(2 * leaves_, -1);
    for (std::size_t i = 0; i < n; ++i) node_[leaves_ + i] = static_cast<int>(i);
    for (std::size_t k = leaves_ - 1; k >= 1; --k) node_[k] = better(node_[2 * k], node_[2 * k + 1]);
    built_ = true;
  }

  // Leaf i's key becomes `key`; O(log n).
  void set(std::size_t i, const Key& key) {
    keys_[i] = key;
    for (std::size_t k = (leaves_ + i) / 2; k >= 1; k /= 2) {
      const int m = better(node_[2 * k], node_[2 * k + 1]);
      if (node_[k] == m && m != static_cast<int>(i)) break;  // the same leaf, same key, below: nothing above changes
      node_[k] = m;
    }
  }

  const Key& key(std::size_t i) const { return keys_[i]; }
  // The leaf with the smallest key (ties: the lowest index); -1 when empty.
  int min_index() const { return keys_.empty() ? -1 : node_[1]; }

  // The index i with the smallest exact(i), ties to the lowest index, given key(i) <= exact(i) for every i (the
  // keys are lower bounds); -1 when empty. `evaluated`, when given, counts the calls of exact.
  template <class Exact>
  int argmin(Exact exact, std::size_t* evaluated = nullptr) const {
    if (keys_.empty()) return -1;
    Search<Exact> s{*this, exact, node_[1], Key{}, 1};
    s.best_value = exact(static_cast<std::size_t>(s.best));
    s.visit(1, 0, leaves_);
    if (evaluated) *evaluated += s.evaluated;
    return s.best;
  }

 private:
  template <class Exact>
  struct Search {
    const MinTree& t;
    Exact& exact;
    int best;
    Key best_value;
    std::size_t evaluated;
    void visit(std::size_t k, std::size_t lo, std::size_t hi) {
      const int m = t.node_[k];
      if (m < 0) return;
      const Key& bound = t.keys_[static_cast<std::size_t>(m)];
      if (best_value < bound) return;  // every load below is at least its bound: none beats the best
      // A bound equal to the best value wins only at a lower index.
      if (!(bound < best_value) && lo > static_cast<std::size_t>(best)) return;
      if (hi - lo == 1) {
        if (static_cast<int>(lo) == best) return;
        ++evaluated;
        const Key v = exact(lo);
        if (v < best_value || (!(best_value < v) && static_cast<int>(lo) < best)) {
          best = static_cast<int>(lo);
          best_value = v;
        }
        return;
      }
      const std::size_t mid = lo + (hi - lo) / 2;
      visit(2 * k, lo, mid);
      visit(2 * k + 1, mid, hi);
    }
  };

  int better(int a, int b) const {
    if (a < 0) return b;
    if (b < 0) return a;
    return keys_[static_cast<std::size_t>(b)] < keys_[static_cast<std::size_t>(a)] ? b : a;  // a is the lower index
  }

  std::vector<Key> keys_;
  std::vector<int> node_;  // node_[1] the root; leaves at leaves_ + i; -1 where no leaf is below
  std::size_t leaves_ = 1;
  bool built_ = false;
};

}  // namespace tf
