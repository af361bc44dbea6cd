// [fleet]: how many replicas, in how many pods.
#include "sim/scenario/loader.hpp"

#include <algorithm>
#include <climits>
#include <cmath>

#include <fmt/format.h>

#include "sim/scenario/limits.hpp"

namespace tf::loader {

namespace {

// The pools' mix from shares: share / weight (weight: a replica's GPUs for gpu_share, its FLOP/s for flops_share), the
// replicas each would have per unit of the fleet, left unnormalised so that split_by_mix splits a total exactly as
// ideal / sum x total (largest remainder, ties to the earlier pool).
std::vector<double> mix_of(const std::vector<double>& shares, const std::vector<double>& weights) {
  std::vector<double> mix(shares.size());
  for (std::size_t i = 0; i < shares.size(); ++i) mix[i] = shares[i] / weights[i];
  return mix;
}

// [[fleet.pool]]: the pools of a mixed fleet (FleetPool). Each entry's layout keys are [hardware]'s, read and checked
// as there, those left out taking [hardware]'s values.
void read_pools(const Section& fleet, Scenario& s) {
  const toml::node* n = fleet.node("pool");
  if (!n->is_array() || n->as_array()->empty())
    fleet.wrong_type("pool", "an array of tables, [[fleet.pool]], each a pool of the fleet");
  const auto& array = *n->as_array();
  const std::vector<std::string> kinds = {"replicas", "gpu_share", "flops_share"};
  std::string kind;
  int index = 0;
  std::vector<double> shares, weights, arrival;
  for (const toml::node& e : array) {
    const std::string key = fmt::format("pool[{}]", index);
    if (!e.is_table()) fleet.fail(key, fmt::format("expected a table (a [[fleet.pool]]), got {}", describe(e)));
    const Section p(fleet.loader(), e.as_table(), fleet.key(key));
    Scenario ps = s;
    read_layout(p, ps, true);
    FleetPool pool;
    const auto name = p.string("name");
    if (!name || name->empty()) p.fail("name", "missing: each pool needs a name (e.g. name = \"h100\")");
    for (const auto& other : s.fleet_pools)
      if (other.name == *name) p.fail("name", fmt::format("two pools are named '{}'; pool names must differ", *name));
    pool.name = *name;
    pool.gpu = ps.gpu;
    pool.dtype = ps.dtype;
    pool.tensor_parallel = ps.tensor_parallel;
    pool.pipeline_parallel = ps.pipeline_parallel;
    pool.expert_parallel = ps.expert_parallel;
    pool.micro_batches = ps.micro_batches;
    pool.gpus_per_node = ps.gpus_per_node;
    std::string mine;
    for (const auto& k : kinds)
      if (p.has(k)) {
        if (!mine.empty())
          p.fail(k, fmt::format("give one of replicas, gpu_share, flops_share, not both {} and {}", mine, k));
        mine = k;
      }
    if (mine.empty())
      p.fail("replicas", "missing: a pool's size is its replicas, or its share of the fleet's GPUs (gpu_share) or of "
                         "its FLOP/s (flops_share), with fleet.replicas the fleet's total");
    if (!kind.empty() && mine != kind)
      p.fail(mine, fmt::format("every pool must be sized the same way: the first gives {}, this one {}", kind, mine));
    kind = mine;
    if (kind == "replicas") {
      pool.replicas = static_cast<int>(p.integer_in("replicas", 1, 1, limits::kMaxReplicas));
    } else {
      shares.push_back(p.number_in(kind, 0.5, Section::Range{0.0, 1.0, false, false}));
      weights.push_back(kind == "gpu_share" ? pool.gpus_per_replica()
                                            : pool.gpus_per_replica() * pool.gpu.peak_flops(pool.dtype));
    }
    if (p.has("arrival_share")) {
      if (static_cast<int>(arrival.size()) != index)
        p.fail("arrival_share", "give arrival_share for every pool or for none (none: by capacity)");
      pool.arrival_share = p.number_in("arrival_share", 0.5, Section::Range{0.0, 1.0, false, false});
      arrival.push_back(pool.arrival_share);
    } else if (!arrival.empty()) {
      p.fail("arrival_share", "missing: give arrival_share for every pool or for none (none: by capacity)");
    }
    s.fleet_pools.push_back(pool);
    ++index;
  }
  auto sums_to_one = [&](const std::vector<double>& v, const std::string& what) {
    double sum = 0.0;
    for (double x : v) sum += x;
    if (std::abs(sum - 1.0) > 1e-6)
      fleet.fail("pool", fmt::format("the pools' {} add up to {}, expected 1", what, num(sum)));
  };
  if (!arrival.empty()) sums_to_one(arrival, "arrival_share");
  if (kind == "replicas") {
    int total = 0;
    for (const auto& p : s.fleet_pools) total += p.replicas;
    if (fleet.has("replicas") && fleet.integer_in("replicas", 1, 1, limits::kMaxReplicasInPods) != total)
      fleet.fail("replicas", fmt::format("expected the pools' replicas added up ({}), or leave fleet.replicas out; got {}",
                                         total, fleet.integer_in("replicas", 1, 1, limits::kMaxReplicasInPods)));
    s.replicas = total;
    for (auto& p : s.fleet_pools) p.mix = static_cast<double>(p.replicas);
  } else {
    sums_to_one(shares, kind);
    if (!fleet.has("replicas"))
      fleet.fail("replicas", fmt::format("missing: with pools sized by {}, fleet.replicas is the fleet's total", kind));
    const int total = static_cast<int>(fleet.integer_in("replicas", 1, 1, limits::kMaxReplicasInPods));
    const std::vector<double> mix = mix_of(shares, weights);
    const std::vector<int> split = split_by_mix(mix, total);
    for (std::size_t i = 0; i < split.size(); ++i) {
      s.fleet_pools[i].mix = mix[i];
      if (split[i] < 1)
        fleet.fail("replicas", fmt::format("{} replicas leave pool '{}' none at its {} of {}; give more replicas",
                                           total, s.fleet_pools[i].name, kind, num(shares[i])));
      s.fleet_pools[i].replicas = split[i];
    }
    s.replicas = total;
  }
  if (s.pods > 1) fleet.fail("pods", "pods of a mixed fleet ([[fleet.pool]]) are not simulated; leave fleet.pods at 1");
  for (const auto& pool : s.fleet_pools) {
    if (pool.replicas > limits::kMaxReplicas)
      fleet.fail("pool", fmt::format("pool '{}' has {} replicas, more than the {} one simulation holds", pool.name,
                                     pool.replicas, limits::kMaxReplicas));
    if (static_cast<std::int64_t>(pool.gpus()) > limits::kMaxGpus)
      fleet.fail("pool", fmt::format("pool '{}' has {} GPUs, more than the {} one simulation holds", pool.name,
                                     pool.gpus(), limits::kMaxGpus));
  }
  // What code that knows of one GPU type reads: the first pool's.
  const FleetPool& first = s.fleet_pools.front();
  s.gpu = first.gpu;
  s.dtype = first.dtype;
  s.tensor_parallel = first.tensor_parallel;
  s.pipeline_parallel = first.pipeline_parallel;
  s.expert_parallel = first.expert_parallel;
  s.micro_batches = first.micro_batches;
  s.gpus_per_node = first.gpus_per_node;
}

}  // namespace

void read_fleet(const Section& top, Scenario& s) {
  const Section fleet = top.table("fleet");
  if (fleet.has("pool")) {
    s.pods = static_cast<int>(fleet.integer_in("pods", 1, 1, limits::kMaxPods));
    if (fleet.has("replicas_per_pod")) fleet.fail("replicas_per_pod", "pods of a mixed fleet are not simulated");
    read_pools(fleet, s);
    return;
  }
  // Bounded (limits.hpp): each replica is a SimGrid actor with a stack of its own, each GPU a host.
  // Pods: fleet.pods, and the replicas in each (fleet.replicas_per_pod) or in all (fleet.replicas).
  const auto pods = fleet.integer_in("pods", 1, 1, limits::kMaxPods);
  s.pods = static_cast<int>(pods);
  if (fleet.has("replicas_per_pod")) {
    const auto per_pod = fleet.integer_in("replicas_per_pod", 1, 1, limits::kMaxReplicas);
    if (per_pod * pods > limits::kMaxReplicasInPods)
      fleet.fail("replicas_per_pod", fmt::format("{} pods of {} replicas are {} replicas, more than the {} a run of pods "
                                                 "simulates", pods, per_pod, per_pod * pods, limits::kMaxReplicasInPods));
    if (fleet.has("replicas") && fleet.integer_in("replicas", 1, 1, limits::kMaxReplicasInPods) != per_pod * pods)
      fleet.fail("replicas", fmt::format("expected fleet.pods x fleet.replicas_per_pod = {} x {} = {} replicas (or "
                                         "leave fleet.replicas out), got {}",
                                         pods, per_pod, per_pod * pods,
                                         fleet.integer_in("replicas", 1, 1, limits::kMaxReplicasInPods)));
    s.replicas = static_cast<int>(per_pod * pods);
  } else if (pods > 1) {
    s.replicas = static_cast<int>(fleet.integer_in("replicas", pods, 1, limits::kMaxReplicasInPods));
    if (s.replicas % s.pods != 0)
      fleet.fail("replicas", fmt::format("expected a multiple of fleet.pods = {} (pods are equal), got {}; or give "
                                         "fleet.replicas_per_pod", s.pods, s.replicas));
  } else {
    s.replicas = static_cast<int>(fleet.integer_in("replicas", 1, 1, limits::kMaxReplicas));
  }
  // One simulation holds one pod.
  const int per_pod = s.replicas / s.pods;
  if (per_pod > limits::kMaxReplicas)
    fleet.fail(s.pods > 1 ? "pods" : "replicas",
               fmt::format("{} replicas per pod are more than the {} one simulation holds; use more pods",
                           per_pod, limits::kMaxReplicas));
  const std::int64_t gpus = static_cast<std::int64_t>(per_pod) * s.gpus_per_replica();
  if (gpus > limits::kMaxGpus)
    fleet.fail("replicas", fmt::format("{} replicas of {} GPUs are {} GPUs, more than the {} one run simulates; use "
                                       "fewer replicas (at most {} with {} GPUs per replica), or more "
                                       "fleet.pods",
                                       per_pod, s.gpus_per_replica(), gpus, limits::kMaxGpus,
                                       limits::kMaxGpus / s.gpus_per_replica(), s.gpus_per_replica()));
}

}  // namespace tf::loader
