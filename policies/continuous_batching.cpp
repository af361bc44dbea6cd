// Continuous (iteration-level) batching (Orca, vLLM): see policies/batching.hpp.
#include "policies/batching.hpp"

namespace tf {

BatchDecision ContinuousBatching::decide(const ReplicaView& replica, const std::deque<Request>& waiting,
                                         double /*now_s*/) const {
  BatchDecision d;
  std::int64_t tokens = replica.running_requests;  // one decode token per running request
  std::int64_t kv = replica.kv_reserved_tokens;
  for (const Request& r : waiting) {
    if (replica.running_requests + static_cast<std::int64_t>(d.admit) + 1 > limits_.max_batch) break;
    const std::int64_t need = admission_kv_tokens(replica, r);
    if (!kv_admissible(replica, kv + need, replica.running_requests == 0 && d.admit == 0)) break;
    // A request whose KV cache is already here (moved from a prefill replica, or swapped back in from host memory
    // in a step of its own) only decodes: one token.
    const std::int64_t new_tokens = r.kv == Request::Kv::none ? r.prompt_tokens : 1;
    // A prompt over the token budget may still run as the only prefill of its iteration.
    if (tokens + new_tokens > limits_.max_batched_tokens && d.admit > 0) break;
    ++d.admit;
    tokens += new_tokens;
    kv += need;
  }
  return d;
}

namespace {
const RegisterPolicy<BatchingPolicy> registered{
    "continuous", "iteration-level batching: requests join at every iteration boundary",
    {max_batch_param(), max_batched_tokens_param()},
    [](const PolicyParams& p) { return std::make_unique<ContinuousBatching>(batch_limits(p)); }};
}  // namespace

}  // namespace tf
