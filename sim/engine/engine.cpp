// The SimGrid engine: set-up of one simulation (platform, pools, replicas, actors), the run, and its totals. The
// actors and what they share are in sim/engine/world.hpp; routing and admission in dispatcher.cpp; disaggregated
// serving's KV transfers in kv_transfer.cpp.
#include "sim/engine/engine.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <simgrid/s4u.hpp>
#include <xbt/log.h>

#include "cluster/cost_model.hpp"
#include "cluster/platform/platform.hpp"
#include "cluster/topology.hpp"
#include "sim/engine/preflight.hpp"
#include "sim/engine/world.hpp"
#include "sim/replica/request_row.hpp"
#include "workloads/pod_split.hpp"
#include "workloads/trace.hpp"

namespace tf {

namespace sg4 = simgrid::s4u;
using engine::Pool;
using engine::World;

const std::vector<std::string>& context_factories() {
  // Those Debian 12's SimGrid 3.32 is built with (its error for an unknown one lists them).
  static const std::vector<std::string> names = {"raw", "thread", "ucontext", "boost"};
  return names;
}

namespace {

std::string checked_factory(const std::string& name, const std::string& where) {
  const auto& names = context_factories();
  if (std::find(names.begin(), names.end(), name) != names.end()) return name;
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throw EngineSettingError(fmt::format("{}: expected a SimGrid context factory ({}), got '{}'", where, list, name));
}

}  // namespace

void set_context_factory(const std::string& name) {
  checked_factory(name, "--context-factory");
  setenv(context_factory_env, name.c_str(), 1);
}

std::string context_factory() {
  const char* env = std::getenv(context_factory_env);
  if (env == nullptr || *env == '\0') return "raw";
  return checked_factory(env, context_factory_env);
}

void check_servable(const Scenario& s) {
  if (s.gpu.peak_flops(s.dtype) <= 0.0)
    throw SimulationError(fmt::format("{} has no {} support; choose another hardware.dtype", s.gpu.name,
                                      to_string(s.dtype)));
  const CostModel cost(s.model, s.gpu, s.dtype, s.layout(), s.cost);
  (void)PowerModel(s.gpu);  // throws std::invalid_argument for a power curve out of order
  if (cost.kv_capacity_tokens() <= 0) {
    const double have = s.gpus_per_replica() * s.gpu.hbm_bytes * (1.0 - s.cost.kv_reserve_fraction);
    std::string what = fmt::format(
        "{} in {} needs {:.1f} GB of weights, but a replica of {} x {} has {:.1f} GB of usable HBM ({:.0f} % kept "
        "in reserve), leaving no room for the KV cache",
        s.model.name, to_string(s.dtype), cost.weight_bytes() / 1e9, s.gpus_per_replica(), s.gpu.name, have / 1e9,
        s.cost.kv_reserve_fraction * 100.0);
    if (s.pipeline_parallel > 1 || s.expert_parallel > 1) what += " (" + memory_per_gpu_text(s) + ")";
    // What fits, each checked for this scenario: with room for its longest request, else with any KV cache at all.
    const std::int64_t longest = longest_request_bound(s);
    if (auto r = fit_remedies(s, kv_tokens_needed(s, longest)); !r.empty()) {
      what += fmt::format("; what fits, with a KV cache for the longest request ({} tokens): {}", longest,
                          remedies_text(r));
    } else if (auto any = fit_remedies(s, 1); !any.empty()) {
      what += fmt::format("; what fits, though with a KV cache shorter than the longest request ({} tokens): {}",
                          longest, remedies_text(any));
    } else {
      what += fmt::format("; no tensor parallelism within a node of {} GPUs (hardware.gpus_per_node; it must divide "
                          "it and the model's {} heads), pipeline stages (hardware.pipeline_parallel), number format or "
                          "catalogue GPU with more memory fits it: choose a smaller model",
                          s.gpus_per_node, s.model.heads);
    }
    throw SimulationError(what);
  }
  layout_replicas(s.replicas, s.tensor_parallel, s.pipeline_parallel, s.gpus_per_node);  // throws std::invalid_argument
}

std::string kv_shortfall(const Scenario& s, const Request& r, std::int64_t capacity) {
  // Alone on a replica, a request must fit: its whole reservation, or with a paged cache all its blocks.
  const std::int64_t need = kv_tokens_needed(s, kv_reservation_tokens(r));
  if (need <= capacity) return {};
  std::string what = fmt::format(
      "request {} (arriving at {:.3f} s) needs {} tokens of KV cache (prompt {} + output {}), but a replica of "
      "{} x {} holds only {} tokens for {} in {}",
      r.id, r.arrival_s, kv_reservation_tokens(r), r.prompt_tokens, r.output_tokens, s.gpus_per_replica(), s.gpu.name,
      capacity, s.model.name, to_string(s.dtype));
  // Remedies checked for this scenario: a configuration that holds the longest request the workload can send (or
  // at least this one), or a context window (vLLM's max_model_len) that the cache holds, longer requests then cut or
  // turned away as workload.over_context says (not with "refuse", which would stop the run at them instead).
  std::vector<Remedy> remedies = fit_remedies(s, kv_tokens_needed(s, std::max(longest_request_bound(s),
                                                                              kv_reservation_tokens(r))), 3);
  if (remedies.empty()) remedies = fit_remedies(s, need, 3);
  std::int64_t window = capacity;
  if (s.kv_block_tokens > 0) window = capacity / s.kv_block_tokens * s.kv_block_tokens;
  const WorkloadSpec& w = s.workload;
  auto within = [&](double max) { return max <= static_cast<double>(window) || max == static_cast<double>(w.context_window); };
  const bool lengths_fit = w.trace.enabled ? (w.trace.max_prompt_tokens <= window && w.trace.max_output_tokens <= window)
                                           : (within(w.prompt_tokens.max) && within(w.output_tokens.max) &&
                                              w.prompt_tokens.min + w.output_tokens.min <= static_cast<double>(window));
  if (window >= 2 && window < s.model.context_window && lengths_fit && w.over_context != OverContext::refuse) {
    Remedy shorter;
    shorter.sets.emplace_back("model.context_window", std::to_string(window));
    shorter.effect = fmt::format("serve a context of {} tokens, as vLLM's max_model_len: longer requests are then {}",
                                 window,
                                 w.over_context == OverContext::cut ? "cut to it (workload.over_context = \"cut\")"
                                                                    : "turned away (workload.over_context = \"drop\")");
    remedies.push_back(std::move(shorter));
  }
  if (!remedies.empty()) what += "; " + remedies_text(remedies);
  what += w.trace.enabled ? "; or cap the trace's lengths (workload.trace.max_prompt_tokens, max_output_tokens)"
                          : "; or cap the lengths (workload.prompt_tokens.max, workload.output_tokens.max)";
  return what;
}

RunResult run_simulation(const Scenario& s, const RunOptions& options) {
  try {
    check_servable(s);
  } catch (const std::invalid_argument& e) {
    throw SimulationError(e.what());
  }
  // Set-up of a large fleet takes a while: an interrupt during it stops the run as one during the run does.
  auto check_interrupt = [&options](const char* during) {
    if (options.interrupt_flag && *options.interrupt_flag != 0)
      throw RunInterrupted(fmt::format("stopped while {}, before the simulation started", during));
  };
  check_interrupt("checking the scenario");
  xbt_log_control_set("root.thres:critical");
  // Each actor's stack: kActorStackKiB instead of SimGrid's 8 MiB, which reserved 8 GB of address space per
  // thousand replicas ("Failed to allocate stack" under a memory limit, "Failed to protect stack" past about
  // 30,000 actors). The actors' code (the replica model, the policies, the trace readers, fmt) is shallow: no
  // recursion, no large locals (see kActorStackKiB).
  std::string stack_cfg = fmt::format("--cfg=contexts/stack-size:{}", kActorStackKiB);
  std::string factory = "--cfg=contexts/factory:" + context_factory();
  int argc = 3;
  char name[] = "tokenfleet";
  char* argv[] = {name, stack_cfg.data(), factory.data(), nullptr};
  sg4::Engine engine(&argc, argv);
  if (options.on_engine_started) options.on_engine_started();  // e.g. take SIGINT back from SimGrid
  // Network transfers (disaggregated serving's KV caches) as plain bandwidth and latency: CM02 without TCP's window
  // bound and without the empirical factors of SimGrid's default (LV08) model, so that one transfer alone takes
  // exactly the route's latency plus bytes / its narrowest link, and transfers sharing a link share it fairly.
  sg4::Engine::set_config("network/model:CM02");
  sg4::Engine::set_config("network/latency-factor:1");
  sg4::Engine::set_config("network/bandwidth-factor:1");
  sg4::Engine::set_config("network/TCP-gamma:1e30");
  sg4::Engine::set_config("network/crosstraffic:0");

  // [autoscaler]: the platform holds max_replicas replicas; those beyond initial_replicas start off.
  const int fleet_size = s.autoscaler.enabled ? s.autoscaler.max_replicas : s.replicas;
  TopologySpec topo_spec;
  topo_spec.gpus_per_node = s.gpus_per_node;
  topo_spec.gpus = fleet_size * s.gpus_per_replica();
  // Whole nodes: a replica never spans two nodes unless its pipeline stages take whole nodes each.
  const int g = s.gpus_per_replica();
  const int nodes = g <= s.gpus_per_node ? (fleet_size + s.gpus_per_node / g - 1) / (s.gpus_per_node / g)
                                         : fleet_size * (g / s.gpus_per_node);
  topo_spec.gpus = nodes * s.gpus_per_node;
  topo_spec.nvlink_Bps = s.gpu.nvlink_Bps;
  topo_spec.network_Bps = s.network_Bps;
  topo_spec.network_latency_s = s.network_latency_s;
  check_interrupt("setting up the engine");
  const Topology topo = build_topology(topo_spec);
  check_interrupt("building the topology");
  const PlatformHandles platform =
      build_platform(engine, topo, s.gpu, [&check_interrupt] { check_interrupt("building the platform"); });
  check_interrupt("building the platform");
  const auto layout = layout_replicas(fleet_size, s.tensor_parallel, s.pipeline_parallel, s.gpus_per_node);

  World w(s, options);
  RecordVector kept;  // without a sink of the caller's
  w.sink = options.record_sink ? options.record_sink : &kept;
  w.batching = make_batching_policy(s.batching, s.policy_params);
  if (!w.batching) throw SimulationError("unknown batching policy '" + s.batching + "'");
  if (const std::string why = policy_conflict(s); !why.empty()) throw SimulationError(why);
  {
    PolicyParams bounds = s.policy_params;
    bounds.set("max_queued", s.max_queued).set("max_queued_per_replica", s.max_queued_per_replica);
    w.admission = make_policy<AdmissionPolicy>(s.admission, bounds);
    if (!w.admission) throw SimulationError("unknown admission policy '" + s.admission + "'");
  }
  w.order = make_queue_order(s.queue_order);
  if (!w.order) throw SimulationError("unknown queue order '" + s.queue_order + "'");
  const std::shared_ptr<const KvCachePolicy> kv_cache =
      make_kv_cache_policy(s.kv_block_tokens, s.kv_watermark, s.kv_block_tokens > 0 && s.swap_preemption);
  const bool disaggregated = w.batching->disaggregates();
  const int prefill_replicas = disaggregated ? prefill_pool_size(s) : fleet_size;
  if (disaggregated && prefill_replicas <= 0)
    throw SimulationError(fmt::format("disaggregated serving needs at least 2 replicas (one prefill, one decode), "
                                      "not {}", s.replicas));
  w.pools.resize(disaggregated ? 2 : 1);  // never resized again: replicas point to their pool
  // The decode pool's router draws from its own stream, so that the prefill pool's draws stay as they are.
  Pool& arrivals = w.arrivals();
  arrivals.role = disaggregated ? Pool::Role::prefill : Pool::Role::serve;
  arrivals.router = make_router(s.router, s.policy_params, s.seed);
  if (!arrivals.router) throw SimulationError("unknown router '" + s.router + "'");
  if (disaggregated) {
    Pool& decode = w.decode_pool();
    decode.role = Pool::Role::decode;
    decode.router = make_router(decode_router_of(s), s.policy_params, s.seed + 0x9e3779b97f4a7c15ULL);
    if (!decode.router || decode.router->central_queue())
      throw SimulationError("disaggregated serving needs a decode router that picks a replica, not '" +
                            decode_router_of(s) + "'");
    w.kv.enable(prefill_replicas, s.model.kv_bytes_per_token(s.dtype));
  }
  if (s.pods > 1 && s.pod_index < 0)
    throw SimulationError("internal error: a fleet of pods is simulated pod by pod (sim/study/pods.hpp)");
  if (s.mixed())
    throw SimulationError("a mixed fleet ([[fleet.pool]]) is simulated by tokenfleet run, size and estimate --simulate; "
                          "this command does not take one yet: give one GPU type ([hardware], no [[fleet.pool]])");
  try {
    w.source = make_pod_source(make_workload_source(s.workload, s.seed, s.duration_s), s.seed, s.pods, s.pod_index,
                               s.share, s.split_lo, s.split_hi);
  } catch (const std::exception& e) {
    throw WorkloadInputError(e.what());
  }
  w.closed_loop = w.source->closed_loop();
  w.replicas.resize(static_cast<std::size_t>(fleet_size));
  w.timers.resize(static_cast<std::size_t>(fleet_size) + 1);
  for (int i = 0; i < fleet_size; ++i) {
    if (i % 1024 == 0) check_interrupt("setting up the replicas");
    auto& slot = w.replicas[static_cast<std::size_t>(i)];
    slot.index = i;
    slot.pool = i < prefill_replicas ? &w.arrivals() : &w.decode_pool();  // without disaggregation: all arrivals
    slot.pool->members.push_back(i);
    slot.model = std::make_unique<ReplicaModel>(i, w.cost, *w.batching, s.warmup_s, s.duration_s);
    slot.model->use_kv_cache(kv_cache);
    if (s.prefix_cache) slot.model->use_prefix_cache(PrefixIds{s.kv_block_tokens, s.workload.system_prompt_tokens, 512});
    slot.model->use_power_model(&w.power, s.gpus_per_replica());
    for (int g : layout[static_cast<std::size_t>(i)]) slot.gpus.push_back(platform.gpus[static_cast<std::size_t>(g)]);
    if (options.timeseries_window_s > 0.0)
      slot.model->set_step_observer([&w](const StepActivity& a) { w.activity.add(a); });
  }
  if (options.timeseries_window_s > 0.0) w.activity = ActivityBins(options.timeseries_window_s);
  // [failures]: the failure process over the replicas' GPUs and nodes (policies/failures.hpp); its next event is one
  // more timer of the heap. Made before the autoscaler, whose timer owner comes after it (World::autoscaler_owner).
  // With [autoscaler], the process runs over all max_replicas replicas, off ones included (sim/engine/event_loop.cpp,
  // replica_down).
  if (s.failures.enabled) {
    if (disaggregated)
      throw SimulationError("[failures] with disaggregated serving is not simulated (KV caches held for or moving to "
                            "a failed replica); use co-located batching, or leave [failures] out");
    try {
      w.failures = std::make_unique<FailureProcess>(s.failures, layout, s.gpus_per_node,
                                                    s.seed + static_cast<std::uint64_t>(std::max(0, s.pod_index)));
    } catch (const std::invalid_argument& e) {
      throw SimulationError(e.what());
    }
    w.timers.resize(static_cast<std::size_t>(w.failures_owner()) + 2);  // owners are who + 1
  }
  if (s.autoscaler.enabled) {
    const AutoscalerSpec& a = s.autoscaler;
    try {
      w.autoscaler = make_autoscaler(a.policy, a.params);
    } catch (const std::invalid_argument& e) {
      throw SimulationError(fmt::format("autoscaler.policy: {}: {}", a.policy, e.what()));
    }
    if (!w.autoscaler) throw SimulationError("unknown autoscaler policy '" + a.policy + "'");
    if (disaggregated) throw SimulationError("[autoscaler] with disaggregated serving is not simulated");
    w.scaler = std::make_unique<AutoscalerController>(a.min_replicas, a.max_replicas, a.scale_down_delay_s);
    w.cold_start = cold_start_s(a, w.cost.weight_bytes());  // the whole replica's weights, read once
    // What the workload is expected to send (the predictive policy reads it ahead): its daily curve, else its
    // constant rate; a trace has neither.
    const ArrivalSpec& arr = s.workload.arrival;
    if (!s.workload.trace.enabled && !w.closed_loop) {
      if (arr.curve.kind != "none") {
        RateCurveSpec c = arr.curve;
        c.mean_rate_per_s = arr.rate_per_s;
        w.expected_curve = make_rate_curve(c);
      } else {
        w.expected_rate = arr.rate_per_s;
      }
    }
    if (w.autoscaler->predictive() && !w.expected_curve && !(w.expected_rate > 0.0))
      throw SimulationError(fmt::format("autoscaler.policy = \"{}\" reads the workload's expected rate ahead, which "
                                        "a trace or sessions do not give; choose target-load or queue-length",
                                        a.policy));
    w.power_count[0] = fleet_size;
    for (int i = a.initial_replicas; i < fleet_size; ++i) {
      auto& slot = w.replicas[static_cast<std::size_t>(i)];
      slot.power = engine::ReplicaPower::off;
      slot.phase = engine::ReplicaSlot::Phase::off;
      --w.power_count[0];
      ++w.power_count[3];
    }
    w.arrivals().members.resize(static_cast<std::size_t>(a.initial_replicas));
    w.peak_replicas = a.initial_replicas;
    w.timers.resize(static_cast<std::size_t>(w.autoscaler_owner()) + 2);  // owners are who + 1
  }
  // One actor runs the whole fleet (sim/engine/event_loop.cpp).
  sg4::Actor::create("fleet", platform.gpus.front(), engine::EventLoop(w));
  spdlog::debug("engine: {} replica(s) of {} x {} on {} node(s) ({} GPU hosts); pools: {}; batching {}, queue order {}, "
                "KV cache {} ({} tokens per replica), admission {}; {} requests arrive in [0, {} s)",
                s.replicas, s.gpus_per_replica(), s.gpu.name, nodes, platform.gpus.size(),
                disaggregated ? fmt::format("{} prefill ({}) + {} decode ({})", prefill_replicas, s.router,
                                            s.replicas - prefill_replicas, decode_router_of(s))
                              : fmt::format("one of {} ({})", s.replicas, s.router),
                w.batching->name(), w.order->name(), kv_cache->name(), w.cost.kv_capacity_tokens(),
                w.admission->name(), w.closed_loop ? "closed-loop" : "open-loop", s.duration_s);
  engine.run();
  spdlog::debug("engine: ended at {:.6f} s of simulated time: {} requests arrived, {} finished{}{}", w.now,
                w.arrived_count, w.finished_count, w.disaggregated() ? fmt::format(", {} KV transfers", w.kv.transfers()) : "",
                w.error.empty() ? "" : "; stopped: " + w.error);

  if (w.interrupted) throw RunInterrupted(w.error);

  if (!w.error.empty()) {
    if (w.input_error) throw WorkloadInputError(w.error);
    throw SimulationError(w.error);
  }

  RunResult result;
  result.records = std::move(kept.records);
  result.arrived = w.arrived_count;
  RunTotals& t = result.totals;
  t.replicas = fleet_size;
  t.gpus = fleet_size * s.gpus_per_replica();
  t.peak_flops_per_gpu = s.gpu.peak_flops(s.dtype);
  t.window_s = s.duration_s - s.warmup_s;
  for (const auto& slot : w.replicas) {
    const auto& wt = slot.model->window_totals();
    t.busy_replica_s += wt.busy_s;
    t.flops += wt.flops;
    t.iterations += wt.iterations;
    t.batched_requests += wt.batched_requests;
    t.served_prompt_tokens += wt.prompt_tokens;
    t.served_output_tokens += wt.output_tokens;
    t.preemptions += slot.model->preemptions();
    t.recomputed_tokens += slot.model->recomputed_tokens();
    t.swapped_out_tokens += slot.model->swapped_out_tokens();
    t.swapped_in_tokens += slot.model->swapped_in_tokens();
    t.swap_s += slot.model->swap_s();
    const ReplicaModel::PrefixTotals& pt = slot.model->prefix_totals();
    t.prefix_lookup_blocks += pt.lookup_blocks;
    t.prefix_hit_blocks += pt.hit_blocks;
    t.prefix_prompt_tokens += pt.prompt_tokens;
    t.prefix_hit_tokens += pt.hit_tokens;
    t.prefix_saved_tokens += pt.saved_tokens;
  }
  t.prefix_cache = s.prefix_cache;
  t.kv_transfers = w.kv.transfers();
  t.kv_transfer_bytes = w.kv.bytes();
  t.completed_in_window = w.completed_in_window;
  t.simulated_s = w.now;
  // Energy from the replicas' steps, exactly: every GPU draws idle power all along, and a step's GPUs its power
  // instead while it runs (cluster/power.hpp). The whole run ends at the last event; the window is
  // [warmup_s, duration_s] (the replica models split a step that straddles an edge).
  double above_idle_window = 0.0, above_idle_total = 0.0;
  for (const auto& slot : w.replicas) {
    above_idle_window += slot.model->window_totals().energy_above_idle_j;
    above_idle_total += slot.model->energy_above_idle_j();
  }
  t.energy_window_j = w.power.idle_w() * t.gpus * t.window_s + above_idle_window;
  t.energy_total_j = w.power.idle_w() * t.gpus * t.simulated_s + above_idle_total;
  t.skipped_bad_rows = w.source->skipped_bad_rows();
  t.clamped_rows = w.source->clamped_rows();
  t.questions_cut = w.source->questions_cut();
  // Counted as they arrive here (a pod's own requests: the pods' counts add up to the fleet's).
  t.over_context_cut = w.over_context_cut;
  t.over_context_dropped = w.over_context_dropped;
  t.last_arrival_s = w.last_arrival_s;
  if (w.failures) {
    // Replicas still down at the end: down until then.
    for (const auto& slot : w.replicas)
      if (slot.down) {
        const double lo = std::max(slot.down_since_s, s.warmup_s), hi = std::min(w.now, s.duration_s);
        if (hi > lo) w.down_window_s += hi - lo;
        w.down_total_s += w.now - slot.down_since_s;
      }
    const FailureCounts& c = w.failures->counts();
    t.failures_enabled = true;
    t.gpu_failures = c.gpu_failures;
    t.node_failures = c.node_failures;
    t.injected_failures = c.injected;
    t.replica_outages = c.outages;
    t.replica_down_window_s = w.down_window_s;
    t.replica_down_total_s = w.down_total_s;
    const double replica_s = static_cast<double>(t.replicas) * t.window_s;
    t.replica_availability = replica_s > 0.0 ? 1.0 - w.down_window_s / replica_s : 1.0;
    t.retried_requests = w.retried_requests;
    t.retries = w.retries;
    t.failed_requests = w.failed_requests;
    t.requeued_requests = w.requeued_requests;
    t.lost_kv_tokens = w.lost_kv_tokens;
  }
  if (w.autoscaler) {
    // Replicas' time in the state they end in, to the end of the run.
    const std::size_t events = w.scaling_events.size();
    for (auto& slot : w.replicas) w.set_power(slot, engine::ReplicaPower::off);
    w.scaling_events.resize(events);  // (that closing is no event)
    t.autoscaler_enabled = true;
    t.serving_replica_s = w.power_window_s[0];
    t.starting_replica_s = w.power_window_s[1];
    t.draining_replica_s = w.power_window_s[2];
    const double on_window = t.serving_replica_s + t.starting_replica_s + t.draining_replica_s;
    double on_total = 0.0;
    for (int k = 0; k < 3; ++k) on_total += w.power_total_s[k];
    t.gpu_hours = on_window * s.gpus_per_replica() / 3600.0;
    t.cold_start_s = w.cold_start;
    t.scale_ups = w.scale_ups;
    t.scale_downs = w.scale_downs;
    t.peak_replicas = w.peak_replicas;
    // Energy: idle power only while a replica is on (an off replica draws nothing).
    t.energy_window_j = w.power.idle_w() * s.gpus_per_replica() * on_window + above_idle_window;
    t.energy_total_j = w.power.idle_w() * s.gpus_per_replica() * on_total + above_idle_total;
    result.scaling = std::move(w.scaling_events);
  }
  result.activity = std::move(w.activity);
  return result;
}

}  // namespace tf

