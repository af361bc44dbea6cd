#pragma once
// Statistics over the measured requests (those that arrived at or after warmup_s), and writers.
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/json.hpp"
#include "results/records.hpp"

namespace tf {

// Percentile by linear interpolation between closest ranks (numpy's default, "linear");
// q in [0, 100]. `sorted` must be sorted ascending and non-empty.
double percentile_sorted(const std::vector<double>& sorted, double q);

// The per-request SLO check: a finished request meets the targets when its time to first token is within
// slo.ttft_p99_s and, for an answer of more than one token, its time per output token within slo.tpot_p99_s (a
// target of 0 is none). A request never served (rejected, unfinished) meets none. The p99 targets are judged
// over the requests, each of them checked by this; attainment is the share that meets it.
inline bool meets_slo(const RequestRecord& r, const SloTargets& slo) {
  if (!r.finished()) return false;
  const bool ttft_ok = slo.ttft_p99_s <= 0.0 || r.ttft_s() <= slo.ttft_p99_s;
  const bool tpot_ok = slo.tpot_p99_s <= 0.0 || r.output_tokens <= 1 || r.tpot_s() <= slo.tpot_p99_s;
  return ttft_ok && tpot_ok;
}

struct LatencyStats {
  std::size_t count = 0;
  double mean = 0.0, p50 = 0.0, p90 = 0.0, p99 = 0.0, p999 = 0.0, max = 0.0;
};
LatencyStats latency_stats(std::vector<double> values);

TF_JSON_FIELDS(SloTargets, ttft_p99_s, tpot_p99_s)

struct Summary {
  std::string scenario;
  std::uint64_t seed = 0;
  std::size_t requests_arrived = 0;   // all requests, warm-up included
  std::size_t requests_measured = 0;  // arrived at or after warmup_s
  std::size_t requests_unfinished = 0;  // neither finished nor rejected (a drained run has none)
  std::size_t requests_rejected = 0;    // turned away by admission control (SLO misses)
  std::int64_t preemptions = 0;         // paged KV cache: evictions (recompute or swap)
  double recomputed_tokens = 0.0;
  std::int64_t swapped_out_tokens = 0;  // swap preemption: KV tokens copied to host memory and back
  std::int64_t swapped_in_tokens = 0;
  double swap_s = 0.0;                  // replica time spent copying them, summed over replicas
  // Prefix caching (policy.prefix_cache; summary.json's "prefix_cache", only when on), whole run: at the requests'
  // first admissions, whole prompt blocks looked up and found and prompt tokens looked up and found (hit rates:
  // found / looked up); prompt tokens not prefilled thanks to the cache, every admission.
  struct PrefixCacheFigures {
    bool on = false;
    std::int64_t lookup_blocks = 0, hit_blocks = 0, prompt_tokens = 0, hit_tokens = 0, prefill_tokens_saved = 0;
    double block_hit_rate = 0.0, token_hit_rate = 0.0;
  };
  PrefixCacheFigures prefix_cache;
  double window_s = 0.0;
  // Served: what the fleet did inside the window (requests completed, tokens produced), per second.
  double requests_per_s = 0.0;
  double output_tokens_per_s = 0.0;
  double total_tokens_per_s = 0.0;    // prompt tokens prefilled + output tokens produced
  // Offered: what arrived in the window, whenever it was served (measured requests / window).
  double offered_requests_per_s = 0.0;
  double offered_output_tokens_per_s = 0.0;
  double offered_total_tokens_per_s = 0.0;
  LatencyStats queue, ttft, tpot, e2e;
  LatencyStats kv_transfer;           // disaggregated serving: KV moves of the measured requests (count 0 otherwise)
  SloTargets slo;
  double slo_attainment = 0.0;        // share of measured requests meeting both per-request targets
  bool ttft_p99_met = true, tpot_p99_met = true, slo_met = true;
  double mean_batch_size = 0.0;       // requests per iteration, iteration-weighted
  double mfu = 0.0;                   // FLOPs done / (GPUs x peak x window)
  double busy_fraction = 0.0;         // busy replica-seconds / (replicas x window)
  double energy_kwh = 0.0;            // inside the window
  double energy_total_kwh = 0.0;      // whole run
  double energy_per_output_token_j = 0.0;  // energy in the window / output tokens produced in it (0: none)
  double mean_power_per_gpu_w = 0.0;       // energy in the window / (GPUs x window)
  double simulated_s = 0.0;
  RunTotals totals;
  // With priority classes (workload.priority_shares): the measured requests of each class, 0 first; empty without.
  struct PriorityClass {
    int priority = 0;
    std::size_t measured = 0;
    LatencyStats queue, ttft, tpot, e2e;
    double slo_attainment = 0.0;
  };
  std::vector<PriorityClass> priority_classes;
  // A mixed fleet ([[fleet.pool]]): each pool's replicas, GPUs, share of the arrivals and what it did (latencies over
  // its measured requests that finished). Empty for a fleet of one GPU type.
  struct Pool {
    std::string name, gpu, dtype;
    int replicas = 0, gpus = 0, tensor_parallel = 1, pipeline_parallel = 1, expert_parallel = 1;
    double arrival_share = 0.0;
    std::size_t arrived = 0;
    double output_tokens_per_s = 0.0, mfu = 0.0, busy_fraction = 0.0, energy_kwh = 0.0;
    double ttft_p99_s = 0.0, tpot_p99_s = 0.0;
    std::size_t measured_finished = 0;
  };
  std::vector<Pool> pools;
};

// The figures of a summary that come from the run's totals and from counts over the measured requests: rates,
// SLO verdicts, batch, MFU, energy, preemptions. `s` already holds requests_measured, window_s and the latency
// statistics (ttft.count says whether any finished); the p99s judged count requests never served as misses. For
// summarize and the streaming SummaryBuilder, which gather those counts differently.
void fill_summary_figures(Summary& s, const RunTotals& totals, const SloTargets& slo, double output_tokens,
                          double total_tokens, std::size_t slo_hits, double ttft_p99_judged, double tpot_p99_judged);

// `priority_classes`: how many classes the workload has (0 or 1: no per-class figures).
Summary summarize(const std::string& scenario, std::uint64_t seed, const std::vector<RequestRecord>& records,
                  double warmup_s, const RunTotals& totals, const SloTargets& slo, int priority_classes = 0);

// summary.json: one pair of conversions writes it (keys in a fixed order) and reads it back. Of the run's totals it
// holds the KV transfers (with disaggregated serving) and the workload's counts; the rest of `totals` is not
// written, and reads back as zero.
void to_json(nlohmann::ordered_json& j, const LatencyStats& st);
void from_json(const nlohmann::ordered_json& j, LatencyStats& st);
void to_json(nlohmann::ordered_json& j, const Summary& s);
void from_json(const nlohmann::ordered_json& j, Summary& s);
// The same as a value: what summary.json holds.
nlohmann::ordered_json to_json(const Summary& s);

// An output file could not be written (exit code 4).
class WriteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Writes `content` to `path` through a temporary file in the same folder and a rename, so a
// reader never sees a half-written file. Throws WriteError on failure.
void write_file_atomically(const std::string& path, const std::string& content);

// Per-request CSV: id,arrival_s,prompt_tokens,output_tokens,replica,queue_s,ttft_s,tpot_s,e2e_s
// (all requests, warm-up included, in id order; times with 9 digits after the point).
// With `with_priority`, a last column `priority` (the request's class).
// With `with_cached`, a column `cached_tokens` (prefix caching: prompt tokens found in the cache); with
// `with_retries` ([failures]), then a column `retries`.
std::string requests_csv(const std::vector<RequestRecord>& records, bool with_priority = false, bool with_cached = false,
                         bool with_retries = false);

// The short table printed on stdout.
std::string summary_table(const Summary& s);

}  // namespace tf
