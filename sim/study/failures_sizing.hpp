#pragma once
// size --failures and size --spare k (N + k) (sim/cli/size.cpp): the scenario the search sizes.
#include "sim/scenario/scenario.hpp"

namespace tf {

// --failures: the fleet is sized under the failure process: the scenario's [failures], or the defaults
// (default_failure_spec) when it has none. --spare k: k replicas down from 0 to duration_s on top (through the peak,
// wherever it falls), so the answer meets the targets with k replicas out: N + k. Throws std::invalid_argument for a
// scenario that cannot be sized so (fleet.pods > 1, disaggregated serving) or k < 0.
Scenario with_failure_options(Scenario s, bool failures, int spare);

}  // namespace tf

#include <string>

#include "sim/study/child_process.hpp"

namespace tf {

// What each spare buys: the fleets of answer - spare + j replicas (j = 0 .. spare) simulated under the failure
// process (the scenario's [failures], or the defaults when it gives no failure rates and injects nothing), without
// the spares held down, each in a child process of `runner`. Per fleet: replicas, GPUs, SLO attainment, the p99s,
// replica availability (share of replica-time up), time at target (share of the window's 60 s windows whose
// arrivals' p99 TTFT and TPOT meet the targets, never-served requests counted as misses), outages and retries.
struct SpareRow {
  int spares = 0, replicas = 0, gpus = 0;
  double attainment = 0.0, ttft_p99_s = 0.0, tpot_p99_s = 0.0;
  double replica_availability = 1.0, time_at_target = 0.0;
  std::int64_t outages = 0, retried = 0, failed = 0;
};
std::vector<SpareRow> spare_value(const Scenario& sized, int answer_replicas, int spare, JobRunner& runner);
// The table printed under the answer, and spares.csv.
std::string spare_value_text(const std::vector<SpareRow>& rows, const std::string& indent);
std::string spare_value_csv(const std::vector<SpareRow>& rows);

// The share of `window_s` windows of [start_s, end_s) (those with arrivals) whose arrivals' p99 TTFT and p99 TPOT
// meet the targets (a request never served counts above any target). 1 when no window has arrivals.
double time_at_target(const std::vector<RequestRecord>& records, double start_s, double end_s, double window_s,
                      const SloTargets& slo);

}  // namespace tf
