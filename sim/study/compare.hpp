#pragma once
// `tokenfleet compare`: the same scenario (the same requests, the same random numbers) under several
// batching policies and/or routers, one simulation per child process, side by side.
#include <string>
#include <vector>

#include "results/summary.hpp"
#include "sim/scenario/scenario.hpp"

namespace tf {

struct CompareRow {
  std::string batching, router;
  std::string pools;  // disaggregated: "P+D" prefill and decode replicas; empty otherwise
  bool ok = false;
  std::string error;
  Summary summary;  // the figures compare shows (latencies, throughput, SLO, utilization, rejections)
};

// A batching policy of --policies: its name, and for a disaggregating one an optional split, "disaggregated:P"
// (P prefill replicas, the rest decode) or "disaggregated:P:D" (P + D = fleet.replicas).
struct BatchingChoice {
  std::string name;
  int prefill_replicas = 0;  // 0: the scenario's split (policy.prefill_replicas, else a quarter of the fleet)
};
// Throws ScenarioError (file "--policies", key policy.batching) for an unknown name or a split that is wrong for
// the scenario's fleet.
BatchingChoice parse_batching_choice(const std::string& text, const Scenario& base);

// The scenario a combination of the comparison runs: `base` under the batching choice (with its split) and router.
Scenario compare_variant(const Scenario& base, const BatchingChoice& batching, const std::string& router);

// Goodput: measured requests that met both SLO targets, per second of the measurement window.
double goodput_per_s(const Summary& s);

// Every combination of `batchings` x `routers` (an empty list: the scenario's own); a batching entry may carry a
// disaggregated split (parse_batching_choice). Throws ScenarioError for an unknown name or a wrong split.
std::vector<CompareRow> run_compare(const Scenario& base, const std::vector<std::string>& batchings,
                                    const std::vector<std::string>& routers, int jobs);

std::string compare_table(const std::vector<CompareRow>& rows);
std::string compare_csv(const std::vector<CompareRow>& rows);

}  // namespace tf
