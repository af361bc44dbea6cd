#pragma once
// The failure process of a fleet ([failures]): GPUs and nodes fail at their rates (exponential times to failure,
// mean time between failures as given) and come back after a repair time drawn from a distribution; a failure takes
// down every replica that holds the failed GPU (its tensor-parallel group) or lives on the failed node, and a
// replica is back once every unit that took it down is repaired. Failures can also be injected at known times.
// Plain C++, no SimGrid: the engine (sim/engine/) applies the transitions; tests drive it directly.
//
// Random numbers are counter-based: the k-th time to failure of GPU g (and its k-th repair) is a function of the
// seed, g and k only (SplitMix64), so GPU g fails at the same times whatever the size of the fleet: a fleet of
// N + 1 replicas sees the failures of the fleet of N, and those of one more replica.
#include <cstdint>
#include <limits>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "workloads/distribution.hpp"

namespace tf {

// A failure at a known time: `replica` goes down at at_s for down_s seconds (failures.inject).
struct InjectedFailure {
  int replica = 0;
  double at_s = 0.0;
  double down_s = 0.0;
};

struct FailureSpec {
  bool enabled = false;  // [failures] present: off, nothing changes anywhere
  // Mean time between failures of one GPU and of one node (its host, NIC, switch port, power: what takes the whole
  // node's replicas down), in hours of up time; 0: that kind never fails.
  double gpu_mtbf_h = 0.0;
  double node_mtbf_h = 0.0;
  // Repair (or replacement) times, seconds: a GPU's, a node's.
  DistributionSpec gpu_repair_s;
  DistributionSpec node_repair_s;
  std::vector<InjectedFailure> inject;
  // size --spare k (N + k): the first k replicas (all, in a smaller fleet) down from 0 to spare_down_s, on top of
  // the rest: the fleet must meet its targets without them through the whole arrival window.
  int spare_down = 0;
  double spare_down_s = 0.0;
  // A request retried more than this many times (its replica failed under it each time) is given up: it ends as
  // failed (never served, an SLO miss).
  int max_retries = 3;
};

// What the process says happens: a replica goes down, or comes back up, at t_s.
struct ReplicaTransition {
  double t_s = 0.0;
  int replica = 0;
  bool down = true;
};

// Counts over the process so far.
struct FailureCounts {
  std::int64_t gpu_failures = 0;
  std::int64_t node_failures = 0;
  std::int64_t injected = 0;
  std::int64_t outages = 0;  // replica transitions to down
};

class FailureProcess {
 public:
  // replica_gpus[i]: the GPU indices of replica i (cluster/topology.hpp's layout); GPU g lives on node
  // g / gpus_per_node. Only GPUs that hold a replica fail (a node's unused GPUs serve nothing). Throws
  // std::invalid_argument for a bad spec (an injected replica out of range, a bad repair distribution).
  FailureProcess(const FailureSpec& spec, const std::vector<std::vector<int>>& replica_gpus, int gpus_per_node,
                 std::uint64_t seed);

  // When the next unit fails or is repaired (+infinity: never).
  double next_time() const;
  // Takes every unit event at next_time() and appends the replica transitions they cause (in the order caused; a
  // replica already down that another unit takes down gives none).
  void advance(std::vector<ReplicaTransition>& out);
  bool replica_down(int replica) const { return down_count_[static_cast<std::size_t>(replica)] > 0; }
  const FailureCounts& counts() const { return counts_; }
  int replicas() const { return static_cast<int>(down_count_.size()); }

  // The k-th (0, 1, ...) uniform draw in (0, 1) of unit `unit` for `purpose` (0: time to failure, 1: repair): a pure
  // function of the seed, exposed for tests.
  static double uniform(std::uint64_t seed, std::uint64_t unit, std::uint64_t k, std::uint64_t purpose);

 private:
  struct Unit {
    std::vector<int> replicas;
    double mtbf_s = 0.0;                  // 0: never fails on its own (an injected unit)
    const LengthDistribution* repair = nullptr;
    std::uint64_t draws = 0;              // failures drawn so far (the k of its draws)
    int kind = 0;                         // 0 GPU, 1 node, 2 injected
    double injected_down_s = 0.0;
  };
  struct Event {
    double t;
    std::uint64_t seq;
    std::uint32_t unit;
    bool fail;
    bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
  };
  void schedule_failure(std::uint32_t u, double from_s);
  void push(double t, std::uint32_t u, bool fail);
  std::uint64_t seed_;
  std::vector<Unit> units_;
  std::vector<std::uint64_t> draw_unit_;  // per unit: the number its draws are made from (GPU g: g; node n: 2^32 + n)
  std::vector<int> down_count_;  // per replica: units down that hold it
  std::unique_ptr<LengthDistribution> gpu_repair_, node_repair_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::uint64_t seq_ = 0;
  FailureCounts counts_;
};

// The share of time a replica of `gpus` GPUs is up when its GPUs and its node fail independently (each unit up a
// share mtbf / (mtbf + mttr) of the time; the replica is up when all are): the long-run availability the process
// gives, for a mean repair time of each kind (seconds). 1 without failures.
double replica_availability(const FailureSpec& spec, int gpus, double gpu_mean_repair_s, double node_mean_repair_s);

}  // namespace tf
