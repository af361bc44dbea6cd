// The event loop of a simulation (see sim/engine/world.hpp). One SimGrid actor runs it. Replicas are state machines
// (sim/replica/replica_model.hpp) driven by timers in one heap: a step's end, a batch timeout, the source's next
// arrival. What an event changes at its instant (an arrival wakes a replica, a completion frees KV for a queued
// request, a question follows an answer) is handled at that instant, in the order it was caused, before time moves.
//
// SimGrid's clock and platform carry what happens on the network: a KV transfer (disaggregated serving) is a
// SimGrid communication per GPU share, started once SimGrid's clock is brought to the loop's, and while transfers
// are under way the loop waits on them with a timeout at its next local event. Without transfers nothing on the
// platform can happen between two local events, so the loop moves its own clock and meets SimGrid's at the end.
// Measured (issue 13): a SimGrid sleep costs about 6,000 instructions; the per-replica actors this replaced made
// about 10 simcalls and 4.7 mutex activities per request. Energy is not measured here: each replica model
// integrates its steps' power (cluster/power.hpp), and engine.cpp adds it up.
#include <algorithm>
#include <functional>
#include <limits>

#include <fmt/format.h>

#include "sim/engine/world.hpp"
#include "sim/replica/request_row.hpp"

namespace tf::engine {

void World::request_ended(const Request& r, double time_s) {
  const RequestRecord rec = to_record(r);
  if (rec.finished() && rec.finished_s >= scenario.warmup_s && rec.finished_s < scenario.duration_s)
    ++completed_in_window;
  sink->ended(rec);
  if (closed_loop) source->on_finished(r.id, time_s);
  if (failures) {
    ++ended_count;
    check_complete();
  }
}

void World::check_complete() {
  if (!failures || failures_over || !source_done || ended_count < arrived_count || !parked.empty()) return;
  failures_over = true;
  cancel_timer(failures_owner());
}

void World::wake(ReplicaSlot& slot) {
  if (slot.notified || slot.index == handling) return;  // already to be woken; or running now, and sees it
  slot.notified = true;
  woken.push_back(slot.index);
}

void World::wake_source() {
  if (source_notified) return;
  source_notified = true;
  woken.push_back(kSource);
}

void World::stop_all() {
  for (auto& r : replicas) wake(r);
  if (!error.empty()) kv.cancel_all();
}

bool World::interrupt_requested() {
  if (!options.interrupt_flag || *options.interrupt_flag == 0) return false;
  if (!interrupted) {
    interrupted = true;
    if (error.empty())
      error = fmt::format("stopped at {:.1f} s of simulated time, {} of the {} requests arrived so far finished", now,
                          finished_count, arrived_count);
    stop_all();
  }
  return true;
}

void World::fail(std::string why) {
  if (error.empty()) error = std::move(why);
  stop_all();
}

// At an iteration boundary: the model admits what the batching policy allows and plans the next step (a prefill
// iteration, a decode stretch up to the first completion, or a swap); a timer is set for its end. With nothing to
// run the replica waits for work (or its batch timeout), or ends once nothing more can come to it.
void EventLoop::replica_boundary(ReplicaSlot& slot) {
  World& w = w_;
  ReplicaModel& model = *slot.model;
  Pool& pool = *slot.pool;
  w.handling = slot.index;
  slot.phase = ReplicaSlot::Phase::boundary;
  // [autoscaler]: a draining replica takes nothing new (its own queue was handed on when it began to drain).
  static thread_local std::deque<Request> nothing;
  const bool draining = slot.power == ReplicaPower::draining;
  std::deque<Request>& queue = draining ? (nothing.clear(), nothing) : pool.central_queue() ? pool.central : slot.waiting;
  const double now = w.now;
  const std::size_t queued_before = queue.size();
  const auto& step = model.begin_step(now, queue, w.options.exact_iterations);
  // Requests taken (or, after a preemption, given back) change the queue and its tokens.
  w.waiting_total = w.waiting_total + queue.size() - queued_before;
  if (!pool.central_queue() && !draining) slot.waiting_tokens += model.last_queue_tokens_delta();
  w.dispatcher.replica_changed(slot.index);  // (the routers' indexes: sim/engine/dispatcher.cpp)
  // The head of the central queue changed and more wait: it goes to whoever can take it first.
  if (pool.central_queue() && !draining && queue.size() != queued_before) w.dispatcher.wake_for_central_head(pool);
  w.kv.start_moves(slot);  // a preemption may have made room for KV caches waiting to come here
  w.handling = -2;
  if (step.kind == ReplicaModel::StepKind::none) {
    if (draining) {  // drained: off
      replica_off(slot);
      return;
    }
    if (w.source_done && queue.empty() && w.kv.upstream_done(slot)) {
      slot.phase = ReplicaSlot::Phase::exited;
      slot.exited = true;  // the router must not send work here any more
      w.dispatcher.replica_changed(slot.index);
      w.cancel_timer(slot.index);  // no timer of its own any more
      if (pool.role == Pool::Role::prefill) w.kv.prefill_replica_ended();
      return;
    }
    slot.idle = true;
    w.dispatcher.replica_changed(slot.index);
    slot.phase = ReplicaSlot::Phase::waiting;
    const double wake_at = model.wake_at_s();
    if (wake_at > now && wake_at < std::numeric_limits<double>::infinity())
      w.set_timer(slot.index, wake_at);  // a batch timeout, unless an arrival comes first
    else
      w.cancel_timer(slot.index);  // only a wake-up moves it
    return;
  }
  slot.idle = false;
  w.dispatcher.replica_changed(slot.index);
  slot.phase = ReplicaSlot::Phase::stepping;
  slot.cut = false;
  slot.step_end_s = step.end_s;
  w.set_timer(slot.index, step.end_s);
}

// Its timer: a step ended (apply it: tokens, first tokens, completions; then the next boundary), or, waiting, its
// batch timeout came.
void EventLoop::replica_timer(ReplicaSlot& slot) {
  World& w = w_;
  if (slot.down) return;
  if (slot.power == ReplicaPower::starting) {  // [autoscaler]: its cold start is over
    replica_serves(slot);
    return;
  }
  if (slot.phase == ReplicaSlot::Phase::waiting) {
    slot.idle = false;
    w.dispatcher.replica_changed(slot.index);
    replica_boundary(slot);
    return;
  }
  if (slot.phase != ReplicaSlot::Phase::stepping) return;
  static thread_local std::vector<Request> finished;
  finished.clear();
  slot.model->finish_step(finished);
  w.dispatcher.replica_changed(slot.index);
  std::size_t done = 0;
  for (Request& r : finished) {
    if (r.prefill_only && r.output_tokens > 1) {  // prefilled: on to a decode replica
      w.kv.hand_off(std::move(r), slot.index);
      continue;
    }
    w.request_ended(r, r.finished_s);
    ++done;
  }
  w.finished_count += done;
  if (w.closed_loop && done > 0) w.wake_source();
  w.kv.start_moves(slot);  // finished requests may have made room for KV caches waiting to come here
  if (!w.error.empty()) return;
  replica_boundary(slot);
}

// Woken at this instant: waiting for work, it looks at its queue; in a decode stretch, when new work could join,
// the stretch ends at the next iteration boundary (once; later wake-ups change nothing). A prefill or swap step
// runs to its end.
void EventLoop::replica_woken(ReplicaSlot& slot) {
  World& w = w_;
  switch (slot.phase) {
    case ReplicaSlot::Phase::waiting:
      slot.idle = false;
      w.dispatcher.replica_changed(slot.index);
      replica_boundary(slot);
      return;
    case ReplicaSlot::Phase::stepping: {
      if (slot.cut || slot.model->step().kind != ReplicaModel::StepKind::decode) return;
      if (slot.power == ReplicaPower::draining) return;  // nothing new joins it
      const std::deque<Request>& queue = slot.pool->central_queue() ? slot.pool->central : slot.waiting;
      if (!slot.model->could_admit(queue, w.now)) return;
      slot.cut = true;
      const double end = std::min(slot.step_end_s, slot.model->end_at_boundary_after(w.now));
      w.dispatcher.replica_changed(slot.index);
      if (end != slot.step_end_s) {
        slot.step_end_s = end;
        w.set_timer(slot.index, end);
      }
      return;
    }
    default:
      return;
  }
}

// Open loop: dispatch the request read ahead, read the next; closed loop (sessions): dispatch the questions due by
// now and set the timer for the next one (an answer ending may bring it sooner: wake_source).
void EventLoop::source_event() {
  World& w = w_;
  WorkloadSource& src = *w.source;
  const std::int64_t capacity = w.cost.kv_capacity_tokens();
  try {
    if (!w.closed_loop) {
      if (w.next_arrival) {
        Request r = std::move(*w.next_arrival);
        w.next_arrival.reset();
        if (!w.dispatcher.dispatch(r, capacity)) return;
      }
      if ((w.next_arrival = src.next())) {
        w.set_timer(kSource, std::max(w.now, w.next_arrival->arrival_s));
        return;
      }
    } else {
      for (;;) {
        if (!w.error.empty()) return;
        const double t = src.next_arrival_s();
        if (t == std::numeric_limits<double>::infinity()) {
          if (src.exhausted()) break;
          w.cancel_timer(kSource);  // answers are still out: one may lead to a next question
          return;
        }
        if (w.now < t) {
          w.set_timer(kSource, t);
          return;
        }
        if (auto r = src.take_for_this_run())
          if (!w.dispatcher.dispatch(*r, capacity)) return;
      }
    }
  } catch (const std::exception& e) {  // a bad trace row, found while streaming
    w.input_error = true;
    w.fail(e.what());
    return;
  }
  // No more arrivals: the source ends at duration_s (replicas then drain and end).
  w.source_exhausted = true;
  w.set_timer(kSource, std::max(w.now, w.scenario.duration_s));
}

void EventLoop::source_ended() {
  World& w = w_;
  w.source_done = true;
  w.cancel_timer(kSource);
  if (w.autoscaler) w.cancel_timer(w.autoscaler_owner());  // no more evaluations: the run drains
  w.stop_all();
  w.check_complete();
}

// [failures]: the replicas that fail or come back at this instant (policies/failures.hpp), then the process's next
// event.
void EventLoop::failure_event() {
  World& w = w_;
  static thread_local std::vector<ReplicaTransition> transitions;
  transitions.clear();
  w.failures->advance(transitions);
  for (const ReplicaTransition& t : transitions) {
    ReplicaSlot& slot = w.replicas[static_cast<std::size_t>(t.replica)];
    if (t.down) replica_down(slot);
    else replica_up(slot);
    if (!w.error.empty()) return;
  }
  if (w.failures_over) return;
  const double next = w.failures->next_time();
  if (next < std::numeric_limits<double>::infinity()) w.set_timer(w.failures_owner(), std::max(w.now, next));
}

// A replica fails: the step under way is lost, its running requests are retried elsewhere (their KV lost; given
// up past failures.max_retries), its queue goes to the others, and it leaves its pool until repaired.
void EventLoop::replica_down(ReplicaSlot& slot) {
  World& w = w_;
  const double now = w.now;
  slot.down = true;
  slot.down_since_s = now;
  if (slot.exited) return;  // the run is draining and it has ended: nothing runs there
  // [autoscaler]: an off replica that fails cannot be started until repaired; one starting loses its cold start. A
  // serving or draining one loses its batch as below. Each goes off (its GPUs are not counted while down), and the
  // autoscaler, seeing fewer replicas, starts others at its next evaluation.
  const bool scaled = w.autoscaler != nullptr;
  if (scaled && slot.power == ReplicaPower::off) return;
  if (scaled && slot.power == ReplicaPower::starting) {
    w.cancel_timer(slot.index);
    w.set_power(slot, ReplicaPower::off, "fail");
    return;
  }
  const bool in_pool = !scaled || slot.power == ReplicaPower::serving;  // a draining replica has left it
  slot.phase = ReplicaSlot::Phase::down;
  slot.cut = false;
  w.cancel_timer(slot.index);
  static thread_local std::vector<Request> evicted;
  evicted.clear();
  w.lost_kv_tokens += slot.model->fail(now, evicted);
  std::deque<Request> queued;
  queued.swap(slot.waiting);
  w.waiting_total -= queued.size();
  slot.waiting_tokens = 0;
  slot.idle = false;
  Pool& pool = *slot.pool;
  if (in_pool) {
    pool.members.erase(std::find(pool.members.begin(), pool.members.end(), slot.index));
    w.dispatcher.pool_changed(pool);
  }
  if (scaled) w.set_power(slot, ReplicaPower::off, "fail");
  for (Request& r : evicted) {
    if (r.retries++ == 0) ++w.retried_requests;
    ++w.retries;
    if (r.retries > w.scenario.failures.max_retries) {  // given up: never served
      r.failed = true;
      r.rejected = true;
      r.replica = slot.index;
      ++w.failed_requests;
      w.request_ended(r, now);
      if (w.closed_loop) w.wake_source();
      continue;
    }
    w.dispatcher.redispatch(std::move(r));
  }
  for (Request& r : queued) {
    ++w.requeued_requests;
    r.kv = Request::Kv::none;  // swapped to this node's host memory: lost with it
    w.dispatcher.redispatch(std::move(r));
  }
  // With a central queue, its head may now go to another replica.
  if (pool.central_queue()) w.dispatcher.wake_for_central_head(pool);
  if (scaled) start_replacement();
}

// [autoscaler] with [failures]: once the arrivals are over the autoscaler no longer evaluates, so when requests are
// parked with no replica serving or starting, the first replica that is off and not down starts (its cold start).
void EventLoop::start_replacement() {
  World& w = w_;
  if (!w.source_done || w.parked.empty() || !w.arrivals().members.empty() || w.power_count[1] > 0) return;
  for (ReplicaSlot& slot : w.replicas) {
    if (slot.power != ReplicaPower::off || slot.down) continue;
    ++w.scale_ups;
    w.set_power(slot, ReplicaPower::starting);
    if (w.cold_start > 0.0) w.set_timer(slot.index, w.now + w.cold_start);
    else replica_serves(slot);
    return;
  }
}

// A replica is repaired: empty, it rejoins its pool, and the requests parked while every replica was down are
// routed again.
void EventLoop::replica_up(ReplicaSlot& slot) {
  World& w = w_;
  slot.down = false;
  const double lo = std::max(slot.down_since_s, w.scenario.warmup_s), hi = std::min(w.now, w.scenario.duration_s);
  if (hi > lo) w.down_window_s += hi - lo;
  w.down_total_s += w.now - slot.down_since_s;
  if (slot.exited) return;
  if (w.autoscaler) {  // it stays off: the autoscaler may start it again
    slot.phase = ReplicaSlot::Phase::off;
    start_replacement();
    return;
  }
  Pool& pool = *slot.pool;
  pool.members.insert(std::upper_bound(pool.members.begin(), pool.members.end(), slot.index), slot.index);
  w.dispatcher.pool_changed(pool);
  slot.phase = ReplicaSlot::Phase::waiting;
  slot.idle = true;
  w.dispatcher.replica_changed(slot.index);
  w.wake(slot);
  std::deque<Request> parked;
  parked.swap(w.parked);
  for (Request& r : parked) w.dispatcher.redispatch(std::move(r));
  if (pool.central_queue()) w.dispatcher.wake_for_central_head(pool);
}

// [autoscaler] --------------------------------------------------------------------------------------------------

namespace {
const char* power_event(ReplicaPower from, ReplicaPower to) {
  switch (to) {
    case ReplicaPower::starting: return "start";
    case ReplicaPower::serving: return from == ReplicaPower::draining ? "undrain" : "serve";
    case ReplicaPower::draining: return "drain";
    case ReplicaPower::off: return from == ReplicaPower::starting ? "cancel" : "off";
  }
  return "";
}
}  // namespace

void World::set_power(ReplicaSlot& slot, ReplicaPower p, const char* event) {
  const ReplicaPower from = slot.power;
  if (from == p) return;
  const double since = slot.power_since_s;
  const double lo = std::max(since, scenario.warmup_s), hi = std::min(now, scenario.duration_s);
  const auto k = static_cast<std::size_t>(from);
  if (hi > lo) power_window_s[k] += hi - lo;
  power_total_s[k] += now - since;
  if (from != ReplicaPower::off && options.timeseries_window_s > 0.0)
    activity.add_replica_state(static_cast<int>(from), since, now);
  --power_count[k];
  ++power_count[static_cast<std::size_t>(p)];
  slot.power = p;
  slot.power_since_s = now;
  peak_replicas = std::max(peak_replicas, power_count[0] + power_count[1] + power_count[2]);
  scaling_events.push_back(ScalingEvent{now, slot.index, event ? event : power_event(from, p), power_count[0], power_count[1],
                                        power_count[2]});
}

// An evaluation: the policy's answer, clamped and delayed by the controller, applied. Up: draining replicas come
// back first (warm), then off ones start (lowest index first). Down: starting ones are cancelled first (latest
// first), then serving ones drain (highest index first).
void EventLoop::autoscale() {
  World& w = w_;
  const AutoscalerSpec& spec = w.scenario.autoscaler;
  AutoscalerSnapshot snap;
  snap.now_s = w.now;
  snap.interval_s = spec.interval_s;
  snap.cold_start_s = w.cold_start;
  snap.serving = w.power_count[0];
  snap.starting = w.power_count[1];
  snap.draining = w.power_count[2];
  snap.min_replicas = spec.min_replicas;
  snap.max_replicas = spec.max_replicas;
  snap.waiting = w.waiting_total;
  for (const ReplicaSlot& slot : w.replicas)
    if (slot.power == ReplicaPower::serving || slot.power == ReplicaPower::draining)
      snap.running += static_cast<std::size_t>(slot.model->running_requests());
  snap.arrival_rate_per_s =
      static_cast<double>(w.arrived_count - w.arrived_at_last_evaluation) / spec.interval_s;
  w.arrived_at_last_evaluation = w.arrived_count;
  if (w.expected_curve) {
    const RateCurve* c = w.expected_curve.get();
    snap.expected_arrivals = [c](double a, double b) { return c->integral(a, b); };
  } else if (w.expected_rate > 0.0) {
    const double rate = w.expected_rate;
    snap.expected_arrivals = [rate](double a, double b) { return rate * (b - a); };
  }
  const int current = snap.current();
  const int target = w.scaler->decide(w.now, current, w.autoscaler->desired(snap));
  int have = current;
  for (auto it = w.replicas.rbegin(); have < target && it != w.replicas.rend(); ++it)
    if (it->power == ReplicaPower::draining) {
      ++have;
      replica_serves(*it);
    }
  for (auto& slot : w.replicas) {
    if (have >= target) break;
    if (slot.power != ReplicaPower::off || slot.down) continue;  // [failures]: a failed one waits for its repair
    ++have;
    ++w.scale_ups;
    w.set_power(slot, ReplicaPower::starting);
    if (w.cold_start > 0.0) w.set_timer(slot.index, w.now + w.cold_start);
    else replica_serves(slot);
  }
  // Cancel the latest starts first: of the starting replicas, those whose start came last.
  while (have > target) {
    ReplicaSlot* latest = nullptr;
    for (auto& slot : w.replicas)
      if (slot.power == ReplicaPower::starting && (!latest || slot.power_since_s >= latest->power_since_s))
        latest = &slot;
    if (!latest) break;
    --have;
    ++w.scale_downs;
    w.cancel_timer(latest->index);
    w.set_power(*latest, ReplicaPower::off);
  }
  for (auto it = w.replicas.rbegin(); have > target && it != w.replicas.rend(); ++it)
    if (it->power == ReplicaPower::serving) {
      --have;
      ++w.scale_downs;
      replica_drains(*it);
    }
  if (!w.source_done) w.set_timer(w.autoscaler_owner(), w.now + spec.interval_s);
}

void EventLoop::replica_serves(ReplicaSlot& slot) {
  World& w = w_;
  const bool was_draining = slot.power == ReplicaPower::draining;
  w.set_power(slot, ReplicaPower::serving);
  Pool& pool = *slot.pool;
  pool.members.insert(std::upper_bound(pool.members.begin(), pool.members.end(), slot.index), slot.index);
  w.dispatcher.pool_changed(pool);
  if (!was_draining) {  // fresh: empty, waiting for work
    slot.phase = ReplicaSlot::Phase::waiting;
    slot.idle = true;
    slot.exited = false;
    w.cancel_timer(slot.index);
  }
  w.dispatcher.replica_changed(slot.index);
  w.wake(slot);
  // [failures]: requests parked while every replica was down are routed to it.
  if (!w.parked.empty()) {
    std::deque<Request> parked;
    parked.swap(w.parked);
    for (Request& r : parked) w.dispatcher.redispatch(std::move(r));
  }
  if (pool.central_queue()) w.dispatcher.wake_for_central_head(pool);
}

// Out of its pool: its queue goes to the others (routed again, as when a replica fails), its batch runs to the end.
void EventLoop::replica_drains(ReplicaSlot& slot) {
  World& w = w_;
  w.set_power(slot, ReplicaPower::draining);
  Pool& pool = *slot.pool;
  pool.members.erase(std::find(pool.members.begin(), pool.members.end(), slot.index));
  w.dispatcher.pool_changed(pool);
  std::deque<Request> queued;
  queued.swap(slot.waiting);
  w.waiting_total -= queued.size();
  slot.waiting_tokens = 0;
  w.dispatcher.replica_changed(slot.index);
  for (Request& r : queued) {
    r.kv = Request::Kv::none;  // a preempted request swapped to this node's memory is computed again elsewhere
    w.dispatcher.redispatch(std::move(r));
  }
  // Idle, it goes off at once; stepping, at the end of its batch (replica_boundary).
  if (slot.phase == ReplicaSlot::Phase::waiting) replica_off(slot);
}

void EventLoop::replica_off(ReplicaSlot& slot) {
  World& w = w_;
  w.set_power(slot, ReplicaPower::off);
  slot.phase = ReplicaSlot::Phase::off;
  slot.idle = true;
  slot.cut = false;
  w.cancel_timer(slot.index);
  w.dispatcher.replica_changed(slot.index);
}

void EventLoop::progress_until(double t) {
  World& w = w_;
  if (!w.options.on_progress) return;
  while (next_progress_s_ <= t) {
    w.options.on_progress(RunProgress{next_progress_s_, w.scenario.duration_s, w.arrived_count, w.finished_count});
    next_progress_s_ += w.options.progress_every_s > 0.0 ? w.options.progress_every_s : w.scenario.duration_s / 1000.0;
  }
}

void EventLoop::operator()() {
  World& w = w_;
  const double every = w.options.progress_every_s > 0.0 ? w.options.progress_every_s : w.scenario.duration_s / 1000.0;
  next_progress_s_ = every;
  for (auto& slot : w.replicas)
    if (slot.power == ReplicaPower::serving) replica_boundary(slot);  // at time 0, each finds nothing to do and waits
  source_event();  // reads the first arrival (or the first questions)
  if (w.failures && w.failures->next_time() < std::numeric_limits<double>::infinity())
    w.set_timer(w.failures_owner(), w.failures->next_time());
  if (w.autoscaler) w.set_timer(w.autoscaler_owner(), 0.0);  // the first evaluation, after the first arrival's
  for (;;) {
    if (w.interrupt_requested() || !w.error.empty()) break;
    // What happened at this instant wakes others, in the order caused.
    if (!w.woken.empty()) {
      const int who = w.woken.front();
      w.woken.pop_front();
      if (who == kSource) {
        w.source_notified = false;
        if (!w.source_done && !w.source_exhausted) source_event();
      } else {
        ReplicaSlot& slot = w.replicas[static_cast<std::size_t>(who)];
        slot.notified = false;
        replica_woken(slot);
      }
      continue;
    }
    const double next_t = w.timers.empty() ? std::numeric_limits<double>::infinity() : w.timers.top().t;
    // KV transfers under way: SimGrid's network decides when they end; wait for one until the next local event.
    if (!w.kv.comms().empty()) {
      const double clock = sg4::Engine::get_clock();
      ssize_t k = -1;
      try {
        k = next_t == std::numeric_limits<double>::infinity()
                ? sg4::Comm::wait_any(w.kv.comms())
                : sg4::Comm::wait_any_for(w.kv.comms(), std::max(0.0, next_t - clock));
      } catch (const simgrid::Exception& e) {
        w.fail(fmt::format("internal error: a KV transfer failed in SimGrid: {}", e.what()));
        break;
      }
      if (k >= 0) {
        w.now = std::max(w.now, sg4::Engine::get_clock());
        progress_until(w.now);
        w.kv.comm_ended(static_cast<std::size_t>(k));
        continue;
      }
    }
    if (w.timers.empty()) break;  // nothing more can happen
    const TimerHeap::Entry top = w.timers.pop();
    const int who = static_cast<int>(top.owner) - 1;
    w.now = std::max(w.now, top.t);
    progress_until(w.now);
    if (who == kSource) {
      if (w.source_exhausted) source_ended();
      else source_event();
    } else if (w.failures && who == w.failures_owner()) {
      failure_event();
    } else if (w.autoscaler && who == w.autoscaler_owner()) {
      autoscale();
    } else {
      replica_timer(w.replicas[static_cast<std::size_t>(who)]);
    }
  }
  if (!w.error.empty()) w.kv.cancel_all();
  // SimGrid's clock meets the loop's at the end: the run's simulated length.
  if (sg4::Engine::get_clock() < w.now) sg4::this_actor::sleep_until(w.now);
}

}  // namespace tf::engine
