#pragma once
// `compare --size`: the fleet each policy needs for the same demand and targets (the same random numbers: the
// policies do not touch arrivals or lengths), with the simulated k and u of the formula's decomposition
// (results/decomposition.hpp) and the analytic estimate beside them: which policy moves u, and by how much the
// formula's answer is off for each.
#include <optional>
#include <string>
#include <vector>

#include "results/decomposition.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/sizing.hpp"

namespace tf {

struct SizedPolicy {
  std::string batching, router;
  bool found = false;
  std::string reason;       // why not found
  int replicas = 0;         // the fleet (pods x per pod)
  int gpus = 0;
  std::optional<Decomposition> decomposition;
  double estimate_gpus = 0.0;  // the analytic estimate at k, u given (the same for every policy)
  std::string binding_limit;
};

// Sizes `base` under every combination of `batchings` x `routers` (empty: the scenario's own), one after another,
// each search with `options` (its runner), the demand measured once. `peak_multiple` and `utilization` are the
// analytic estimate's.
std::vector<SizedPolicy> size_policies(const Scenario& base, const std::vector<std::string>& batchings,
                                       const std::vector<std::string>& routers, const SizingOptions& options,
                                       DemandMeasurement& demand, double peak_multiple, double utilization);

std::string size_policies_table(const std::vector<SizedPolicy>& rows, double peak_multiple, double utilization);
std::string size_policies_csv(const std::vector<SizedPolicy>& rows);

}  // namespace tf
