#pragma once
// One simulation's state (sim/engine/): the fleet (replicas and the pools that routers spread requests over), the
// state of the run, the workload source, the outputs and the event heap that one SimGrid actor advances (the
// event loop, event_loop.cpp). Its services are the dispatcher (arrivals to replicas: routing, admission, central
// queue; dispatcher.cpp) and, with disaggregated serving, the KV mover (kv_transfer.cpp), whose transfers are
// SimGrid communications over the platform's network. The set-up is in engine.cpp. Internal to sim/engine/.
#include <cmath>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include <simgrid/s4u.hpp>

#include "cluster/cost_model.hpp"
#include "cluster/power.hpp"
#include "policies/admission.hpp"
#include "policies/autoscaler.hpp"
#include "policies/batching.hpp"
#include "policies/failures.hpp"
#include "policies/queue_order.hpp"
#include "policies/router.hpp"
#include "results/record_sink.hpp"
#include "results/records.hpp"
#include "results/timeseries.hpp"
#include "sim/engine/engine.hpp"
#include "sim/engine/timer_heap.hpp"
#include "sim/replica/replica_model.hpp"
#include "workloads/curve.hpp"
#include "workloads/source.hpp"

namespace tf::engine {

namespace sg4 = simgrid::s4u;

struct World;

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

struct Pool;

// [autoscaler]: where a replica stands (the indices of World's state times).
enum class ReplicaPower { serving = 0, starting = 1, draining = 2, off = 3 };

// One replica: its step planner, its queue, its GPUs (SimGrid hosts) and what the engine knows of it.
struct ReplicaSlot {
  // Where it stands in the event loop: between steps (its handler runs), waiting for work (woken by an arrival, a
  // freed KV cache or its batch timeout), running a step that ends at step_end_s, or ended.
  // down ([failures]): failed, out of its pool until repaired. off ([autoscaler]): not serving (off or starting).
  enum class Phase { boundary, waiting, stepping, exited, down, off };
  int index = 0;
  std::unique_ptr<ReplicaModel> model;
  Pool* pool = nullptr;                      // the pool it belongs to
  std::deque<Request> waiting;               // unused with a central queue
  Phase phase = Phase::boundary;
  double step_end_s = 0.0;                   // stepping: when the step ends (a timer of the event heap)
  bool cut = false;                          // stepping: its decode stretch was cut short for new work
  bool notified = false;                     // in the event loop's list of replicas to wake at this instant
  std::vector<sg4::Host*> gpus;
  bool idle = true;                          // waiting for work with nothing running
  std::int64_t waiting_tokens = 0;           // queued_work_tokens of `waiting`
  bool exited = false;                       // its actor has ended (the run is draining)
  bool down = false;                         // [failures]: failed, not in its pool's members until repaired
  double down_since_s = 0.0;
  // [autoscaler]: serving (in its pool), off, starting (its cold start; its timer is when it serves) or draining
  // (out of its pool, finishing its batch), since power_since_s.
  ReplicaPower power = ReplicaPower::serving;
  double power_since_s = 0.0;
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
  enum class Role { serve, prefill, decode };
  Role role = Role::serve;
  std::unique_ptr<Router> router;
  std::vector<int> members;                  // replica indices
  std::deque<Request> central;               // with a central-queue router
  std::vector<ReplicaLoad> loads;
  bool central_queue() const { return router->central_queue(); }
};

// Arrivals to replicas: the router's pick, admission control, the central queue.
class Dispatcher {
 public:
  explicit Dispatcher(World& w);
  ~Dispatcher();
  // Checks that the request fits a replica alone, writes its row as it arrives and routes it. False when the run
  // must stop (it does not fit: the error is set).
  bool dispatch(const Request& r, std::int64_t kv_capacity_tokens);
  // The replica (an index in World::replicas) the pool's router picks for `r`; -1 when a central queue has no room.
  int pick(Pool& pool, const Request& r);
  // [failures]: a request taken off a failed replica (retried, or moved from its queue), routed again without the
  // admission check and without a new arrival record; parked while every replica of the pool is down.
  void redispatch(Request r);
  // [failures]: the pool's members changed (a replica went down or came back): its indexes are built again at
  // the next pick.
  void pool_changed(const Pool& pool);
  // Puts a request in a replica's own queue and wakes it.
  void enqueue(ReplicaSlot& slot, Request r);
  // With a central queue: wake the replica that can take the head first (see CentralQueueRouter).
  void wake_for_central_head(Pool& pool);
  // Wakes a replica to look at its queue again (some of its KV was freed): with a central queue, whoever can take
  // the head first.
  void wake_replica(ReplicaSlot& slot);
  // The routers' indexes: call whenever what a router sees of replica `replica` (an index in World::replicas) may
  // have changed: its model's batch, step or KV (begin_step, finish_step, end_at_boundary_after, hold_kv,
  // release_kv), its queue or queued tokens, incoming / incoming_tokens, or its idle or exited flag. O(1): it is marked,
  // and its entries are brought up to date (O(log n)) at the next pick, as of the pick's time.
  void replica_changed(int replica);
  void update_index(int replica);  // replica_changed's work, done at the next pick
  struct Indexes;  // dispatcher.cpp

 private:
  void route(const Request& arrival);
  void reject(Request r, int replica);
  std::vector<ReplicaLoad>& replica_loads(Pool& pool, double now, const Request& r);
  World& w_;
  std::unique_ptr<Indexes> indexes_;
};

// A KV cache on its way: one SimGrid communication per GPU share, the move done when the last one ends.
struct Move {
  KvTransfer transfer;
  int shares_left = 0;
};

// Disaggregated serving: KV caches from prefill replicas to decode replicas over the SimGrid network.
class KvMover {
 public:
  explicit KvMover(World& w) : w_(w) {}
  void enable(int prefill_replicas, double kv_bytes_per_token);
  // A request's prefill (and first token) ended on prefill replica `from`: pick its decode replica, hold its KV on
  // `from` and move it when the decode replica has room.
  void hand_off(Request r, int from);
  // Starts the moves waiting for room at a decode replica, in order, while its KV cache has room for them.
  void start_moves(ReplicaSlot& slot);
  // Whether nothing more can come to this replica once the source is done: always, except for a decode replica
  // while prefill replicas still run or KV caches are on their way.
  bool upstream_done(const ReplicaSlot& slot) const;
  // A prefill replica's actor ended.
  void prefill_replica_ended();
  // Cancels the moves under way (the run stops).
  void cancel_all();
  // The communications under way, for the event loop to wait on (any order); comm_ended(k) when comms()[k] ended.
  const std::vector<sg4::CommPtr>& comms() const { return comms_; }
  void comm_ended(std::size_t k);
  std::int64_t transfers() const { return transfers_; }
  double bytes() const { return bytes_; }

 private:
  void start_move(KvTransfer t);
  void move_ended(Move& m);
  // Once the prefill pool has ended and no KV cache is on its way, the decode replicas may end (they are woken to
  // see it).
  void check_transfers_over();
  World& w_;
  bool enabled_ = false;
  int prefill_active_ = 0;      // prefill replicas whose actor has not ended
  int in_flight_ = 0;           // handed off and not yet in a decode replica's queue
  double kv_bytes_per_token_ = 0.0;  // for the whole replica; each GPU sends its share
  std::int64_t transfers_ = 0;
  double bytes_ = 0.0;
  std::vector<std::unique_ptr<Move>> moves_;  // under way
  std::vector<sg4::CommPtr> comms_;           // under way, each of moves_[comm_move_[k]]
  std::vector<Move*> comm_move_;
};

// Who a timer wakes: a replica index, or the source (its next arrival). TimerHeap's owner is who + 1.
inline constexpr int kSource = -1;

struct World {
  World(const Scenario& s, RunOptions o)
      : scenario(s),
        options(std::move(o)),
        cost(s.model, s.gpu, s.dtype, s.layout(), s.cost),
        power(s.gpu) {}

  // What is simulated.
  const Scenario& scenario;
  RunOptions options;
  CostModel cost;
  PowerModel power;                          // what each GPU draws during a step (cluster/power.hpp)
  std::unique_ptr<BatchingPolicy> batching;
  std::unique_ptr<AdmissionPolicy> admission;
  std::unique_ptr<QueueOrder> order;         // keeps every queue (replica or central) in its order
  std::vector<Pool> pools;                   // arrivals() first; decode_pool() second when disaggregated
  std::vector<ReplicaSlot> replicas;
  Pool& arrivals() { return pools.front(); }
  Pool& decode_pool() { return pools.back(); }
  bool disaggregated() const { return pools.size() > 1; }

  // The run: the clock of the event loop (SimGrid's clock is brought to it whenever a transfer starts, and at the
  // end); an error (or interrupt) stops it.
  double now = 0.0;
  std::string error;
  bool input_error = false;                  // error is about the workload's input (a bad trace row)
  bool interrupted = false;                  // stopped through RunOptions::interrupt_flag
  std::size_t waiting_total = 0;             // requests waiting in all replica queues and the central queue

  // The workload.
  std::unique_ptr<WorkloadSource> source;    // the requests, in arrival order
  bool closed_loop = false;                  // the source wants completions (sessions)
  bool source_exhausted = false;             // no more arrivals; the source ends at duration_s
  bool source_done = false;                  // it has ended: replicas drain and end
  std::optional<Request> next_arrival;       // open loop: the source read one request ahead
  bool source_notified = false;              // closed loop: an answer finished, the next question may come sooner

  // The event loop (event_loop.cpp): timers by time (ties in the order set) and, at the current instant, the
  // replicas (and the source) woken by what just happened, in the order woken.
  TimerHeap timers;                          // owners: the source (0) and the replicas (1 ..)
  std::deque<int> woken;
  int handling = -2;                         // the replica whose handler runs (its own wake-ups are moot)

  // What comes out.
  RecordSink* sink = nullptr;                // every request's record, at arrival and at its end
  std::size_t arrived_count = 0;             // requests arrived so far
  double last_arrival_s = -1.0;              // the latest of their arrivals (-1: none yet)
  std::uint64_t over_context_cut = 0;        // of them, cut to the context window (workload.over_context)
  std::uint64_t over_context_dropped = 0;    // and turned away for it
  std::size_t completed_in_window = 0;       // requests that finished inside [warmup_s, duration_s)
  std::size_t finished_count = 0;            // requests finished so far (progress)
  ActivityBins activity;                     // the replicas' steps per window (time series)

  Dispatcher dispatcher{*this};
  KvMover kv{*this};

  // [failures] (absent: none of this is used). The process's next event is a timer of owner failures_owner().
  std::unique_ptr<FailureProcess> failures;
  bool failures_over = false;                // the run is complete: no more failure events
  std::deque<Request> parked;                // arrivals and retries while every replica is down, in order
  std::size_t ended_count = 0;               // requests ended (served, rejected or failed)
  std::int64_t retried_requests = 0, retries = 0, failed_requests = 0, requeued_requests = 0;
  double lost_kv_tokens = 0.0;
  double down_window_s = 0.0, down_total_s = 0.0;  // replica time down, summed (window, whole run)
  int failures_owner() const { return static_cast<int>(replicas.size()); }
  // Once the source is done and every request has ended, the failure process stops (its timer is dropped).
  void check_complete();

  // [autoscaler] (absent: none of this is used). Its evaluations are timers of owner autoscaler_owner().
  std::unique_ptr<Autoscaler> autoscaler;
  std::unique_ptr<AutoscalerController> scaler;
  std::unique_ptr<RateCurve> expected_curve;  // the workload's rate curve (the predictive policy reads it ahead)
  double expected_rate = 0.0;                 // without a curve: its constant rate (0: unknown, a trace)
  double cold_start = 0.0;                    // seconds from start to serving
  int power_count[4] = {0, 0, 0, 0};          // replicas serving, starting, draining, off
  double power_window_s[4] = {0, 0, 0, 0}, power_total_s[4] = {0, 0, 0, 0};  // replica time in each, summed
  std::int64_t scale_ups = 0, scale_downs = 0;  // replicas started, drained (or cancelled while starting)
  int peak_replicas = 0;                        // most serving + starting + draining at once
  std::size_t arrived_at_last_evaluation = 0;
  std::vector<ScalingEvent> scaling_events;
  int autoscaler_owner() const { return static_cast<int>(replicas.size()) + (failures ? 1 : 0); }
  // A replica changes state at `now`: its time in the state it leaves is counted, an event written.
  // `event`: its name in scaling.csv when not the usual one (start, serve, undrain, drain, off, cancel): "fail".
  void set_power(ReplicaSlot& slot, ReplicaPower p, const char* event = nullptr);

  // A request ended (served or turned away): its row, and for sessions the source learns of it.
  void request_ended(const Request& r, double time_s);
  // Wakes a replica at this instant (after what runs now): one waiting for work looks at its queue, one in a
  // decode stretch sees whether new work could join at its next iteration boundary.
  void wake(ReplicaSlot& slot);
  // Closed loop: an answer ended or a question was turned away; the source looks again at its next question.
  void wake_source();
  // Sets a timer for replica `who` (or kSource) at `t`, replacing its pending one; cancel_timer drops it.
  // A time that is not a number is an internal error: it stops the run with that error (not a crash).
  void set_timer(int who, double t) {
    if (std::isnan(t)) return fail("internal error: a timer at NaN (owner " + std::to_string(who) + ")");
    timers.set(static_cast<std::size_t>(who + 1), t);
  }
  void cancel_timer(int who) { timers.cancel(static_cast<std::size_t>(who + 1)); }
  // Wakes every replica: to see that the arrivals have ended, or that the run stops (an error or an interrupt:
  // then the KV moves under way are cancelled, and not waited for).
  void stop_all();
  // Whether RunOptions::interrupt_flag is raised; the first time, stops the run as interrupted (the event loop sees
  // the error and ends).
  bool interrupt_requested();
  // Sets the error that stops the run (the first one stays) and stops it.
  void fail(std::string why);
};

// The event loop, run by the simulation's one SimGrid actor (event_loop.cpp): it takes the events in time order
// (replicas' step ends and timeouts, arrivals, the wake-ups they cause at the same instant), waiting on SimGrid
// only while KV transfers are under way.
class EventLoop {
 public:
  explicit EventLoop(World& w) : w_(w) {}
  void operator()();

 private:
  void replica_boundary(ReplicaSlot& slot);  // plans its next step (or waits, or ends)
  void replica_timer(ReplicaSlot& slot);     // its step ended, or its batch timeout came
  void replica_woken(ReplicaSlot& slot);
  void source_event();                       // open loop: the arrival read ahead; closed loop: look again
  void source_ended();
  void progress_until(double t);
  void failure_event();                      // [failures]: the process's transitions at this instant
  void replica_down(ReplicaSlot& slot);
  void replica_up(ReplicaSlot& slot);
  void autoscale();                          // [autoscaler]: an evaluation, its decision applied
  void replica_serves(ReplicaSlot& slot);    // its cold start is over: into its pool
  void replica_drains(ReplicaSlot& slot);    // out of its pool; it finishes its batch, then goes off
  void replica_off(ReplicaSlot& slot);
  void start_replacement();                  // [autoscaler] with [failures], after the arrivals (event_loop.cpp)
  World& w_;
  double next_progress_s_ = 0.0;
};

}  // namespace tf::engine
