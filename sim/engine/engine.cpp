#include "sim/engine/engine.hpp"

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
#include "cluster/platform/platform.hpp"
#include "cluster/topology.hpp"
#include "policies/router.hpp"
#include "sim/replica/replica_model.hpp"
#include "workloads/source.hpp"

namespace sg4 = simgrid::s4u;

namespace tf {

namespace {

CostModel make_cost_model(const Scenario& s) {
  return CostModel(s.model, s.gpu, s.dtype, s.tensor_parallel, s.cost);
}

// Disaggregated serving: one KV cache on its way from a prefill replica to a decode replica. It waits at the prefill
// replica (held there) until the decode replica has room for it, then moves.
struct KvTransfer {
  Request request;
  int from = 0, to = 0;
  double bytes = 0.0;
  double start_s = 0.0;
  std::int64_t held_tokens = 0;  // KV it keeps on the prefill replica until it has moved
  std::int64_t kv_tokens = 0;    // KV it needs on the decode replica (reserved from the start of the move)
};

struct ReplicaSlot {
  std::unique_ptr<ReplicaModel> model;
  int pool = 0;                              // its pool in World::pools (1: the decode pool when disaggregated)
  std::deque<Request> waiting;               // unused with a central queue
  sg4::ConditionVariablePtr wake;
  std::vector<sg4::Host*> gpus;
  std::vector<sg4::ExecPtr> execs;           // one per GPU while the replica is busy (energy plugin)
  bool idle = true;                          // waiting for work with nothing running
  std::int64_t waiting_tokens = 0;           // prompt + output tokens of `waiting`
  bool exited = false;                       // its actor has ended (the run is draining)
  // Disaggregated, decode replicas: requests whose KV caches are waiting to move here or moving (and the tokens
  // they will cost), the moves waiting for room here (FIFO), and the KV reserved for the moves under way.
  int incoming = 0;
  std::int64_t incoming_tokens = 0;
  std::deque<KvTransfer> pending;
  std::int64_t incoming_kv = 0;
};

// Replicas that a router spreads requests over: the whole fleet, or with disaggregated serving the prefill pool
// (arrivals) and the decode pool (requests whose prefill ended). Router indices are positions in `members`.
struct Pool {
  std::unique_ptr<Router> router;
  std::vector<int> members;                  // replica indices
  std::deque<Request> central;               // with a central-queue router
  std::vector<ReplicaLoad> loads;
};

// An actor that moves KV caches, one at a time. Workers are kept and reused (creating an actor per transfer cost
// more than the rest of the simulation together); a new one is made only when every worker is busy, so that a
// transfer always starts at once.
struct TransferWorker {
  sg4::ConditionVariablePtr wake;
  std::optional<KvTransfer> job;
  std::vector<sg4::CommPtr> comms;  // of the move under way (cancelled when the run stops)
};

struct World {
  const Scenario& scenario;
  RunOptions options;
  CostModel cost;
  std::unique_ptr<BatchingPolicy> policy;
  std::vector<Pool> pools;                   // [0]: where arrivals go; [1]: the decode pool when disaggregated
  std::vector<ReplicaSlot> replicas;
  // Disaggregated serving (a decode pool beside the prefill pool): prefill replicas whose actor has not ended, KV
  // transfers under way, and the KV bytes of one token (for the whole replica; each GPU sends its share).
  bool disaggregated() const { return pools.size() > 1; }
  int prefill_active = 0;
  int transfers_in_flight = 0;
  double kv_bytes_per_token = 0.0;
  std::int64_t kv_transfers = 0;
  double kv_transfer_bytes = 0.0;
  std::vector<std::unique_ptr<TransferWorker>> transfer_workers;
  std::vector<TransferWorker*> idle_transfer_workers;
  bool transfers_over = false;               // no transfer will come any more: the workers end
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

  bool central_queue(const ReplicaSlot& slot) const {
    return pools[static_cast<std::size_t>(slot.pool)].router->central_queue();
  }
  std::deque<Request>& queue_of(ReplicaSlot& slot) {
    Pool& pool = pools[static_cast<std::size_t>(slot.pool)];
    return pool.router->central_queue() ? pool.central : slot.waiting;
  }

  std::vector<ReplicaLoad>& replica_loads(Pool& pool, double now) {
    auto& loads = pool.loads;
    loads.resize(pool.members.size());
    const bool central_queue = pool.router->central_queue();
    for (std::size_t i = 0; i < pool.members.size(); ++i) {
      const auto& slot = replicas[static_cast<std::size_t>(pool.members[i])];
      loads[i].running_requests = slot.model->running_requests();
      loads[i].waiting_requests = central_queue ? 0 : slot.waiting.size() + static_cast<std::size_t>(slot.incoming);
      loads[i].idle = slot.idle && !slot.exited && slot.incoming == 0;
      loads[i].outstanding_tokens = slot.model->outstanding_tokens_at(now) + slot.waiting_tokens + slot.incoming_tokens;
      loads[i].kv_used_fraction = static_cast<double>(slot.model->kv_reserved_tokens_at(now)) /
                                  static_cast<double>(std::max<std::int64_t>(1, slot.model->kv_capacity_tokens()));
      loads[i].has_room = false;
      loads[i].next_boundary_s = 0.0;
      if (central_queue && !slot.idle && !slot.exited) {
        loads[i].has_room = slot.model->could_admit(pool.central, now);
        loads[i].next_boundary_s = loads[i].has_room ? slot.model->next_boundary_after(now) : 0.0;
      }
    }
    return loads;
  }

  // The replica (an index in `replicas`) the pool's router picks for `r`; -1 when a central queue has no room.
  int pick(Pool& pool, const Request& r) {
    if (!pool.router->uses_loads()) pool.loads.resize(pool.members.size());  // sized, not filled: ignored
    const int k = pool.router->route(
        r, pool.router->uses_loads() ? replica_loads(pool, sg4::Engine::get_clock()) : pool.loads);
    if (k < 0 || k >= static_cast<int>(pool.members.size())) return -1;
    return pool.members[static_cast<std::size_t>(k)];
  }

  // With a central queue: wake the replica that can take the head first (see CentralQueueRouter).
  void wake_for_central_head(Pool& pool) {
    if (pool.central.empty()) return;
    const int target = pick(pool, pool.central.front());
    if (target < 0) return;  // no room: the next completion takes it
    ReplicaSlot& slot = replicas[static_cast<std::size_t>(target)];
    slot.idle = false;  // claimed: another arrival at the same instant goes elsewhere
    slot.wake->notify_one();
  }

  // Puts a request in a replica's own queue and wakes it.
  void enqueue(ReplicaSlot& slot, const Request& r) {
    slot.waiting.push_back(r);
    slot.waiting_tokens += queued_work_tokens(r);
    ++waiting_total;
    slot.idle = false;
    slot.wake->notify_one();
  }

  // Whether nothing more can come to this replica once the source is done: always, except for a decode replica
  // while prefill replicas still run or KV caches are on their way.
  bool upstream_done(const ReplicaSlot& slot) const {
    return slot.pool == 0 || (prefill_active == 0 && transfers_in_flight == 0);
  }
  // Disaggregated: once the prefill pool has ended and no KV cache is on its way, the decode replicas may end
  // (they are woken to see it), and so may the transfer workers.
  void check_transfers_over() {
    if (!disaggregated() || prefill_active != 0 || transfers_in_flight != 0) return;
    transfers_over = true;
    for (int i : pools[1].members) replicas[static_cast<std::size_t>(i)].wake->notify_all();
    for (auto* worker : idle_transfer_workers) worker->wake->notify_all();
  }

  // Admission control: turned away, counted, an SLO miss.
  // Sessions: a rejected question ends as an answer would, so the visit goes on (its next question a think time
  // later) and the source knows it is no longer out.
  void reject(const Request& r, int replica) {
    RequestRecord& rec = records[r.id];
    rec.rejected = true;
    rec.replica = replica;
    if (closed_loop) {
      source->on_finished(r.id, sg4::Engine::get_clock());
      source_wake->notify_all();
    }
  }

  // An arriving request: to the router's replica, or into the central queue, unless admission control
  // turns it away.
  // With disaggregated serving arrivals go to the prefill pool, which runs their prompt and first token only.
  void route(const Request& arrival) {
    Request r = arrival;
    if (disaggregated()) r.output_tokens = 1;
    Pool& pool = pools.front();
    const bool global_full = scenario.max_queued > 0 && waiting_total >= static_cast<std::size_t>(scenario.max_queued);
    if (pool.router->central_queue()) {
      // A per-replica bound on a central queue bounds it at that many per replica.
      const bool central_full =
          scenario.max_queued_per_replica > 0 &&
          pool.central.size() >= static_cast<std::size_t>(scenario.max_queued_per_replica) * pool.members.size();
      if (global_full || central_full) return reject(r, -1);
      pool.central.push_back(r);
      ++waiting_total;
      wake_for_central_head(pool);
      return;
    }
    int target = pick(pool, r);
    if (target < 0) target = pool.members.front();
    ReplicaSlot& slot = replicas[static_cast<std::size_t>(target)];
    if (global_full || (scenario.max_queued_per_replica > 0 &&
                        slot.waiting.size() >= static_cast<std::size_t>(scenario.max_queued_per_replica)))
      return reject(r, target);
    enqueue(slot, r);
  }

  // Wakes every replica and transfer worker: to see that the arrivals have ended, or that the run stops (an error
  // or an interrupt: then the KV moves under way are cancelled, and not waited for).
  void stop_all() {
    for (auto& r : replicas) r.wake->notify_all();
    for (auto& t : transfer_workers) {
      if (!error.empty())
        for (auto& c : t->comms) c->cancel();
      t->wake->notify_all();
    }
  }

  // KV tokens a request takes when admitted on a replica of this scenario (as ReplicaModel counts them).
  std::int64_t admission_kv(const Request& r) const {
    ReplicaView v;
    v.kv_block_tokens = scenario.kv_block_tokens;
    return admission_kv_tokens(v, r);
  }

  // Wakes a replica to look at its queue again (some of its KV was freed): with a central queue, whoever can take
  // the head first.
  void wake_replica(ReplicaSlot& slot) {
    Pool& pool = pools[static_cast<std::size_t>(slot.pool)];
    if (pool.router->central_queue()) wake_for_central_head(pool);
    else slot.wake->notify_one();
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

// Disaggregated serving: the KV cache of a request whose prefill ended on replica `from` moves to decode replica
// `to` over the simulated network, each GPU sending its tensor-parallel share to its counterpart (so transfers that
// share links slow each other down); the request then joins `to`'s queue with its KV in place, its first token
// delivered when the transfer ends. Runs in a transfer worker, with the mutex held except during the transfer.
void move_kv(World& w, TransferWorker& me, KvTransfer t, std::unique_lock<sg4::Mutex>& lock) {
  const auto& src = w.replicas[static_cast<std::size_t>(t.from)].gpus;
  const auto& dst = w.replicas[static_cast<std::size_t>(t.to)].gpus;
  const auto share = static_cast<std::uint64_t>(std::ceil(t.bytes / static_cast<double>(src.size())));
  me.comms.clear();
  for (std::size_t g = 0; g < src.size(); ++g) me.comms.push_back(sg4::Comm::sendto_async(src[g], dst[g], share));
  lock.unlock();
  try {
    sg4::Comm::wait_all(me.comms);
  } catch (const simgrid::Exception&) {  // cancelled: the run was stopped
  }
  lock.lock();
  me.comms.clear();
  ReplicaSlot& slot = w.replicas[static_cast<std::size_t>(t.to)];
  ReplicaSlot& prefill = w.replicas[static_cast<std::size_t>(t.from)];
  const double end_s = sg4::Engine::get_clock();
  --w.transfers_in_flight;
  --slot.incoming;
  slot.incoming_tokens -= queued_work_tokens(t.request);
  slot.incoming_kv -= t.kv_tokens;
  prefill.model->release_kv(t.held_tokens);
  if (!w.error.empty()) return;
  w.records[t.request.id].kv_transfer_s = end_s - t.start_s;
  t.request.first_token_s = end_s;  // the first token reaches the user with the KV cache at its decode replica
  w.enqueue(slot, t.request);
  w.wake_replica(prefill);  // it may have been waiting for that KV to go
}

void transfer_worker_actor(World& w, TransferWorker& me) {
  std::unique_lock lock(*w.mutex);
  for (;;) {
    while (!me.job && !w.transfers_over && w.error.empty()) me.wake->wait(lock);
    if (!me.job || !w.error.empty()) break;
    KvTransfer t = std::move(*me.job);
    me.job.reset();
    move_kv(w, me, std::move(t), lock);
    if (!w.error.empty()) break;
    w.idle_transfer_workers.push_back(&me);
    w.check_transfers_over();
  }
}

// Hands a move to an idle transfer worker, or to a new one when all are busy: it starts now.
void start_move(World& w, KvTransfer t) {
  if (!w.idle_transfer_workers.empty()) {
    TransferWorker* worker = w.idle_transfer_workers.back();
    w.idle_transfer_workers.pop_back();
    worker->job = std::move(t);
    worker->wake->notify_one();
    return;
  }
  w.transfer_workers.push_back(std::make_unique<TransferWorker>());
  TransferWorker* worker = w.transfer_workers.back().get();
  worker->wake = sg4::ConditionVariable::create();
  const int from = t.from;
  worker->job = std::move(t);
  sg4::Actor::create(fmt::format("kv-transfer-{}", w.transfer_workers.size()),
                     w.replicas[static_cast<std::size_t>(from)].gpus.front(),
                     [&w, worker] { transfer_worker_actor(w, *worker); });
}

// Starts the KV moves waiting for room at a decode replica, in order, while its KV cache has room for them: what
// its running requests use now, the moves under way and the moved requests waiting in its queue leave room.
// Called whenever that room may have grown (its requests finished or were preempted) or a move joined the queue.
void start_moves(World& w, ReplicaSlot& slot) {
  if (slot.pending.empty()) return;
  const double now = sg4::Engine::get_clock();
  std::int64_t used = slot.model->kv_reserved_tokens_at(now) + slot.incoming_kv;
  for (const Request& q : slot.waiting)
    if (q.kv == Request::Kv::device) used += w.admission_kv(q);
  while (!slot.pending.empty()) {
    KvTransfer& t = slot.pending.front();
    // A replica with nothing running or coming takes any request (each fits alone: checked on arrival).
    if (used > 0 && used + t.kv_tokens > slot.model->kv_capacity_tokens()) break;
    used += t.kv_tokens;
    slot.incoming_kv += t.kv_tokens;
    t.start_s = now;
    start_move(w, std::move(t));
    slot.pending.pop_front();
  }
}

// A request's prefill (and first token) ended on prefill replica `from`: pick its decode replica and move its KV.
void hand_off(World& w, const RequestRecord& prefilled, int from) {
  const RequestRecord& rec = w.records[prefilled.id];
  Request r;
  r.id = rec.id;
  r.arrival_s = rec.arrival_s;
  r.prompt_tokens = rec.prompt_tokens;
  r.output_tokens = rec.output_tokens;
  r.generated_before = 1;
  r.admitted_s = prefilled.admitted_s;
  r.kv = Request::Kv::device;
  const int to = w.pick(w.pools[1], r);
  if (to < 0) {  // the scenario refuses central-queue decode routers; never silently lose the request
    w.error = fmt::format("internal error: no decode replica for request {}", r.id);
    w.stop_all();
    return;
  }
  w.records[r.id].prefill_replica = from;
  ReplicaSlot& slot = w.replicas[static_cast<std::size_t>(to)];
  ++slot.incoming;
  slot.incoming_tokens += queued_work_tokens(r);
  ++w.transfers_in_flight;
  // The prompt's KV exists; the first output token's is written by its first decode iteration. The prefill replica
  // keeps what it reserved for the request (its prompt and first token) until the move ends.
  const double bytes = static_cast<double>(r.prompt_tokens) * w.kv_bytes_per_token;
  ++w.kv_transfers;
  w.kv_transfer_bytes += bytes;
  Request prefill_request = r;
  prefill_request.output_tokens = 1;
  prefill_request.generated_before = 0;
  prefill_request.kv = Request::Kv::none;
  KvTransfer t{r, from, to, bytes, 0.0, w.admission_kv(prefill_request), w.admission_kv(r)};
  w.replicas[static_cast<std::size_t>(from)].model->hold_kv(t.held_tokens);
  slot.pending.push_back(std::move(t));
  start_moves(w, slot);
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
    const bool central_queue = w.central_queue(slot);
    if (!central_queue) slot.waiting_tokens += model.last_queue_tokens_delta();
    // The head of the central queue changed and more wait: it goes to whoever can take it first.
    if (central_queue && queue.size() != queued_before) w.wake_for_central_head(w.pools[static_cast<std::size_t>(slot.pool)]);
    start_moves(w, slot);  // a preemption may have made room for KV caches waiting to come here
    if (step.kind == ReplicaModel::StepKind::none) {
      if (w.source_done && queue.empty() && w.upstream_done(slot)) {
        slot.exited = true;  // the router must not send work here any more
        if (w.disaggregated() && slot.pool == 0) {
          --w.prefill_active;
          w.check_transfers_over();
        }
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
    std::size_t done = 0;
    for (const auto& rec : finished) {
      RequestRecord& out = w.records[rec.id];
      if (w.disaggregated() && slot.pool == 0 && out.output_tokens > 1) {  // prefilled: on to a decode replica
        hand_off(w, rec, index);
        continue;
      }
      const int prefill_replica = out.prefill_replica;
      const double kv_transfer_s = out.kv_transfer_s;
      out = rec;
      out.prefill_replica = prefill_replica;
      out.kv_transfer_s = kv_transfer_s;
      ++done;
      if (w.closed_loop) w.source->on_finished(rec.id, rec.finished_s);
    }
    w.finished_count += done;
    if (w.closed_loop && done > 0) w.source_wake->notify_all();
    start_moves(w, slot);  // finished requests may have made room for KV caches waiting to come here
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
        "{} x {} holds only {} tokens for {} in {}; cap the lengths (workload.prompt_tokens.max and "
        "workload.output_tokens.max, or for a trace workload.trace.max_prompt_tokens and max_output_tokens) or give "
        "each replica more GPUs (hardware.tensor_parallel)",
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
  // Network transfers (disaggregated serving's KV caches) as plain bandwidth and latency: CM02 without TCP's window
  // bound and without the empirical factors of SimGrid's default (LV08) model, so that one transfer alone takes
  // exactly the route's latency plus bytes / its narrowest link, and transfers sharing a link share it fairly.
  sg4::Engine::set_config("network/model:CM02");
  sg4::Engine::set_config("network/latency-factor:1");
  sg4::Engine::set_config("network/bandwidth-factor:1");
  sg4::Engine::set_config("network/TCP-gamma:1e30");
  sg4::Engine::set_config("network/crosstraffic:0");

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
  if (!w.policy) throw SimulationError("unknown batching policy '" + s.batching + "'");
  if (const std::string why = policy_conflict(s); !why.empty()) throw SimulationError(why);
  const bool disaggregated = w.policy->disaggregates();
  const int prefill_replicas = disaggregated ? prefill_pool_size(s) : s.replicas;
  if (disaggregated && prefill_replicas <= 0)
    throw SimulationError(fmt::format("disaggregated serving needs at least 2 replicas (one prefill, one decode), "
                                      "not {}", s.replicas));
  w.pools.resize(disaggregated ? 2 : 1);
  // The decode pool's router draws from its own stream, so that the prefill pool's draws stay as they are.
  w.pools[0].router = make_router(s.router, s.seed);
  if (!w.pools[0].router) throw SimulationError("unknown router '" + s.router + "'");
  if (disaggregated) {
    w.pools[1].router = make_router(decode_router_of(s), s.seed + 0x9e3779b97f4a7c15ULL);
    if (!w.pools[1].router || w.pools[1].router->central_queue())
      throw SimulationError("disaggregated serving needs a decode router that picks a replica, not '" +
                            decode_router_of(s) + "'");
    w.prefill_active = prefill_replicas;
    w.kv_bytes_per_token = s.model.kv_bytes_per_token(s.dtype);
  }
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
    slot.pool = i < prefill_replicas ? 0 : 1;  // without disaggregation every replica is in pool 0
    w.pools[static_cast<std::size_t>(slot.pool)].members.push_back(i);
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
  t.kv_transfers = w.kv_transfers;
  t.kv_transfer_bytes = w.kv_transfer_bytes;
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
  t.clamped_rows = w.source->clamped_rows();
  t.questions_cut = w.source->questions_cut();
  result.activity = std::move(w.activity);
  return result;
}

}  // namespace tf

