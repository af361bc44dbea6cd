// The operator-level cost model against hand calculations, operator by operator; the iteration as the sum of
// its operators; mixture-of-experts weight reads; and the closed-form decode stretch against iteration sums.
#include <catch2/catch.hpp>

#include <cmath>

#include "cluster/catalog.hpp"
#include "cluster/cost_model.hpp"

using namespace tf;
using Catch::Matchers::WithinRel;

namespace {

// Round figures so that hand calculations stay readable.
CostParams round_params() {
  CostParams p;
  p.mfu = 0.5;
  p.gemm_half_m = 100.0;
  p.fp8_efficiency = 1.0;
  p.mbu = 0.8;
  p.attention_prefill_efficiency = 0.4;
  p.attention_decode_efficiency = 0.6;
  p.allreduce_bus_efficiency = 0.5;
  p.allreduce_latency_s = 10e-6;
  p.overhead_s = 0.002;
  p.per_request_overhead_s = 1e-5;
  return p;
}

CostModel llama8b_h100(CostParams p = round_params(), Dtype d = Dtype::fp16, int tp = 1) {
  return CostModel(*find_model("llama-3.1-8b"), *find_gpu("h100-sxm"), d, tp, p);
}

// max(flops / (F e_c(M)), bytes / (B e_m)) for one GEMM, by hand: F = 989e12 (FP16), B = 3.35e12.
double hand_gemm(double m, double n, double k, const CostParams& p, double bpe = 2.0, double F = 989e12) {
  const double flops = 2 * m * n * k;
  const double bytes = n * k * bpe + (m * k + m * n) * 2.0;
  const double eff = p.mfu * m / (m + p.gemm_half_m);
  return std::max(flops / (F * eff), bytes / (3.35e12 * p.mbu));
}

}  // namespace

TEST_CASE("cost: every catalogue model's shape holds its stated parameters", "[cost]") {
  for (const ModelSpec& m : model_catalog()) {
    INFO(m.name << ": shape " << m.shape_params() << " vs stated " << m.params);
    // gpt4-class is a shape of our choosing for public estimates (catalog.cpp; its active parameters are the
    // shape's); the others are model cards.
    const double tolerance = m.name == "gpt4-class" ? 0.02 : 0.005;
    CHECK(std::abs(m.shape_params() / m.params - 1.0) < tolerance);
    const double active_tolerance = m.name == "gpt4-class" ? 0.10 : 0.005;
    CHECK(std::abs(m.shape_active_params() / m.active_params - 1.0) < active_tolerance);
  }
}

TEST_CASE("cost: a decode iteration of Llama-3.1-8B is the sum of its operators, each by hand", "[cost]") {
  const CostParams p = round_params();
  const CostModel c = llama8b_h100(p);
  IterationShape s;
  s.decode_tokens = 8;
  s.decode_context_tokens = 8 * 1000;
  const OperatorTimes o = c.operator_times(s);
  // Per layer: QKV 4096 -> (32 + 2 x 8) x 128 = 6144; output 4096 -> 4096; MLP gate+up 4096 -> 28672, down
  // 14336 -> 4096; 32 layers. LM head 4096 -> 128256 for the 8 decode tokens.
  CHECK_THAT(o.qkv, WithinRel(32 * hand_gemm(8, 6144, 4096, p), 1e-12));
  CHECK_THAT(o.attn_out, WithinRel(32 * hand_gemm(8, 4096, 4096, p), 1e-12));
  CHECK_THAT(o.mlp, WithinRel(32 * (hand_gemm(8, 28672, 4096, p) + hand_gemm(8, 4096, 14336, p)), 1e-12));
  CHECK_THAT(o.lm_head, WithinRel(hand_gemm(8, 128256, 4096, p), 1e-12));
  // Decode attention: the KV read, 8,000 tokens x 131,072 B (2 x 32 layers x 8 heads x 128 x 2 B) at B x 0.6, which
  // is more than its FLOPs (4 x 32 heads x 128 x 32 layers per token of context) at F x 0.4.
  const double kv_s = 8000 * 131072.0 / (3.35e12 * 0.6);
  const double attn_flops_s = 8000 * 4.0 * 32 * 128 * 32 / (989e12 * 0.4);
  REQUIRE(kv_s > attn_flops_s);
  CHECK_THAT(o.attention_decode, WithinRel(kv_s, 1e-12));
  CHECK(o.attention_prefill == 0.0);
  CHECK(o.allreduce == 0.0);  // one GPU
  CHECK_THAT(o.overhead, WithinRel(0.002 + 8 * 1e-5, 1e-12));
  CHECK_THAT(c.iteration_time_s(s), WithinRel(o.qkv + o.attn_out + o.mlp + o.lm_head + o.attention_decode + o.overhead, 1e-12));
  // Memory-bound at batch 8: the GEMMs cost their weights (all but the input embedding table) over bandwidth,
  // about 15 GB / (3.35 TB/s x 0.8) = 5.6 ms.
  CHECK(o.qkv + o.attn_out + o.mlp + o.lm_head == Approx((8.03e9 - 128256.0 * 4096) * 2 / (3.35e12 * 0.8)).epsilon(0.01));
}

TEST_CASE("cost: a prefill's GEMMs are compute-bound and its attention counts QK and PV over the causal triangle",
          "[cost]") {
  const CostParams p = round_params();
  const CostModel c = llama8b_h100(p);
  IterationShape s;
  s.prefill_tokens = 4096;
  s.prefill_sequences = 1;
  s.prefill_attention_context = 4096.0 * 4097.0 / 2.0;
  const OperatorTimes o = c.operator_times(s);
  // Compute-bound GEMM at M = 4096: 2 M N K / (F x 0.5 x 4096 / 4196).
  const double eff = 0.5 * 4096 / (4096 + 100.0);
  CHECK_THAT(o.mlp, WithinRel(32 * 2 * 4096.0 * (28672.0 * 4096 + 4096.0 * 14336) / (989e12 * eff), 1e-12));
  // Attention: 4 x 32 heads x 128 per (query, key) pair, 4096 x 4097 / 2 pairs, 32 layers, at F x 0.4.
  const double attn = 32 * 4.0 * 32 * 128 * (4096.0 * 4097.0 / 2.0) / (989e12 * 0.4);
  CHECK_THAT(o.attention_prefill, WithinRel(attn, 1e-12));
  // The LM head runs for the one sequence's last token only.
  CHECK_THAT(o.lm_head, WithinRel(hand_gemm(1, 128256, 4096, p), 1e-12));
  // FLOPs: 2 x (non-embedding parameters + LM head for one token) per token, plus attention.
  const ModelSpec m = *find_model("llama-3.1-8b");
  const double body = m.layers * (m.attention_params_per_layer() + m.mlp_params());
  CHECK_THAT(c.iteration_flops(s), WithinRel(2 * 4096 * body + 2.0 * 4096 * 128256 + 4.0 * 32 * 128 * 32 * (4096.0 * 4097.0 / 2.0), 1e-12));
}

TEST_CASE("cost: small-M GEMMs do not reach peak - efficiency rises with M to mfu", "[cost]") {
  const CostParams p = round_params();
  const CostModel c = llama8b_h100(p);
  CHECK_THAT(c.gemm_efficiency(100), WithinRel(0.25, 1e-12));
  CHECK(c.gemm_efficiency(16) < c.gemm_efficiency(256));
  CHECK(c.gemm_efficiency(1e6) == Approx(0.5).epsilon(1e-3));
  // A measured curve takes its place: linear in log M between points.
  CostParams q = p;
  auto curve = std::make_shared<GemmEfficiencyCurve>();
  curve->m = {1, 16, 256};
  curve->efficiency = {0.01, 0.1, 0.6};
  q.gemm_profile = curve;
  const CostModel d = llama8b_h100(q);
  CHECK(d.gemm_efficiency(0.5) == 0.01);
  CHECK(d.gemm_efficiency(4096) == 0.6);
  CHECK_THAT(d.gemm_efficiency(64), WithinRel(0.1 + 0.5 * 0.5, 1e-12));  // halfway from 16 to 256 in log
}

TEST_CASE("cost: tensor-parallel all-reduce - latency plus 2 (t-1)/t of the message at the bus bandwidth", "[cost]") {
  const CostParams p = round_params();
  const ModelSpec m = *find_model("llama-3.1-70b");
  const GpuSpec g = *find_gpu("h100-sxm");
  const CostModel tp4(m, g, Dtype::fp8, 4, p);
  IterationShape s;
  s.decode_tokens = 64;
  s.decode_context_tokens = 64 * 1000;
  const double message = 64.0 * 8192 * 2;  // tokens x d_model x 2 bytes
  const double bus = 900e9 / 2 * 0.5;       // NVLink per direction x bus efficiency
  CHECK_THAT(tp4.operator_times(s).allreduce, WithinRel(2 * 80 * (2.0 * 3 / 4 * message / bus + 10e-6), 1e-12));
  // Each GPU holds a quarter of every GEMM: the QKV GEMM at TP4 has N = (64 + 16) x 128 / 4.
  CHECK_THAT(tp4.operator_times(s).qkv, WithinRel(80 * hand_gemm(64, 80.0 * 128 / 4, 8192, p, 1.0, 1979e12), 1e-12));
}

TEST_CASE("cost: MoE weights read grow from the active to the total parameters with the batch", "[cost][moe]") {
  const ModelSpec mixtral = *find_model("mixtral-8x7b");
  const CostModel c(mixtral, *find_gpu("h100-sxm"), Dtype::fp16, 2, round_params());
  // Expected distinct experts: E (1 - (1 - k/E)^T), E = 8, k = 2.
  CHECK_THAT(c.experts_touched(1), WithinRel(2.0, 1e-12));
  CHECK_THAT(c.experts_touched(2), WithinRel(8 * (1 - 0.75 * 0.75), 1e-12));
  CHECK_THAT(c.experts_touched(10), WithinRel(8 * (1 - std::pow(0.75, 10)), 1e-12));
  CHECK(c.experts_touched(1000) == Approx(8.0));
  const double active = c.weight_bytes_read(1), total = c.weight_bytes_read(100000);
  // Batch 1 reads the active parameters (less the input embedding table); a large batch reads them all.
  CHECK(active == Approx((mixtral.active_params - 32000.0 * 4096) * 2).epsilon(0.01));
  CHECK(total == Approx((mixtral.params - 32000.0 * 4096) * 2).epsilon(0.01));
  double last = 0.0;
  for (double b : {1, 2, 4, 8, 16, 64}) {
    CHECK(c.weight_bytes_read(b) > last);
    last = c.weight_bytes_read(b);
  }
}

TEST_CASE("cost: a batch-1 MoE decode costs about what a dense model of its active size does", "[cost][moe]") {
  const ModelSpec mixtral = *find_model("mixtral-8x7b");
  // A dense model of Mixtral's active size: the same attention, one MLP of twice an expert's width.
  ModelSpec dense = mixtral;
  dense.name = "dense-12.9b";
  dense.experts = dense.experts_per_token = 0;
  dense.ffn_dim = 2 * mixtral.ffn_dim;
  dense.params = dense.active_params = dense.shape_params();
  const GpuSpec g = *find_gpu("h100-sxm");
  const CostModel moe(mixtral, g, Dtype::fp16, 2, round_params()), plain(dense, g, Dtype::fp16, 2, round_params());
  IterationShape s;
  s.decode_tokens = 1;
  s.decode_context_tokens = 1000;
  CHECK(moe.iteration_time_s(s) == Approx(plain.iteration_time_s(s)).epsilon(0.05));
  // At batch 64 every expert is touched: the MoE reads 3.6 x more weights than the dense model of its active size.
  s.decode_tokens = 64;
  s.decode_context_tokens = 64000;
  CHECK(moe.iteration_time_s(s) > 2.0 * plain.iteration_time_s(s));
}

TEST_CASE("cost: KV capacity is t x HBM minus reserve minus weights - over KV bytes per token", "[cost]") {
  CostParams p;
  p.kv_reserve_fraction = 0.1;
  const CostModel c(*find_model("llama-3.1-70b"), *find_gpu("h100-sxm"), Dtype::fp8, 4, p);
  // 4 x 80 GB x 0.9 = 288 GB; weights 70.6 GB (FP8); KV per token 2 x 80 x 8 x 128 x 1 B = 163,840 B.
  CHECK(c.kv_capacity_tokens() == static_cast<std::int64_t>((288e9 - 70.6e9) / 163840.0));
  const CostModel too_big(*find_model("llama-3.1-405b"), *find_gpu("h100-sxm"), Dtype::fp16, 1, p);
  CHECK(too_big.kv_capacity_tokens() == 0);
}

TEST_CASE("cost: a decode stretch in closed form equals the sum of its iterations", "[cost]") {
  for (const char* model : {"llama-3.1-8b", "mixtral-8x7b"}) {
    for (std::int64_t batch : {1, 7, 64, 256}) {
      for (int tp : {1, 2}) {
        const CostModel c(*find_model(model), *find_gpu("h100-sxm"), Dtype::fp16, tp, round_params());
        const std::int64_t context = batch * 900;
        double sum = 0.0, flops = 0.0;
        for (std::int64_t i = 0; i < 3000; ++i) {
          IterationShape s;
          s.decode_tokens = batch;
          s.decode_context_tokens = context + batch * i;
          sum += c.iteration_time_s(s);
          flops += c.iteration_flops(s);
          if (i == 0 || i == 9 || i == 499 || i == 2999) {
            INFO(model << " batch " << batch << " tp " << tp << " k " << i + 1);
            CHECK_THAT(c.decode_stretch_s(batch, context, i + 1), WithinRel(sum, 1e-9));
            CHECK_THAT(c.decode_stretch_flops(batch, context, i + 1), WithinRel(flops, 1e-9));
          }
        }
      }
    }
  }
}

TEST_CASE("cost: decode_iterations_done inverts decode_stretch_s", "[cost]") {
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

TEST_CASE("cost: the engine profiles - trtllm is the default, vllm and sglang differ from it, unknown is nothing",
          "[cost]") {
  REQUIRE(engine_profile("trtllm"));
  REQUIRE(engine_profile("vllm"));
  REQUIRE(engine_profile("sglang"));
  CHECK_FALSE(engine_profile("tgi"));
  CHECK(engine_names() == std::vector<std::string>{"trtllm", "vllm", "sglang"});
  for (const std::string& name : engine_names()) {
    const CostParams p = *engine_profile(name);
    INFO(name);
    CHECK(p.engine == name);
    for (double e : {p.mfu, p.mbu, p.fp8_efficiency, p.attention_prefill_efficiency, p.attention_decode_efficiency,
                     p.allreduce_bus_efficiency}) {
      CHECK(e > 0.0);
      CHECK(e <= 1.0);
    }
    CHECK(p.overhead_s > 0.0);
  }
  // The online benchmarks vLLM and SGLang were fitted on carry a per-request host cost TensorRT-LLM's offline
  // tables do not: their profiles are not trtllm's.
  CHECK(engine_profile("vllm")->per_prefill_overhead_s > 2 * engine_profile("trtllm")->per_prefill_overhead_s);
  CHECK(engine_profile("sglang")->per_prefill_overhead_s > 2 * engine_profile("trtllm")->per_prefill_overhead_s);
}

TEST_CASE("cost: with more GPUs than KV heads each GPU keeps one KV head - KV capacity and reads follow", "[cost]") {
  // Llama-3.1-70B has 8 KV heads: at TP 16 each GPU holds one (replicated in pairs), not half of one.
  const ModelSpec m = *find_model("llama-3.1-70b");
  const GpuSpec g = *find_gpu("h100-sxm");
  CostParams p = round_params();
  p.kv_reserve_fraction = 0.1;
  const CostModel tp8(m, g, Dtype::fp8, 8, p), tp16(m, g, Dtype::fp8, 16, p);
  // KV bytes per token of the group: 163,840 B at TP 8, twice that at TP 16.
  CHECK(tp16.kv_capacity_tokens() ==
        static_cast<std::int64_t>((16 * 80e9 * 0.9 - 70.6e9) / (2 * 163840.0)));
  IterationShape s;
  s.decode_tokens = 1;
  s.decode_context_tokens = 100000;
  // Decode attention per GPU reads one KV head at both TP 8 and TP 16: the same time.
  CHECK_THAT(tp16.operator_times(s).attention_decode, WithinRel(tp8.operator_times(s).attention_decode, 1e-12));
}

TEST_CASE("cost: reduced to the formula, every token costs 2 x P at u of the dense FP16 peak and nothing else",
          "[cost][formula]") {
  // gpt4-class (1.8 T total) on 4 stages of 8 H100 in FP8: the formula takes the FP16 peak (989 TFLOP/s) and the
  // total parameters whatever the dtype, the experts or the stages.
  CostParams p;
  p.formula_utilization = 0.34;
  Layout l;
  l.tensor_parallel = 8;
  l.pipeline_parallel = 4;
  const ModelSpec m = *find_model("gpt4-class");
  const CostModel c(m, *find_gpu("h100-sxm"), Dtype::fp8, l, p);
  const double per_token = 2.0 * m.params / (32 * 989e12 * 0.34);  // by hand
  IterationShape s;
  s.prefill_tokens = 1500;
  s.prefill_attention_context = 1500.0 * 750.0;
  s.prefill_sequences = 2;
  s.decode_tokens = 40;
  s.decode_context_tokens = 40 * 6000;
  CHECK_THAT(c.iteration_time_s(s), WithinRel(1540 * per_token, 1e-12));
  const OperatorTimes o = c.operator_times(s);
  CHECK(o.formula == c.iteration_time_s(s));
  CHECK(o.attention_decode == 0.0);
  CHECK(o.bubble == 0.0);
  CHECK(o.overhead == 0.0);
  CHECK(o.mlp == 0.0);
  CHECK_THAT(c.iteration_flops(s), WithinRel(2.0 * m.params * 1540, 1e-12));
  // A decode stretch: k iterations of b tokens, whatever the context.
  CHECK_THAT(c.decode_stretch_s(24, 24 * 100000, 7), WithinRel(7 * 24 * per_token, 1e-12));
  CHECK_THAT(c.decode_stretch_flops(24, 24 * 100000, 7), WithinRel(7 * 24 * 2.0 * m.params, 1e-12));
  CHECK(c.decode_iterations_done(24, 24 * 100000, 7.5 * 24 * per_token) == 7);
  // Throughput per replica is the same at any batch: tokens per second = GPUs x F x u / (2 P).
  for (std::int64_t b : {1, 8, 256})
    CHECK_THAT(b / c.decode_stretch_s(b, b * 5000, 1), WithinRel(32 * 989e12 * 0.34 / (2.0 * m.params), 1e-12));
  // Off by default; the operator-level model is far from 2 x P at u.
  const CostModel full(m, *find_gpu("h100-sxm"), Dtype::fp8, l, CostParams{});
  CHECK(full.operator_times(s).formula == 0.0);
  CHECK(std::abs(full.iteration_time_s(s) / c.iteration_time_s(s) - 1.0) > 0.05);
  CostParams bad;
  bad.formula_utilization = 1.5;
  CHECK_THROWS(CostModel(m, *find_gpu("h100-sxm"), Dtype::fp8, l, bad));
}
