// The continuous batching policy on hand-made replica states (no SimGrid).
#include <catch2/catch.hpp>

#include "policies/batching.hpp"
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
