// Arrivals to replicas: the router's pick over the pool's loads, admission control (policies/admission.hpp), the
// central queue. See sim/engine/world.hpp.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "policies/load_index.hpp"
#include "sim/engine/world.hpp"
#include "sim/replica/request_row.hpp"

namespace tf::engine {

// The routers see the loads through a LoadView (policies/router.hpp) read on demand, whose indexed queries are
// answered from one MinTree (policies/load_index.hpp) per query and pool, built at its first use and kept up to date
// by replica_changed(). $TOKENFLEET_ROUTER_LOADS chooses another path, for tests: "scan" fills every replica's
// ReplicaLoad at each arrival and calls Router::route (the full scan the indexes replace: the same choices, the
// reference), "check" answers from the indexes and fails the run (an internal error) where an answer differs from a
// scan of the view.
namespace {

enum class LoadsMode { indexed, scan, check };

LoadsMode loads_mode_from_environment() {
  const char* v = std::getenv("TOKENFLEET_ROUTER_LOADS");
  const std::string_view mode = v ? v : "";
  if (mode == "scan") return LoadsMode::scan;
  if (mode == "check") return LoadsMode::check;
  return LoadsMode::indexed;
}

constexpr double kForever = std::numeric_limits<double>::infinity();

// What a router sees of a replica (ReplicaLoad's fields).
std::size_t waiting_of(const Pool& pool, const ReplicaSlot& slot) {
  return pool.central_queue() ? 0 : slot.waiting.size() + static_cast<std::size_t>(slot.incoming);
}
bool idle_of(const ReplicaSlot& slot) { return slot.idle && !slot.exited && slot.incoming == 0; }
std::int64_t tokens_at(const ReplicaSlot& slot, double now) {
  return slot.model->outstanding_tokens_at(now) + slot.waiting_tokens + slot.incoming_tokens;
}
double kv_fraction(const ReplicaSlot& slot, std::int64_t kv_tokens) {
  return static_cast<double>(kv_tokens) / static_cast<double>(std::max<std::int64_t>(1, slot.model->kv_capacity_tokens()));
}

// The indexes' keys: the loads themselves. Outstanding tokens and (paged) KV also move in time, without the
// replica's state changing, as the iterations of a decode stretch end (ReplicaModel::outstanding_tokens_at,
// kv_reserved_tokens_at): their trees hold the value as of a time, and a third tree holds when each replica's value
// may next move (next_change_s); a query first brings up to date the replicas whose time has come, then reads the
// minimum. That is O(log n) per replica whose iteration ended since the last query: a few per arrival, however
// large the pool.
using RequestsKey = std::size_t;                 // running + waiting
using WaitingKey = std::pair<std::size_t, int>;  // waiting, running
using TokensKey = std::int64_t;
using KvKey = std::pair<double, std::size_t>;    // KV fraction, waiting
using IdleKey = int;                             // 0 idle, 1 not

RequestsKey requests_key(const Pool& pool, const ReplicaSlot& slot) {
  return static_cast<std::size_t>(slot.model->running_requests()) + waiting_of(pool, slot);
}
WaitingKey waiting_key(const Pool& pool, const ReplicaSlot& slot) {
  return {waiting_of(pool, slot), slot.model->running_requests()};
}
KvKey kv_key(const Pool& pool, const ReplicaSlot& slot, double now) {
  return {kv_fraction(slot, slot.model->kv_reserved_tokens_at(now)), waiting_of(pool, slot)};
}
// A time at or before the first instant after `now` at which the replica's outstanding tokens or KV at that instant
// may differ from theirs at `now` (only the iterations of a decode stretch ending move them), and after `now`:
// its next iteration boundary, less a margin for the rounding of start + duration (early is harmless: the values
// are read again and found unchanged).
double next_change_s(const ReplicaSlot& slot, double now) {
  const ReplicaModel::Step& step = slot.model->step();
  if (step.kind != ReplicaModel::StepKind::decode || now >= step.end_s) return kForever;
  const double boundary = slot.model->next_boundary_after(now);
  return std::max(std::nextafter(now, kForever), boundary - 1e-12 * std::max(1.0, std::abs(boundary)));
}
IdleKey idle_key(const ReplicaSlot& slot) { return idle_of(slot) ? 0 : 1; }

}  // namespace

struct Dispatcher::Indexes {
  LoadsMode mode = LoadsMode::indexed;
  std::vector<std::size_t> position;  // replica -> its position in its pool
  struct PoolIndex {
    MinTree<RequestsKey> requests;
    MinTree<WaitingKey> waiting;
    MinTree<TokensKey> tokens;  // as of the last time each was brought up to date
    MinTree<KvKey> kv;          // likewise
    MinTree<double> changes;    // when each of those may next move (next_change_s)
    MinTree<IdleKey> idle;
  };
  std::vector<PoolIndex> pools;  // as World::pools; empty until the first pick
  // Replicas changed since the last pick: their entries are brought up to date at the next pick, once each, as of
  // its time (a step changes a replica several times at one instant; a pick needs only where it stands then).
  std::vector<char> dirty;
  std::vector<int> dirty_list;

  void prepare(const World& w) {
    if (!pools.empty()) return;
    pools.resize(w.pools.size());
    dirty.assign(w.replicas.size(), 0);
    position.assign(w.replicas.size(), 0);
    for (const Pool& p : w.pools)
      for (std::size_t i = 0; i < p.members.size(); ++i) position[static_cast<std::size_t>(p.members[i])] = i;
  }
};

namespace {

// The adapter: a pool's loads at `now`, read from its replicas when asked.
class PoolLoadView final : public LoadView {
 public:
  using PoolIndex = Dispatcher::Indexes::PoolIndex;
  PoolLoadView(World& w, const Pool& pool, PoolIndex& index, bool check, double now)
      : w_(w), pool_(pool), index_(index), check_(check), now_(now) {}
  std::size_t size() const override { return pool_.members.size(); }
  int running_requests(std::size_t i) const override { return slot(i).model->running_requests(); }
  std::size_t waiting_requests(std::size_t i) const override { return waiting_of(pool_, slot(i)); }
  bool idle(std::size_t i) const override { return idle_of(slot(i)); }
  std::int64_t outstanding_tokens(std::size_t i) const override { return tokens_at(slot(i), now_); }
  double kv_used_fraction(std::size_t i) const override {
    return kv_fraction(slot(i), slot(i).model->kv_reserved_tokens_at(now_));
  }
  bool has_room(std::size_t i) const override {
    const ReplicaSlot& s = slot(i);
    return pool_.central_queue() && !s.idle && !s.exited && s.model->could_admit(pool_.central, now_);
  }
  double next_boundary_s(std::size_t i) const override {
    const ReplicaSlot& s = slot(i);
    return pool_.central_queue() && !s.idle && !s.exited ? s.model->next_boundary_after(now_) : 0.0;
  }
  std::int64_t cached_prefix_tokens(std::size_t i, const Request& r) const override {
    const ReplicaModel& m = *slot(i).model;
    if (!m.prefix_caching()) return 0;
    if (!blocks_named_ || blocks_of_ != r.id) {  // the request's blocks, named once per pick
      prefix_block_ids(r, m.prefix_ids(), blocks_);
      blocks_of_ = r.id;
      blocks_named_ = true;
    }
    return m.cached_prefix_tokens(r, blocks_);
  }

  int fewest_requests() const override {
    auto& t = built(index_.requests, [&](const ReplicaSlot& s) { return requests_key(pool_, s); });
    return checked("fewest_requests", t.min_index(), [this] { return LoadView::fewest_requests(); });
  }
  int fewest_waiting() const override {
    auto& t = built(index_.waiting, [&](const ReplicaSlot& s) { return waiting_key(pool_, s); });
    return checked("fewest_waiting", t.min_index(), [this] { return LoadView::fewest_waiting(); });
  }
  int least_outstanding_tokens() const override {
    auto& t = built(index_.tokens, [&](const ReplicaSlot& s) { return tokens_at(s, now_); });
    bring_up_to_date();
    return checked("least_outstanding_tokens", t.min_index(), [this] { return LoadView::least_outstanding_tokens(); });
  }
  int least_kv() const override {
    auto& t = built(index_.kv, [&](const ReplicaSlot& s) { return kv_key(pool_, s, now_); });
    bring_up_to_date();
    return checked("least_kv", t.min_index(), [this] { return LoadView::least_kv(); });
  }
  int first_idle() const override {
    auto& t = built(index_.idle, [&](const ReplicaSlot& s) { return idle_key(s); });
    const int k = t.min_index();
    return checked("first_idle", k >= 0 && t.key(static_cast<std::size_t>(k)) == 0 ? k : -1, [this] { return LoadView::first_idle(); });
  }

 private:
  const ReplicaSlot& slot(std::size_t i) const { return w_.replicas[static_cast<std::size_t>(pool_.members[i])]; }
  template <class Tree, class KeyOf>
  Tree& built(Tree& t, KeyOf key_of) const {
    if (!t.built()) t.build(size(), [&](std::size_t i) { return key_of(slot(i)); });
    return t;
  }
  // The replicas whose outstanding tokens or KV may have moved since they were last read: read again at now_.
  void bring_up_to_date() const {
    auto& changes = built(index_.changes, [&](const ReplicaSlot& s) { return next_change_s(s, now_); });
    for (int k = changes.min_index(); k >= 0 && changes.key(static_cast<std::size_t>(k)) <= now_; k = changes.min_index()) {
      const auto i = static_cast<std::size_t>(k);
      const ReplicaSlot& s = slot(i);
      if (index_.tokens.built()) index_.tokens.set(i, tokens_at(s, now_));
      if (index_.kv.built()) index_.kv.set(i, kv_key(pool_, s, now_));
      changes.set(i, next_change_s(s, now_));
    }
  }
  // In the check mode, an indexed answer that differs from the scan's stops the run.
  template <class Scan>
  int checked(const char* query, int indexed, Scan scan) const {
    if (!check_) return indexed;
    const int scanned = scan();
    if (indexed != scanned && w_.error.empty())
      w_.fail(fmt::format("internal error: the routers' index ({}) gives replica {} of {} where a scan gives {}, at "
                          "t = {} s (TOKENFLEET_ROUTER_LOADS=check)",
                          query, indexed, size(), scanned, now_));
    return indexed;
  }
  World& w_;
  const Pool& pool_;
  PoolIndex& index_;
  bool check_;
  double now_;
  mutable std::vector<PrefixCache::BlockId> blocks_;
  mutable std::uint64_t blocks_of_ = 0;
  mutable bool blocks_named_ = false;
};

}  // namespace

Dispatcher::Dispatcher(World& w) : w_(w), indexes_(std::make_unique<Indexes>()) {
  indexes_->mode = loads_mode_from_environment();
}

Dispatcher::~Dispatcher() = default;

void Dispatcher::replica_changed(int replica) {
  Indexes& ix = *indexes_;
  if (ix.pools.empty()) return;  // nothing indexed yet (or the scan mode)
  if (ix.dirty[static_cast<std::size_t>(replica)]) return;
  ix.dirty[static_cast<std::size_t>(replica)] = 1;
  ix.dirty_list.push_back(replica);
}

void Dispatcher::update_index(int replica) {
  Indexes& ix = *indexes_;
  if (ix.pools.empty()) return;  // nothing indexed yet (or the scan mode)
  const ReplicaSlot& slot = w_.replicas[static_cast<std::size_t>(replica)];
  if (slot.down) return;  // [failures]: not in its pool's indexes until repaired (pool_changed)
  if (slot.power != ReplicaPower::serving) return;  // [autoscaler]: not in its pool (pool_changed when it is again)
  const Pool& pool = *slot.pool;
  Indexes::PoolIndex& p = ix.pools[static_cast<std::size_t>(&pool - w_.pools.data())];
  const std::size_t i = ix.position[static_cast<std::size_t>(replica)];
  if (p.requests.built()) p.requests.set(i, requests_key(pool, slot));
  if (p.waiting.built()) p.waiting.set(i, waiting_key(pool, slot));
  const double now = w_.now;
  if (p.tokens.built()) p.tokens.set(i, tokens_at(slot, now));
  if (p.kv.built()) p.kv.set(i, kv_key(pool, slot, now));
  if (p.changes.built()) p.changes.set(i, next_change_s(slot, now));
  if (p.idle.built()) p.idle.set(i, idle_key(slot));
}

std::vector<ReplicaLoad>& Dispatcher::replica_loads(Pool& pool, double now, const Request& r) {
  std::vector<PrefixCache::BlockId> blocks;
  bool named = false;
  auto& loads = pool.loads;
  loads.resize(pool.members.size());
  const bool central_queue = pool.central_queue();
  for (std::size_t i = 0; i < pool.members.size(); ++i) {
    const auto& slot = w_.replicas[static_cast<std::size_t>(pool.members[i])];
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
    loads[i].cached_prefix_tokens = 0;
    if (pool.router->uses_prefix_cache() && slot.model->prefix_caching()) {
      if (!named) prefix_block_ids(r, slot.model->prefix_ids(), blocks);
      named = true;
      loads[i].cached_prefix_tokens = slot.model->cached_prefix_tokens(r, blocks);
    }
  }
  return loads;
}

void Dispatcher::pool_changed(const Pool& pool) {
  Indexes& ix = *indexes_;
  if (ix.pools.empty()) return;  // nothing indexed yet: prepare() reads the members as they are then
  ix.pools[static_cast<std::size_t>(&pool - w_.pools.data())] = Indexes::PoolIndex{};  // built again when asked
  for (std::size_t i = 0; i < pool.members.size(); ++i) ix.position[static_cast<std::size_t>(pool.members[i])] = i;
}

void Dispatcher::redispatch(Request r) {
  Pool& pool = w_.arrivals();
  // The arrivals are over: replicas of the pool that have ended (nothing more could come to them) come back, so
  // that the request has somewhere to go; those it does not go to end again at once.
  if (w_.source_done) {
    for (int m : pool.members) {
      ReplicaSlot& slot = w_.replicas[static_cast<std::size_t>(m)];
      if (!slot.exited) continue;
      slot.exited = false;
      slot.phase = ReplicaSlot::Phase::waiting;
      slot.idle = true;
      replica_changed(m);
      w_.wake(slot);
    }
  }
  if (pool.central_queue()) {
    w_.order->insert(pool.central, std::move(r));
    ++w_.waiting_total;
    wake_for_central_head(pool);
    return;
  }
  if (pool.members.empty()) {
    w_.parked.push_back(std::move(r));
    return;
  }
  int target = pick(pool, r);
  if (target < 0) target = pool.members.front();
  enqueue(w_.replicas[static_cast<std::size_t>(target)], std::move(r));
}

int Dispatcher::pick(Pool& pool, const Request& r) {
  Indexes& ix = *indexes_;
  int k = -1;
  if (pool.members.empty()) return -1;  // [failures]: every replica of the pool is down
  if (ix.mode == LoadsMode::scan) {  // the reference: every load filled in, then the router's route()
    if (!pool.router->uses_loads()) pool.loads.resize(pool.members.size());  // sized, not filled: ignored
    k = pool.router->route(r, pool.router->uses_loads() ? replica_loads(pool, w_.now, r) : pool.loads);
  } else {
    ix.prepare(w_);
    for (int replica : ix.dirty_list) {
      ix.dirty[static_cast<std::size_t>(replica)] = 0;
      update_index(replica);
    }
    ix.dirty_list.clear();
    PoolLoadView view(w_, pool, ix.pools[static_cast<std::size_t>(&pool - w_.pools.data())],
                      ix.mode == LoadsMode::check, w_.now);
    k = pool.router->pick(r, view);
  }
  if (k < 0 || k >= static_cast<int>(pool.members.size())) return -1;
  return pool.members[static_cast<std::size_t>(k)];
}

void Dispatcher::wake_for_central_head(Pool& pool) {
  if (pool.central.empty() || pool.members.empty()) return;
  const int target = pick(pool, pool.central.front());
  if (target < 0) return;  // no room: the next completion takes it
  ReplicaSlot& slot = w_.replicas[static_cast<std::size_t>(target)];
  slot.idle = false;  // claimed: another arrival at the same instant goes elsewhere
  replica_changed(target);
  w_.wake(slot);
}

void Dispatcher::enqueue(ReplicaSlot& slot, Request r) {
  slot.waiting_tokens += queued_work_tokens(r);
  w_.order->insert(slot.waiting, std::move(r));
  ++w_.waiting_total;
  slot.idle = false;
  replica_changed(static_cast<int>(&slot - w_.replicas.data()));
  w_.wake(slot);
}

void Dispatcher::wake_replica(ReplicaSlot& slot) {
  if (slot.pool->central_queue()) wake_for_central_head(*slot.pool);
  else w_.wake(slot);
}

// Turned away by admission control: counted, an SLO miss. Sessions: a rejected question ends as an answer would,
// so the visit goes on (its next question a think time later) and the source knows it is no longer out.
void Dispatcher::reject(Request r, int replica) {
  r.rejected = true;
  r.replica = replica;
  w_.request_ended(r, w_.now);
  if (w_.closed_loop) w_.wake_source();
}

// An arriving request: to the router's replica, or into the central queue, unless admission control turns it away.
// With disaggregated serving arrivals go to the prefill pool, which runs their prompt and first token only.
void Dispatcher::route(const Request& arrival) {
  Request r = arrival;
  if (w_.disaggregated()) r.prefill_only = true;
  Pool& pool = w_.arrivals();
  AdmissionView fleet;
  fleet.waiting_total = w_.waiting_total;
  if (pool.central_queue()) {
    fleet.queue_length = pool.central.size();
    fleet.queue_replicas = pool.members.size();
    if (!w_.admission->admit(r, fleet)) return reject(std::move(r), -1);
    w_.order->insert(pool.central, std::move(r));
    ++w_.waiting_total;
    wake_for_central_head(pool);
    return;
  }
  if (pool.members.empty()) {  // [failures]: every replica is down; it waits for the first to come back
    fleet.queue_length = w_.parked.size();
    fleet.queue_replicas = 1;
    if (!w_.admission->admit(r, fleet)) return reject(std::move(r), -1);
    w_.parked.push_back(std::move(r));
    return;
  }
  int target = pick(pool, r);
  if (target < 0) target = pool.members.front();
  ReplicaSlot& slot = w_.replicas[static_cast<std::size_t>(target)];
  fleet.queue_length = slot.waiting.size();
  fleet.queue_replicas = 1;
  if (!w_.admission->admit(r, fleet)) return reject(std::move(r), target);
  enqueue(slot, std::move(r));
}

bool Dispatcher::dispatch(const Request& r, std::int64_t capacity) {
  // Longer than the model's context (workload.over_context = "drop"): turned away on arrival, as a server answers
  // such a request with an error; it never needs a replica's KV cache.
  if (!r.over_context) {
    if (std::string why = kv_shortfall(w_.scenario, r, capacity); !why.empty()) {
      w_.fail(std::move(why));
      return false;
    }
  }
  w_.sink->arrived(to_record(r));  // its row as it arrives; the sink gets the final one when it ends
  ++w_.arrived_count;
  w_.last_arrival_s = std::max(w_.last_arrival_s, r.arrival_s);
  w_.over_context_cut += r.context_cut ? 1 : 0;
  if (r.over_context) {
    ++w_.over_context_dropped;
    reject(r, -1);
    return true;
  }
  route(r);
  return true;
}

}  // namespace tf::engine
