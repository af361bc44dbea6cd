#pragma once
// What the engine hands to results/: one record per request and a few per-run totals.
// Plain data: results/ depends on nothing else of ours.
#include <cstdint>
#include <string>
#include <vector>

namespace tf {

// (A field added here must be added to the streaming window's slot too: StreamingSink::Slot, results/streaming.hpp.)
struct RequestRecord {
  std::uint64_t id = 0;
  double arrival_s = 0.0;
  std::int64_t prompt_tokens = 0;
  std::int64_t output_tokens = 0;
  int replica = -1;
  double admitted_s = -1.0;     // start of the iteration that runs its prefill
  double first_token_s = -1.0;  // end of that iteration
  double finished_s = -1.0;     // end of the iteration that produced its last token
  bool rejected = false;        // turned away by admission control: never served, an SLO miss
  // Disaggregated serving: the replica that ran its prefill (`replica` decoded it) and how long its KV cache took
  // to move between them (included in its time to first token); -1 otherwise.
  int prefill_replica = -1;
  double kv_transfer_s = -1.0;
  int priority = 0;             // its priority class (workload.priority_shares; 0 without)
  std::int64_t cached_tokens = 0;  // prefix caching: prompt tokens found in the cache at its first admission
  int retries = 0;              // [failures]: times retried after its replica failed under it
  bool failed = false;          // [failures]: given up after failures.max_retries retries (also rejected: never served)
  bool finished() const { return finished_s >= 0.0; }
  double queue_s() const { return admitted_s - arrival_s; }
  double ttft_s() const { return first_token_s - arrival_s; }
  // Time per output token after the first; 0 for one-token answers (left out of TPOT statistics).
  double tpot_s() const {
    return output_tokens > 1 ? (finished_s - first_token_s) / static_cast<double>(output_tokens - 1) : 0.0;
  }
  double e2e_s() const { return finished_s - arrival_s; }
};

// Totals the engine accumulates over the measurement window [warmup_s, duration_s]
// (activity that straddles a window edge is split in proportion to time).
struct RunTotals {
  int replicas = 0;
  int gpus = 0;
  double peak_flops_per_gpu = 0.0;   // for the dtype in use
  double window_s = 0.0;             // duration_s - warmup_s
  double busy_replica_s = 0.0;       // summed over replicas, inside the window
  double flops = 0.0;                // model FLOPs done inside the window
  double iterations = 0.0;           // replica iterations inside the window
  double batched_requests = 0.0;     // sum over those iterations of the requests in the batch
  double served_prompt_tokens = 0.0; // prompt tokens prefilled inside the window
  double served_output_tokens = 0.0; // output tokens produced inside the window
  std::size_t completed_in_window = 0;  // requests that finished inside the window
  std::int64_t preemptions = 0;         // paged KV: running requests evicted to free blocks (whole run)
  double recomputed_tokens = 0.0;       // tokens prefilled again after preemptions (whole run)
  std::int64_t kv_transfers = 0;        // disaggregated serving: KV caches moved from prefill to decode replicas
  double kv_transfer_bytes = 0.0;       // and their bytes (whole run)
  std::int64_t swapped_out_tokens = 0;  // KV tokens copied to host memory by swap preemptions (whole run)
  std::int64_t swapped_in_tokens = 0;   // KV tokens copied back to the GPUs (whole run)
  double swap_s = 0.0;                  // replica time spent in swap steps, summed over replicas (whole run)
  double energy_window_j = 0.0;      // all GPUs, inside the window (from the steps' power, cluster/power.hpp)
  double energy_total_j = 0.0;       // all GPUs, whole simulated run
  double simulated_s = 0.0;          // time of the last event
  std::uint64_t skipped_bad_rows = 0; // trace rows skipped as bad (workload.trace.skip_bad_rows = true)
  std::uint64_t clamped_rows = 0;     // trace rows whose lengths were cut (workload.trace.max_*_tokens)
  std::uint64_t questions_cut = 0;    // sessions: follow-up questions not asked, their visit cut at duration_s
  // Requests that arrived beyond the model's context window (workload.over_context): cut to it ("cut"), or turned
  // away on arrival ("drop"; they are among the rejected requests too).
  std::uint64_t over_context_cut = 0;
  std::uint64_t over_context_dropped = 0;
  double last_arrival_s = -1.0;       // the last request's arrival (-1: none arrived); not in summary.json
  // Prefix caching (policy.prefix_cache; whole run): whether it was on; at requests' first admissions the whole
  // prompt blocks looked up and found, the prompt tokens looked up and found; and the prompt tokens not prefilled
  // thanks to it, every admission.
  bool prefix_cache = false;
  std::int64_t prefix_lookup_blocks = 0;
  std::int64_t prefix_hit_blocks = 0;
  std::int64_t prefix_prompt_tokens = 0;
  std::int64_t prefix_hit_tokens = 0;
  std::int64_t prefix_saved_tokens = 0;
  // [failures] (summary.json's "failures", only when configured): unit failures by kind, replica outages, replica
  // time down (inside the window and whole run, summed over replicas), requests retried and retries, requests given
  // up, KV tokens lost (prefilled again), requests moved from a failed replica's queue.
  bool failures_enabled = false;
  std::int64_t gpu_failures = 0, node_failures = 0, injected_failures = 0, replica_outages = 0;
  double replica_down_window_s = 0.0, replica_down_total_s = 0.0;
  double replica_availability = 1.0;  // 1 - replica_down_window_s / (replicas x window_s)
  std::int64_t retried_requests = 0, retries = 0, failed_requests = 0, requeued_requests = 0;
  double lost_kv_tokens = 0.0;
  // [autoscaler] (summary.json's "autoscaler", only when configured): replica time serving, starting (cold starts)
  // and draining inside the window, summed over replicas; GPU-hours of the three (what is paid for); replicas
  // started and drained; the most at once.
  bool autoscaler_enabled = false;
  double serving_replica_s = 0.0, starting_replica_s = 0.0, draining_replica_s = 0.0;
  double gpu_hours = 0.0;
  double cold_start_s = 0.0;
  std::int64_t scale_ups = 0, scale_downs = 0;
  int peak_replicas = 0;
};

// [autoscaler]: a replica changing state (scaling.csv): "start" (off to starting), "serve" (its cold start over,
// or a drain cancelled), "drain" (serving to draining), "off" (drained, or a start cancelled); and the fleet's
// counts after it.
struct ScalingEvent {
  double time_s = 0.0;
  int replica = 0;
  std::string event;
  int serving = 0, starting = 0, draining = 0;
};

struct SloTargets {
  double ttft_p99_s = 0.0;  // 0: no target
  double tpot_p99_s = 0.0;  // 0: no target
};

}  // namespace tf
