// Chunked prefill (Sarathi-Serve, vLLM's chunked prefill): every iteration has a budget of max_batched_tokens
// tokens; running decodes come first (one token each), and the rest of the budget goes to chunks of the
// prompts still being prefilled, in arrival order. A long prompt is spread over several iterations instead
// of stalling every decode behind it. Admission is continuous batching's, without the token-budget check
// (prompts no longer have to fit one iteration).
#include <algorithm>

#include "policies/batching.hpp"

namespace tf {

namespace {

class ChunkedPrefill final : public BatchingPolicy {
 public:
  explicit ChunkedPrefill(const PolicyParams& p)
      : max_batch_(p.integer("max_batch")), max_batched_tokens_(p.integer("max_batched_tokens")) {}
  std::string name() const override { return "chunked-prefill"; }

  BatchDecision decide(const ReplicaView& replica, const std::deque<Request>& waiting, double) const override {
    BatchDecision d;
    std::int64_t kv = replica.kv_reserved_tokens;
    for (const Request& r : waiting) {
      if (replica.running_requests + static_cast<std::int64_t>(d.admit) + 1 > max_batch_) break;
      if (!kv_admissible(replica, kv + admission_kv_tokens(replica, r), replica.running_requests == 0 && d.admit == 0))
        break;
      kv += admission_kv_tokens(replica, r);
      ++d.admit;
    }
    return d;
  }

  std::int64_t prefill_chunk_budget(std::int64_t decode_tokens) const override {
    // At least one token of prefill per iteration, so that prefills always progress.
    return std::max<std::int64_t>(1, max_batched_tokens_ - decode_tokens);
  }

 private:
  std::int64_t max_batch_;
  std::int64_t max_batched_tokens_;
};

// A budget under 16 tokens would leave next to nothing for prefill beside the decodes.
const RegisterPolicy<BatchingPolicy> registered{
    "chunked-prefill", "continuous batching with prompts prefilled in chunks within a token budget per iteration",
    {max_batch_param(),
     max_batched_tokens_param().at_least(16).with_help(
         "the token budget of one iteration: one per decoding request, the rest to chunks of prompts")},
    [](const PolicyParams& p) { return std::make_unique<ChunkedPrefill>(p); }};

}  // namespace

}  // namespace tf
