#include "sim/study/fleet_facts.hpp"

#include <algorithm>
#include <cmath>

#include "cluster/cost_model.hpp"
#include "policies/batching.hpp"
#include "sim/replica/replica_model.hpp"
#include "sim/study/pods.hpp"

namespace tf {

FleetFacts fleet_facts(const Scenario& s, const std::vector<RequestRecord>& records) {
  double prompt = 0, output = 0;
  for (const auto& r : records) {
    prompt += static_cast<double>(r.prompt_tokens);
    output += static_cast<double>(r.output_tokens);
  }
  return fleet_facts(s, records.size(), prompt, output);
}

FleetFacts fleet_facts(const Scenario& s, std::size_t requests, double prompt, double output) {
  if (s.mixed()) {
    // A mixed fleet: the pools' facts added, counted per GPU (gpus_per_replica 1, so that replicas x KV per
    // "replica" and x idle power are the fleet's); busy fractions then read per GPU.
    FleetFacts f;
    double gpus = 0, kv = 0, idle = 0;
    for (int i = 0; i < static_cast<int>(s.fleet_pools.size()); ++i) {
      const FleetFacts p = fleet_facts(pool_scenario(s, i), requests, prompt, output);
      const double g = static_cast<double>(p.replicas) * p.gpus_per_replica;
      gpus += g;
      kv += p.kv_capacity_tokens_per_replica * p.replicas;
      idle += p.idle_watts_per_gpu * g;
      f.capacity_tokens_per_s += p.capacity_tokens_per_s;
    }
    f.replicas = static_cast<int>(gpus);
    f.gpus_per_replica = 1;
    f.kv_capacity_tokens_per_replica = gpus > 0 ? kv / gpus : 0.0;
    f.idle_watts_per_gpu = gpus > 0 ? idle / gpus : 0.0;
    f.slo = s.slo;
    return f;
  }
  const CostModel cost(s.model, s.gpu, s.dtype, s.layout(), s.cost);
  FleetFacts f;
  f.replicas = s.replicas;
  f.gpus_per_replica = s.gpus_per_replica();
  f.kv_capacity_tokens_per_replica = static_cast<double>(cost.kv_capacity_tokens());
  f.idle_watts_per_gpu = s.gpu.idle_watts;
  f.slo = s.slo;
  // Capacity: one saturated replica at the run's mean lengths, times the replicas (prompt + output tokens/s).
  if (requests > 0 && output > 0) {
    const auto n = static_cast<double>(requests);
    const auto p = std::max<std::int64_t>(1, std::llround(prompt / n));
    const auto o = std::max<std::int64_t>(1, std::llround(output / n));
    const auto policy = make_batching_policy(s.batching, s.policy_params);
    if (policy) {
      const double out_per_s = saturated_capacity(cost, *policy, static_cast<double>(p), static_cast<double>(o),
                                                  s.limits.max_batch);
      f.capacity_tokens_per_s = out_per_s * static_cast<double>(p + o) / static_cast<double>(o) * s.replicas;
    }
  }
  return f;
}
}  // namespace tf
