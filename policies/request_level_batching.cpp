// Request-level batching: a batch forms, runs until its last request finishes, and only then does the next
// batch form. Nothing joins a running batch. Two triggers, as two registered policies:
//   static:  a batch of batch_size requests, or fewer once the oldest has waited timeout_s;
//   dynamic: (a model server's dynamic batcher) up to max_batch requests, dispatched once the oldest has
//            waited max_queue_delay_s or the batch is full.
// Both keep FIFO order and the KV reservations within capacity.
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

const RegisterPolicy<BatchingPolicy> static_batching{
    "static", "request-level: batches of batch_size (or fewer after timeout_s) run to completion",
    {ParamSpec::integer("batch_size", BatchLimits{}.batch_size, "requests per batch").at_least(1).at_most(INT_MAX),
     ParamSpec::number("timeout_s", BatchLimits{}.timeout_s,
                       "once the oldest waiting request has waited this long, a smaller batch goes")
         .at_least(0)},
    [](const PolicyParams& p) {
      return std::make_unique<RequestLevelBatching>("static", static_cast<int>(p.integer("batch_size")),
                                                    p.number("timeout_s"));
    }};

const RegisterPolicy<BatchingPolicy> dynamic_batching{
    "dynamic", "request-level: up to max_batch, dispatched after max_queue_delay_s, run to completion",
    {max_batch_param(),
     ParamSpec::number("max_queue_delay_s", BatchLimits{}.max_queue_delay_s,
                       "the longest the oldest request waits for others to join its batch")
         .at_least(0)},
    [](const PolicyParams& p) {
      return std::make_unique<RequestLevelBatching>("dynamic", static_cast<int>(p.integer("max_batch")),
                                                    p.number("max_queue_delay_s"));
    }};

}  // namespace

}  // namespace tf
