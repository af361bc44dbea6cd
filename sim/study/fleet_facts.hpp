#pragma once
// What the time series needs to know of the fleet: replicas, GPUs, KV capacity, power, targets, and the capacity of
// the fleet saturated at the run's mean lengths (from the replica model).
#include <vector>

#include "results/records.hpp"
#include "results/timeseries.hpp"
#include "sim/scenario/scenario.hpp"

namespace tf {

FleetFacts fleet_facts(const Scenario& s, const std::vector<RequestRecord>& records);
// The same from the requests' count and summed lengths (what a streaming sink keeps).
FleetFacts fleet_facts(const Scenario& s, std::size_t requests, double prompt_tokens, double output_tokens);

}  // namespace tf
