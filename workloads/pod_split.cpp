#include "workloads/pod_split.hpp"

#include <algorithm>
#include <limits>
#include <vector>
#include <stdexcept>

namespace tf {

namespace {

// SplitMix64's finalizer: a bijection of 64 bits whose output bits each depend on every input bit.
std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class PodSource final : public WorkloadSource {
 public:
  PodSource(std::unique_ptr<WorkloadSource> inner, std::uint64_t seed, int pods, int pod)
      : inner_(std::move(inner)), seed_(seed), pods_(pods), pod_(pod) {}

  // Open loop: this pod's requests, taken ahead from the inner source (ids and times ascend together there).
  // Closed loop: every planned request, taken at its time (the ids are given out as requests are taken, and answers
  // ending plan questions: taking ahead would give ids out of arrival order); take_for_this_run() sorts them.
  double next_arrival_s() override {
    if (inner_->closed_loop()) return inner_->next_arrival_s();
    fill();
    return held_.empty() ? std::numeric_limits<double>::infinity() : held_.front().arrival_s;
  }
  std::optional<Request> take_for_this_run() override {
    if (!inner_->closed_loop()) return take();
    Request r = inner_->take();
    if (pod_of(r, seed_, pods_) == pod_) return r;
    inner_->on_finished(r.id, r.arrival_s);  // another pod's: answered at once, here
    return std::nullopt;
  }
  Request take() override {
    if (inner_->closed_loop()) throw std::logic_error("PodSource::take on a closed-loop source");
    fill();
    if (held_.empty()) throw std::logic_error("PodSource::take with nothing planned");
    std::pop_heap(held_.begin(), held_.end(), later);
    Request r = std::move(held_.back());
    held_.pop_back();
    return r;
  }
  bool closed_loop() const override { return inner_->closed_loop(); }
  void on_finished(std::uint64_t id, double time_s) override { inner_->on_finished(id, time_s); }
  bool exhausted() override {
    if (inner_->closed_loop()) return inner_->exhausted();
    fill();
    return held_.empty() && inner_->exhausted();
  }
  std::uint64_t skipped_bad_rows() const override { return inner_->skipped_bad_rows(); }
  std::uint64_t clamped_rows() const override { return inner_->clamped_rows(); }
  std::uint64_t questions_cut() const override { return inner_->questions_cut(); }
  std::vector<std::string> bad_row_examples() const override { return inner_->bad_row_examples(); }
  std::uint64_t over_context_cut() const override { return inner_->over_context_cut(); }
  std::uint64_t over_context_dropped() const override { return inner_->over_context_dropped(); }

 private:
  static bool later(const Request& a, const Request& b) {
    return a.arrival_s != b.arrival_s ? a.arrival_s > b.arrival_s : a.id > b.id;
  }
  // Open loop: takes the inner source's requests up to this pod's next one; other pods' requests are dropped.
  void fill() {
    for (;;) {
      const double t = inner_->next_arrival_s();
      if (t == std::numeric_limits<double>::infinity()) return;
      if (!held_.empty() && held_.front().arrival_s <= t) return;
      Request r = inner_->take();
      if (pod_of(r, seed_, pods_) == pod_) {
        held_.push_back(std::move(r));
        std::push_heap(held_.begin(), held_.end(), later);
      }
    }
  }
  std::unique_ptr<WorkloadSource> inner_;
  std::uint64_t seed_;
  int pods_, pod_;
  std::vector<Request> held_;  // this pod's requests taken from the inner source, a min-heap by (arrival, id)
};

}  // namespace

int pod_of(const Request& r, std::uint64_t seed, int pods) {
  if (pods <= 1) return 0;
  const std::uint64_t key = r.turn > 0 ? (r.session | (1ULL << 63)) : r.id;
  // The high bits of a mixed 64-bit value, scaled to [0, pods) without the bias of a modulo.
  const std::uint64_t h = mix64(key ^ mix64(seed ^ 0x706f642d73706c74ULL));  // "pod-splt"
  return static_cast<int>((static_cast<unsigned __int128>(h) * static_cast<unsigned>(pods)) >> 64);
}

}  // namespace tf

namespace tf {

std::unique_ptr<WorkloadSource> make_pod_source(std::unique_ptr<WorkloadSource> inner, std::uint64_t seed, int pods,
                                                int pod) {
  if (pods <= 1) return inner;
  if (pod < 0 || pod >= pods) throw std::invalid_argument("pod index out of range");
  return std::make_unique<PodSource>(std::move(inner), seed, pods, pod);
}

}  // namespace tf
