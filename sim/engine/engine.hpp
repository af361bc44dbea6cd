#pragma once
// The SimGrid engine: one actor runs an event loop over the whole fleet (sim/engine/event_loop.cpp): the workload
// source's arrivals go to the router, each replica runs continuous batching through a ReplicaModel, and KV transfers
// are SimGrid communications over the platform's network. One simulation per process
// (SimGrid's engine cannot be restarted): call run_simulation at most once in a process.
#include <csignal>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "results/record_sink.hpp"
#include "results/quantiles.hpp"
#include "results/records.hpp"
#include "results/timeseries.hpp"
#include "sim/scenario/scenario.hpp"
#include "workloads/request.hpp"

namespace tf {

// Where a run stands, for a progress line (simulated figures only; the caller adds wall-clock time).
struct RunProgress {
  double simulated_s = 0.0;
  double duration_s = 0.0;
  std::size_t arrived = 0;
  std::size_t finished = 0;
};

struct RunOptions {
  bool exact_iterations = false;  // one SimGrid step per iteration instead of closed-form stretches
  double timeseries_window_s = 0.0;  // > 0: the replicas' activity per window of this length (RunResult::activity)
  // Called every progress_every_s of simulated time from inside the simulation (0: never).
  std::function<void(const RunProgress&)> on_progress;
  double progress_every_s = 0.0;
  // Read at every arrival and every replica step (a volatile read; so within well under a second of wall-clock
  // time whatever the scenario) and during the set-up: once non-zero the run stops and run_simulation throws
  // RunInterrupted. Set from a signal handler.
  const volatile std::sig_atomic_t* interrupt_flag = nullptr;
  // Called once SimGrid's engine exists: SimGrid installs its own SIGINT handler (print and exit(1)), so
  // whoever wants Ctrl-C must install theirs again here.
  std::function<void()> on_engine_started;
  // Where the requests' records go (results/record_sink.hpp). Null: kept in RunResult::records.
  RecordSink* record_sink = nullptr;
};

// Each SimGrid actor's stack, in KiB (SimGrid's default is 8 MiB, which reserved 8 GB of address space per
// thousand replicas). The actors run no recursion and keep no large locals; the whole test suite and every example
// scenario pass with this size, and 20,000 replicas set up in about 5 s and 300 MB.
inline constexpr int kActorStackKiB = 256;

// [[fleet.pool]]: what one pool of a mixed fleet did (sim/study/pods.hpp). Latencies over its requests that arrived
// in the measurement window and finished.
struct PoolResult {
  std::string name, gpu, dtype;
  int replicas = 0, gpus_per_replica = 0, tensor_parallel = 1, pipeline_parallel = 1, expert_parallel = 1;
  double arrival_share = 0.0;   // its range of the balancer's split
  std::size_t arrived = 0;
  RunTotals totals;
  QuantileSketch ttft_s, tpot_s;
};

struct RunResult {
  std::vector<PoolResult> pools;       // a mixed fleet's pools, in [[fleet.pool]] order (empty otherwise)
  std::vector<RequestRecord> records;  // every request that arrived, in id (arrival) order (empty with a record_sink)
  std::size_t arrived = 0;             // requests that arrived (whichever sink took their records)
  RunTotals totals;
  ActivityBins activity;               // filled when RunOptions::timeseries_window_s > 0
  std::vector<ScalingEvent> scaling;   // [autoscaler]: every replica's changes of state, in time order
};

// The run was stopped through RunOptions::interrupt_flag; what = where it stood.
class RunInterrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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

// A setting of the engine itself is wrong (an unknown context factory): the same kind of error as a bad scenario
// (exit code 2).
class EngineSettingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// SimGrid's context factory, how the engine switches between actors: "raw" (SimGrid's default, the fastest),
// "thread" (one system thread per actor: slower, but what AddressSanitizer follows; the sanitizer build's tests
// use it), "ucontext", "boost". The same scenario and seed give the same results with any of them.
inline constexpr const char* context_factory_env = "TOKENFLEET_CONTEXT_FACTORY";
const std::vector<std::string>& context_factories();
// Sets the factory of this process's runs, and of the child processes it starts (through the environment
// variable above, which --context-factory sets). Throws EngineSettingError for a name not in context_factories().
void set_context_factory(const std::string& name);
// The factory runs use: $TOKENFLEET_CONTEXT_FACTORY when set and not empty, else "raw". Throws EngineSettingError
// naming the variable when it holds no factory's name.
std::string context_factory();

// Checks that the scenario can be served at all, before simulating: the model fits its replica, the
// fleet can be laid out. Throws SimulationError with what is wrong and what to change.
void check_servable(const Scenario& scenario);

// Why request `r` cannot be served by a replica holding `capacity` tokens of KV cache (what to change), or ""
// when it fits. The run stops with this (SimulationError, exit 3) at the first request that does not fit.
std::string kv_shortfall(const Scenario& scenario, const Request& r, std::int64_t capacity);

// (A trace's rows read as the run would, for `validate`: scan_trace in sim/engine/preflight.hpp.)

RunResult run_simulation(const Scenario& scenario, const RunOptions& options = {});

}  // namespace tf
