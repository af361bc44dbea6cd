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

// Every combination of `batchings` x `routers` (an empty list: the scenario's own). Throws ScenarioError
// for an unknown name.
std::vector<CompareRow> run_compare(const Scenario& base, const std::vector<std::string>& batchings,
                                    const std::vector<std::string>& routers, int jobs);

std::string compare_table(const std::vector<CompareRow>& rows);
std::string compare_csv(const std::vector<CompareRow>& rows);

}  // namespace tf
