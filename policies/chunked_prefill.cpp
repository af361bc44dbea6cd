// Chunked prefill (Sarathi-Serve, vLLM's chunked prefill): every iteration has a budget of max_batched_tokens
// tokens; running decodes come first (one token each), and the rest of the budget goes to chunks of the
// prompts still being prefilled, in arrival order. A long prompt is spread over several iterations instead
// of stalling every decode behind it. Admission is continuous batching's, without the token-budget check
// (prompts no longer have to fit one iteration).
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "policies/batching.hpp"

namespace tf {

namespace {

class ChunkedPrefill final : public BatchingPolicy {
 public:
  explicit ChunkedPrefill(BatchLimits l) : limits_(l) {}
  std::string name() const override { return "chunked-prefill"; }

  BatchDecision decide(const ReplicaView& replica, const std::deque<Request>& waiting, double) const override {
    BatchDecision d;
    std::int64_t kv = replica.kv_reserved_tokens;
    for (const Request& r : waiting) {
      if (replica.running_requests + static_cast<std::int64_t>(d.admit) + 1 > limits_.max_batch) break;
      if (!kv_admissible(replica, kv + admission_kv_tokens(replica, r), replica.running_requests == 0 && d.admit == 0))
        break;
      kv += admission_kv_tokens(replica, r);
      ++d.admit;
    }
    return d;
  }

  std::int64_t prefill_chunk_budget(std::int64_t decode_tokens) const override {
    // At least one token of prefill per iteration, so that prefills always progress.
    return std::max<std::int64_t>(1, limits_.max_batched_tokens - decode_tokens);
  }

 private:
  BatchLimits limits_;
};

}  // namespace

std::unique_ptr<BatchingPolicy> make_chunked_prefill(const BatchLimits& l) {
  if (l.max_batched_tokens < 16)
    throw std::invalid_argument(
        fmt::format("max_batched_tokens must be at least 16 for chunked prefill, got {}", l.max_batched_tokens));
  return std::make_unique<ChunkedPrefill>(l);
}

}  // namespace tf
