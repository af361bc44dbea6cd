// Disaggregated serving (DistServe, Splitwise): separate pools of prefill and decode replicas. Each replica batches
// continuously (see ContinuousBatching); what makes it disaggregated is the engine's: a prefill replica runs a
// request's prompt and first token only, then its KV cache moves over the simulated network to a decode replica,
// which decodes the rest (sim/engine/engine.cpp). Pool sizes: policy.prefill_replicas; the decode replica is chosen by
// policy.decode_router when the prefill ends.
#include "policies/batching.hpp"

namespace tf {

namespace {

class DisaggregatedServing final : public BatchingPolicy {
 public:
  explicit DisaggregatedServing(BatchLimits limits) : continuous_(limits) {}
  std::string name() const override { return "disaggregated"; }
  bool disaggregates() const override { return true; }
  BatchDecision decide(const ReplicaView& replica, const std::deque<Request>& waiting, double now_s) const override {
    return continuous_.decide(replica, waiting, now_s);
  }

 private:
  ContinuousBatching continuous_;
};

const RegisterPolicy<BatchingPolicy> registered{
    "disaggregated",
    "separate prefill and decode pools (policy.prefill_replicas); the KV cache moves over the network between them",
    {max_batch_param(), max_batched_tokens_param()},
    [](const PolicyParams& p) { return std::make_unique<DisaggregatedServing>(batch_limits(p)); }};

}  // namespace

}  // namespace tf
