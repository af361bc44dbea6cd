#include "policies/batching.hpp"

namespace tf {

std::size_t ContinuousBatching::admit(const ReplicaView& replica, const std::deque<Request>& waiting) const {
  std::size_t admitted = 0;
  std::int64_t tokens = replica.running_requests;  // one decode token per running request
  std::int64_t kv = replica.kv_reserved_tokens;
  for (const Request& r : waiting) {
    if (replica.running_requests + static_cast<std::int64_t>(admitted) + 1 > limits_.max_batch) break;
    const std::int64_t need = kv_reservation_tokens(r);
    if (kv + need > replica.kv_capacity_tokens) break;
    // A prompt over the token budget may still run as the only prefill of its iteration.
    if (tokens + r.prompt_tokens > limits_.max_batched_tokens && admitted > 0) break;
    ++admitted;
    tokens += r.prompt_tokens;
    kv += need;
  }
  return admitted;
}

std::unique_ptr<BatchingPolicy> make_batching_policy(const std::string& name, const BatchLimits& limits) {
  if (name == "continuous") return std::make_unique<ContinuousBatching>(limits);
  return nullptr;
}

std::vector<std::string> batching_policy_names() { return {"continuous"}; }

}  // namespace tf
