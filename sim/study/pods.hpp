#pragma once
// A fleet of pods ([fleet] pods > 1): each pod simulated in a child process of its own (one SimGrid engine per
// process; under mpirun, on any rank, its records sent to rank 0: sim/study/mpi.hpp), on its share of the arrivals (workloads/pod_split.hpp), and the results merged: the requests' records
// by id (every request of the whole workload, its replica numbered fleet-wide: pod k's replica j is k x m + j), the
// totals added (the run's length the longest pod's, idle energy counted to it), the time series' activity added
// window by window. One pod (the default) is one simulation in this process, exactly as run_simulation.
#include "results/summary.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"

namespace tf {

// At most `jobs` pods at once (in each rank, under mpirun; a rank other than 0 gets an empty result: rank 0 merges). Errors are the pods' (the first pod's that failed, named), of the same kinds as
// run_simulation's; an interrupt stops every pod (RunInterrupted). options.on_progress is called only with one pod.
RunResult run_fleet(const Scenario& s, const RunOptions& options, int jobs = 1);

// The scenario a pod runs: the pod's replicas, pod_index set.
Scenario pod_scenario(const Scenario& s, int pod);

// [[fleet.pool]]: a mixed fleet runs pool by pool, each in a child process like a pod, behind a balancer that
// splits arrivals over the pools at random in proportion to their capacity (workloads/pod_split.hpp, in_pool): each
// pool's saturated output tokens/s at the workload's mean lengths (pool_capacities) over the fleet's, or the pools'
// arrival_share when given. So every pool runs at the same load (arrival rate over capacity). The merged totals add
// the pools' (peak_flops_per_gpu: the mean over the fleet's GPUs); RunResult::pools has each pool's.
std::vector<double> pool_capacities(const Scenario& s);
std::vector<double> pool_arrival_shares(const Scenario& s);
// The scenario pool `pool` runs: its GPU, layout and replicas, pool_index set; with the shares, its range of the split.
Scenario pool_scenario(const Scenario& s, int pool);
Scenario pool_scenario(const Scenario& s, int pool, const std::vector<double>& shares);
// summary.json's "pools" from a mixed fleet's run.
std::vector<Summary::Pool> pool_summaries(const RunResult& r);

}  // namespace tf
