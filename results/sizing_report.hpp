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

struct SizingHour {
  double start_s = 0.0, end_s = 0.0;
  std::size_t requests = 0;
  int replicas = 0;
};
TF_JSON_FIELDS(SizingHour, start_s, end_s, requests, replicas)

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
  std::optional<std::vector<SizingHour>> per_hour;  // with --per-hour
  double gpu_hours_per_hour_schedule = 0.0;         // with --per-hour
  double gpu_hours_fixed_fleet = 0.0;               // with --per-hour
};
void to_json(nlohmann::ordered_json& j, const SizingGpuResult& g);
void from_json(const nlohmann::ordered_json& j, SizingGpuResult& g);

struct SizingReport {
  std::string scenario;
  std::string window;  // whole | day | busiest-hour, as asked
  int seeds = 1;
  double pass_share = 1.0;
  SloTargets targets;
  SizingDemand demand;
  std::vector<SizingGpuResult> results;
};
TF_JSON_FIELDS(SizingReport, scenario, window, seeds, pass_share, targets, demand, results)

}  // namespace tf
