// Replicas larger than a node: pipeline stages, expert parallelism and NVLink domains larger than 8 GPUs (issue 16).
// The truths: hand calculations from the model shape written out here, and the p = 1 cost model for the per-stage
// share (the bubble and the hand-offs are added by hand).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <string>

#include "cluster/catalog.hpp"
#include "cluster/cost_model.hpp"
#include "cluster/topology.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"
#include "helpers.hpp"

using namespace tf;
using Catch::Matchers::Contains;

namespace {

Layout layout(int tp, int pp, int ep = 1, int micro = 0, int gpus_per_node = 8) {
  Layout l;
  l.tensor_parallel = tp;
  l.pipeline_parallel = pp;
  l.expert_parallel = ep;
  l.micro_batches = micro;
  l.gpus_per_node = gpus_per_node;
  l.network_Bps = 400e9 / 8.0;
  l.network_latency_s = 5e-6;
  return l;
}

std::string load_error(const std::string& toml) {
  try {
    (void)load_scenario_text(toml, "layouts");
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("layouts: memory per GPU and KV capacity of tp x p stages, by hand from the shape", "[layouts]") {
  const ModelSpec m = *find_model("llama-3.1-405b");
  const GpuSpec h100 = *find_gpu("h100-sxm");
  const CostParams p;
  // 126 layers over 4 stages: the heaviest holds ceil(126 / 4) = 32 layers and the embeddings or the LM head.
  const double d = 16384, ff = 53248, vocab = 128256;
  const double attention = d * (128 + 2 * 8) * 128 + 128.0 * 128 * d;
  const double per_layer = attention + 3 * d * ff;
  const double shape_total = 126 * per_layer + 2 * vocab * d;
  const double stage = 32 * per_layer + vocab * d;
  const double weights_per_gpu = 405e9 * 2.0 * (stage / shape_total) / 8;  // BF16, 8 GPUs per stage
  const CostModel c(m, h100, Dtype::bf16, layout(8, 4), p);
  CHECK(c.stage_layers() == 32);
  CHECK(c.weight_bytes_per_gpu() == Approx(weights_per_gpu).epsilon(1e-12));
  CHECK(weights_per_gpu / 1e9 == Approx(26.1).epsilon(0.01));  // about 26 GB of the 80
  // KV per token on one GPU: 2 (K, V) x 32 layers x 1 KV head (8 over 8 GPUs) x 128 x 2 bytes.
  const double kv_per_gpu = 2.0 * 32 * 1 * 128 * 2;
  CHECK(c.kv_bytes_per_token_per_gpu() == Approx(kv_per_gpu));
  const double free_per_gpu = 80e9 * (1.0 - p.kv_reserve_fraction) - weights_per_gpu;
  CHECK(c.kv_capacity_tokens() == static_cast<std::int64_t>(std::floor(free_per_gpu / kv_per_gpu)));
  // In one node (p = 1) it does not fit: 810 GB of weights against 8 x 72 GB.
  CHECK(CostModel(m, h100, Dtype::bf16, layout(8, 1), p).kv_capacity_tokens() == 0);
  // The peak of a replica counts all its GPUs.
  CHECK(c.replica_peak_flops() == Approx(32 * 989e12));

  // Expert parallelism does not change the bytes per GPU (E / e experts of t / e shards each: E / t of the experts),
  // only where the experts run.
  const ModelSpec mix = *find_model("mixtral-8x7b");
  const CostModel tp2(mix, h100, Dtype::bf16, layout(2, 1), p);
  const CostModel ep2(mix, h100, Dtype::bf16, layout(2, 1, 2), p);
  CHECK(ep2.weight_bytes_per_gpu() == Approx(tp2.weight_bytes_per_gpu()));
  CHECK(ep2.kv_capacity_tokens() == tp2.kv_capacity_tokens());
  // gpt4-class in FP8 on 4 nodes of H100 (tp 8 x p 4): 30 layers a stage.
  const ModelSpec gpt4 = *find_model("gpt4-class");
  const CostModel g(gpt4, h100, Dtype::fp8, layout(8, 4, 8), p);
  const double g_layer = gpt4.attention_params_per_layer() + 16 * gpt4.mlp_params() + 14336.0 * 16;
  const double g_stage = 30 * g_layer + 100000.0 * 14336;
  CHECK(g.weight_bytes_per_gpu() == Approx(1.8e12 * 1.0 * g_stage / gpt4.shape_params() / 8));
  CHECK(g.kv_capacity_tokens() > 0);
  CHECK(CostModel(gpt4, h100, Dtype::fp8, layout(8, 1, 8), p).kv_capacity_tokens() == 0);
}

TEST_CASE("layouts: iteration time with the pipeline bubble and the hand-offs, by hand", "[layouts]") {
  const ModelSpec m = *find_model("llama-3.1-405b");
  const GpuSpec h100 = *find_gpu("h100-sxm");
  const CostParams p;
  const int stages = 4, micro = 4;
  const CostModel one(m, h100, Dtype::bf16, layout(8, 1), p);
  const CostModel piped(m, h100, Dtype::bf16, layout(8, stages, 1, micro), p);
  IterationShape s;
  s.decode_tokens = 64;
  s.decode_context_tokens = 64 * 2000;
  // One micro-batch: 16 requests, a quarter of the context.
  IterationShape mb;
  mb.decode_tokens = 16;
  mb.decode_context_tokens = 16 * 2000;
  const OperatorTimes o1 = one.operator_times(mb);
  const double layer_ops = o1.total() - o1.lm_head - o1.overhead;
  const double stage = layer_ops * 32.0 / 126.0 + o1.lm_head;  // the heaviest stage: 32 layers and the LM head
  // Every stage boundary crosses nodes (a stage is a whole 8-GPU node): latency + 16 x 16384 x 2 bytes / 50 GB/s.
  const double handoff = 5e-6 + 16.0 * 16384 * 2 / 50e9;
  const double overhead = p.overhead_s + p.per_request_overhead_s * 64;
  const double expected = (micro + stages - 1) * stage + (stages - 1) * handoff + overhead;
  const OperatorTimes op = piped.operator_times(s);
  CHECK(op.total() == Approx(expected).epsilon(1e-9));
  CHECK(op.handoff == Approx(3 * handoff));
  CHECK(op.bubble == Approx(3 * stage).epsilon(1e-9));
  CHECK(piped.iteration_time_s(s) == Approx(expected).epsilon(1e-9));
  // A decode stretch of one iteration is that iteration; the closed form agrees over k iterations.
  CHECK(piped.decode_stretch_s(64, 64 * 2000, 1) == Approx(expected).epsilon(1e-9));
  IterationShape next = s;
  next.decode_context_tokens += 64;
  CHECK(piped.decode_stretch_s(64, 64 * 2000, 2) == Approx(expected + piped.iteration_time_s(next)).epsilon(1e-9));
  const double t3 = piped.decode_stretch_s(64, 64 * 2000, 3);
  CHECK(piped.decode_iterations_done(64, 64 * 2000, t3) == 3);
  CHECK(piped.decode_iterations_done(64, 64 * 2000, t3 * 0.999) == 2);
  // Batch 1 cannot be split: one micro-batch walks through the 4 stages alone (the bubble is 3 of the 4 stage times).
  IterationShape single;
  single.decode_tokens = 1;
  single.decode_context_tokens = 2000;
  const OperatorTimes s1 = one.operator_times(single);
  const double stage1 = (s1.total() - s1.lm_head - s1.overhead) * 32.0 / 126.0 + s1.lm_head;
  const double handoff1 = 5e-6 + 16384.0 * 2 / 50e9;
  CHECK(piped.iteration_time_s(single) ==
        Approx(4 * stage1 + 3 * handoff1 + p.overhead_s + p.per_request_overhead_s).epsilon(1e-9));
  // Stages within one node hand off over NVLink: 2 stages of tp 4 on an 8-GPU node, each GPU its quarter.
  const CostModel in_node(m, h100, Dtype::bf16, layout(4, 2), p);
  CHECK_FALSE(in_node.handoff_crosses_nodes(1));
  CHECK(in_node.handoff_s(64, 1) == Approx(1e-6 + 64.0 * 16384 * 2 / 4 / 450e9));
  // p = 1 through the layout constructor is the tensor-parallel model, to the bit.
  const CostModel same(m, h100, Dtype::bf16, layout(8, 1), p);
  const CostModel plain(m, h100, Dtype::bf16, 8, p);
  CHECK(same.iteration_time_s(s) == plain.iteration_time_s(s));
  CHECK(same.decode_stretch_s(64, 128000, 50) == plain.decode_stretch_s(64, 128000, 50));
}

TEST_CASE("layouts: expert parallelism's all-to-all and expert GEMMs against their formulas", "[layouts]") {
  const ModelSpec mix = *find_model("mixtral-8x7b");
  const GpuSpec h100 = *find_gpu("h100-sxm");
  const CostParams p;
  const CostModel tp1(mix, h100, Dtype::bf16, layout(1, 1), p);
  const CostModel ep2(mix, h100, Dtype::bf16, layout(2, 1, 2), p);
  IterationShape s;
  s.prefill_tokens = 2048;
  s.prefill_sequences = 1;
  s.prefill_attention_context = 2048.0 * 2049 / 2;
  // Dispatch and combine per layer: 2 x ((e-1)/e x tokens x k x d_model x 2 bytes / (NVLink/2 x bus eff.) + latency).
  const double bytes = 0.5 * 2048 * 2 * 4096 * 2;
  const double one_layer = 2.0 * (bytes / (900e9 / 2 * p.allreduce_bus_efficiency) + p.allreduce_latency_s);
  CHECK(ep2.alltoall_s(2048) == Approx(one_layer));
  const OperatorTimes o = ep2.operator_times(s);
  CHECK(o.alltoall == Approx(32 * one_layer));
  // With e = t each GPU runs whole experts, half of those the batch touches: half of one GPU's expert time.
  CHECK(o.mlp == Approx(tp1.operator_times(s).mlp / 2));
  // A dense model refuses expert parallelism; e must divide t and the experts.
  const ModelSpec dense = *find_model("llama-3.1-70b");
  CHECK_THROWS_WITH(CostModel(dense, h100, Dtype::bf16, layout(8, 1, 2), p), Contains("is dense"));
  CHECK_THROWS_WITH(CostModel(mix, h100, Dtype::bf16, layout(2, 1, 4), p), Contains("must divide tensor_parallel"));
}

TEST_CASE("layouts: replicas of tp x p GPUs on successive GPUs and nodes", "[layouts][topology]") {
  const auto two_nodes = layout_replicas(3, 8, 2, 8);  // 16 GPUs each: two whole nodes
  REQUIRE(two_nodes.size() == 3);
  CHECK(two_nodes[1].size() == 16);
  CHECK(two_nodes[1].front() == 16);
  CHECK(two_nodes[1].back() == 31);
  const auto shared = layout_replicas(4, 2, 2, 8);  // 4 GPUs each, two to a node
  CHECK(shared[1] == std::vector<int>{4, 5, 6, 7});
  CHECK(shared[2] == std::vector<int>{8, 9, 10, 11});
  CHECK(layout_replicas(5, 4, 1, 8) == layout_replicas(5, 4, 8));  // p = 1 as before
  CHECK_THROWS_WITH(layout_replicas(1, 2, 3, 8), Contains("must divide a node of 8 GPUs or take whole nodes"));
  CHECK_THROWS_WITH(layout_replicas(1, 8, 3, 16), Contains("take whole nodes"));  // 24 GPUs on 16-GPU nodes
}

TEST_CASE("layouts: gpt4-class's shape reproduces the public estimates", "[layouts][catalog]") {
  const ModelSpec g = *find_model("gpt4-class");
  // SemiAnalysis (July 2023), as relayed: about 1.8 T in all, about 280 B active, 16 experts of about 111 B MLP
  // parameters, about 55 B shared. Within 2 %.
  CHECK(g.shape_params() == Approx(1.8e12).epsilon(0.02));
  CHECK(g.shape_active_params() == Approx(280e9).epsilon(0.02));
  CHECK(g.active_params == g.shape_active_params());  // derived, not typed in
  CHECK(g.layers * g.mlp_params() == Approx(111e9).epsilon(0.02));
  CHECK(g.layers * g.attention_params_per_layer() + g.embedding_params() == Approx(55e9).epsilon(0.02));
  CHECK(g.experts == 16);
  CHECK(g.experts_per_token == 2);
  CHECK(g.params == 1.8e12);  // the report's P
  // The GB200 NVL72 GPU: one NVLink domain of 72, the per-GPU figures of the rack's data sheet.
  const GpuSpec gb = *find_gpu("gb200-nvl72");
  CHECK(gb.nvlink_domain == 72);
  CHECK(gb.fp16_flops * 72 * 2 == Approx(360e15));  // 360 PFLOPS FP16 with sparsity for the rack
  CHECK(gb.hbm_bandwidth_Bps * 72 == Approx(576e12));
  CHECK(gb.nvlink_Bps * 72 == Approx(130e12).epsilon(0.01));
  CHECK(find_gpu("h100-sxm")->nvlink_domain == 8);
}

TEST_CASE("layouts: the loader refuses layouts that cannot be", "[layouts][scenario]") {
  const std::string head = "[model]\nname = \"llama-3.1-70b\"\n[hardware]\ngpu = \"h100-sxm\"\n";
  CHECK_THAT(load_error(head + "tensor_parallel = 8\nexpert_parallel = 2\n"),
             Contains("hardware.expert_parallel") && Contains("needs a mixture-of-experts model") &&
                 Contains("llama-3.1-70b is dense"));
  CHECK_THAT(load_error(head + "gpus_per_node = 72\n"),
             Contains("hardware.gpus_per_node") && Contains("exceeds the 8 GPUs of one NVLink domain of h100-sxm"));
  CHECK_THAT(load_error(head + "tensor_parallel = 2\npipeline_parallel = 3\n"),
             Contains("hardware.pipeline_parallel") && Contains("2 x 3 = 6 GPUs must divide a node"));
  CHECK_THAT(load_error(head + "pipeline_parallel = 81\ntensor_parallel = 8\n"),
             Contains("exceeds llama-3.1-70b's 80 layers"));
  CHECK_THAT(load_error(head + "micro_batches = 4\n"), Contains("micro_batches needs pipeline_parallel > 1"));
  const std::string mix = "[model]\nname = \"mixtral-8x7b\"\n[hardware]\ngpu = \"h100-sxm\"\n";
  CHECK_THAT(load_error(mix + "tensor_parallel = 2\nexpert_parallel = 4\n"),
             Contains("expert_parallel (4) must divide tensor_parallel (2)"));
  // Accepted: 72 GPUs to a node on the NVL72's GPU, a replica of 8 x 9 in it; stages on 4 whole H100 nodes.
  const Scenario nvl = load_scenario_text(
      "[model]\nname = \"gpt4-class\"\n[hardware]\ngpu = \"gb200-nvl72\"\ndtype = \"fp8\"\ngpus_per_node = 72\n"
      "tensor_parallel = 8\npipeline_parallel = 9\nexpert_parallel = 8\n",
      "nvl");
  CHECK(nvl.gpus_per_replica() == 72);
  const Scenario staged = load_scenario_text(head + "tensor_parallel = 8\npipeline_parallel = 4\n", "staged");
  CHECK(staged.gpus_per_replica() == 32);
  CHECK(staged.layout().micro_batch_count() == 4);  // the default: m = p
}

TEST_CASE("layouts: a model that fits only with pipeline stages is served and drains", "[layouts][engine]") {
  // gpt4-class in FP8: 1.8 TB of weights fit no node of any catalogue GPU at 8 to a node (B200: 8 x 162 GB usable);
  // four stages of 8 H100s (30 layers each, about 57 GB of weights per GPU) do.
  const std::string toml = R"(
name = "staged"
seed = 3
duration_s = 40
warmup_s = 5
[model]
name = "gpt4-class"
[hardware]
gpu = "h100-sxm"
dtype = "fp8"
tensor_parallel = 8
pipeline_parallel = 4
expert_parallel = 8
[fleet]
replicas = 1
[workload]
arrival = { process = "poisson", rate_per_s = 1.0 }
prompt_tokens = { dist = "fixed", value = 512 }
output_tokens = { dist = "fixed", value = 64 }
)";
  const Scenario s = load_scenario_text(toml, "staged");
  CHECK(s.gpus_per_replica() == 32);
  const RunResult r = run_simulation(s);
  REQUIRE(r.records.size() > 10);
  for (const auto& rec : r.records) CHECK(rec.finished());
  // Without stages, validate explains why not (weights against the replica's usable HBM) and suggests stages, the
  // only remedy; the remedy validates.
  const std::string path = (std::filesystem::temp_directory_path() / "tf-layouts-staged.toml").string();
  tf::test::write_file(path, toml);
  const auto v = tf::test::run_command(tf::test::binary() + " validate " + path +
                                       " --set hardware.pipeline_parallel=1");
  INFO(v.output);
  CHECK(v.exit_code == 3);
  CHECK_THAT(v.output, Contains("needs 1800.0 GB of weights, but a replica of 8 x h100-sxm has 576.0 GB of usable HBM") &&
                           Contains("--set hardware.pipeline_parallel=4"));
  const auto ok = tf::test::run_command(tf::test::binary() + " validate " + path);
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  // size records the layout it sized (tp, stages, expert parallelism) with the answer.
  const std::string out = (std::filesystem::temp_directory_path() / "tf-layouts-staged-size").string();
  std::filesystem::remove_all(out);
  const auto sz = tf::test::run_command(tf::test::binary() + " size " + path +
                                        " --margin point --set slo.ttft_p99_s=10 --set slo.tpot_p99_s=2 --out " + out);
  INFO(sz.output);
  REQUIRE(sz.exit_code == 0);
  const std::string sizing = tf::test::read_file(out + "/sizing.json");
  CHECK_THAT(sizing, Contains("\"tensor_parallel\": 8") && Contains("\"pipeline_parallel\": 4") &&
                         Contains("\"expert_parallel\": 8"));
  std::filesystem::remove_all(out);
  // llama-3.1-405b in BF16 on one node of H100 (810 GB of weights): explained the same way, per GPU with stages.
  const auto big = tf::test::run_command(tf::test::binary() + " validate " + path +
                                         " --set model.name=llama-3.1-405b --set hardware.dtype=bf16 "
                                         "--set hardware.pipeline_parallel=1 --set hardware.expert_parallel=1");
  INFO(big.output);
  CHECK(big.exit_code == 3);
  CHECK_THAT(big.output, Contains("needs 810.0 GB of weights, but a replica of 8 x h100-sxm has 576.0 GB"));
}
