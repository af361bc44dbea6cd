#pragma once
// What the actors of one simulation share (sim/engine/): the fleet (replicas and the pools that routers spread
// requests over), the state of the run, the workload source and the outputs, all under one SimGrid mutex. Its
// services are the dispatcher (arrivals to replicas: routing, admission, central queue; dispatcher.cpp) and, with
// disaggregated serving, the KV mover (kv_transfer.cpp). The actors are in actors.cpp; the set-up in engine.cpp.
// Internal to sim/engine/.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <simgrid/s4u.hpp>

#include "cluster/cost_model.hpp"
#include "cluster/power.hpp"
#include "policies/admission.hpp"
#include "policies/batching.hpp"
#include "policies/queue_order.hpp"
#include "policies/router.hpp"
#include "results/record_sink.hpp"
#include "results/records.hpp"
#include "results/timeseries.hpp"
#include "sim/engine/engine.hpp"
#include "sim/replica/replica_model.hpp"
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

// One replica: its step planner, its queue, its GPUs (SimGrid hosts) and what the engine knows of it.
struct ReplicaSlot {
  std::unique_ptr<ReplicaModel> model;
  Pool* pool = nullptr;                      // the pool it belongs to
  std::deque<Request> waiting;               // unused with a central queue
  sg4::ConditionVariablePtr wake;
  std::vector<sg4::Host*> gpus;
  bool idle = true;                          // waiting for work with nothing running
  std::int64_t waiting_tokens = 0;           // queued_work_tokens of `waiting`
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
  enum class Role { serve, prefill, decode };
  Role role = Role::serve;
  std::unique_ptr<Router> router;
  std::vector<int> members;                  // replica indices
  std::deque<Request> central;               // with a central-queue router
  std::vector<ReplicaLoad> loads;
  bool central_queue() const { return router->central_queue(); }
};

// Arrivals to replicas: the router's pick, admission control, the central queue. The mutex is held.
class Dispatcher {
 public:
  explicit Dispatcher(World& w);
  ~Dispatcher();
  // Checks that the request fits a replica alone, writes its row as it arrives and routes it. False when the run
  // must stop (it does not fit: the error is set).
  bool dispatch(const Request& r, std::int64_t kv_capacity_tokens);
  // The replica (an index in World::replicas) the pool's router picks for `r`; -1 when a central queue has no room.
  int pick(Pool& pool, const Request& r);
  // Puts a request in a replica's own queue and wakes it.
  void enqueue(ReplicaSlot& slot, Request r);
  // With a central queue: wake the replica that can take the head first (see CentralQueueRouter).
  void wake_for_central_head(Pool& pool);
  // Wakes a replica to look at its queue again (some of its KV was freed): with a central queue, whoever can take
  // the head first.
  void wake_replica(ReplicaSlot& slot);
  // The routers' indexes: call whenever what a router sees of replica `replica` (an index in World::replicas) may
  // have changed: its model's batch, step or KV (begin_step, finish_step, end_at_boundary_after, hold_kv,
  // release_kv), its queue or queued tokens, incoming / incoming_tokens, or its idle or exited flag. O(log n).
  void replica_changed(int replica);
  struct Indexes;  // dispatcher.cpp

 private:
  void route(const Request& arrival);
  void reject(Request r, int replica);
  std::vector<ReplicaLoad>& replica_loads(Pool& pool, double now);
  World& w_;
  std::unique_ptr<Indexes> indexes_;
};

// An actor that moves KV caches, one at a time (kv_transfer.cpp). Workers are kept and reused (creating an actor per
// transfer cost more than the rest of the simulation together); a new one is made only when every worker is busy,
// so that a transfer always starts at once.
struct TransferWorker {
  sg4::ConditionVariablePtr wake;
  std::optional<KvTransfer> job;
  std::vector<sg4::CommPtr> comms;  // of the move under way (cancelled when the run stops)
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
  // Wakes every worker to see that the run stops; with `cancel`, the moves under way are cancelled.
  void stop(bool cancel);
  std::int64_t transfers() const { return transfers_; }
  double bytes() const { return bytes_; }

 private:
  friend class TransferWorkerActor;
  void start_move(KvTransfer t);
  void move(TransferWorker& me, KvTransfer t, std::unique_lock<sg4::Mutex>& lock);
  // Once the prefill pool has ended and no KV cache is on its way, the decode replicas may end (they are woken to
  // see it), and so may the transfer workers.
  void check_transfers_over();
  World& w_;
  bool enabled_ = false;
  int prefill_active_ = 0;      // prefill replicas whose actor has not ended
  int in_flight_ = 0;           // handed off and not yet in a decode replica's queue
  double kv_bytes_per_token_ = 0.0;  // for the whole replica; each GPU sends its share
  std::int64_t transfers_ = 0;
  double bytes_ = 0.0;
  std::vector<std::unique_ptr<TransferWorker>> workers_;
  std::vector<TransferWorker*> idle_workers_;
  bool over_ = false;           // no transfer will come any more: the workers end
};

struct World {
  World(const Scenario& s, RunOptions o)
      : scenario(s),
        options(std::move(o)),
        cost(s.model, s.gpu, s.dtype, s.tensor_parallel, s.cost),
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

  // The run: one mutex for the actors; an error (or interrupt) stops it.
  sg4::MutexPtr mutex;
  std::string error;
  bool input_error = false;                  // error is about the workload's input (a bad trace row)
  bool interrupted = false;                  // stopped through RunOptions::interrupt_flag
  std::size_t waiting_total = 0;             // requests waiting in all replica queues and the central queue

  // The workload.
  std::unique_ptr<WorkloadSource> source;    // the requests, in arrival order
  bool closed_loop = false;                  // the source wants completions (sessions)
  sg4::ConditionVariablePtr source_wake;     // closed loop: an answer finished
  bool source_done = false;

  // What comes out.
  RecordSink* sink = nullptr;                // every request's record, at arrival and at its end
  std::size_t arrived_count = 0;             // requests arrived so far
  std::size_t completed_in_window = 0;       // requests that finished inside [warmup_s, duration_s)
  std::size_t finished_count = 0;            // requests finished so far (progress)
  ActivityBins activity;                     // the replicas' steps per window (time series)

  Dispatcher dispatcher{*this};
  KvMover kv{*this};

  // A request ended (served or turned away): its row, and for sessions the source learns of it.
  void request_ended(const Request& r, double time_s);
  // Wakes every replica and transfer worker: to see that the arrivals have ended, or that the run stops (an error
  // or an interrupt: then the KV moves under way are cancelled, and not waited for).
  void stop_all();
  // Whether RunOptions::interrupt_flag is raised; the first time, stops the run as interrupted (the actors see the
  // error and end; killing actors that wait on condition variables crashes SimGrid 3.32). The mutex is held.
  bool interrupt_requested();
  // Sets the error that stops the run (the first one stays) and stops it.
  void fail(std::string why);
};

// The actors, small classes run by SimGrid (actors.cpp).
class ReplicaActor {
 public:
  ReplicaActor(World& w, int index) : w_(w), index_(index) {}
  void operator()();

 private:
  World& w_;
  int index_;
};

// Pulls requests from the workload source in arrival order and hands them to the dispatcher.
class SourceActor {
 public:
  explicit SourceActor(World& w) : w_(w) {}
  void operator()();

 private:
  World& w_;
};

// A daemon: reports progress and stops the run when the interrupt flag is raised.
class MonitorActor {
 public:
  MonitorActor(World& w, double every_s) : w_(w), every_s_(every_s) {}
  void operator()();

 private:
  World& w_;
  double every_s_;
};

class TransferWorkerActor {
 public:
  TransferWorkerActor(World& w, TransferWorker& me) : w_(w), me_(me) {}
  void operator()();

 private:
  World& w_;
  TransferWorker& me_;
};

}  // namespace tf::engine
