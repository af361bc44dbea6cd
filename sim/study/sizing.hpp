#pragma once
// Fleet sizing: the smallest number of replicas that meets the scenario's SLO targets, found by
// simulation (grow, then bisect), with every candidate simulated in a child process of its own
// (SimGrid: one engine per process) and the same random numbers for every candidate.
#include <csignal>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/json.hpp"
#include "results/window.hpp"
#include "sim/scenario/scenario.hpp"

namespace tf {

enum class SizingWindow { whole, busiest_hour };

struct SizingOptions {
  SizingWindow window = SizingWindow::whole;
  int jobs = 2;                  // child processes at once
  int max_replicas = 4096;       // search bound
  int seeds = 1;                 // seeds per candidate: seed, seed+1, ...
  double pass_share = 1.0;       // share of seeds that must meet the targets
  bool per_hour = false;         // also find the fleet each hour of the day needs
  bool verbose = true;           // print each probe on stdout as it completes
  // Polled between rounds of probes: once non-zero, size_fleet throws RunInterrupted (set from a signal handler).
  const volatile std::sig_atomic_t* interrupt_flag = nullptr;
};

// What one simulated candidate gave.
struct Probe {
  int replicas = 0;
  std::uint64_t seed = 0;
  std::string error;                      // non-empty: the simulation could not run
  WindowFigures whole;                    // the measurement window [warmup_s, duration_s)
  WindowFigures busiest;                  // the busiest whole hour inside it (by arrivals), or `whole`
  std::vector<WindowFigures> hours;       // hour h = [h x 3600, (h+1) x 3600) clipped to the window
  double mfu = 0.0;                       // over the measurement window
  double busy_fraction = 0.0;
  double flops = 0.0;                     // model FLOPs done in the window
  double energy_kwh = 0.0;                // in the window
  double window_s = 0.0;
  const WindowFigures& evaluated(SizingWindow w) const { return w == SizingWindow::whole ? whole : busiest; }
};

// The probe as a child process sends it back (JSON), read back field for field.
TF_JSON_FIELDS(Probe, replicas, seed, error, whole, busiest, hours, mfu, busy_fraction, flops, energy_kwh, window_s)

struct SizingResult {
  bool found = false;
  std::string reason;                     // why nothing was found
  int replicas = 0;                       // the answer
  std::vector<Probe> answer_probes;       // one per seed, at the answer
  std::vector<Probe> below_probes;        // one per seed, at answer - 1 (empty when the answer is 1)
  std::vector<Probe> probes;              // every probe, in the order run
  std::vector<int> per_hour_replicas;     // with per_hour: the fleet each hour needs (0: no requests)
};

// Demand of a scenario's workload, counted without simulating.
struct Demand {
  double requests = 0.0;
  double prompt_tokens = 0.0;
  double output_tokens = 0.0;
  double window_s = 0.0;                  // measurement window
  // Over every request, warm-up included (for unreachable_targets):
  double all_requests = 0.0;
  double all_prompt_mean = 0.0;
  double all_prompt_p99 = 0.0;
  double requests_per_s() const { return window_s > 0 ? requests / window_s : 0.0; }
  double tokens_per_s() const { return window_s > 0 ? (prompt_tokens + output_tokens) / window_s : 0.0; }
  double output_tokens_per_s() const { return window_s > 0 ? output_tokens / window_s : 0.0; }
};
// One pass over the scenario's requests.
Demand measure_demand(const Scenario& s);

// Throws SimulationError / ScenarioError for scenarios that cannot be sized at all (no SLO target...).
// `demand`: measure_demand(s) when the caller has it already (it depends only on the workload and the seed).
SizingResult size_fleet(const Scenario& s, const SizingOptions& options, const Demand* demand = nullptr);

// Runs one candidate in a child process.
Probe run_probe(const Scenario& s, int replicas, std::uint64_t seed);
// Runs candidates in child processes, at most `jobs` at once; results in the order given.
std::vector<Probe> run_probes(const Scenario& s, const std::vector<std::pair<int, std::uint64_t>>& candidates, int jobs);

// Why no fleet can meet the targets, whatever its size, from the cost model alone; nothing when it may.
std::optional<std::string> unreachable_targets(const Scenario& s, const Demand& demand);

}  // namespace tf
