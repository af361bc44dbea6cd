#pragma once
// A scenario: everything one simulation needs, loaded from TOML and validated.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cluster/catalog.hpp"
#include "cluster/cost_model.hpp"
#include "policies/autoscaler.hpp"
#include "policies/batching.hpp"
#include "policies/failures.hpp"
#include "results/records.hpp"
#include "workloads/generator.hpp"

namespace tf {

// [[fleet.pool]]: one pool of a mixed fleet, replicas of one GPU type and layout (the hardware.* keys, given per pool,
// default hardware's). Each pool is simulated on its own (sim/study/pods.hpp): the balancer in front splits arrivals
// over the pools by a seeded random split weighted by capacity (each pool's share of the fleet's saturated capacity
// at the workload's mean lengths, or the pool's arrival_share when given), and each pool's own router spreads them
// over its replicas.
struct FleetPool {
  std::string name;
  GpuSpec gpu;
  Dtype dtype = Dtype::fp16;
  int tensor_parallel = 1, pipeline_parallel = 1, expert_parallel = 1, micro_batches = 0, gpus_per_node = 8;
  int replicas = 1;
  double arrival_share = 0.0;  // given (0 < share < 1), else 0: by capacity (pool_arrival_shares)
  // The pool's weight in the fleet's replicas before rounding (the mix; only the ratios between pools count): its
  // gpu_share or flops_share over a replica's GPUs or FLOP/s, or its replicas. set_fleet_replicas() splits a new total
  // by it; mix_share() is the pool's share of the replicas.
  double mix = 0.0;
  int gpus_per_replica() const { return tensor_parallel * pipeline_parallel; }
  std::int64_t gpus() const { return static_cast<std::int64_t>(replicas) * gpus_per_replica(); }
};

struct Scenario {
  std::string name = "default";
  std::uint64_t seed = 1;
  double duration_s = 600.0;   // requests arrive in [0, duration_s); the run then drains
  double warmup_s = 60.0;      // requests arriving before this are left out of the statistics (absolute: with the
                               // key start_s, workload.start_s + the key warmup_s)
  bool duration_from_trace = false;  // duration_s was left out and is the replayed trace's span

  ModelSpec model;
  GpuSpec gpu;
  Dtype dtype = Dtype::fp16;
  int tensor_parallel = 1;
  // Pipeline stages (hardware.pipeline_parallel), expert parallelism (hardware.expert_parallel, dividing
  // tensor_parallel) and micro-batches per iteration (hardware.micro_batches; 0: pipeline_parallel). See Layout.
  int pipeline_parallel = 1;
  int expert_parallel = 1;
  int micro_batches = 0;
  int gpus_per_node = 8;
  double network_Bps = 50e9;       // per node, to the core switch
  double network_latency_s = 5e-6;
  // The GPUs one replica takes: tensor_parallel x pipeline_parallel. Every count of GPUs goes through this.
  int gpus_per_replica() const { return tensor_parallel * pipeline_parallel; }
  // [[fleet.pool]]: a mixed fleet (empty: one pool, of hardware.*). `replicas` is then the pools' sum, and gpu,
  // dtype and the layout above are the first pool's (what code that knows of one GPU type reads); count GPUs with
  // fleet_gpus(). pool_index: which pool a simulation runs (set on each pool's own scenario, pool_scenario), -1 for
  // the whole fleet; split_lo, split_hi: the pool's range [lo, hi) of the balancer's split (workloads/pod_split.hpp).
  std::vector<FleetPool> fleet_pools;
  int pool_index = -1;
  double split_lo = 0.0, split_hi = 1.0;
  bool mixed() const { return !fleet_pools.empty() && pool_index < 0; }
  // The fleet's GPUs: replicas x gpus_per_replica(), or with pools the sum of theirs.
  std::int64_t fleet_gpus() const {
    if (!mixed()) return static_cast<std::int64_t>(replicas) * gpus_per_replica();
    std::int64_t g = 0;
    for (const auto& p : fleet_pools) g += p.gpus();
    return g;
  }
  // The replica's layout for the cost model.
  Layout layout() const {
    Layout l;
    l.tensor_parallel = tensor_parallel;
    l.pipeline_parallel = pipeline_parallel;
    l.expert_parallel = expert_parallel;
    l.micro_batches = micro_batches;
    l.gpus_per_node = gpus_per_node;
    l.network_Bps = network_Bps;
    l.network_latency_s = network_latency_s;
    return l;
  }

  int replicas = 1;
  // Pods ([fleet] pods, or replicas_per_pod): the fleet runs as `pods` independent pods of replicas / pods replicas,
  // arrivals split over them by a seeded random split (workloads/pod_split.hpp), each pod simulated on its own and
  // the results merged (sim/study/pods.hpp). 1: one fleet, as without the key. pod_index: which pod a simulation runs
  // (set on each pod's own scenario, whose `replicas` is then the pod's); -1 for the whole fleet.
  int pods = 1;
  int pod_index = -1;
  // The share (0, 1] of the arrivals this simulation serves: those in_share (workloads/pod_split.hpp), the requests
  // a pod would get of a split; set by `size --scale-check` (no scenario key). 1: all of them (or the pod's).
  double share = 1.0;
  WorkloadSpec workload;

  // The policies (policies/registry.hpp): the batching policy and the router by name, and the [policy] parameters
  // given, checked against the schemas of the policies that take them. Build them with
  // make_batching_policy(batching, policy_params) and make_router(router, policy_params, seed): parameters left out
  // take the policy's defaults. `limits` is the same batching parameters as a struct (given, else the defaults), for
  // code that reads max_batch and the like directly.
  std::string batching = "continuous";
  BatchLimits limits;
  std::string router = "round-robin";
  // The order in which waiting requests are offered to the batching policy (policies/queue_order.hpp).
  std::string queue_order = "fifo";
  // Admission control (policies/admission.hpp), with the bounds below as its parameters.
  std::string admission = "queue-bound";
  PolicyParams policy_params;
  // Admission: requests beyond these many waiting (per replica, or in all, central queue included) are
  // rejected, counted and reported; 0: no bound.
  std::int64_t max_queued_per_replica = 0;
  std::int64_t max_queued = 0;
  // KV cache: 0 reserves each request's whole answer at admission; > 0: a paged cache of blocks of this many
  // tokens, with preemption when the blocks run out.
  std::int64_t kv_block_tokens = 0;
  // Disaggregated serving (batching = "disaggregated"): the share of the replicas that prefill (the first ones,
  // so the first nodes), and the router that picks a decode replica when a prefill ends. prefill_share is
  // prefill_replicas / fleet.replicas as loaded, so that a fleet of another size (tokenfleet size) keeps the
  // proportion (0: the default share); see prefill_pool_size. decode_router: as given (empty: see decode_router_of).
  double prefill_share = 0.0;
  std::string decode_router;
  // Paged cache: a running request preempted while decoding has its KV copied to host memory over PCIe and back
  // when it runs again (swap), instead of thrown away and computed again (recompute, the default).
  bool swap_preemption = false;
  // Paged cache: the fraction of its blocks that admission leaves free (vLLM's watermark).
  double kv_watermark = 0.01;
  // Paged cache: prefix caching (policy.prefix_cache; policies/prefix_cache.hpp): prompts skip the prefill of their
  // longest prefix found in the replica's cache of earlier prompts' KV blocks.
  bool prefix_cache = false;

  SloTargets slo;
  CostParams cost;
  // [failures]: GPUs and nodes fail and are repaired, requests on a failed replica are retried elsewhere
  // (policies/failures.hpp); off (enabled = false) without the table.
  FailureSpec failures;
  // [autoscaler]: replicas added and removed while the run goes (policies/autoscaler.hpp); off (enabled = false)
  // without the table. With it the platform holds max_replicas replicas, those beyond the fleet's size off.
  AutoscalerSpec autoscaler;
  std::string cost_profile_path;  // [cost] profile, resolved; empty when none

  std::string source;  // file the scenario came from ("<built-in default>" otherwise)
  // Remarks about the file that are not errors, as "file:line: key: what": a [policy] parameter that the chosen
  // policies do not take (kept, and checked, for a switch to a policy that does: compare --policies, --set).
  std::vector<std::string> notes;
};

// [failures] with every key at its default (sim/scenario/failures.cpp; the sources in scenarios/README.md).
FailureSpec default_failure_spec();

// Disaggregated serving: how many of the scenario's replicas prefill (at least 1, leaving at least 1 to decode);
// 0 when the scenario does not disaggregate or has fewer than 2 replicas.
int prefill_pool_size(const Scenario& s);
// A mixed fleet's pool's share of the replicas before rounding: its mix over the pools'.
double mix_share(const Scenario& s, std::size_t pool);
// `total` replicas split in proportion to `mix` (non-negative, not all 0) by largest remainder, ties to the earlier.
std::vector<int> split_by_mix(const std::vector<double>& mix, int total);
// The fleet at `replicas` replicas: one GPU type, replicas = n; a mixed fleet, its pools at that total in the same mix
// (split_by_mix of the pools' mix, every pool keeping at least one replica: the pool with the most gives one up).
// Throws std::invalid_argument when a mixed fleet is given fewer replicas than it has pools.
void set_fleet_replicas(Scenario& s, int replicas);
// The fleet's GPUs at `replicas` replicas (set_fleet_replicas), and its peak FLOP/s per GPU in its dtypes (a mixed
// fleet: the mean over its GPUs, so that GPUs x peak is the fleet's peak).
std::int64_t fleet_gpus_at(const Scenario& s, int replicas);
double fleet_peak_flops_per_gpu(const Scenario& s);
// Without policy.prefill_replicas: a quarter of the replicas (rounded, at least 1 and leaving 1 to decode).
int default_prefill_replicas(int replicas);
// The router that picks decode replicas: policy.decode_router, else policy.router, except that a central queue
// (which cannot say where a KV cache goes before there is room) gives least-tokens.
std::string decode_router_of(const Scenario& s);
// Why the scenario's policies cannot work together (empty when they can): checked when a scenario loads, and again
// by the engine, since compare and size change policies after loading.
std::string policy_conflict(const Scenario& s);

// An error in a scenario: file, line (0 when unknown), key, and what was expected.
class ScenarioError : public std::runtime_error {
 public:
  ScenarioError(std::string file, int line, std::string key, const std::string& what);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  const std::string& key() const { return key_; }

 private:
  std::string file_;
  int line_;
  std::string key_;
};

// The built-in default scenario as TOML text (also shipped as scenarios/default.toml).
const std::string& default_scenario_toml();

// Loads and validates a scenario. `overrides` are "dotted.key=value" strings (from --set) applied on
// top of the file; values are parsed as TOML values (numbers, booleans, strings with or without
// quotes, inline tables). Unknown keys, wrong types and out-of-range values throw ScenarioError.
Scenario load_scenario_file(const std::string& path, const std::vector<std::string>& overrides = {});
Scenario load_scenario_text(const std::string& toml_text, const std::string& source_name,
                            const std::vector<std::string>& overrides = {});

}  // namespace tf
