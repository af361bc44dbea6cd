#include "workloads/pod_split.hpp"
#include "workloads/random.hpp"

#include <algorithm>
#include <limits>
#include <vector>
#include <stdexcept>

namespace tf {

namespace {


class PodSource final : public WorkloadSource {
 public:
  PodSource(std::unique_ptr<WorkloadSource> inner, std::uint64_t seed, int pods, int pod, double share, double lo,
            double hi)
      : inner_(std::move(inner)), seed_(seed), pods_(pods), pod_(pod), share_(share), lo_(lo), hi_(hi) {}

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
    if (mine(r)) return r;
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
      if (mine(r)) {
        held_.push_back(std::move(r));
        std::push_heap(held_.begin(), held_.end(), later);
      }
    }
  }
  bool mine(const Request& r) const {
    return pod_of(r, seed_, pods_) == pod_ && in_share(r, seed_, share_) && in_pool(r, seed_, lo_, hi_);
  }
  std::unique_ptr<WorkloadSource> inner_;
  std::uint64_t seed_;
  int pods_, pod_;
  double share_, lo_, hi_;
  std::vector<Request> held_;  // this pod's requests taken from the inner source, a min-heap by (arrival, id)
};

}  // namespace

namespace {

// The split's hash of a request (of its session, for a session's questions), fixed by the seed.
std::uint64_t split_hash(const Request& r, std::uint64_t seed) {
  const std::uint64_t key = r.turn > 0 ? (r.session | (1ULL << 63)) : r.id;
  return mix64(key ^ mix64(seed ^ 0x706f642d73706c74ULL));  // "pod-splt"
}

}  // namespace

int pod_of(const Request& r, std::uint64_t seed, int pods) {
  if (pods <= 1) return 0;
  // The high bits of a mixed 64-bit value, scaled to [0, pods) without the bias of a modulo.
  const std::uint64_t h = split_hash(r, seed);
  return static_cast<int>((static_cast<unsigned __int128>(h) * static_cast<unsigned>(pods)) >> 64);
}

bool in_share(const Request& r, std::uint64_t seed, double share) {
  if (share >= 1.0) return true;
  // h < share x 2^64, in long double (64 bits of mantissa: h exactly): pod 0 of N pods is h x N < 2^64.
  return static_cast<long double>(split_hash(r, seed)) < static_cast<long double>(share) * 18446744073709551616.0L;
}

bool in_pool(const Request& r, std::uint64_t seed, double lo, double hi) {
  if (lo <= 0.0 && hi >= 1.0) return true;
  // A hash of its own (salted apart from the pods' and shares' split), so that a pool's requests are an independent
  // thinning of the arrivals and of any share of them.
  const std::uint64_t key = r.turn > 0 ? (r.session | (1ULL << 63)) : r.id;
  const long double u = static_cast<long double>(mix64(key ^ mix64(seed ^ 0x706f6f6c2d73706cULL))) /  // "pool-spl"
                        18446744073709551616.0L;
  return u >= static_cast<long double>(lo) && u < static_cast<long double>(hi);
}

}  // namespace tf

namespace tf {

std::unique_ptr<WorkloadSource> make_pod_source(std::unique_ptr<WorkloadSource> inner, std::uint64_t seed, int pods,
                                                int pod, double share, double split_lo, double split_hi) {
  const bool whole_pool = split_lo <= 0.0 && split_hi >= 1.0;
  if (pods <= 1 && share >= 1.0 && whole_pool) return inner;
  if (!(share > 0.0)) throw std::invalid_argument("a pod's share of the workload must be positive");
  if (!(split_lo < split_hi)) throw std::invalid_argument("a pool's range of the split must not be empty");
  if (pods <= 1) return std::make_unique<PodSource>(std::move(inner), seed, 1, 0, share, split_lo, split_hi);
  if (pod < 0 || pod >= pods) throw std::invalid_argument("pod index out of range");
  return std::make_unique<PodSource>(std::move(inner), seed, pods, pod, share, split_lo, split_hi);
}

}  // namespace tf
