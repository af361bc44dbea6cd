// Arrivals to replicas: the router's pick over the pool's loads, admission control (policies/admission.hpp), the
// central queue. See sim/engine/world.hpp.
#include <algorithm>

#include <fmt/format.h>

#include "sim/engine/world.hpp"
#include "sim/replica/request_row.hpp"

namespace tf::engine {

std::vector<ReplicaLoad>& Dispatcher::replica_loads(Pool& pool, double now) {
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
  }
  return loads;
}

int Dispatcher::pick(Pool& pool, const Request& r) {
  if (!pool.router->uses_loads()) pool.loads.resize(pool.members.size());  // sized, not filled: ignored
  const int k =
      pool.router->route(r, pool.router->uses_loads() ? replica_loads(pool, w_.now) : pool.loads);
  if (k < 0 || k >= static_cast<int>(pool.members.size())) return -1;
  return pool.members[static_cast<std::size_t>(k)];
}

void Dispatcher::wake_for_central_head(Pool& pool) {
  if (pool.central.empty()) return;
  const int target = pick(pool, pool.central.front());
  if (target < 0) return;  // no room: the next completion takes it
  ReplicaSlot& slot = w_.replicas[static_cast<std::size_t>(target)];
  slot.idle = false;  // claimed: another arrival at the same instant goes elsewhere
  w_.wake(slot);
}

void Dispatcher::enqueue(ReplicaSlot& slot, Request r) {
  slot.waiting_tokens += queued_work_tokens(r);
  w_.order->insert(slot.waiting, std::move(r));
  ++w_.waiting_total;
  slot.idle = false;
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
  int target = pick(pool, r);
  if (target < 0) target = pool.members.front();
  ReplicaSlot& slot = w_.replicas[static_cast<std::size_t>(target)];
  fleet.queue_length = slot.waiting.size();
  fleet.queue_replicas = 1;
  if (!w_.admission->admit(r, fleet)) return reject(std::move(r), target);
  enqueue(slot, std::move(r));
}

bool Dispatcher::dispatch(const Request& r, std::int64_t capacity) {
  if (std::string why = kv_shortfall(w_.scenario, r, capacity); !why.empty()) {
    w_.fail(std::move(why));
    return false;
  }
  w_.sink->arrived(to_record(r));  // its row as it arrives; the sink gets the final one when it ends
  ++w_.arrived_count;
  route(r);
  return true;
}

}  // namespace tf::engine
