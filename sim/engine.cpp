#include "sim/engine.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <simgrid/plugins/energy.h>
#include <simgrid/s4u.hpp>
#include <xbt/log.h>

#include "cluster/cost_model.hpp"
#include "cluster/platform.hpp"
#include "cluster/topology.hpp"
#include "policies/router.hpp"
#include "sim/replica_model.hpp"
#include "workloads/source.hpp"

namespace sg4 = simgrid::s4u;

namespace tf {

namespace {

CostModel make_cost_model(const Scenario& s) {
  return CostModel(s.model, s.gpu, s.dtype, s.tensor_parallel, s.cost);
}

struct ReplicaSlot {
  std::unique_ptr<ReplicaModel> model;
  std::deque<Request> waiting;               // unused with a central queue
  sg4::ConditionVariablePtr wake;
  std::vector<sg4::Host*> gpus;
  std::vector<sg4::ExecPtr> execs;           // one per GPU while the replica is busy (energy plugin)
  bool idle = true;                          // waiting for work with nothing running
  std::int64_t waiting_tokens = 0;           // prompt + output tokens of `waiting`
  bool exited = false;                       // its actor has ended (the run is draining)
};

struct World {
  const Scenario& scenario;
  RunOptions options;
  CostModel cost;
  std::unique_ptr<BatchingPolicy> policy;
  std::unique_ptr<Router> router;
  std::vector<ReplicaSlot> replicas;
  std::deque<Request> central;
  sg4::MutexPtr mutex;
  bool source_done = false;
  std::string error;
  bool input_error = false;                  // error is about the workload's input (a bad trace row)
  std::unique_ptr<WorkloadSource> source;    // the requests, in arrival order
  bool closed_loop = false;                  // the source wants completions (sessions)
  sg4::ConditionVariablePtr source_wake;     // closed loop: an answer finished
  std::vector<RequestRecord> records;
  std::size_t waiting_total = 0;             // requests waiting in all replica queues and the central queue
  double energy_at_warmup_j = 0.0, energy_at_end_j = 0.0;
  std::size_t finished_count = 0;            // requests finished so far (progress)
  bool interrupted = false;                  // stopped through RunOptions::interrupt_flag
  ActivityBins activity;                     // the replicas' steps per window (time series)

  World(const Scenario& s, RunOptions o) : scenario(s), options(o), cost(make_cost_model(s)) {}

  std::vector<ReplicaLoad> loads;

  std::deque<Request>& queue_of(ReplicaSlot& slot) { return router->central_queue() ? central : slot.waiting; }

  std::vector<ReplicaLoad>& replica_loads(double now) {
    loads.resize(replicas.size());
    const bool central_queue = router->central_queue();
    for (std::size_t i = 0; i < replicas.size(); ++i) {
      const auto& slot = replicas[i];
      loads[i].running_requests = slot.model->running_requests();
      loads[i].waiting_requests = central_queue ? 0 : slot.waiting.size();
      loads[i].idle = slot.idle && !slot.exited;
      loads[i].outstanding_tokens = slot.model->outstanding_tokens_at(now) + slot.waiting_tokens;
      loads[i].kv_used_fraction = static_cast<double>(slot.model->kv_reserved_tokens_at(now)) /
                                  static_cast<double>(std::max<std::int64_t>(1, slot.model->kv_capacity_tokens()));
      loads[i].has_room = false;
      loads[i].next_boundary_s = 0.0;
      if (central_queue && !slot.idle && !slot.exited) {
        loads[i].has_room = slot.model->could_admit(central, now);
        loads[i].next_boundary_s = loads[i].has_room ? slot.model->next_boundary_after(now) : 0.0;
      }
    }
    return loads;
  }

  // With a central queue: wake the replica that can take the head first (see CentralQueueRouter).
  void wake_for_central_head() {
    if (central.empty()) return;
    const int target = router->route(central.front(), replica_loads(sg4::Engine::get_clock()));
    if (target < 0 || target >= static_cast<int>(replicas.size())) return;  // no room: the next completion takes it
    ReplicaSlot& slot = replicas[static_cast<std::size_t>(target)];
    slot.idle = false;  // claimed: another arrival at the same instant goes elsewhere
    slot.wake->notify_one();
  }

  // Admission control: turned away, counted, an SLO miss.
  void reject(const Request& r, int replica) {
    RequestRecord& rec = records[r.id];
    rec.rejected = true;
    rec.replica = replica;
  }

  // An arriving request: to the router's replica, or into the central queue, unless admission control
  // turns it away.
  void route(const Request& r) {
    const bool global_full = scenario.max_queued > 0 && waiting_total >= static_cast<std::size_t>(scenario.max_queued);
    if (router->central_queue()) {
      // A per-replica bound on a central queue bounds it at that many per replica.
      const bool central_full =
          scenario.max_queued_per_replica > 0 &&
          central.size() >= static_cast<std::size_t>(scenario.max_queued_per_replica) * replicas.size();
      if (global_full || central_full) return reject(r, -1);
      central.push_back(r);
      ++waiting_total;
      wake_for_central_head();
      return;
    }
    if (!router->uses_loads()) loads.resize(replicas.size());  // sized, not filled: the router ignores them
    int target = router->route(r, router->uses_loads() ? replica_loads(sg4::Engine::get_clock()) : loads);
    if (target < 0 || target >= static_cast<int>(replicas.size())) target = 0;
    ReplicaSlot& slot = replicas[static_cast<std::size_t>(target)];
    if (global_full || (scenario.max_queued_per_replica > 0 &&
                        slot.waiting.size() >= static_cast<std::size_t>(scenario.max_queued_per_replica)))
      return reject(r, target);
    slot.waiting.push_back(r);
    slot.waiting_tokens += r.prompt_tokens + r.output_tokens;
    ++waiting_total;
    slot.idle = false;
    slot.wake->notify_one();
  }

  void stop_all() {
    for (auto& r : replicas) r.wake->notify_all();
  }

  double gpu_energy_j() const {
    double total = 0.0;
    for (const auto& r : replicas)
      for (auto* h : r.gpus) total += sg_host_get_consumed_energy(h);
    return total;
  }
};

// A replica's GPUs execute while it has a batch running and idle otherwise, so that SimGrid's host energy
// plugin integrates busy power over busy time and idle power over idle time. One open-ended execution per
// GPU and busy period (cancelled when the replica falls idle) costs far less than one per step.
constexpr double kOpenEndedFlops = 1e30;

void set_gpus_busy(ReplicaSlot& slot, bool busy) {
  if (busy == !slot.execs.empty()) return;
  if (!busy) {
    for (auto& e : slot.execs) e->cancel();
    slot.execs.clear();
    return;
  }
  for (auto* h : slot.gpus) {
    slot.execs.push_back(sg4::Exec::init()->set_host(h)->set_flops_amount(kOpenEndedFlops));
    slot.execs.back()->start();
  }
}

void replica_actor(World& w, int index) {
  ReplicaSlot& slot = w.replicas[static_cast<std::size_t>(index)];
  ReplicaModel& model = *slot.model;
  std::unique_lock lock(*w.mutex);
  std::vector<RequestRecord> finished;
  while (w.error.empty()) {
    std::deque<Request>& queue = w.queue_of(slot);
    const double now = sg4::Engine::get_clock();
    const std::size_t queued_before = queue.size();
    const auto& step = model.begin_step(now, queue, w.options.exact_iterations);
    // Requests taken (or, after a preemption, given back) change the queue and its tokens.
    w.waiting_total = w.waiting_total + queue.size() - queued_before;
    if (!w.router->central_queue()) slot.waiting_tokens += model.last_queue_tokens_delta();
    // The head of the central queue changed and more wait: it goes to whoever can take it first.
    if (w.router->central_queue() && queue.size() != queued_before) w.wake_for_central_head();
    if (step.kind == ReplicaModel::StepKind::none) {
      if (w.source_done && queue.empty()) {
        slot.exited = true;  // the router must not send work here any more
        break;
      }
      slot.idle = true;
      set_gpus_busy(slot, false);
      const double wake_at = model.wake_at_s();
      if (wake_at > now && wake_at < std::numeric_limits<double>::infinity()) {
        slot.wake->wait_until(lock, wake_at);  // a batch timeout, unless an arrival comes first
      } else {
        slot.wake->wait(lock);
      }
      slot.idle = false;
      continue;
    }
    slot.idle = false;
    double end = step.end_s;
    set_gpus_busy(slot, true);
    if (step.kind == ReplicaModel::StepKind::decode) {
      // Sleep until the stretch ends, unless new work that could join arrives first: then the stretch
      // ends at the next iteration boundary.
      while (slot.wake->wait_until(lock, end) != std::cv_status::timeout) {
        if (!w.error.empty()) break;
        if (model.could_admit(queue, sg4::Engine::get_clock())) {
          const double new_end = model.end_at_boundary_after(sg4::Engine::get_clock());
          end = std::min(end, new_end);
          while (sg4::Engine::get_clock() < end && slot.wake->wait_until(lock, end) != std::cv_status::timeout) {
          }
          break;
        }
      }
    } else {
      while (slot.wake->wait_until(lock, end) != std::cv_status::timeout) {
      }
    }
    finished.clear();
    model.finish_step(finished);
    for (const auto& rec : finished) {
      w.records[rec.id] = rec;
      if (w.closed_loop) w.source->on_finished(rec.id, rec.finished_s);
    }
    w.finished_count += finished.size();
    if (w.closed_loop && !finished.empty()) w.source_wake->notify_all();
  }
  set_gpus_busy(slot, false);
}

// Hands one request to the router (the mutex is held). False when the run must stop.
bool dispatch(World& w, const Request& r, std::int64_t capacity) {
  const Scenario& s = w.scenario;
  // Alone on a replica, a request must fit: its whole reservation, or with a paged cache all its blocks.
  const std::int64_t block = s.kv_block_tokens;
  const std::int64_t need = block > 0 ? (kv_reservation_tokens(r) + block - 1) / block * block : kv_reservation_tokens(r);
  if (need > capacity) {
    w.error = fmt::format(
        "request {} (arriving at {:.3f} s) needs {} tokens of KV cache (prompt {} + output {}), but a replica of "
        "{} x {} holds only {} tokens for {} in {}; cap the lengths (workload.prompt_tokens.max, "
        "workload.output_tokens.max) or give each replica more GPUs (hardware.tensor_parallel)",
        r.id, r.arrival_s, kv_reservation_tokens(r), r.prompt_tokens, r.output_tokens, s.tensor_parallel,
        s.gpu.name, capacity, s.model.name, to_string(s.dtype));
    w.stop_all();
    return false;
  }
  RequestRecord rec;
  rec.id = r.id;
  rec.arrival_s = r.arrival_s;
  rec.prompt_tokens = r.prompt_tokens;
  rec.output_tokens = r.output_tokens;
  w.records.push_back(rec);
  w.route(r);
  return true;
}

// Pulls requests from the workload source in arrival order. An open-loop source is read ahead one request and
// slept on; a closed-loop one (sessions) is waited on with a condition variable, so that a completion can plan a
// question earlier than the next planned arrival.
void source_actor(World& w) {
  const Scenario& s = w.scenario;
  WorkloadSource& src = *w.source;
  const std::int64_t capacity = w.cost.kv_capacity_tokens();
  try {
    if (!w.closed_loop) {
      while (auto r = src.next()) {
        sg4::this_actor::sleep_until(r->arrival_s);
        std::unique_lock lock(*w.mutex);
        if (!w.error.empty()) return;  // the run was stopped (interrupted)
        if (!dispatch(w, *r, capacity)) return;
      }
    } else {
      std::unique_lock lock(*w.mutex);
      for (;;) {
        if (!w.error.empty()) return;
        const double t = src.next_arrival_s();
        if (t == std::numeric_limits<double>::infinity()) {
          if (src.exhausted()) break;
          w.source_wake->wait(lock);  // answers are still out: one may lead to a next question
          continue;
        }
        if (sg4::Engine::get_clock() < t) {
          w.source_wake->wait_until(lock, t);
          continue;
        }
        if (!dispatch(w, src.take(), capacity)) return;
      }
    }
  } catch (const std::exception& e) {  // a bad trace row, found while streaming
    std::unique_lock lock(*w.mutex);
    w.error = e.what();
    w.input_error = true;
    w.stop_all();
    return;
  }
  sg4::this_actor::sleep_until(s.duration_s);
  std::unique_lock lock(*w.mutex);
  w.source_done = true;
  w.stop_all();
}

void energy_meter_actor(World& w) {
  sg4::this_actor::sleep_until(w.scenario.warmup_s);
  w.energy_at_warmup_j = w.gpu_energy_j();
  sg4::this_actor::sleep_until(w.scenario.duration_s);
  w.energy_at_end_j = w.gpu_energy_j();
}

// A daemon (it ends with the last other actor and never moves the clock): reports progress and stops the run
// when the interrupt flag is raised (Ctrl-C, SIGTERM).
void monitor_actor(World& w, double every_s) {
  sg4::Actor::self()->daemonize();
  for (;;) {
    sg4::this_actor::sleep_for(every_s);
    if (w.options.interrupt_flag && *w.options.interrupt_flag != 0) {
      // Stop the way a failed run stops (the actors see the error and end); killing actors that wait on
      // condition variables crashes SimGrid 3.32.
      std::unique_lock lock(*w.mutex);
      w.interrupted = true;
      if (w.error.empty())
        w.error = fmt::format("stopped at {:.1f} s of simulated time, {} of the {} requests arrived so far finished",
                              sg4::Engine::get_clock(), w.finished_count, w.records.size());
      w.stop_all();
      w.source_wake->notify_all();
      return;
    }
    if (w.options.on_progress)
      w.options.on_progress(
          RunProgress{sg4::Engine::get_clock(), w.scenario.duration_s, w.records.size(), w.finished_count});
  }
}

}  // namespace

void check_servable(const Scenario& s) {
  if (s.gpu.peak_flops(s.dtype) <= 0.0)
    throw SimulationError(fmt::format("{} has no {} support; choose another hardware.dtype", s.gpu.name,
                                      to_string(s.dtype)));
  const CostModel cost = make_cost_model(s);
  if (cost.kv_capacity_tokens() <= 0) {
    const double have = s.tensor_parallel * s.gpu.hbm_bytes * (1.0 - s.cost.kv_reserve_fraction);
    throw SimulationError(fmt::format(
        "{} in {} needs {:.1f} GB of weights, but a replica of {} x {} has {:.1f} GB of usable HBM ({:.0f} % kept "
        "in reserve), leaving no room for the KV cache; raise hardware.tensor_parallel, use hardware.dtype = "
        "\"fp8\" or a GPU with more memory",
        s.model.name, to_string(s.dtype), cost.weight_bytes() / 1e9, s.tensor_parallel, s.gpu.name, have / 1e9,
        s.cost.kv_reserve_fraction * 100.0));
  }
  layout_replicas(s.replicas, s.tensor_parallel, s.gpus_per_node);  // throws std::invalid_argument
}

RunResult run_simulation(const Scenario& s, const RunOptions& options) {
  try {
    check_servable(s);
  } catch (const std::invalid_argument& e) {
    throw SimulationError(e.what());
  }
  xbt_log_control_set("root.thres:critical");
  int argc = 1;
  char name[] = "tokenfleet";
  char* argv[] = {name, nullptr};
  sg_host_energy_plugin_init();
  sg4::Engine engine(&argc, argv);
  if (options.on_engine_started) options.on_engine_started();  // e.g. take SIGINT back from SimGrid

  TopologySpec topo_spec;
  topo_spec.gpus_per_node = s.gpus_per_node;
  topo_spec.gpus = s.replicas * s.tensor_parallel;
  // Whole nodes: a replica never spans two nodes.
  const int per_node = s.gpus_per_node / s.tensor_parallel;
  const int nodes = (s.replicas + per_node - 1) / per_node;
  topo_spec.gpus = nodes * s.gpus_per_node;
  topo_spec.nvlink_Bps = s.gpu.nvlink_Bps;
  topo_spec.network_Bps = s.network_Bps;
  topo_spec.network_latency_s = s.network_latency_s;
  const Topology topo = build_topology(topo_spec);
  const PlatformHandles platform = build_platform(engine, topo, s.gpu);
  const auto layout = layout_replicas(s.replicas, s.tensor_parallel, s.gpus_per_node);

  World w(s, options);
  w.policy = make_batching_policy(s.batching, s.limits);
  w.router = make_router(s.router, s.seed);
  if (!w.policy) throw SimulationError("unknown batching policy '" + s.batching + "'");
  if (!w.router) throw SimulationError("unknown router '" + s.router + "'");
  w.mutex = sg4::Mutex::create();
  try {
    w.source = make_workload_source(s.workload, s.seed, s.duration_s);
  } catch (const std::exception& e) {
    throw WorkloadInputError(e.what());
  }
  w.closed_loop = w.source->closed_loop();
  w.source_wake = sg4::ConditionVariable::create();
  w.replicas.resize(static_cast<std::size_t>(s.replicas));
  for (int i = 0; i < s.replicas; ++i) {
    auto& slot = w.replicas[static_cast<std::size_t>(i)];
    slot.model = std::make_unique<ReplicaModel>(i, w.cost, *w.policy, s.warmup_s, s.duration_s);
    if (s.kv_block_tokens > 0) slot.model->use_paged_kv(s.kv_block_tokens, s.kv_watermark);
    if (s.kv_block_tokens > 0 && s.swap_preemption) slot.model->use_swap_preemption(true);
    slot.wake = sg4::ConditionVariable::create();
    for (int g : layout[static_cast<std::size_t>(i)]) slot.gpus.push_back(platform.gpus[static_cast<std::size_t>(g)]);
    if (options.timeseries_window_s > 0.0)
      slot.model->set_step_observer([&w](const StepActivity& a) { w.activity.add(a); });
  }
  if (options.timeseries_window_s > 0.0) w.activity = ActivityBins(options.timeseries_window_s);
  for (int i = 0; i < s.replicas; ++i) {
    auto& slot = w.replicas[static_cast<std::size_t>(i)];
    sg4::Actor::create(fmt::format("replica-{}", i), slot.gpus.front(), [&w, i] { replica_actor(w, i); });
  }
  sg4::Actor::create("source", platform.gpus.front(), [&w] { source_actor(w); });
  sg4::Actor::create("energy-meter", platform.gpus.front(), [&w] { energy_meter_actor(w); });
  if (options.on_progress || options.interrupt_flag) {
    const double every_s = options.progress_every_s > 0.0 ? options.progress_every_s : s.duration_s / 1000.0;
    sg4::Actor::create("monitor", platform.gpus.front(), [&w, every_s] { monitor_actor(w, every_s); });
  }
  engine.run();

  if (w.interrupted) throw RunInterrupted(w.error);

  if (!w.error.empty()) {
    if (w.input_error) throw WorkloadInputError(w.error);
    throw SimulationError(w.error);
  }

  RunResult result;
  result.records = std::move(w.records);
  RunTotals& t = result.totals;
  t.replicas = s.replicas;
  t.gpus = s.replicas * s.tensor_parallel;
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
  }
  for (const auto& rec : result.records)
    if (rec.finished() && rec.finished_s >= s.warmup_s && rec.finished_s < s.duration_s) ++t.completed_in_window;
  sg_host_energy_update_all();
  double replica_energy = 0.0;
  for (const auto& slot : w.replicas)
    for (auto* h : slot.gpus) replica_energy += sg_host_get_consumed_energy(h);
  t.energy_window_j = w.energy_at_end_j - w.energy_at_warmup_j;
  t.energy_total_j = replica_energy;
  t.simulated_s = sg4::Engine::get_clock();
  t.skipped_bad_rows = w.source->skipped_bad_rows();
  result.activity = std::move(w.activity);
  return result;
}

}  // namespace tf
