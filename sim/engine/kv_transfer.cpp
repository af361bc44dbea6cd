// Disaggregated serving: a request's KV cache moves from its prefill replica to a decode replica over the SimGrid
// network, each GPU sending its tensor-parallel share to its counterpart (so transfers that share links slow each
// other down); the request then joins the decode replica's queue with its KV in place, its first token delivered
// when the transfer ends. Backpressure: the KV stays held on the prefill replica until the decode replica has room.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/engine/world.hpp"

namespace tf::engine {

namespace {

// KV tokens a request takes when admitted on a replica of this scenario (as ReplicaModel counts them).
std::int64_t admission_kv(const Scenario& s, const Request& r) {
  ReplicaView v;
  v.kv_block_tokens = s.kv_block_tokens;
  return admission_kv_tokens(v, r);
}

}  // namespace

void KvMover::enable(int prefill_replicas, double kv_bytes_per_token) {
  enabled_ = true;
  prefill_active_ = prefill_replicas;
  kv_bytes_per_token_ = kv_bytes_per_token;
}

bool KvMover::upstream_done(const ReplicaSlot& slot) const {
  return slot.pool->role != Pool::Role::decode || (prefill_active_ == 0 && in_flight_ == 0);
}

void KvMover::prefill_replica_ended() {
  --prefill_active_;
  check_transfers_over();
}

void KvMover::check_transfers_over() {
  if (!enabled_ || prefill_active_ != 0 || in_flight_ != 0) return;
  for (int i : w_.decode_pool().members) w_.wake(w_.replicas[static_cast<std::size_t>(i)]);
}

void KvMover::cancel_all() {
  for (auto& c : comms_) c->cancel();
  comms_.clear();
  comm_move_.clear();
  moves_.clear();
}

// Starts a move now: each GPU sends its tensor-parallel share to its counterpart, as one SimGrid communication
// started at the loop's clock (SimGrid's is brought to it first).
void KvMover::start_move(KvTransfer t) {
  if (sg4::Engine::get_clock() < w_.now) sg4::this_actor::sleep_until(w_.now);
  const auto& src = w_.replicas[static_cast<std::size_t>(t.from)].gpus;
  const auto& dst = w_.replicas[static_cast<std::size_t>(t.to)].gpus;
  const auto share = static_cast<std::uint64_t>(std::ceil(t.bytes / static_cast<double>(src.size())));
  moves_.push_back(std::make_unique<Move>());
  Move* m = moves_.back().get();
  m->shares_left = static_cast<int>(src.size());
  for (std::size_t g = 0; g < src.size(); ++g) {
    comms_.push_back(sg4::Comm::sendto_async(src[g], dst[g], share));
    comm_move_.push_back(m);
  }
  m->transfer = std::move(t);
}

void KvMover::comm_ended(std::size_t k) {
  Move* m = comm_move_[k];
  comms_[k] = std::move(comms_.back());
  comms_.pop_back();
  comm_move_[k] = comm_move_.back();
  comm_move_.pop_back();
  if (--m->shares_left > 0) return;
  move_ended(*m);
  const auto it = std::find_if(moves_.begin(), moves_.end(), [m](const auto& p) { return p.get() == m; });
  *it = std::move(moves_.back());
  moves_.pop_back();
}

// The last share arrived: the request joins the decode replica's queue with its KV in place, its first token
// delivered now; the prefill replica lets go of the KV it held.
void KvMover::move_ended(Move& m) {
  KvTransfer& t = m.transfer;
  ReplicaSlot& slot = w_.replicas[static_cast<std::size_t>(t.to)];
  ReplicaSlot& prefill = w_.replicas[static_cast<std::size_t>(t.from)];
  const double end_s = w_.now;
  --in_flight_;
  --slot.incoming;
  slot.incoming_tokens -= queued_work_tokens(t.request);
  slot.incoming_kv -= t.kv_tokens;
  prefill.model->release_kv(t.held_tokens);
  w_.dispatcher.replica_changed(t.to);
  w_.dispatcher.replica_changed(t.from);
  t.request.kv_transfer_s = end_s - t.start_s;
  t.request.first_token_s = end_s;  // the first token reaches the user with the KV cache at its decode replica
  w_.dispatcher.enqueue(slot, std::move(t.request));
  w_.dispatcher.wake_replica(prefill);  // it may have been waiting for that KV to go
  check_transfers_over();
}

// Room at a decode replica: what its running requests use now, the moves under way and the moved requests waiting in
// its queue leave room. Called whenever that room may have grown (its requests finished or were preempted) or a
// move joined the queue.
void KvMover::start_moves(ReplicaSlot& slot) {
  if (slot.pending.empty()) return;
  const double now = w_.now;
  std::int64_t used = slot.model->kv_reserved_tokens_at(now) + slot.incoming_kv;
  for (const Request& q : slot.waiting)
    if (q.kv == Request::Kv::device) used += admission_kv(w_.scenario, q);
  while (!slot.pending.empty()) {
    KvTransfer& t = slot.pending.front();
    // A replica with nothing running or coming takes any request (each fits alone: checked on arrival).
    if (used > 0 && used + t.kv_tokens > slot.model->kv_capacity_tokens()) break;
    used += t.kv_tokens;
    slot.incoming_kv += t.kv_tokens;
    t.start_s = now;
    start_move(std::move(t));
    slot.pending.pop_front();
  }
}

void KvMover::hand_off(Request r, int from) {
  r.prefill_only = false;
  r.finished_s = -1.0;
  r.first_token_s = -1.0;  // it reaches the user with the KV cache, at the decode replica (move)
  r.generated_before = 1;
  r.kv = Request::Kv::device;
  r.prefill_replica = from;
  const int to = w_.dispatcher.pick(w_.decode_pool(), r);
  if (to < 0) {  // the scenario refuses central-queue decode routers; never silently lose the request
    w_.fail(fmt::format("internal error: no decode replica for request {}", r.id));
    return;
  }
  ReplicaSlot& slot = w_.replicas[static_cast<std::size_t>(to)];
  ++slot.incoming;
  slot.incoming_tokens += queued_work_tokens(r);
  w_.dispatcher.replica_changed(to);
  ++in_flight_;
  // The prompt's KV exists; the first output token's is written by its first decode iteration. The prefill replica
  // keeps what it reserved for the request (its prompt and first token) until the move ends.
  const double bytes = static_cast<double>(r.prompt_tokens) * kv_bytes_per_token_;
  ++transfers_;
  bytes_ += bytes;
  Request prefill_request = r;
  prefill_request.prefill_only = true;
  prefill_request.generated_before = 0;
  prefill_request.kv = Request::Kv::none;
  const std::int64_t held = admission_kv(w_.scenario, prefill_request);
  const std::int64_t kv_tokens = admission_kv(w_.scenario, r);
  w_.replicas[static_cast<std::size_t>(from)].model->hold_kv(held);
  w_.dispatcher.replica_changed(from);
  slot.pending.push_back(KvTransfer{std::move(r), from, to, bytes, 0.0, held, kv_tokens});
  start_moves(slot);
}

}  // namespace tf::engine
