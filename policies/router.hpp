#pragma once
// Routers decide which replica gets an arriving request. Plain data, no SimGrid. Each router is one file in
// policies/ that registers itself (policies/registry.hpp; docs/adding-a-policy.md walks through one).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "policies/registry.hpp"
#include "workloads/random.hpp"
#include "workloads/request.hpp"

namespace tf {

// A replica as the router sees it when a request arrives.
struct ReplicaLoad {
  int running_requests = 0;
  std::size_t waiting_requests = 0;
  bool idle = true;                       // no batch running and nothing waiting
  // Filled in for routers with a central queue only:
  bool has_room = false;                  // would admit the head of the central queue at its next boundary
  double next_boundary_s = 0.0;           // when its next iteration boundary falls
  // Filled in for every router:
  std::int64_t outstanding_tokens = 0;    // prompt tokens not yet prefilled + output tokens not yet produced,
                                          // of its running and waiting requests
  double kv_used_fraction = 0.0;          // KV reserved / KV capacity
  // Filled in for routers that use prefix caching (Router::uses_prefix_cache), for the request being routed: the
  // prompt tokens of its longest prefix in this replica's prefix cache (what it would not prefill there).
  std::int64_t cached_prefix_tokens = 0;
};

// The replicas' loads as a router sees them when a request arrives, read on demand: a router reads only what it
// needs (power-of-two reads two replicas, round-robin none). The engine answers the indexed queries below from
// indexes it keeps up to date as replicas change (O(log n) per query instead of a pass over the fleet); the
// defaults here scan the accessors, and are the reference the indexed answers must equal. Indices are positions in
// the pool, 0 .. size() - 1; every query breaks ties to the lowest index and gives -1 for an empty pool.
class LoadView {
 public:
  virtual ~LoadView() = default;
  virtual std::size_t size() const = 0;
  // What ReplicaLoad holds, one field at a time (see ReplicaLoad).
  virtual int running_requests(std::size_t i) const = 0;
  virtual std::size_t waiting_requests(std::size_t i) const = 0;
  virtual bool idle(std::size_t i) const = 0;
  virtual std::int64_t outstanding_tokens(std::size_t i) const = 0;
  virtual double kv_used_fraction(std::size_t i) const = 0;
  // Central queue only (false and 0 otherwise): whether replica i would admit the head of the central queue at its
  // next boundary, and when that boundary falls (meaningful only where has_room(i)).
  virtual bool has_room(std::size_t i) const = 0;
  virtual double next_boundary_s(std::size_t i) const = 0;
  // Prefix caching: the prompt tokens of r's longest prefix in replica i's prefix cache (ReplicaLoad's
  // cached_prefix_tokens for r); 0 without prefix caching.
  virtual std::int64_t cached_prefix_tokens(std::size_t /*i*/, const Request& /*r*/) const { return 0; }
  // Every field of replica i (cached_prefix_tokens left 0).
  ReplicaLoad load(std::size_t i) const;

  // Indexed queries.
  virtual int fewest_requests() const;           // fewest running + waiting
  virtual int fewest_waiting() const;            // fewest waiting, then fewest running
  virtual int least_outstanding_tokens() const;  // fewest outstanding tokens
  virtual int least_kv() const;                  // smallest kv_used_fraction, then fewest waiting
  virtual int first_idle() const;                // the lowest idle index; -1 when none is idle
};

// A LoadView over loads filled in beforehand (tests, and the engine's full-scan reference mode).
class VectorLoadView final : public LoadView {
 public:
  explicit VectorLoadView(const std::vector<ReplicaLoad>& loads) : loads_(loads) {}
  std::size_t size() const override { return loads_.size(); }
  int running_requests(std::size_t i) const override { return loads_[i].running_requests; }
  std::size_t waiting_requests(std::size_t i) const override { return loads_[i].waiting_requests; }
  bool idle(std::size_t i) const override { return loads_[i].idle; }
  std::int64_t outstanding_tokens(std::size_t i) const override { return loads_[i].outstanding_tokens; }
  double kv_used_fraction(std::size_t i) const override { return loads_[i].kv_used_fraction; }
  bool has_room(std::size_t i) const override { return loads_[i].has_room; }
  double next_boundary_s(std::size_t i) const override { return loads_[i].next_boundary_s; }
  std::int64_t cached_prefix_tokens(std::size_t i, const Request&) const override {
    return loads_[i].cached_prefix_tokens;
  }

 private:
  const std::vector<ReplicaLoad>& loads_;
};

// A router has two ways to see the loads (docs/adding-a-policy.md):
// - the simple one: route(request, loads) gets one ReplicaLoad per replica, every field filled in; it costs a pass
//   over the fleet per arrival, which is fine for a few hundred replicas;
// - the fast one: pick(request, view) reads a LoadView, only what it needs, and may ask its indexed queries.
// The engine calls pick(); by default it fills the vector (when uses_loads()) and calls route(). A router that
// overrides pick() derives from ViewRouter, whose route() wraps the vector in a VectorLoadView and calls pick().
class Router {
 public:
  virtual ~Router() = default;
  virtual std::string name() const = 0;
  // True for a router that keeps one FIFO of its own: replicas take work from it when they have room.
  virtual bool central_queue() const { return false; }
  // False for a router that ignores the replicas' loads: the vector route() gets is then sized but not filled
  // (filling it costs a pass over the fleet per arrival).
  virtual bool uses_loads() const { return true; }
  // True for a router that reads the replicas' prefix caches (LoadView::cached_prefix_tokens): the engine's full
  // scan then fills ReplicaLoad::cached_prefix_tokens for the request.
  virtual bool uses_prefix_cache() const { return false; }
  // Without a central queue: the replica the request goes to.
  // With a central queue: the replica to wake up for the head of the queue (an idle one, else the one with
  // room whose next iteration boundary comes first, which takes the head there), or -1 when no replica
  // has room (the next one to finish a request takes it).
  virtual int route(const Request& request, const std::vector<ReplicaLoad>& replicas) = 0;
  // The same choice, from a LoadView; what the engine calls.
  virtual int pick(const Request& request, const LoadView& loads);

 private:
  std::vector<ReplicaLoad> loads_;  // the default pick()'s vector, reused
};

// A router written against LoadView: pick() is its choice; route() over a vector gives the same.
class ViewRouter : public Router {
 public:
  int route(const Request& request, const std::vector<ReplicaLoad>& replicas) final {
    return pick(request, VectorLoadView(replicas));
  }
  int pick(const Request& request, const LoadView& loads) override = 0;
};

// Round-robin: request i goes to replica i mod N. (Declared here for tests; policies/router_round_robin.cpp.)
class RoundRobinRouter final : public ViewRouter {
 public:
  std::string name() const override { return "round-robin"; }
  bool uses_loads() const override { return false; }
  int pick(const Request& request, const LoadView& loads) override;

 private:
  std::size_t next_ = 0;
};

// One FIFO at the router; a replica takes work when it has room, at its next iteration boundary. The head
// goes to the replica that can take it first: an idle one (lowest index), else the one with room whose
// boundary comes first (ties: lowest index). This is what replicas polling the queue at every iteration
// would do, without waking them all. (policies/router_central_queue.cpp.)
class CentralQueueRouter final : public ViewRouter {
 public:
  std::string name() const override { return "central-queue"; }
  bool central_queue() const override { return true; }
  int pick(const Request& request, const LoadView& loads) override;
};

// The kind "router" in the registry: policy.router chooses one. Its factory takes the parameter values and a seed:
// a router draws from its own random stream, derived from the scenario seed (make_stream(seed, ...)).
template <>
struct PolicyKind<Router> {
  static PolicyKindInfo info() {
    return {"router", "router", "router", "round-robin", "which replica gets an arriving request"};
  }
  using Factory = std::function<std::unique_ptr<Router>(const PolicyParams&, std::uint64_t seed)>;
};

// The router of that name, or nullptr when unknown; its parameters take their defaults, or the values in `params`
// (std::invalid_argument naming the parameter for a value of the wrong type or out of range).
inline std::unique_ptr<Router> make_router(const std::string& name, const PolicyParams& params, std::uint64_t seed) {
  return make_policy<Router>(name, params, seed);
}
inline std::unique_ptr<Router> make_router(const std::string& name, std::uint64_t seed = 1) {
  return make_router(name, PolicyParams{}, seed);
}
// The registered routers, sorted.
inline std::vector<std::string> router_names() { return policy_names<Router>(); }

// The index of the smallest key, ties to the lowest index; -1 for an empty list. For routers.
template <class Key>
int argmin(const std::vector<ReplicaLoad>& replicas, Key key) {
  int best = -1;
  for (std::size_t i = 0; i < replicas.size(); ++i)
    if (best < 0 || key(replicas[i]) < key(replicas[static_cast<std::size_t>(best)])) best = static_cast<int>(i);
  return best;
}

// The same over a LoadView: key(loads, i) for each i.
template <class Key>
int argmin(const LoadView& loads, Key key) {
  int best = -1;
  for (std::size_t i = 0; i < loads.size(); ++i)
    if (best < 0 || key(loads, i) < key(loads, static_cast<std::size_t>(best))) best = static_cast<int>(i);
  return best;
}

}  // namespace tf
