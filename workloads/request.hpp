#pragma once
#include <cstdint>
#include <vector>

namespace tf {

// One inference request from its arrival to its end: plain data, never an actor. The same object travels from the
// workload through the router, the queues and the replicas (and, with disaggregated serving, the KV transfer),
// gathering where it stands; its row in requests.csv is made from it once, when it ends (sim/replica/request_row.hpp).
struct Request {
  // (The fields are ordered by size, 8-byte ones first, so that no padding is left between them: a request is copied
  // and moved along queues and batches, and on a large fleet hundreds of thousands are in flight at once.)
  std::uint64_t id = 0;
  double arrival_s = 0.0;
  std::int64_t prompt_tokens = 0;
  std::int64_t output_tokens = 0;  // >= 1: the first output token comes out of the prefill iteration
  // Prefix blocks of the prompt (Mooncake traces: 512-token blocks; equal ids = shared prefix); empty when unknown.
  std::vector<std::int64_t> hash_ids{};
  // Sessions: the visit this question belongs to (0, 1, 2, ... in order of arrival); `turn` below is its place in it.
  std::uint64_t session = 0;
  // Trace replay: the line of the row it came from (0 otherwise), for errors that name it.
  std::uint64_t trace_line = 0;
  // A request preempted by a replica (paged KV cache, recompute) goes back to a queue with what it had done:
  // its answer so far (recomputed with the prompt when it runs again), its first admission and first token.
  std::int64_t generated_before = 0;
  double admitted_s = -1.0;
  double first_token_s = -1.0;
  // Where it ended up: the end of the iteration that produced its last token (-1: not finished); with disaggregated
  // serving, how long its KV cache took to move from its prefill replica (and `replica`, `prefill_replica` and
  // `rejected` below: the replica that served it (that decoded it, with disaggregated serving; -1: none), the one
  // that ran its prefill, whether admission control turned it away).
  double finished_s = -1.0;
  double kv_transfer_s = -1.0;
  // Prefix caching: the prompt tokens found in the replica's prefix cache at its first admission (not prefilled).
  std::int64_t cached_tokens = 0;
  // Sessions: its place in its visit (1 = the visit's first question); 0 outside sessions.
  int turn = 0;
  // Sessions whose prompts carry the conversation so far (workload.session.carry_context): the turn at which the
  // conversation this prompt repeats begins (1, unless the oldest part was dropped to fit the window: then this
  // turn's); 0 when the prompt does not carry one. Prefix caching names the prompt's blocks by it.
  int context_turn = 0;
  // Priority class for the priority queue order: 0 is the most urgent, then 1, 2, ... (from the workload's
  // priority shares or a trace's priority column; 0 otherwise).
  int priority = 0;
  int replica = -1;
  int prefill_replica = -1;
  // [failures]: how many times a replica failed under it while it ran (each time it was retried elsewhere, its KV
  // lost), and (`failed` below) whether it was given up (more retries than failures.max_retries): never served, an
  // SLO miss.
  int retries = 0;
  // Where its KV cache is when it joins a replica's queue: nowhere (its prefill computes it: a new request, or
  // one preempted with recompute), in host memory (preempted with swap: copied back over PCIe before it runs
  // again), or already on the replica's GPUs (disaggregated serving: moved there from a prefill replica).
  enum class Kv : std::uint8_t { none, host, device };
  Kv kv = Kv::none;
  // Longer than the model's context window: cut to it (workload.over_context = "cut"), or, with "drop", turned away
  // when it arrives.
  bool context_cut = false;
  bool over_context = false;
  // Disaggregated serving, on its way through a prefill replica: only its prompt and first token run there.
  bool prefill_only = false;
  bool rejected = false;
  bool failed = false;
};
// 12 fields of 8 bytes, the vector, 6 of 4 bytes and 6 of one byte (padded to 8): no padding between them.
static_assert(sizeof(Request) == 12 * 8 + sizeof(std::vector<std::int64_t>) + 6 * 4 + 8,
              "Request: keep the fields ordered by size, without padding");

// Output tokens the request produces where it runs now: its whole answer, or only the first token on a prefill
// replica.
inline std::int64_t tokens_to_produce(const Request& r) { return r.prefill_only ? 1 : r.output_tokens; }

// The tokens a queued request still costs a replica: its prompt (and answer so far, computed again) and the rest
// of its answer; only the rest of its answer when its KV cache is kept (swapped to host, or moved to this replica).
inline std::int64_t queued_work_tokens(const Request& r) {
  return r.kv == Request::Kv::none ? r.prompt_tokens + tokens_to_produce(r) : tokens_to_produce(r) - r.generated_before;
}

}  // namespace tf
