// Request-level batching: a batch forms, runs until its last request finishes, and only then does the next
// batch form. Nothing joins a running batch. Two triggers, as two registered policies:
//   static:  a batch of batch_size requests, or fewer once the oldest has waited timeout_s;
//   dynamic: (a model server's dynamic batcher) up to max_batch requests, dispatched once the oldest has
//            waited max_queue_delay_s or the batch is full.
// Both keep FIFO order and the KV reservations within capacity.
#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "policies/batching.hpp"

namespace tf {

namespace {

class RequestLevelBatching final : public BatchingPolicy {
 public:
  RequestLevelBatching(std::string name, int size, double delay_s) : name_(std::move(name)), size_(size), delay_s_(delay_s) {}
  std::string name() const override { return name_; }

  BatchDecision decide(const ReplicaView& replica, const std::deque<Request>& waiting, double now_s) const override {
    BatchDecision d;
    if (replica.running_requests > 0 || waiting.empty()) return d;  // the running batch goes on alone
    // How many from the head fit, up to the batch size.
    std::int64_t kv = replica.kv_reserved_tokens;
    std::size_t fit = 0;
    for (const Request& r : waiting) {
      if (static_cast<int>(fit) >= size_) break;
      if (!kv_admissible(replica, kv + admission_kv_tokens(replica, r), fit == 0)) break;  // nothing runs here
      kv += admission_kv_tokens(replica, r);
      ++fit;
    }
    const double deadline = waiting.front().arrival_s + delay_s_;
    const bool full = static_cast<int>(fit) >= size_ || fit < waiting.size();  // full, or the next does not fit
    if (fit > 0 && (full || now_s >= deadline)) {
      d.admit = fit;
    } else {
      d.wake_at_s = deadline;
    }
    return d;
  }

 private:
  std::string name_;
  int size_;
  double delay_s_;
};

}  // namespace

std::unique_ptr<BatchingPolicy> make_static_batching(const BatchLimits& l) {
  if (l.batch_size < 1) throw std::invalid_argument(fmt::format("batch_size must be at least 1, got {}", l.batch_size));
  if (!(l.timeout_s >= 0.0)) throw std::invalid_argument(fmt::format("timeout_s must not be negative, got {}", l.timeout_s));
  return std::make_unique<RequestLevelBatching>("static", l.batch_size, l.timeout_s);
}

std::unique_ptr<BatchingPolicy> make_dynamic_batching(const BatchLimits& l) {
  if (!(l.max_queue_delay_s >= 0.0))
    throw std::invalid_argument(fmt::format("max_queue_delay_s must not be negative, got {}", l.max_queue_delay_s));
  return std::make_unique<RequestLevelBatching>("dynamic", l.max_batch, l.max_queue_delay_s);
}

}  // namespace tf
