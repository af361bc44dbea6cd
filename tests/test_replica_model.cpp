// The replica state machine without SimGrid: hand-computed latencies, stretches cut at boundaries,
// conservation of requests and KV reservations.
#include <catch2/catch.hpp>

#include "cluster/catalog.hpp"
#include "cluster/cost_model.hpp"
#include "sim/replica_model.hpp"

using namespace tf;
using Catch::Matchers::WithinRel;

namespace {
struct Fixture {
  CostModel cost{*find_model("llama-3.1-8b"), *find_gpu("h100-sxm"), Dtype::fp16, 1, CostParams{}};
  ContinuousBatching policy{{256, 8192}};
  ReplicaModel model{0, cost, policy, 0.0, 1e9};
};
}  // namespace

TEST_CASE("a lone request: TTFT is one prefill iteration - the rest one closed-form stretch", "[replica]") {
  Fixture f;
  std::deque<Request> q{Request{0, 0.0, 500, 100}};
  std::vector<RequestRecord> done;
  const auto& s1 = f.model.begin_step(1.0, q, false);
  REQUIRE(s1.kind == ReplicaModel::StepKind::prefill);
  IterationShape prefill;
  prefill.prefill_tokens = 500;
  prefill.prefill_attention_context = 500.0 * 501 / 2;
  CHECK_THAT(s1.end_s, WithinRel(1.0 + f.cost.iteration_time_s(prefill), 1e-12));
  f.model.finish_step(done);
  CHECK(done.empty());
  const double first_token = s1.end_s;
  const auto& s2 = f.model.begin_step(first_token, q, false);
  REQUIRE(s2.kind == ReplicaModel::StepKind::decode);
  CHECK(s2.iterations == 99);
  // By hand: 99 iterations of batch 1 whose context grows from 501 to 599 tokens.
  double by_hand = 0.0;
  for (int i = 0; i < 99; ++i) {
    IterationShape d;
    d.decode_tokens = 1;
    d.decode_context_tokens = 501 + i;
    by_hand += f.cost.iteration_time_s(d);
  }
  CHECK_THAT(s2.end_s - first_token, WithinRel(by_hand, 1e-9));
  f.model.finish_step(done);
  REQUIRE(done.size() == 1);
  CHECK(done[0].first_token_s == first_token);
  CHECK(done[0].admitted_s == 1.0);
  CHECK(done[0].finished_s == s2.end_s);
  CHECK(f.model.kv_reserved_tokens() == 0);
  CHECK_FALSE(f.model.busy());
}

TEST_CASE("a one-token answer finishes with its prefill", "[replica]") {
  Fixture f;
  std::deque<Request> q{Request{0, 0.0, 100, 1}};
  std::vector<RequestRecord> done;
  f.model.begin_step(0.0, q, false);
  f.model.finish_step(done);
  REQUIRE(done.size() == 1);
  CHECK(done[0].finished_s == done[0].first_token_s);
  CHECK(done[0].tpot_s() == 0.0);
}

TEST_CASE("a stretch cut short ends at the first iteration boundary after the arrival", "[replica]") {
  Fixture f;
  std::deque<Request> q{Request{0, 0.0, 100, 1000}};
  std::vector<RequestRecord> done;
  f.model.begin_step(0.0, q, false);
  f.model.finish_step(done);
  const double t0 = f.model.step().end_s;
  const auto& s = f.model.begin_step(t0, q, false);
  REQUIRE(s.iterations == 999);
  const double one = f.cost.decode_stretch_s(1, 101, 1);
  const double arrival = t0 + 10.5 * one;  // in the middle of the 11th iteration
  q.push_back(Request{1, arrival, 50, 10});
  REQUIRE(f.model.could_admit(q));
  const double end = f.model.end_at_boundary_after(arrival);
  CHECK(f.model.step().iterations == 11);
  CHECK_THAT(end, WithinRel(t0 + f.cost.decode_stretch_s(1, 101, 11), 1e-12));
  f.model.finish_step(done);
  const auto& next = f.model.begin_step(end, q, false);
  CHECK(next.kind == ReplicaModel::StepKind::prefill);
  CHECK(q.empty());
}

TEST_CASE("requests and KV reservations are conserved through a busy replica", "[replica]") {
  Fixture f;
  std::deque<Request> q;
  for (std::uint64_t i = 0; i < 2000; ++i)
    q.push_back(Request{i, 0.0, static_cast<std::int64_t>(50 + (i * 37) % 3000), static_cast<std::int64_t>(1 + (i * 91) % 700)});
  std::vector<RequestRecord> done;
  double now = 0.0, last = -1.0;
  while (true) {
    const auto& s = f.model.begin_step(now, q, false);
    if (s.kind == ReplicaModel::StepKind::none) break;
    CHECK(f.model.running_requests() <= 256);
    CHECK(f.model.kv_reserved_tokens() <= f.model.kv_capacity_tokens());
    CHECK(s.end_s > now);
    REQUIRE(now > last);  // the clock never goes backwards
    last = now;
    now = s.end_s;
    f.model.finish_step(done);
  }
  CHECK(done.size() == 2000);
  CHECK(q.empty());
  CHECK(f.model.kv_reserved_tokens() == 0);
  for (const auto& r : done) {
    CHECK(r.admitted_s <= r.first_token_s);
    CHECK(r.first_token_s <= r.finished_s);
  }
}

TEST_CASE("saturated throughput grows with batch size: batching pays on memory-bound decode", "[replica]") {
  const CostModel cost(*find_model("llama-3.1-8b"), *find_gpu("h100-sxm"), Dtype::fp16, 1, CostParams{});
  const double b1 = saturated_output_tokens_per_s(cost, ContinuousBatching({1, 8192}), 100, 100, 50);
  const double b64 = saturated_output_tokens_per_s(cost, ContinuousBatching({64, 8192}), 100, 100, 256);
  CHECK(b64 > 20 * b1);
}
