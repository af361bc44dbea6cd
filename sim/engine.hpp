#pragma once
// The SimGrid engine: a source actor that generates requests and hands them to the router, and one
// actor per replica that runs continuous batching through a ReplicaModel. One simulation per process
// (SimGrid's engine cannot be restarted): call run_simulation at most once in a process.
#include <stdexcept>
#include <string>
#include <vector>

#include "results/records.hpp"
#include "sim/scenario.hpp"

namespace tf {

struct RunOptions {
  bool exact_iterations = false;  // one SimGrid step per iteration instead of closed-form stretches
};

struct RunResult {
  std::vector<RequestRecord> records;  // every request that arrived, in id (arrival) order
  RunTotals totals;
};

// A scenario that cannot be served (model does not fit, request longer than the KV capacity...).
class SimulationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The workload's input is wrong (a bad trace row found while streaming it): the same kind of error as a bad
// scenario (exit code 2), carrying the file, line and field.
class WorkloadInputError : public SimulationError {
 public:
  using SimulationError::SimulationError;
};

// Checks that the scenario can be served at all, before simulating: the model fits its replica, the
// fleet can be laid out. Throws SimulationError with what is wrong and what to change.
void check_servable(const Scenario& scenario);

RunResult run_simulation(const Scenario& scenario, const RunOptions& options = {});

}  // namespace tf
