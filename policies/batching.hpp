#pragma once
// Batching policies decide, at an iteration boundary of one replica, which waiting requests join
// the running batch. They see plain data (no SimGrid) and are unit-tested on hand-made states. Each is one file
// in policies/ that registers itself (policies/registry.hpp) with its parameters' schema.
#include <climits>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "policies/registry.hpp"
#include "workloads/request.hpp"

namespace tf {

// A replica as a batching policy sees it, at an iteration boundary.
struct ReplicaView {
  int running_requests = 0;               // requests in the batch (decoding, or prefilling in chunks)
  std::int64_t kv_reserved_tokens = 0;    // KV tokens reserved by running requests
  std::int64_t kv_capacity_tokens = 0;    // KV tokens the replica can hold
  std::int64_t kv_block_tokens = 0;       // paged KV cache: tokens per block; 0: whole answers reserved
  std::int64_t kv_watermark_tokens = 0;   // paged KV cache: tokens (whole blocks) admission leaves free
};

// The parameters of today's batching policies as one struct, for the code that reads them directly (the analytic
// capacity reads max_batch) and for tests. The policies themselves are built from a PolicyParams (their schema's
// values); a BatchLimits converts to one holding all five, so make_batching_policy(name, limits) still works. A new
// parameter does not go here: it goes in its policy's schema, in the policy's file.
struct BatchLimits {
  int max_batch = 256;                    // requests in one iteration
  std::int64_t max_batched_tokens = 8192; // tokens in one iteration (prefill tokens + one per decode)
  int batch_size = 8;                     // static: requests per batch
  double timeout_s = 0.1;                 // static: the longest a request waits for its batch to fill
  double max_queue_delay_s = 0.01;        // dynamic: the longest the oldest request waits for more to join it

  operator PolicyParams() const {  // NOLINT(google-explicit-constructor): the old calls keep compiling
    PolicyParams p;
    p.set("max_batch", max_batch)
        .set("max_batched_tokens", max_batched_tokens)
        .set("batch_size", batch_size)
        .set("timeout_s", timeout_s)
        .set("max_queue_delay_s", max_queue_delay_s);
    return p;
  }
};

// The BatchLimits of a policy's parameters: those given, the others BatchLimits' defaults.
inline BatchLimits batch_limits(const PolicyParams& p) {
  BatchLimits l;
  if (p.has("max_batch")) l.max_batch = static_cast<int>(p.integer("max_batch"));
  if (p.has("max_batched_tokens")) l.max_batched_tokens = p.integer("max_batched_tokens");
  if (p.has("batch_size")) l.batch_size = static_cast<int>(p.integer("batch_size"));
  if (p.has("timeout_s")) l.timeout_s = p.number("timeout_s");
  if (p.has("max_queue_delay_s")) l.max_queue_delay_s = p.number("max_queue_delay_s");
  return l;
}

// The parameters several batching policies take, declared once; each policy's schema refers to them (and may
// narrow the range: chunked-prefill takes max_batched_tokens_param().at_least(16)).
inline const ParamSpec& max_batch_param() {
  static const ParamSpec p =
      ParamSpec::integer("max_batch", BatchLimits{}.max_batch,
                         "most requests in one iteration (dynamic: in one batch)")
          .at_least(1)
          .at_most(INT_MAX);
  return p;
}
inline const ParamSpec& max_batched_tokens_param() {
  static const ParamSpec p =
      ParamSpec::integer("max_batched_tokens", BatchLimits{}.max_batched_tokens,
                         "most tokens in one iteration (prefill tokens plus one per decoding request)")
          .at_least(1);
  return p;
}

// KV tokens a request reserves when admitted: its prompt and every output token. Reserving the whole
// answer up front means a running request never runs out of KV cache (no preemption needed).
inline std::int64_t kv_reservation_tokens(const Request& r) { return r.prompt_tokens + tokens_to_produce(r); }

// KV tokens a request needs to be admitted on this replica: the whole reservation, or with a paged cache the
// blocks for its prompt (and its answer so far, when it comes back after a preemption) plus the next token.
inline std::int64_t admission_kv_tokens(const ReplicaView& v, const Request& r) {
  if (v.kv_block_tokens <= 0) return kv_reservation_tokens(r);
  const std::int64_t b = v.kv_block_tokens;
  return (r.prompt_tokens + r.generated_before + 1 + b - 1) / b * b;
}

// Whether the replica can hold `reserved_tokens` of KV after admitting more requests: within its capacity and, with
// a paged cache, leaving the watermark free (vLLM's watermark: a request admitted into the last free blocks would
// be preempted at once as the running answers grow). An empty batch (`batch_empty`: nothing running and nothing
// admitted yet) ignores the watermark, so that a request that fits the replica alone is never stuck. Every batching
// policy's KV check goes through here.
inline bool kv_admissible(const ReplicaView& v, std::int64_t reserved_tokens, bool batch_empty) {
  const std::int64_t watermark = v.kv_block_tokens > 0 && !batch_empty ? v.kv_watermark_tokens : 0;
  return reserved_tokens <= v.kv_capacity_tokens - watermark;
}

// What a batching policy decides at an iteration boundary.
struct BatchDecision {
  std::size_t admit = 0;   // requests from the head of the queue that join the next iteration (FIFO)
  // With nothing admitted: look again at this time even if no request arrives (a batch timeout).
  double wake_at_s = std::numeric_limits<double>::infinity();
};

class BatchingPolicy {
 public:
  virtual ~BatchingPolicy() = default;
  virtual std::string name() const = 0;
  virtual BatchDecision decide(const ReplicaView& replica, const std::deque<Request>& waiting, double now_s) const = 0;
  // Prompt tokens that one iteration may prefill beside `decode_tokens` decodes, in chunks; 0: no chunking
  // (a newly admitted request's whole prompt runs in its first iteration).
  virtual std::int64_t prefill_chunk_budget(std::int64_t /*decode_tokens*/) const { return 0; }
  // True for disaggregated serving: prefill and decode run on separate pools of replicas, and the engine moves
  // each request's KV cache from one to the other (policies/disaggregated.cpp).
  virtual bool disaggregates() const { return false; }
  // How many requests from the head of `waiting` join the next iteration now.
  std::size_t admit(const ReplicaView& replica, const std::deque<Request>& waiting, double now_s = 0.0) const {
    return decide(replica, waiting, now_s).admit;
  }
};

// Continuous (iteration-level) batching: requests join at every iteration boundary, in arrival order,
// while the batch stays within max_batch requests, the iteration within max_batched_tokens tokens
// (a prompt longer than that budget may still join as the only prefill of its iteration, so that it is
// never stuck), and the reservations within the KV capacity. The first request that does not fit stops
// admission (no overtaking). policies/continuous_batching.cpp.
class ContinuousBatching final : public BatchingPolicy {
 public:
  explicit ContinuousBatching(BatchLimits limits) : limits_(limits) {}
  std::string name() const override { return "continuous"; }
  BatchDecision decide(const ReplicaView& replica, const std::deque<Request>& waiting, double now_s) const override;
  const BatchLimits& limits() const { return limits_; }

 private:
  BatchLimits limits_;
};

// The kind "batching" in the registry: policy.batching chooses one; its factory takes the parameter values.
template <>
struct PolicyKind<BatchingPolicy> {
  static PolicyKindInfo info() {
    return {"batching", "batching", "batching policy", "continuous",
            "which waiting requests join the next iteration of a replica"};
  }
  using Factory = std::function<std::unique_ptr<BatchingPolicy>(const PolicyParams&)>;
};

// The batching policy of that name built with `params` (its parameters not there take their defaults; a
// BatchLimits converts), or nullptr when unknown. Throws std::invalid_argument naming the parameter when a value is
// of the wrong type or out of range for that policy ("max_batched_tokens: expected an integer at least 16, got 8").
inline std::unique_ptr<BatchingPolicy> make_batching_policy(const std::string& name, const PolicyParams& params) {
  return make_policy<BatchingPolicy>(name, params);
}
// The registered batching policies, sorted.
inline std::vector<std::string> batching_policy_names() { return policy_names<BatchingPolicy>(); }

}  // namespace tf
