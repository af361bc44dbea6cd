#pragma once
// size --autoscaler (sim/cli/size.cpp): the smallest autoscaler.max_replicas, with the scenario's [autoscaler]
// policy and settings, that passes as a fixed fleet's candidate does (the seeds rule and the margin), and the fixed
// fleet, the per-hour schedule and the autoscaler side by side.
#include <string>
#include <vector>

#include "results/sizing_report.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/child_process.hpp"
#include "sim/study/sizing.hpp"

namespace tf {

// The scenario the fixed search sizes: [autoscaler] left out (it is kept in `spec` for autoscaler_search). With
// `autoscaler` (--autoscaler) the scenario must have one (std::invalid_argument otherwise); without it, a scenario
// that has one is sized as a fixed fleet and `note` says so.
Scenario without_autoscaler(Scenario s, bool autoscaler, AutoscalerSpec& spec, std::string& note);

// One max_replicas autoscaled, over the seeds: GPU-hours, mean replicas and attainment the mean over seeds, the p99s
// the worst seed's; `met`: candidate_passes (the search's seeds rule and, with --margin safe, the intervals); the
// hours (first seed): those of the window with requests, those meeting both p99 targets, and the worst by TTFT p99.
struct AutoscalerRow {
  int max_replicas = 0;
  int seeds = 1;
  double gpu_hours = 0.0, mean_replicas = 0.0;
  double attainment = 0.0, ttft_p99_s = 0.0, tpot_p99_s = 0.0;
  double energy_kwh = 0.0;
  bool met = false;
  std::string margin;  // answer_margin's verdict over the seeds (or batch means)
  std::int64_t scale_ups = 0;  // first seed
  FleetComparisonRow hours;    // the hours' figures (fleet "autoscaler")
};
// Runs the scenario `sized` (a fixed fleet of `answer` replicas met the targets) autoscaled with `spec`, for
// max_replicas = 1 .. answer + 1 (min_replicas and initial_replicas kept within it) and each of options.seeds seeds
// (seed, seed + 1, ...), each in a child process of `runner`, all submitted at once.
std::vector<AutoscalerRow> autoscaler_search(const Scenario& sized, const AutoscalerSpec& spec, int answer,
                                             const SizingOptions& options, JobRunner& runner);
// The table printed under the answer (with the fixed fleet's GPU-hours and the smallest row that passes), and
// autoscaler.csv.
std::string autoscaler_search_text(const std::vector<AutoscalerRow>& rows, const Scenario& sized, int answer,
                                   const std::string& policy, const std::string& indent);
std::string autoscaler_search_csv(const std::vector<AutoscalerRow>& rows);

// A comparison row from a probe's hours (Probe::hours): attainment and energy of its whole window, the hours with
// requests, those meeting both p99 targets, and the worst by TTFT p99.
FleetComparisonRow comparison_row(const std::string& fleet, const std::string& label, double gpu_hours,
                                  const Probe& p);
// The per-hour schedule's row: each hour at its own answer (hours without one are not counted, and say so in the
// label); attainment weighted by the hours' requests.
FleetComparisonRow schedule_row(const std::vector<SizingHour>& hours, const std::vector<HourSizing>& sized);
// The side-by-side table.
std::string fleet_comparison_text(const std::vector<FleetComparisonRow>& rows, const std::string& indent);

}  // namespace tf
