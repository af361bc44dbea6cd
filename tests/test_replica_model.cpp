// The replica state machine without SimGrid: hand-computed latencies, stretches cut at boundaries,
// conservation of requests and KV reservations.
#include <catch2/catch.hpp>

#include <algorithm>

#include "cluster/catalog.hpp"
#include "cluster/cost_model.hpp"
#include "policies/registry.hpp"
#include "sim/replica/replica_model.hpp"
#include "sim/replica/request_row.hpp"

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
  std::vector<Request> done;
  const auto& s1 = f.model.begin_step(1.0, q, false);
  REQUIRE(s1.kind == ReplicaModel::StepKind::prefill);
  IterationShape prefill;
  prefill.prefill_tokens = 500;
  prefill.prefill_sequences = 1;
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
  std::vector<Request> done;
  f.model.begin_step(0.0, q, false);
  f.model.finish_step(done);
  REQUIRE(done.size() == 1);
  CHECK(done[0].finished_s == done[0].first_token_s);
  CHECK(to_record(done[0]).tpot_s() == 0.0);
}

TEST_CASE("a stretch cut short ends at the first iteration boundary after the arrival", "[replica]") {
  Fixture f;
  std::deque<Request> q{Request{0, 0.0, 100, 1000}};
  std::vector<Request> done;
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
  std::vector<Request> done;
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

// --- preemption of a decoding request: swap to host memory or recompute -----------------------

namespace {

struct Logged {
  ReplicaModel::StepKind kind;
  double start_s, end_s;
};

struct PreemptionRun {
  std::vector<Logged> steps;
  std::vector<Request> done;
  std::int64_t prompt = 0, preemptions = 0, swapped_out = 0, swapped_in = 0;
  double recomputed = 0.0, swap_s = 0.0, end_s = 0.0;
  int count(ReplicaModel::StepKind k) const {
    return static_cast<int>(std::count_if(steps.begin(), steps.end(), [k](const Logged& l) { return l.kind == k; }));
  }
};

// Two requests whose prompts fill all but two blocks of a paged cache (16-token blocks): both are admitted, and
// after about 32 tokens each the blocks run out, so the second (the most recently admitted) is preempted while
// decoding; it runs again when the first finishes.
PreemptionRun two_requests_one_preempted(const CostModel& cost, bool swap) {
  const ContinuousBatching policy({256, 1 << 20});
  ReplicaModel m(0, cost, policy, 0.0, 1e9);
  m.use_kv_cache(std::make_shared<PagedKvCache>(16, 0.0, swap));
  PreemptionRun run;
  run.prompt = (cost.kv_capacity_tokens() / 16 / 2 - 2) * 16;
  std::deque<Request> q{Request{0, 0.0, run.prompt, 100}, Request{1, 0.0, run.prompt, 100}};
  double now = 0.0;
  while (true) {
    const auto& s = m.begin_step(now, q, false);
    if (s.kind == ReplicaModel::StepKind::none) break;
    CHECK(m.kv_reserved_tokens() <= m.kv_capacity_tokens());  // blocks never exceed capacity
    run.steps.push_back({s.kind, s.start_s, s.end_s});
    now = s.end_s;
    m.finish_step(run.done);
  }
  CHECK(q.empty());
  CHECK(m.kv_reserved_tokens() == 0);  // every block back
  run.end_s = now;
  run.preemptions = m.preemptions();
  run.recomputed = m.recomputed_tokens();
  run.swapped_out = m.swapped_out_tokens();
  run.swapped_in = m.swapped_in_tokens();
  run.swap_s = m.swap_s();
  return run;
}

CostParams little_kv() {
  CostParams p;
  p.kv_reserve_fraction = 0.75;  // 80 GB x 0.25 - 16 GB of weights: about 30,000 tokens of Llama-3.1-8B
  return p;
}

}  // namespace

TEST_CASE("swap preemption: the preempted request resumes without recomputing - swap steps last bytes over PCIe",
          "[replica][kv][swap]") {
  using K = ReplicaModel::StepKind;
  const CostModel cost(*find_model("llama-3.1-8b"), *find_gpu("h100-sxm"), Dtype::fp16, 1, little_kv());
  const PreemptionRun r = two_requests_one_preempted(cost, true);
  REQUIRE(r.done.size() == 2);
  CHECK(r.preemptions == 1);
  CHECK(r.recomputed == 0.0);
  // Out went its prompt and the answer so far (between 17 and 33 tokens: the blocks ran out past one more block
  // each); the same came back.
  CHECK(r.swapped_out > r.prompt + 16);
  CHECK(r.swapped_out <= r.prompt + 33);
  CHECK(r.swapped_in == r.swapped_out);
  // One prefill (both prompts), then only decodes and two swaps (out, then in when the first request finished).
  CHECK(r.count(K::prefill) == 1);
  CHECK(r.count(K::swap) == 2);
  // By hand: Llama-3.1-8B's KV is 2 (K, V) x 32 layers x 8 KV heads x 128 x 2 bytes = 131,072 bytes a token in
  // FP16; the H100 SXM's PCIe Gen5 x16 link moves 64 GB/s each way; one GPU.
  const double one_swap_s = static_cast<double>(r.swapped_out) * 131072.0 / 64e9;
  for (const auto& s : r.steps)
    if (s.kind == K::swap) CHECK_THAT(s.end_s - s.start_s, WithinRel(one_swap_s, 1e-12));
  CHECK_THAT(r.swap_s, WithinRel(2.0 * one_swap_s, 1e-12));
  // The swap-in is followed by a decode, not a prefill, and the preempted request keeps its first token.
  for (std::size_t i = 0; i + 1 < r.steps.size(); ++i)
    if (r.steps[i].kind == K::swap) CHECK(r.steps[i + 1].kind == K::decode);
  const Request& second = r.done[0].id == 1 ? r.done[0] : r.done[1];
  CHECK(second.first_token_s == r.steps[0].end_s);
  CHECK(second.admitted_s == 0.0);
  CHECK(second.finished_s == r.end_s);
}

TEST_CASE("swap steps over tensor parallel GPUs: each copies its share over its own PCIe link", "[replica][kv][swap]") {
  const CostModel cost(*find_model("llama-3.1-8b"), *find_gpu("a100-80gb"), Dtype::fp16, 2, little_kv());
  const PreemptionRun r = two_requests_one_preempted(cost, true);
  REQUIRE(r.done.size() == 2);
  REQUIRE(r.swapped_out > 0);
  // A100 80GB: PCIe Gen4 x16, 32 GB/s each way; two GPUs, each with half of the KV.
  CHECK_THAT(r.swap_s, WithinRel(2.0 * static_cast<double>(r.swapped_out) * 131072.0 / (2 * 32e9), 1e-12));
}

TEST_CASE("recompute preemption: the same preempted request prefills its prompt and answer so far again",
          "[replica][kv][swap]") {
  using K = ReplicaModel::StepKind;
  const CostModel cost(*find_model("llama-3.1-8b"), *find_gpu("h100-sxm"), Dtype::fp16, 1, little_kv());
  const PreemptionRun r = two_requests_one_preempted(cost, false);
  const PreemptionRun s = two_requests_one_preempted(cost, true);
  REQUIRE(r.done.size() == 2);
  CHECK(r.preemptions == 1);
  CHECK(r.swapped_out == 0);
  CHECK(r.swapped_in == 0);
  CHECK(r.swap_s == 0.0);
  CHECK(r.count(K::swap) == 0);
  CHECK(r.count(K::prefill) == 2);  // both prompts, then the preempted one's prompt and answer so far
  // The same request preempted at the same point: what swap copied, recompute computes again.
  CHECK(r.recomputed == static_cast<double>(s.swapped_out));
  // Copying about 15,000 tokens of KV over PCIe twice (61 ms) is cheaper than prefilling them (0.4 s).
  CHECK(s.end_s < r.end_s);
}

namespace {

struct DrainRun {
  double end_s = 0.0;  // when the last request finished
  std::int64_t preemptions = 0, swapped_out = 0;
  double recomputed = 0.0, swap_s = 0.0;
  std::size_t finished = 0;
};

// `n` identical requests offered at once to one replica with a paged cache of about 30,000 tokens, drained.
DrainRun drain(bool swap, std::int64_t prompt, std::int64_t output, int n) {
  const CostModel cost(*find_model("llama-3.1-8b"), *find_gpu("h100-sxm"), Dtype::fp16, 1, little_kv());
  const ContinuousBatching policy({256, 8192});
  ReplicaModel m(0, cost, policy, 0.0, 1e18);
  m.use_kv_cache(std::make_shared<PagedKvCache>(16, 0.0, swap));
  std::deque<Request> q;
  for (int i = 0; i < n; ++i) q.push_back(Request{static_cast<std::uint64_t>(i), 0.0, prompt, output});
  std::vector<Request> done;
  double now = 0.0;
  while (true) {
    const auto& s = m.begin_step(now, q, false);
    if (s.kind == ReplicaModel::StepKind::none) break;
    now = s.end_s;
    m.finish_step(done);
  }
  DrainRun d;
  d.end_s = now;
  d.finished = done.size();
  d.preemptions = m.preemptions();
  d.swapped_out = m.swapped_out_tokens();
  d.recomputed = m.recomputed_tokens();
  d.swap_s = m.swap_s();
  return d;
}

}  // namespace

TEST_CASE("swap beats recompute when prompts are long and answers short - and in this model when short too",
          "[replica][kv][swap]") {
  // What a preemption costs: recompute prefills the victim's prompt and answer so far again, in iterations that
  // also carry up to 255 decodes, so near compute-bound: about 2 x 8 G FLOP / (989 T x 0.6) = 27 us a token for
  // Llama-3.1-8B on an H100. Swap copies the same tokens out and back over PCIe: 2 x 131,072 B / 64 GB/s = 4.1 us
  // a token, in steps of their own. So swap finishes the same requests sooner.
  const DrainRun rec = drain(false, 4000, 400, 200);
  const DrainRun sw = drain(true, 4000, 400, 200);
  INFO("long prompts: recompute " << rec.end_s << " s, " << rec.preemptions << " preemptions, " << rec.recomputed
                                  << " tokens recomputed; swap " << sw.end_s << " s, " << sw.preemptions
                                  << " preemptions, " << sw.swapped_out << " tokens swapped out, " << sw.swap_s << " s");
  REQUIRE(rec.finished == 200);
  REQUIRE(sw.finished == 200);
  REQUIRE(rec.preemptions > 0);
  CHECK(sw.recomputed == 0.0);  // continuous batching prefills a prompt in one iteration: every victim was decoding
  CHECK(rec.swapped_out == 0);
  CHECK(sw.end_s < rec.end_s);
  // Measured: 148.5 s against 145.7 s (30 preemptions, 125,000 tokens recomputed, 0.51 s of swaps).

  // Short prompts, long answers: the opposite ordering does NOT hold here. The context recomputed is the prompt
  // plus the answer so far, and answers count as much as prompts; the batch is large under KV pressure, so the
  // recompute is compute-bound whatever the prompt length. Swap still wins (measured 50.0 s against 47.1 s, 440
  // preemptions). Recompute could only win where the recomputed context rides free on a memory-bound iteration
  // (a few hundred tokens beside a small batch), which a KV-pressured replica does not run.
  const DrainRun rec_short = drain(false, 100, 1000, 200);
  const DrainRun sw_short = drain(true, 100, 1000, 200);
  INFO("short prompts: recompute " << rec_short.end_s << " s, " << rec_short.recomputed << " tokens recomputed; swap "
                                   << sw_short.end_s << " s, " << sw_short.swapped_out << " tokens swapped out");
  REQUIRE(rec_short.preemptions > 0);
  CHECK(sw_short.recomputed == 0.0);
  CHECK(sw_short.end_s < rec_short.end_s);

  // Without preemptions the two modes are the same replica.
  const DrainRun rec_none = drain(false, 8000, 100, 50);
  const DrainRun sw_none = drain(true, 8000, 100, 50);
  REQUIRE(rec_none.preemptions == 0);
  CHECK(sw_none.preemptions == 0);
  CHECK(sw_none.end_s == rec_none.end_s);
}

TEST_CASE("a request whose KV cache arrives with it decodes at once - and the same answer as after its own prefill",
          "[replica][disaggregated]") {
  // Disaggregated serving: the decode replica gets the request with its prompt's KV and first token made elsewhere.
  Fixture local, moved;
  std::vector<Request> done;
  std::deque<Request> q{Request{0, 0.0, 500, 100}};
  // Prefilled here: one prefill step, then the decode stretch of the other 99 tokens.
  local.model.begin_step(1.0, q, false);
  local.model.finish_step(done);
  const auto& here = local.model.begin_step(2.0, q, false);
  REQUIRE(here.kind == ReplicaModel::StepKind::decode);
  const double decode_here = here.end_s - 2.0;
  Request r{0, 0.0, 500, 100};
  r.kv = Request::Kv::device;
  r.generated_before = 1;
  r.admitted_s = 0.5;
  r.first_token_s = 0.9;
  std::deque<Request> mq{r};
  const auto& s = moved.model.begin_step(2.0, mq, false);
  REQUIRE(s.kind == ReplicaModel::StepKind::decode);  // no prefill step
  CHECK(mq.empty());
  CHECK(s.iterations == 99);
  CHECK_THAT(s.end_s - 2.0, WithinRel(decode_here, 1e-12));  // the same context: prompt + first token
  CHECK(moved.model.outstanding_tokens() == 99);
  CHECK(moved.model.kv_reserved_tokens() == 600);  // its whole answer reserved, as if prefilled here
  CHECK(moved.model.last_queue_tokens_delta() == -queued_work_tokens(r));
  CHECK(queued_work_tokens(r) == 99);
  moved.model.finish_step(done);
  REQUIRE(done.size() == 1);
  CHECK(done[0].admitted_s == 0.5);     // kept from its prefill replica
  CHECK(done[0].first_token_s == 0.9);  // kept: it arrived with the KV
  CHECK(done[0].finished_s == s.end_s);
  CHECK(moved.model.kv_reserved_tokens() == 0);
}

TEST_CASE("KV held for a move counts as used until released", "[replica][disaggregated]") {
  Fixture f;
  const std::int64_t capacity = f.model.kv_capacity_tokens();
  f.model.hold_kv(capacity - 1000);
  CHECK(f.model.kv_reserved_tokens() == capacity - 1000);
  std::deque<Request> q{Request{0, 0.0, 800, 300}};  // needs 1,100 tokens: does not fit beside the held KV
  CHECK_FALSE(f.model.could_admit(q));
  CHECK(f.model.begin_step(0.0, q, false).kind == ReplicaModel::StepKind::none);
  CHECK(q.size() == 1);
  f.model.release_kv(capacity - 1000);
  CHECK(f.model.could_admit(q));
  CHECK(f.model.begin_step(0.0, q, false).kind == ReplicaModel::StepKind::prefill);
  CHECK(f.model.kv_reserved_tokens() == 1100);
}

TEST_CASE("a prompt prefilled in chunks pays the per-prefill overhead and the LM head once - on its last chunk",
          "[replica]") {
  CostParams p;
  p.per_prefill_overhead_s = 1.0;  // large enough to see
  const CostModel cost{*find_model("llama-3.1-8b"), *find_gpu("h100-sxm"), Dtype::fp16, 1, p};
  PolicyParams pp;
  pp.set("max_batch", 8);
  pp.set("max_batched_tokens", std::int64_t{300});
  const auto policy = make_batching_policy("chunked-prefill", pp);
  ReplicaModel model{0, cost, *policy, 0.0, 1e9};
  std::deque<Request> q{Request{0, 0.0, 1000, 10}};
  std::vector<Request> done;
  double now = 0.0;
  int prefill_steps = 0;
  std::vector<double> step_s;
  while (true) {
    const auto& st = model.begin_step(now, q, false);
    if (st.kind != ReplicaModel::StepKind::prefill) break;
    ++prefill_steps;
    step_s.push_back(st.end_s - now);
    now = st.end_s;
    model.finish_step(done);
  }
  REQUIRE(prefill_steps == 4);  // 300 + 300 + 300 + 100 tokens
  // Only the last chunk carries the 1 s overhead.
  CHECK(step_s[0] < 0.5);
  CHECK(step_s[1] < 0.5);
  CHECK(step_s[2] < 0.5);
  CHECK(step_s[3] > 1.0);
}
