#pragma once
// size --autoscaler (sim/cli/size.cpp): the smallest autoscaler.max_replicas, with the scenario's [autoscaler]
// policy and settings, that meets the targets, and its GPU-hours against the fixed fleet's.
#include <string>
#include <vector>

#include "sim/scenario/scenario.hpp"
#include "sim/study/child_process.hpp"

namespace tf {

// The scenario the fixed search sizes: [autoscaler] left out (it is kept in `spec` for autoscaler_search). With
// `autoscaler` (--autoscaler) the scenario must have one (std::invalid_argument otherwise); without it, a scenario
// that has one is sized as a fixed fleet and `note` says so.
Scenario without_autoscaler(Scenario s, bool autoscaler, AutoscalerSpec& spec, std::string& note);

// One autoscaled run: max_replicas, its GPU-hours in the window, attainment, p99s, whether it meets the targets.
struct AutoscalerRow {
  int max_replicas = 0;
  double gpu_hours = 0.0, mean_replicas = 0.0;
  double attainment = 0.0, ttft_p99_s = 0.0, tpot_p99_s = 0.0;
  bool met = false;
  std::int64_t scale_ups = 0;
};
// Runs the scenario `sized` (a fixed fleet of `answer` replicas met the targets) autoscaled with `spec`, for
// max_replicas = 1 .. answer + 1 (min_replicas and initial_replicas kept within it), each in a child process of
// `runner`, all submitted at once.
std::vector<AutoscalerRow> autoscaler_search(const Scenario& sized, const AutoscalerSpec& spec, int answer,
                                             JobRunner& runner);
// The table printed under the answer (with the fixed fleet's GPU-hours and the cheapest row that meets the
// targets), and autoscaler.csv.
std::string autoscaler_search_text(const std::vector<AutoscalerRow>& rows, const Scenario& sized, int answer,
                                   const std::string& policy, const std::string& indent);
std::string autoscaler_search_csv(const std::vector<AutoscalerRow>& rows);

}  // namespace tf
