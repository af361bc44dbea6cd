// The actors of a simulation (see sim/engine/world.hpp): one per replica, the workload source and the monitor
// (progress, interrupts). Requests are plain data handed between them, never actors. Energy is not measured here:
// each replica model integrates its steps' power (cluster/power.hpp), and engine.cpp adds it up.
#include <algorithm>
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
}

void World::stop_all() {
  for (auto& r : replicas) r.wake->notify_all();
  kv.stop(!error.empty());
}

bool World::interrupt_requested() {
  if (!options.interrupt_flag || *options.interrupt_flag == 0) return false;
  if (!interrupted) {
    interrupted = true;
    if (error.empty())
      error = fmt::format("stopped at {:.1f} s of simulated time, {} of the {} requests arrived so far finished",
                          sg4::Engine::get_clock(), finished_count, arrived_count);
    stop_all();
    source_wake->notify_all();
  }
  return true;
}

void World::fail(std::string why) {
  error = std::move(why);
  stop_all();
}

// A replica: at each boundary its model admits what the batching policy allows and plans the next step (a prefill
// iteration, a decode stretch up to the first completion, or a swap); the actor sleeps until the step ends, cutting
// a decode stretch short at the next iteration boundary when new work that could join arrives.
void ReplicaActor::operator()() {
  World& w = w_;
  ReplicaSlot& slot = w.replicas[static_cast<std::size_t>(index_)];
  ReplicaModel& model = *slot.model;
  Pool& pool = *slot.pool;
  std::unique_lock lock(*w.mutex);
  std::vector<Request> finished;
  while (w.error.empty() && !w.interrupt_requested()) {
    std::deque<Request>& queue = pool.central_queue() ? pool.central : slot.waiting;
    const double now = sg4::Engine::get_clock();
    const std::size_t queued_before = queue.size();
    const auto& step = model.begin_step(now, queue, w.options.exact_iterations);
    // Requests taken (or, after a preemption, given back) change the queue and its tokens.
    w.waiting_total = w.waiting_total + queue.size() - queued_before;
    if (!pool.central_queue()) slot.waiting_tokens += model.last_queue_tokens_delta();
    w.dispatcher.replica_changed(index_);
    // The head of the central queue changed and more wait: it goes to whoever can take it first.
    if (pool.central_queue() && queue.size() != queued_before) w.dispatcher.wake_for_central_head(pool);
    w.kv.start_moves(slot);  // a preemption may have made room for KV caches waiting to come here
    if (step.kind == ReplicaModel::StepKind::none) {
      if (w.source_done && queue.empty() && w.kv.upstream_done(slot)) {
        slot.exited = true;  // the router must not send work here any more
        w.dispatcher.replica_changed(index_);
        if (pool.role == Pool::Role::prefill) w.kv.prefill_replica_ended();
        break;
      }
      slot.idle = true;
      w.dispatcher.replica_changed(index_);
      const double wake_at = model.wake_at_s();
      if (wake_at > now && wake_at < std::numeric_limits<double>::infinity()) {
        slot.wake->wait_until(lock, wake_at);  // a batch timeout, unless an arrival comes first
      } else {
        slot.wake->wait(lock);
      }
      slot.idle = false;
      w.dispatcher.replica_changed(index_);
      continue;
    }
    slot.idle = false;
    w.dispatcher.replica_changed(index_);
    double end = step.end_s;
    if (step.kind == ReplicaModel::StepKind::decode) {
      // Sleep until the stretch ends, unless new work that could join arrives first: then the stretch
      // ends at the next iteration boundary.
      while (slot.wake->wait_until(lock, end) != std::cv_status::timeout) {
        if (!w.error.empty()) break;
        if (model.could_admit(queue, sg4::Engine::get_clock())) {
          const double new_end = model.end_at_boundary_after(sg4::Engine::get_clock());
          w.dispatcher.replica_changed(index_);
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
    w.dispatcher.replica_changed(index_);
    std::size_t done = 0;
    for (Request& r : finished) {
      if (r.prefill_only && r.output_tokens > 1) {  // prefilled: on to a decode replica
        w.kv.hand_off(std::move(r), index_);
        continue;
      }
      w.request_ended(r, r.finished_s);
      ++done;
    }
    w.finished_count += done;
    if (w.closed_loop && done > 0) w.source_wake->notify_all();
    w.kv.start_moves(slot);  // finished requests may have made room for KV caches waiting to come here
  }
}

// An open-loop source is read ahead one request and slept on; a closed-loop one (sessions) is waited on with a
// condition variable, so that a completion can plan a question earlier than the next planned arrival.
void SourceActor::operator()() {
  World& w = w_;
  WorkloadSource& src = *w.source;
  const std::int64_t capacity = w.cost.kv_capacity_tokens();
  try {
    if (!w.closed_loop) {
      while (auto r = src.next()) {
        sg4::this_actor::sleep_until(r->arrival_s);
        std::unique_lock lock(*w.mutex);
        if (!w.error.empty() || w.interrupt_requested()) return;  // the run was stopped (an error, an interrupt)
        if (!w.dispatcher.dispatch(*r, capacity)) return;
      }
    } else {
      std::unique_lock lock(*w.mutex);
      for (;;) {
        if (!w.error.empty() || w.interrupt_requested()) return;
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
        if (!w.dispatcher.dispatch(src.take(), capacity)) return;
      }
    }
  } catch (const std::exception& e) {  // a bad trace row, found while streaming
    std::unique_lock lock(*w.mutex);
    w.input_error = true;
    w.fail(e.what());
    return;
  }
  sg4::this_actor::sleep_until(w.scenario.duration_s);
  std::unique_lock lock(*w.mutex);
  w.source_done = true;
  w.stop_all();
}

// It ends with the last other actor and never moves the clock.
void MonitorActor::operator()() {
  World& w = w_;
  sg4::Actor::self()->daemonize();
  for (;;) {
    sg4::this_actor::sleep_for(every_s_);
    if (w.options.interrupt_flag && *w.options.interrupt_flag != 0) {
      std::unique_lock lock(*w.mutex);
      w.interrupt_requested();
      return;
    }
    if (w.options.on_progress)
      w.options.on_progress(
          RunProgress{sg4::Engine::get_clock(), w.scenario.duration_s, w.arrived_count, w.finished_count});
  }
}

}  // namespace tf::engine
