#pragma once
// Batching policies decide, at an iteration boundary of one replica, which waiting requests join
// the running batch. They see plain data (no SimGrid) and are unit-tested on hand-made states.
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "workloads/request.hpp"

namespace tf {

// A replica as a batching policy sees it, at an iteration boundary.
struct ReplicaView {
  int running_requests = 0;               // requests already in the batch (all decoding)
  std::int64_t kv_reserved_tokens = 0;    // KV tokens reserved by running requests
  std::int64_t kv_capacity_tokens = 0;    // KV tokens the replica can hold
};

struct BatchLimits {
  int max_batch = 256;                    // requests in one iteration
  std::int64_t max_batched_tokens = 8192; // tokens in one iteration (prefill tokens + one per decode)
};

// KV tokens a request reserves when admitted: its prompt and every output token. Reserving the whole
// answer up front means a running request never runs out of KV cache (no preemption needed).
inline std::int64_t kv_reservation_tokens(const Request& r) { return r.prompt_tokens + r.output_tokens; }

class BatchingPolicy {
 public:
  virtual ~BatchingPolicy() = default;
  virtual std::string name() const = 0;
  // How many requests from the head of `waiting` (FIFO) join the next iteration.
  virtual std::size_t admit(const ReplicaView& replica, const std::deque<Request>& waiting) const = 0;
};

// Continuous (iteration-level) batching: requests join at every iteration boundary, in arrival order,
// while the batch stays within max_batch requests, the iteration within max_batched_tokens tokens
// (a prompt longer than that budget may still join as the only prefill of its iteration, so that it is
// never stuck), and the reservations within the KV capacity. The first request that does not fit stops
// admission (no overtaking).
class ContinuousBatching final : public BatchingPolicy {
 public:
  explicit ContinuousBatching(BatchLimits limits) : limits_(limits) {}
  std::string name() const override { return "continuous"; }
  std::size_t admit(const ReplicaView& replica, const std::deque<Request>& waiting) const override;
  const BatchLimits& limits() const { return limits_; }

 private:
  BatchLimits limits_;
};

// Registry: the batching policy of that name, or nullptr when unknown.
std::unique_ptr<BatchingPolicy> make_batching_policy(const std::string& name, const BatchLimits& limits);
std::vector<std::string> batching_policy_names();

}  // namespace tf
