// The cost model against hand calculations, and its closed form against iteration-by-iteration sums.
#include <catch2/catch.hpp>

#include "cluster/catalog.hpp"
#include "cluster/cost_model.hpp"

using namespace tf;
using Catch::Matchers::WithinRel;

namespace {
CostModel llama8b_h100(CostParams p = {}) {
  return CostModel(*find_model("llama-3.1-8b"), *find_gpu("h100-sxm"), Dtype::fp16, 1, p);
}
}  // namespace

TEST_CASE("a memory-bound decode iteration costs weights plus KV over bandwidth - plus overhead", "[cost]") {
  CostParams p;
  p.mbu = 0.8;
  p.overhead_s = 0.003;
  const CostModel c = llama8b_h100(p);
  IterationShape s;
  s.decode_tokens = 1;
  s.decode_context_tokens = 1000;
  // Hand calculation: weights 8.03e9 x 2 B = 16.06 GB; KV 1000 tokens x 2 x 32 x 8 x 128 x 2 B = 131.072 MB.
  const double bytes = 16.06e9 + 1000 * 131072.0;
  const double expected = bytes / (3.35e12 * 0.8) + 0.003;
  CHECK_THAT(c.iteration_time_s(s), WithinRel(expected, 1e-12));
  CHECK(c.iteration_flops(s) == Approx(2 * 8.03e9));
}

TEST_CASE("a large prefill is compute-bound: 2 x params FLOPs per token over peak x mfu", "[cost]") {
  CostParams p;
  p.mfu = 0.6;
  p.overhead_s = 0.0;
  const CostModel c = llama8b_h100(p);
  IterationShape s;
  s.prefill_tokens = 8192;
  const double flops = 8192 * 2 * 8.03e9;
  CHECK(c.iteration_flops(s) == Approx(flops));
  CHECK_THAT(c.iteration_time_s(s), WithinRel(flops / (989e12 * 0.6), 1e-12));
}

TEST_CASE("the attention term adds 2 x layers x d_model FLOPs per token of context when enabled", "[cost]") {
  CostParams p;
  p.attention_flops = true;
  const CostModel c = llama8b_h100(p);
  IterationShape s;
  s.decode_tokens = 4;
  s.decode_context_tokens = 4000;
  CHECK(c.iteration_flops(s) == Approx(4 * 2 * 8.03e9 + 2.0 * 32 * 4096 * 4000));
}

TEST_CASE("KV capacity is t x HBM minus reserve minus weights - over KV bytes per token", "[cost]") {
  CostParams p;
  p.kv_reserve_fraction = 0.1;
  const CostModel c(*find_model("llama-3.1-70b"), *find_gpu("h100-sxm"), Dtype::fp8, 4, p);
  // 4 x 80 GB x 0.9 = 288 GB; weights 70.6 GB (FP8); KV per token 2 x 80 x 8 x 128 x 1 B = 163,840 B.
  CHECK(c.kv_capacity_tokens() == static_cast<std::int64_t>((288e9 - 70.6e9) / 163840.0));
  const CostModel too_big(*find_model("llama-3.1-405b"), *find_gpu("h100-sxm"), Dtype::fp16, 1, p);
  CHECK(too_big.kv_capacity_tokens() == 0);
}

TEST_CASE("tensor parallelism adds ring all-reduce time - one GPU has none", "[cost]") {
  CostParams p;
  p.overhead_s = 0.0;
  p.allreduce_latency_s = 20e-6;
  const ModelSpec m = *find_model("llama-3.1-70b");
  const GpuSpec g = *find_gpu("h100-sxm");
  const CostModel tp1(m, g, Dtype::fp8, 1, p), tp4(m, g, Dtype::fp8, 4, p);
  IterationShape s;
  s.decode_tokens = 64;
  s.decode_context_tokens = 64 * 1000;
  const double tp4_memory = tp4.iteration_bytes(s) / (4 * 3.35e12 * p.mbu);
  const double message = 64.0 * 8192 * 2;  // tokens x d_model x 2 bytes
  const double allreduce = 2 * 80 * (2.0 * 3 / 4 * message / 450e9 + 20e-6);
  CHECK_THAT(tp4.iteration_time_s(s), WithinRel(std::max(tp4_memory, tp4.iteration_flops(s) / (4 * 1979e12 * p.mfu)) +
                                                    allreduce,
                                                1e-12));
  CHECK_THAT(tp1.iteration_time_s(s), WithinRel(std::max(tp1.iteration_bytes(s) / (3.35e12 * p.mbu),
                                                         tp1.iteration_flops(s) / (1979e12 * p.mfu)),
                                                1e-12));
}

TEST_CASE("a decode stretch in closed form equals the sum of its iterations", "[cost]") {
  for (bool attention : {false, true}) {
    for (std::int64_t batch : {1, 7, 64, 256}) {
      CostParams p;
      p.attention_flops = attention;
      const CostModel c = llama8b_h100(p);
      const std::int64_t context = batch * 900;
      double sum = 0.0, flops = 0.0;
      for (std::int64_t i = 0; i < 3000; ++i) {
        IterationShape s;
        s.decode_tokens = batch;
        s.decode_context_tokens = context + batch * i;
        sum += c.iteration_time_s(s);
        flops += c.iteration_flops(s);
        if (i == 0 || i == 9 || i == 499 || i == 2999) {
          INFO("attention " << attention << " batch " << batch << " k " << i + 1);
          CHECK_THAT(c.decode_stretch_s(batch, context, i + 1), WithinRel(sum, 1e-9));
          CHECK_THAT(c.decode_stretch_flops(batch, context, i + 1), WithinRel(flops, 1e-9));
        }
      }
    }
  }
}

TEST_CASE("the crossover from compute-bound to memory-bound inside a stretch is summed exactly", "[cost]") {
  // With the attention term and a huge batch, compute grows slower than memory as context grows:
  // find a stretch where the bound changes and check the closed form against the plain sum.
  CostParams p;
  p.attention_flops = true;
  p.mfu = 0.2;  // make compute matter at decode
  const CostModel c = llama8b_h100(p);
  const std::int64_t batch = 256, context = 256;
  IterationShape first, last;
  first.decode_tokens = last.decode_tokens = batch;
  first.decode_context_tokens = context;
  last.decode_context_tokens = context + batch * 4999;
  const double c_first = c.iteration_flops(first) / (989e12 * p.mfu), m_first = c.iteration_bytes(first) / (3.35e12 * p.mbu);
  const double c_last = c.iteration_flops(last) / (989e12 * p.mfu), m_last = c.iteration_bytes(last) / (3.35e12 * p.mbu);
  REQUIRE((c_first - m_first) * (c_last - m_last) < 0);  // the bound does change inside the stretch
  double sum = 0.0;
  for (std::int64_t i = 0; i < 5000; ++i) {
    IterationShape s;
    s.decode_tokens = batch;
    s.decode_context_tokens = context + batch * i;
    sum += c.iteration_time_s(s);
  }
  CHECK_THAT(c.decode_stretch_s(batch, context, 5000), WithinRel(sum, 1e-9));
}

TEST_CASE("decode_iterations_done inverts decode_stretch_s", "[cost]") {
  const CostModel c = llama8b_h100();
  const std::int64_t batch = 32, context = 32 * 500;
  for (std::int64_t k : {0, 1, 2, 10, 333, 4000}) {
    const double t = c.decode_stretch_s(batch, context, k);
    CHECK(c.decode_iterations_done(batch, context, t) == k);
    if (k > 0) CHECK(c.decode_iterations_done(batch, context, t * (1 - 1e-9)) == k - 1);
    const double next = c.decode_stretch_s(batch, context, k + 1);
    CHECK(c.decode_iterations_done(batch, context, (t + next) / 2) == k);
  }
}
