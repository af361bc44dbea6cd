// The continuous batching policy on hand-made replica states (no SimGrid).
#include <catch2/catch.hpp>

#include "policies/admission.hpp"
#include "policies/batching.hpp"
#include "policies/kv_cache.hpp"
#include "policies/queue_order.hpp"
#include "policies/router.hpp"

using namespace tf;

namespace {
std::deque<Request> queue_of(std::initializer_list<std::pair<std::int64_t, std::int64_t>> lengths) {
  std::deque<Request> q;
  std::uint64_t id = 0;
  for (auto [p, o] : lengths) q.push_back(Request{id++, 0.0, p, o});
  return q;
}
}  // namespace

TEST_CASE("continuous batching admits in FIFO order up to max_batch", "[batching]") {
  ContinuousBatching policy({4, 100000});
  ReplicaView v{1, 0, 1000000};
  auto q = queue_of({{10, 10}, {10, 10}, {10, 10}, {10, 10}, {10, 10}});
  CHECK(policy.admit(v, q) == 3);  // 1 running + 3 = max_batch 4
  v.running_requests = 4;
  CHECK(policy.admit(v, q) == 0);
}

TEST_CASE("continuous batching keeps prefill plus decode tokens within max_batched_tokens", "[batching]") {
  ContinuousBatching policy({256, 1000});
  ReplicaView v{100, 0, 1000000};  // 100 decode tokens already in the iteration
  auto q = queue_of({{400, 1}, {400, 1}, {200, 1}});
  CHECK(policy.admit(v, q) == 2);  // 100 + 400 + 400 = 900; + 200 would be 1100
}

TEST_CASE("a prompt longer than the token budget runs as the only prefill of its iteration", "[batching]") {
  ContinuousBatching policy({256, 1000});
  ReplicaView v{10, 0, 1000000};
  auto q = queue_of({{5000, 1}, {10, 1}});
  CHECK(policy.admit(v, q) == 1);
  auto q2 = queue_of({{10, 1}, {5000, 1}});
  CHECK(policy.admit(v, q2) == 1);  // the long one waits for an iteration of its own
}

TEST_CASE("continuous batching reserves prompt and output tokens of KV cache and never overtakes", "[batching]") {
  ContinuousBatching policy({256, 100000});
  ReplicaView v{2, 600, 1000};
  auto q = queue_of({{100, 100}, {150, 100}, {10, 10}});
  // 600 + 200 = 800 fits; + 250 = 1050 does not, and the small third request must not overtake it.
  CHECK(policy.admit(v, q) == 1);
  CHECK(kv_reservation_tokens(q.front()) == 200);
}

TEST_CASE("the batching registry knows continuous and nothing else yet", "[batching]") {
  CHECK(make_batching_policy("continuous", {})->name() == "continuous");
  CHECK(make_batching_policy("no-such-policy", {}) == nullptr);
}

TEST_CASE("round-robin routes request i to replica i mod N", "[router]") {
  RoundRobinRouter r;
  std::vector<ReplicaLoad> loads(3);
  std::vector<int> got;
  for (int i = 0; i < 7; ++i) got.push_back(r.route(Request{}, loads));
  CHECK(got == std::vector<int>{0, 1, 2, 0, 1, 2, 0});
}

TEST_CASE("the central queue goes to an idle replica first - else to the earliest boundary with room", "[router]") {
  CentralQueueRouter r;
  CHECK(r.central_queue());
  std::vector<ReplicaLoad> loads(3);
  loads[0] = {3, 0, false, true, 5.0};
  loads[1] = {1, 0, false, true, 2.0};
  loads[2] = {0, 0, true, false, 0.0};
  CHECK(r.route(Request{}, loads) == 2);  // idle
  loads[2] = {5, 0, false, false, 0.5};
  CHECK(r.route(Request{}, loads) == 1);  // room, and its boundary (2.0 s) comes before replica 0's (5.0 s)
  loads[1].has_room = false;
  CHECK(r.route(Request{}, loads) == 0);  // replica 2's boundary is earlier but it has no room
  loads[0].has_room = false;
  CHECK(r.route(Request{}, loads) == -1);  // nobody has room: the next completion takes it
  CHECK(make_router("central-queue") != nullptr);
  CHECK(make_router("round-robin") != nullptr);
  CHECK(make_router("nope") == nullptr);
}

TEST_CASE("queue-bound admission turns away what would exceed the fleet's or the queue's bound", "[admission]") {
  const Request r{};
  AdmissionView v;
  SECTION("no bounds: everything is let in") {
    const QueueBoundAdmission open(0, 0);
    v.waiting_total = 1000000;
    v.queue_length = 1000000;
    CHECK(open.admit(r, v));
  }
  SECTION("max_queued bounds the whole fleet's waiting requests") {
    const QueueBoundAdmission fleet(10, 0);
    v.waiting_total = 9;
    CHECK(fleet.admit(r, v));
    v.waiting_total = 10;  // it would be the 11th
    CHECK_FALSE(fleet.admit(r, v));
  }
  SECTION("max_queued_per_replica bounds a replica's queue, and a central queue at that many per replica") {
    const QueueBoundAdmission per(0, 3);
    v.queue_length = 2;
    CHECK(per.admit(r, v));
    v.queue_length = 3;
    CHECK_FALSE(per.admit(r, v));
    v.queue_replicas = 4;  // a central queue feeding 4 replicas holds 12
    v.queue_length = 11;
    CHECK(per.admit(r, v));
    v.queue_length = 12;
    CHECK_FALSE(per.admit(r, v));
  }
}

TEST_CASE("KV-cache policies: reserve holds exact tokens and never preempts, paged counts whole blocks", "[kv]") {
  const ReserveKvCache reserve;
  CHECK_FALSE(reserve.paged());
  CHECK(reserve.in_blocks(17) == 17);
  CHECK(reserve.watermark_tokens(10000) == 0);
  CHECK(reserve.on_preempt(true) == KvCachePolicy::Preemption::none);

  const PagedKvCache recompute(16, 0.01, false);
  CHECK(recompute.paged());
  CHECK(recompute.in_blocks(16) == 16);
  CHECK(recompute.in_blocks(17) == 32);
  // 10,000 tokens = 625 blocks of 16; int(0.01 x 625) = 6 blocks = 96 tokens (vLLM's count).
  CHECK(recompute.watermark_tokens(10000) == 96);
  CHECK(recompute.on_preempt(true) == KvCachePolicy::Preemption::recompute);
  CHECK(recompute.victim(5) == 4);  // the most recently admitted

  const PagedKvCache swap(16, 0.0, true);
  CHECK(swap.watermark_tokens(10000) == 0);
  CHECK(swap.on_preempt(true) == KvCachePolicy::Preemption::swap);
  CHECK(swap.on_preempt(false) == KvCachePolicy::Preemption::recompute);  // still prefilling: recomputed

  CHECK_THROWS_AS(PagedKvCache(0, 0.01, false), std::invalid_argument);
  CHECK_THROWS_AS(PagedKvCache(16, 0.5, false), std::invalid_argument);
  CHECK(make_kv_cache_policy(0, 0.01, true)->name() == "reserve");
  CHECK(make_kv_cache_policy(16, 0.01, true)->name() == "paged");
}

namespace {
Request req(std::uint64_t id, std::int64_t prompt, int priority = 0) {
  Request r{id, 0.0, prompt, 10};
  r.priority = priority;
  return r;
}
std::vector<std::uint64_t> ids(const std::deque<Request>& q) {
  std::vector<std::uint64_t> v;
  for (const auto& r : q) v.push_back(r.id);
  return v;
}
}  // namespace

TEST_CASE("queue orders keep a queue in their order as requests join, ties in arrival order", "[queue-order]") {
  SECTION("fifo: arrival order whatever the lengths") {
    const auto order = make_queue_order("fifo");
    std::deque<Request> q;
    for (auto r : {req(0, 500), req(1, 10), req(2, 300)}) order->insert(q, r);
    CHECK(ids(q) == std::vector<std::uint64_t>{0, 1, 2});
  }
  SECTION("shortest-prompt-first: by prompt tokens, equal prompts by arrival") {
    const auto order = make_queue_order("shortest-prompt-first");
    std::deque<Request> q;
    for (auto r : {req(0, 500), req(1, 10), req(2, 300), req(3, 10), req(4, 900)}) order->insert(q, r);
    CHECK(ids(q) == std::vector<std::uint64_t>{1, 3, 2, 0, 4});
  }
  SECTION("priority: class 0 before class 1, arrival order within a class") {
    const auto order = make_queue_order("priority");
    std::deque<Request> q;
    for (auto r : {req(0, 5, 1), req(1, 5, 0), req(2, 5, 2), req(3, 5, 1), req(4, 5, 0)}) order->insert(q, r);
    CHECK(ids(q) == std::vector<std::uint64_t>{1, 4, 0, 3, 2});
  }
  SECTION("a preempted request put back at the head keeps its place; later arrivals queue behind it unless before it") {
    const auto order = make_queue_order("shortest-prompt-first");
    std::deque<Request> q;
    order->insert(q, req(1, 100));
    q.push_front(req(0, 800));  // preempted: back to the head, as the replica model does
    order->insert(q, req(2, 200));
    CHECK(ids(q) == std::vector<std::uint64_t>{0, 1, 2});
  }
  CHECK(make_queue_order("lifo") == nullptr);
  CHECK(queue_order_names() == std::vector<std::string>{"fifo", "priority", "shortest-prompt-first"});
}

TEST_CASE("least-waiting routes to the fewest waiting requests - ties to fewer running, then the lowest index",
          "[router]") {
  auto r = make_router("least-waiting", 1);
  REQUIRE(r != nullptr);
  CHECK(r->name() == "least-waiting");
  CHECK(r->uses_loads());
  CHECK_FALSE(r->central_queue());
  std::vector<ReplicaLoad> loads(3);
  loads[0].running_requests = 10, loads[0].waiting_requests = 1;
  loads[1].running_requests = 1, loads[1].waiting_requests = 2;  // join-shortest-queue's pick (3 < 11)
  loads[2].running_requests = 4, loads[2].waiting_requests = 1;
  CHECK(r->route(Request{}, loads) == 2);  // one waiting, like replica 0, but fewer running
  CHECK(make_router("join-shortest-queue", 1)->route(Request{}, loads) == 1);
  loads[0].running_requests = 4;
  CHECK(r->route(Request{}, loads) == 0);  // a full tie: the lowest index
  CHECK(r->route(Request{}, {}) == -1);
}
