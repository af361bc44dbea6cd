#pragma once
// sizing.json, what `tokenfleet size --out` writes and the report reads: the demand, the targets and, for each
// GPU type, the answer with its figures per seed, one replica fewer, the analytic estimate, the effective figures
// and the per-hour schedule. One definition per type serves writing and reading (keys in the order listed).
// Plain data: results/ depends on nothing of ours but io/.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/json.hpp"
#include "results/decomposition.hpp"
#include "results/economics.hpp"
#include "results/margin.hpp"
#include "results/records.hpp"
#include "results/summary.hpp"

namespace tf {

struct SizingDemand {
  double requests = 0.0;  // in the measurement window
  double window_s = 0.0;
  double requests_per_s = 0.0;
  double tokens_per_s = 0.0;
  double output_tokens_per_s = 0.0;
};
TF_JSON_FIELDS(SizingDemand, requests, window_s, requests_per_s, tokens_per_s, output_tokens_per_s)

// The answer's figures with one seed.
struct SizingSeedFigures {
  std::uint64_t seed = 0;
  double ttft_p99_s = 0.0;
  double tpot_p99_s = 0.0;
  double attainment = 0.0;
  double mfu = 0.0;
  double busy_fraction = 0.0;
  double energy_kwh = 0.0;
};
TF_JSON_FIELDS(SizingSeedFigures, seed, ttft_p99_s, tpot_p99_s, attainment, mfu, busy_fraction, energy_kwh)

struct SizingOneFewer {
  int replicas = 0;
  double ttft_p99_s = 0.0;
  double tpot_p99_s = 0.0;
  bool met = false;
};
TF_JSON_FIELDS(SizingOneFewer, replicas, ttft_p99_s, tpot_p99_s, met)

struct SizingEstimate {
  double peak_multiple = 0.0;
  double utilization = 0.0;
  double gpus = 0.0;
  double replicas = 0.0;
};
TF_JSON_FIELDS(SizingEstimate, peak_multiple, utilization, gpus, replicas)

// One hour of `size --per-hour`: sized on probes of its own that simulate [simulated_from_s, end_s) (the demand before
// the hour as warm-up) and judge the hour's requests; figures at the hour's answer and one replica fewer.
struct SizingHour {
  double start_s = 0.0, end_s = 0.0;
  std::size_t requests = 0;
  int replicas = 0;                   // 0: no requests, or none found (note)
  int hour = 0;                       // of the day
  double simulated_from_s = 0.0;      // the hour's probes start here, with an empty fleet
  double ttft_p99_s = 0.0, tpot_p99_s = 0.0;  // at `replicas` (first seed)
  bool met = false;
  int one_fewer_replicas = 0;         // 0: none (the answer is the smallest fleet)
  double one_fewer_ttft_p99_s = 0.0, one_fewer_tpot_p99_s = 0.0;
  bool one_fewer_met = false;
  double gpu_hours = 0.0;             // replicas x GPUs per replica x the hour's length
  double energy_kwh = 0.0;            // in the hour at `replicas` (mean over seeds)
  std::string note;                   // why no replicas
};
TF_JSON_FIELDS(SizingHour, start_s, end_s, requests, replicas, hour, simulated_from_s, ttft_p99_s, tpot_p99_s, met,
               one_fewer_replicas, one_fewer_ttft_p99_s, one_fewer_tpot_p99_s, one_fewer_met, gpu_hours, energy_kwh,
               note)

// size --autoscaler: the fixed fleet, the per-hour schedule (with --per-hour) and the autoscaler's smallest
// max_replicas that passes, side by side over the same window (first seed's hours).
struct FleetComparisonRow {
  std::string fleet;                  // "fixed" | "per-hour schedule" | "autoscaler"
  std::string label;                  // e.g. "3 replicas", "1-3 replicas by hour", "predictive, max_replicas 3"
  double gpu_hours = 0.0;             // in the window
  double attainment = 0.0;            // share of the window's requests meeting both targets
  int hours = 0, hours_met = 0;       // hours of the window with requests, and those meeting both p99 targets
  int worst_hour = -1;                // of the day, by TTFT p99 (-1: none)
  double worst_hour_ttft_p99_s = 0.0, worst_hour_tpot_p99_s = 0.0;
  double energy_kwh = 0.0;
};
TF_JSON_FIELDS(FleetComparisonRow, fleet, label, gpu_hours, attainment, hours, hours_met, worst_hour,
               worst_hour_ttft_p99_s, worst_hour_tpot_p99_s, energy_kwh)

struct SizingEffective {
  double utilization = 0.0;                          // MFU at the answer
  double mean_flops_gpus_at_full_utilization = 0.0;
  double peak_multiple_vs_mean_flops_fleet = 0.0;
  int mean_load_fleet_replicas = 0;                  // 0: not found; the note says why
  double peak_multiple_vs_mean_load_fleet = 0.0;
  std::string peak_multiple_vs_mean_load_fleet_note;
};
void to_json(nlohmann::ordered_json& j, const SizingEffective& e);
void from_json(const nlohmann::ordered_json& j, SizingEffective& e);

// A fleet of pods: one pod's figures at a size (a seed of one candidate).
struct SizingPodFigures {
  int pod = 0;  // 0 .. pods - 1
  std::uint64_t seed = 0;
  std::size_t requests = 0;  // its share of the window's requests
  double ttft_p99_s = 0.0;
  double tpot_p99_s = 0.0;
  double attainment = 0.0;
  bool met = false;
};
TF_JSON_FIELDS(SizingPodFigures, pod, seed, requests, ttft_p99_s, tpot_p99_s, attainment, met)

// The answer for a fleet of pods (fleet.pods > 1): every pod of the seeded split simulated on its own share of the
// arrivals; the answer is the smallest pod size at which every pod meets the targets over its own requests, and the
// fleet that many replicas per pod. The answer's figures (SizingGpuResult::answer) are then the worst pod's p99s, the
// fleet's attainment and energy, seed by seed.
struct SizingPods {
  int pods = 1;
  int replicas_per_pod = 0;
  int gpus_per_pod = 0;
  std::string split;                         // how the arrivals are split
  std::vector<SizingPodFigures> answer;      // at replicas_per_pod: each seed, each pod
  int one_fewer_replicas_per_pod = 0;        // 0: the answer is the smallest pod there is
  int one_fewer_pods_missing = 0;            // pods missing the targets with one replica fewer each
  std::vector<SizingPodFigures> one_fewer;   // at replicas_per_pod - 1: each seed, each pod
};
TF_JSON_FIELDS(SizingPods, pods, replicas_per_pod, gpus_per_pod, split, answer, one_fewer_replicas_per_pod,
               one_fewer_pods_missing, one_fewer)

// A mixed fleet's pool at the answer.
struct SizingPool {
  std::string name, gpu;
  int replicas = 0;
  std::int64_t gpus = 0;
  double mix = 0.0;  // its share of the replicas before rounding
};
TF_JSON_FIELDS(SizingPool, name, gpu, replicas, gpus, mix)

struct SizingGpuResult {
  std::string gpu;
  bool found = false;
  std::string reason;                     // without an answer: why
  // With an answer:
  int replicas = 0;
  int prefill_replicas = 0;               // disaggregated serving; 0 (left out) otherwise
  double gpus = 0.0;
  std::vector<SizingSeedFigures> answer;  // one per seed
  std::optional<SizingOneFewer> one_fewer;
  double gpu_hours = 0.0;
  double energy_kwh = 0.0;
  std::optional<double> cost;
  SizingEstimate analytic_estimate;
  SizingEffective effective;
  std::string gpu_type;                             // the GPU (gpu: the configuration's label)
  int tensor_parallel = 1;
  int pipeline_parallel = 1, expert_parallel = 1;   // written when above 1 (a replica larger than a node, MoE)
  int max_batch = 0;
  bool best_of_type = false;                        // with size --search: the best configuration of its GPU type
  std::string binding_limit;                        // what sets the size (sizing.hpp binding_limit)
  std::string binding_evidence;
  std::optional<Decomposition> decomposition;       // k and u that give the fleet through the formula
  std::optional<Economics> economics;               // per day, per month, per million tokens at stated prices
  double batch_occupancy = 0.0;                     // the answer's mean batch over max_batch (busy "at load")
  std::optional<Margin> margin;                     // the answer's p99s with their 95 % intervals, and the verdict
  std::optional<Margin> one_fewer_margin;           // the same one replica fewer
  std::optional<std::vector<SizingHour>> per_hour;  // with --per-hour
  double gpu_hours_per_hour_schedule = 0.0;         // with --per-hour
  double gpu_hours_fixed_fleet = 0.0;               // with --per-hour
  std::optional<SizingPods> pods;                   // a fleet of pods (fleet.pods > 1): replicas is pods x per pod
  std::optional<std::vector<SizingPool>> pools;     // a mixed fleet, sized at its mix: its pools at the answer
  std::optional<std::vector<FleetComparisonRow>> fleet_comparison;  // with --autoscaler
};
void to_json(nlohmann::ordered_json& j, const SizingGpuResult& g);
void from_json(const nlohmann::ordered_json& j, SizingGpuResult& g);

struct SizingReport {
  std::string scenario;
  std::string window;  // whole | day | busiest-hour, as asked
  int seeds = 1;
  double pass_share = 1.0;
  std::string margin_rule = "point";  // point | safe (size --margin)
  SloTargets targets;
  SizingDemand demand;
  std::vector<SizingGpuResult> results;
};
TF_JSON_FIELDS(SizingReport, scenario, window, seeds, pass_share, margin_rule, targets, demand, results)

// scale_check.json (`size --scale-check`): for pods of m = 1, 2, 4, ... replicas, the largest share of the arrivals
// (split as pods are) a pod meets the targets on, and the GPUs that costs per unit of demand; then the sizing's
// answer as the reference.
struct ScaleCheckProbe {
  double share = 0.0;
  std::uint64_t seed = 0;
  std::size_t requests = 0;  // in the window
  double ttft_p99_s = 0.0;
  double tpot_p99_s = 0.0;
  bool met = false;
  std::string error;
};
TF_JSON_FIELDS(ScaleCheckProbe, share, seed, requests, ttft_p99_s, tpot_p99_s, met, error)

struct ScaleCheckRowReport {
  std::string kind;                 // "pod": a pod of `replicas` on a share; "answer": the sizing's answer
  int replicas = 0;                 // a pod's; the answer's fleet
  int pods = 1;                     // the answer: its pods
  int gpus = 0;
  bool found = false;
  std::string reason;               // not found: why
  bool whole = false;               // the pod meets the targets on the whole workload: it serves at least the demand
  double share = 0.0;               // the largest share found to meet the targets
  double share_fails = 0.0;         // the smallest found to miss them (0: none)
  double requests_per_s = 0.0;      // served at `share`
  double tokens_per_s = 0.0;        // prompt + output
  double gpus_per_1k_requests_per_s = 0.0;
  double gpus_per_m_tokens_per_s = 0.0;
  bool has_gain = false;
  double gain = 0.0;                // 1 - GPUs per unit of demand / the previous row's
  int pods_for_demand = 0;          // ceil(1 / share): pods of this size the whole demand needs
  int fleet_gpus = 0;               // pods_for_demand x gpus
  std::vector<ScaleCheckProbe> probes;
};
TF_JSON_FIELDS(ScaleCheckRowReport, kind, replicas, pods, gpus, found, reason, whole, share, share_fails,
               requests_per_s, tokens_per_s, gpus_per_1k_requests_per_s, gpus_per_m_tokens_per_s, has_gain, gain,
               pods_for_demand, fleet_gpus, probes)

struct ScaleCheckGpu {
  std::string gpu;
  std::vector<ScaleCheckRowReport> rows;
  int pooling_stops_at = 0;         // the pod size past which doubling gains less than the threshold; 0: none seen
  double stands_within = 0.0;       // that pod's GPUs per unit of demand over the reference's, minus 1
  std::string reference;            // what stands_within is against
  std::string conclusion;           // the sentence printed
};
TF_JSON_FIELDS(ScaleCheckGpu, gpu, rows, pooling_stops_at, stands_within, reference, conclusion)

struct ScaleCheckReport {
  std::string scenario;
  std::string window;
  int seeds = 1;
  double pass_share = 1.0;
  SloTargets targets;
  SizingDemand demand;
  int max_replicas = 0;
  double tolerance = 0.0;
  double gain_threshold = 0.0;
  std::vector<ScaleCheckGpu> results;
};
TF_JSON_FIELDS(ScaleCheckReport, scenario, window, seeds, pass_share, targets, demand, max_replicas, tolerance,
               gain_threshold, results)

}  // namespace tf
