#pragma once
// A fleet of pods ([fleet] pods > 1): each pod simulated in a child process of its own (one SimGrid engine per
// process; under mpirun, on any rank, its records sent to rank 0: sim/study/mpi.hpp), on its share of the arrivals (workloads/pod_split.hpp), and the results merged: the requests' records
// by id (every request of the whole workload, its replica numbered fleet-wide: pod k's replica j is k x m + j), the
// totals added (the run's length the longest pod's, idle energy counted to it), the time series' activity added
// window by window. One pod (the default) is one simulation in this process, exactly as run_simulation.
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"

namespace tf {

// At most `jobs` pods at once (in each rank, under mpirun; a rank other than 0 gets an empty result: rank 0 merges). Errors are the pods' (the first pod's that failed, named), of the same kinds as
// run_simulation's; an interrupt stops every pod (RunInterrupted). options.on_progress is called only with one pod.
RunResult run_fleet(const Scenario& s, const RunOptions& options, int jobs = 1);

// The scenario a pod runs: the pod's replicas, pod_index set.
Scenario pod_scenario(const Scenario& s, int pod);

}  // namespace tf
