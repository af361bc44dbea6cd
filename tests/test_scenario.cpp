// The scenario loader: good files load with the right values, bad ones give a ScenarioError that names
// the file, the line and the key. Fixtures: tests/data/scenarios/.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "sim/scenario/scenario.hpp"
#include "tests/helpers.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;

namespace {

std::string fixture(const std::string& name) { return tf::test::source_dir() + "/tests/data/scenarios/" + name; }

// The ScenarioError a call throws; fails the test when it throws nothing (or something else).
tf::ScenarioError error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tf::ScenarioError& e) {
    return e;
  }
  FAIL("expected a ScenarioError");
  return tf::ScenarioError("", 0, "", "");
}

tf::ScenarioError file_error(const std::string& name, const std::vector<std::string>& overrides = {}) {
  return error_of([&] { tf::load_scenario_file(fixture(name), overrides); });
}

tf::ScenarioError text_error(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return error_of([&] { tf::load_scenario_text(text, "t.toml", overrides); });
}

}  // namespace

// --- good files -------------------------------------------------------------------------------

TEST_CASE("scenario: the example chat-hour.toml loads with its values", "[scenario]") {
  const tf::Scenario s = tf::load_scenario_file(tf::test::source_dir() + "/scenarios/chat-hour.toml");
  CHECK(s.name == "chat-hour");
  CHECK(s.seed == 1);
  CHECK(s.duration_s == 3600.0);
  CHECK(s.warmup_s == 300.0);
  CHECK(s.model.name == "llama-3.1-70b");
  CHECK(s.model.layers == 80);
  CHECK(s.gpu.name == "h100-sxm");
  CHECK(s.tensor_parallel == 4);
  CHECK(s.dtype == tf::Dtype::fp8);
  CHECK(s.gpus_per_node == 8);
  CHECK(s.replicas == 8);
  CHECK(s.workload.arrival.process == "poisson");
  CHECK(s.workload.arrival.rate_per_s == 20.0);
  CHECK(s.workload.prompt_tokens.dist == "lognormal");
  CHECK(s.workload.prompt_tokens.mean == 1000.0);
  CHECK(s.workload.prompt_tokens.percentile == 99.0);
  CHECK(s.workload.prompt_tokens.percentile_value == 6000.0);
  CHECK_FALSE(s.workload.prompt_tokens.has_mu_sigma);
  CHECK(s.workload.prompt_tokens.min == 1.0);
  CHECK(s.workload.prompt_tokens.max == 131072.0);  // the model's context window
  CHECK(s.workload.output_tokens.mean == 250.0);
  CHECK(s.workload.output_tokens.percentile_value == 1200.0);
  CHECK(s.batching == "continuous");
  CHECK(s.limits.max_batch == 256);
  CHECK(s.limits.max_batched_tokens == 8192);
  CHECK(s.router == "round-robin");
  CHECK(s.slo.ttft_p99_s == 2.0);
  CHECK(s.slo.tpot_p99_s == 0.2);
  CHECK_THAT(s.source, EndsWith("chat-hour.toml"));
}

TEST_CASE("scenario: the built-in default equals scenarios/default.toml and loads", "[scenario]") {
  CHECK(tf::test::read_file(tf::test::source_dir() + "/scenarios/default.toml") == tf::default_scenario_toml());
  const tf::Scenario s = tf::load_scenario_text(tf::default_scenario_toml(), "<built-in default>");
  CHECK(s.name == "default");
  CHECK(s.seed == 1);
  CHECK(s.duration_s == 600.0);
  CHECK(s.warmup_s == 60.0);
  CHECK(s.model.name == "llama-3.1-8b");
  CHECK(s.gpu.name == "h100-sxm");
  CHECK(s.dtype == tf::Dtype::fp16);
  CHECK(s.tensor_parallel == 1);
  CHECK(s.replicas == 4);
  CHECK(s.workload.arrival.rate_per_s == 20.0);
  CHECK(s.workload.prompt_tokens.percentile_value == 6000.0);
  CHECK(s.workload.output_tokens.mean == 250.0);
  CHECK(s.slo.ttft_p99_s == 2.0);
  CHECK(s.slo.tpot_p99_s == 0.2);
  CHECK(s.source == "<built-in default>");
  // The file loads to the same scenario.
  const tf::Scenario f = tf::load_scenario_file(tf::test::source_dir() + "/scenarios/default.toml");
  CHECK(f.name == s.name);
  CHECK(f.replicas == s.replicas);
}

TEST_CASE("scenario: a file with no sections gets the documented defaults", "[scenario]") {
  const tf::Scenario s = tf::load_scenario_file(fixture("minimal.toml"));
  const tf::CostParams cost;
  CHECK(s.name == "minimal");
  CHECK(s.seed == 1);
  CHECK(s.duration_s == 600.0);
  CHECK(s.warmup_s == 60.0);
  CHECK(s.model.name == "llama-3.1-8b");
  CHECK(s.gpu.name == "h100-sxm");
  CHECK(s.tensor_parallel == 1);
  CHECK(s.dtype == tf::Dtype::fp16);
  CHECK(s.gpus_per_node == 8);
  CHECK(s.network_Bps == Approx(50e9));
  CHECK(s.network_latency_s == Approx(5e-6));
  CHECK(s.replicas == 1);
  CHECK(s.workload.arrival.process == "poisson");
  CHECK(s.workload.arrival.rate_per_s == 1.0);
  CHECK(s.workload.prompt_tokens.dist == "fixed");
  CHECK(s.workload.prompt_tokens.value == 128.0);
  CHECK(s.workload.output_tokens.dist == "fixed");
  CHECK(s.workload.output_tokens.value == 128.0);
  CHECK(s.batching == "continuous");
  CHECK(s.limits.max_batch == 256);
  CHECK(s.limits.max_batched_tokens == 8192);
  CHECK(s.router == "round-robin");
  CHECK(s.slo.ttft_p99_s == 0.0);
  CHECK(s.slo.tpot_p99_s == 0.0);
  CHECK(s.cost.mfu == cost.mfu);
  CHECK(s.cost.mbu == cost.mbu);
  CHECK(s.cost.overhead_s == Approx(cost.overhead_s));
  CHECK(s.cost.allreduce_latency_s == Approx(cost.allreduce_latency_s));
  CHECK(s.cost.kv_reserve_fraction == cost.kv_reserve_fraction);
  CHECK(s.cost.engine == "trtllm");
  CHECK(s.cost.attention_prefill_efficiency == cost.attention_prefill_efficiency);
}

TEST_CASE("scenario: an explicit model shape works - and explicit keys override a catalogue model", "[scenario]") {
  const tf::Scenario s = tf::load_scenario_file(fixture("custom-model.toml"));
  CHECK(s.model.name == "tiny-moe");
  CHECK(s.model.params == 20e9);
  CHECK(s.model.active_params == 5e9);
  CHECK(s.model.layers == 24);
  CHECK(s.model.d_model == 3072);
  CHECK(s.model.heads == 24);  // d_model / head_dim
  CHECK(s.model.kv_heads == 8);
  CHECK(s.model.head_dim == 128);
  CHECK(s.model.context_window == 16384);
  CHECK(s.workload.prompt_tokens.dist == "uniform");
  CHECK(s.workload.prompt_tokens.low == 100.0);
  CHECK(s.workload.prompt_tokens.high == 200.0);
  CHECK(s.workload.prompt_tokens.max == 16384.0);
  CHECK(s.workload.output_tokens.dist == "exponential");
  CHECK(s.workload.output_tokens.mean == 50.0);
  CHECK(s.workload.output_tokens.max == 400.0);

  const tf::Scenario o = tf::load_scenario_text("[model]\nname = \"llama-3.1-8b\"\ncontext_window = 8192\n", "t.toml");
  CHECK(o.model.name == "llama-3.1-8b");
  CHECK(o.model.layers == 32);
  CHECK(o.model.context_window == 8192);
  CHECK(o.workload.prompt_tokens.max == 8192.0);  // the default max follows the context window
  CHECK(o.name == "t");                            // no name: the file's stem

  // A model without a name but with a shape; active_params defaults to params.
  const tf::Scenario n = tf::load_scenario_text(
      "[model]\nparams = 1e9\nlayers = 16\nd_model = 2048\nheads = 16\nkv_heads = 4\nhead_dim = 128\n"
      "context_window = 4096\n",
      "t.toml");
  CHECK(n.model.name == "custom");
  CHECK(n.model.active_params == 1e9);
  CHECK(n.model.heads == 16);
}

TEST_CASE("scenario: an explicit GPU works - in user units - with the cost section", "[scenario]") {
  const tf::Scenario s = tf::load_scenario_file(fixture("custom-gpu.toml"));
  CHECK(s.gpu.name == "x1000");
  CHECK(s.gpu.fp16_flops == Approx(500e12));
  CHECK(s.gpu.fp8_flops == Approx(1000.5e12));
  CHECK(s.gpu.hbm_bytes == Approx(96e9));
  CHECK(s.gpu.hbm_bandwidth_Bps == Approx(4e12));
  CHECK(s.gpu.nvlink_Bps == Approx(450e9));
  CHECK(s.gpu.idle_watts == 60.0);
  CHECK(s.gpu.busy_watts == 550.0);
  CHECK(s.tensor_parallel == 2);
  CHECK(s.gpus_per_node == 4);
  CHECK(s.dtype == tf::Dtype::bf16);
  CHECK(s.network_Bps == Approx(25e9));
  CHECK(s.network_latency_s == Approx(2.5e-6));
  CHECK(s.cost.mfu == 0.6);
  CHECK(s.cost.mbu == 0.7);
  CHECK(s.cost.overhead_s == Approx(0.003));
  CHECK(s.cost.allreduce_latency_s == Approx(8e-6));
  CHECK(s.cost.kv_reserve_fraction == 0.05);
  CHECK(s.cost.engine == "vllm");
  CHECK(s.cost.attention_decode_efficiency == 0.5);
  CHECK(s.cost.per_request_overhead_s == Approx(20e-6));

  // An inline table naming a catalogue GPU takes its figures and overrides the ones given.
  const tf::Scenario i =
      tf::load_scenario_text("[hardware]\ngpu = { name = \"h100-sxm\", hbm_gb = 94 }\n", "t.toml");
  CHECK(i.gpu.name == "h100-sxm");
  CHECK(i.gpu.hbm_bytes == Approx(94e9));
  CHECK(i.gpu.fp16_flops == tf::find_gpu("h100-sxm")->fp16_flops);
}

TEST_CASE("scenario: a GPU's decode power curve - its two points given or scaled - checked in order", "[scenario]") {
  using Catch::Matchers::Contains;
  // Without them the power model scales H100's curve; the fields stay 0.
  const tf::Scenario d = tf::load_scenario_text("[hardware]\ngpu = \"a100\"\n", "t.toml");
  CHECK(d.gpu.decode_batch1_watts == 0.0);
  CHECK(d.gpu.decode_batch128_watts == 0.0);
  const tf::Scenario s = tf::load_scenario_text(
      "[hardware]\ngpu = { name = \"h100-sxm\", decode_batch1_watts = 280, decode_batch128_watts = 600 }\n", "t.toml");
  CHECK(s.gpu.decode_batch1_watts == 280.0);
  CHECK(s.gpu.decode_batch128_watts == 600.0);
  auto e = text_error("[hardware]\ngpu = { name = \"h100-sxm\", decode_batch1_watts = 50 }\n");
  CHECK(e.key() == "hardware.gpu.decode_batch1_watts");
  CHECK_THAT(e.what(), Contains("between idle_watts (75) and busy_watts (700"));
  e = text_error("[hardware]\ngpu = { name = \"h100-sxm\", decode_batch128_watts = 750 }\n");
  CHECK(e.key() == "hardware.gpu.decode_batch128_watts");
  e = text_error("[hardware]\ngpu = { name = \"h100-sxm\", decode_batch128_watts = 250 }\n");
  CHECK(e.key() == "hardware.gpu.decode_batch128_watts");
  CHECK_THAT(e.what(), Contains("cannot be below decode_batch1_watts (300.0, scaled from H100's curve)"));
  e = text_error("[hardware]\ngpu = { name = \"h100-sxm\", decode_batch1_watts = \"a lot\" }\n");
  CHECK(e.key() == "hardware.gpu.decode_batch1_watts");
}

TEST_CASE("scenario: every distribution form and integers where floats are expected", "[scenario]") {
  const tf::Scenario s = tf::load_scenario_text(
      "duration_s = 3600\nwarmup_s = 0\n[workload]\narrival = { rate_per_s = 3 }\n"
      "prompt_tokens = { dist = \"lognormal\", mu = 6.5, sigma = 0.75, min = 16, max = 4000 }\n"
      "output_tokens = { dist = \"lognormal\", mean = 300, p999 = 4000 }\n",
      "t.toml");
  CHECK(s.duration_s == 3600.0);
  CHECK(s.warmup_s == 0.0);
  CHECK(s.workload.arrival.process == "poisson");
  CHECK(s.workload.arrival.rate_per_s == 3.0);
  CHECK(s.workload.prompt_tokens.has_mu_sigma);
  CHECK(s.workload.prompt_tokens.mu == 6.5);
  CHECK(s.workload.prompt_tokens.sigma == 0.75);
  CHECK(s.workload.prompt_tokens.min == 16.0);
  CHECK(s.workload.prompt_tokens.max == 4000.0);
  CHECK(s.workload.output_tokens.percentile == Approx(99.9));
  CHECK(s.workload.output_tokens.percentile_value == 4000.0);

  // p50 is the median: mu = ln(p50), sigma = sqrt(2 ln(mean / p50)).
  const tf::Scenario m = tf::load_scenario_text(
      "[workload]\nprompt_tokens = { dist = \"lognormal\", mean = 1000, p50 = 600 }\n"
      "output_tokens = { dist = \"fixed\", value = 64 }\n",
      "t.toml");
  CHECK(m.workload.prompt_tokens.has_mu_sigma);
  CHECK(m.workload.prompt_tokens.mu == Approx(std::log(600.0)));
  CHECK(std::exp(m.workload.prompt_tokens.mu + 0.5 * std::pow(m.workload.prompt_tokens.sigma, 2)) ==
        Approx(1000.0));
  CHECK(m.workload.output_tokens.value == 64.0);
}

// --- bad files: file, line, key and message -------------------------------------------------

TEST_CASE("scenario error: a missing file", "[scenario]") {
  const auto e = file_error("no-such-file.toml");
  CHECK_THAT(e.file(), EndsWith("no-such-file.toml"));
  CHECK(e.line() == 0);
  CHECK_THAT(e.what(), Contains("cannot open file"));
}

TEST_CASE("scenario error: a TOML syntax error gives its line", "[scenario]") {
  const auto e = file_error("bad-syntax.toml");
  CHECK(e.file() == fixture("bad-syntax.toml"));
  CHECK(e.line() == 5);
  CHECK_THAT(e.what(), Contains("bad-syntax.toml:5: "));
}

TEST_CASE("scenario error: an unknown top-level key", "[scenario]") {
  const auto e = file_error("bad-unknown-top.toml");
  CHECK(e.file() == fixture("bad-unknown-top.toml"));
  CHECK(e.line() == 3);
  CHECK(e.key() == "colour");
  CHECK_THAT(e.what(), Contains("unknown key 'colour'"));
  CHECK_THAT(e.what(), Contains("duration_s"));  // lists the known keys

  const auto t = text_error("name = \"x\"\ndration_s = 60\n");
  CHECK(t.line() == 2);
  CHECK_THAT(t.what(), Contains("did you mean 'duration_s'?"));

  const auto misplaced = text_error("replicas = 4\n");
  CHECK_THAT(misplaced.what(), Contains("did you mean 'fleet.replicas'?"));
}

TEST_CASE("scenario error: an unknown nested key - with a suggestion", "[scenario]") {
  const auto e = file_error("bad-unknown-nested.toml");
  CHECK(e.line() == 8);
  CHECK(e.key() == "policy.max_bach");
  CHECK_THAT(e.what(), Contains("did you mean 'max_batch'?"));
  CHECK_THAT(e.what(), Contains("bad-unknown-nested.toml:8: policy.max_bach: unknown key 'max_bach'"));

  const auto i = file_error("bad-unknown-inline.toml");
  CHECK(i.line() == 4);
  CHECK(i.key() == "workload.arrival.rat_per_s");
  CHECK_THAT(i.what(), Contains("did you mean 'rate_per_s'?"));

  const auto g = text_error("[hardware.gpu]\nname = \"h100-sxm\"\nhbm_gbs = 90\n");
  CHECK(g.line() == 3);
  CHECK(g.key() == "hardware.gpu.hbm_gbs");
}

TEST_CASE("scenario error: a wrong type", "[scenario]") {
  const auto e = file_error("bad-wrong-type.toml");
  CHECK(e.line() == 4);
  CHECK(e.key() == "fleet.replicas");
  CHECK_THAT(e.what(), Contains("expected an integer, got a string"));

  const auto f = text_error("[fleet]\nreplicas = 2.5\n");
  CHECK(f.line() == 2);
  CHECK_THAT(f.what(), Contains("expected an integer, got a floating-point number"));

  const auto n = text_error("duration_s = \"long\"\n");
  CHECK(n.key() == "duration_s");
  CHECK_THAT(n.what(), Contains("expected a number, got a string"));

  const auto t = text_error("fleet = 3\n");
  CHECK(t.key() == "fleet");
  CHECK_THAT(t.what(), Contains("expected a table, got an integer"));
}

TEST_CASE("scenario error: a negative arrival rate", "[scenario]") {
  const auto e = file_error("bad-negative-rate.toml");
  CHECK(e.line() == 4);
  CHECK(e.key() == "workload.arrival.rate_per_s");
  CHECK_THAT(e.what(), Contains("expected a number greater than 0, got -5"));
}

TEST_CASE("scenario error: warm-up not shorter than the duration", "[scenario]") {
  const auto e = file_error("bad-warmup.toml");
  CHECK(e.line() == 3);
  CHECK(e.key() == "warmup_s");
  CHECK_THAT(e.what(), Contains("less than duration_s (600), got 600"));
}

TEST_CASE("scenario error: an unknown GPU lists the catalogue", "[scenario]") {
  const auto e = file_error("bad-unknown-gpu.toml");
  CHECK(e.line() == 4);
  CHECK(e.key() == "hardware.gpu");
  CHECK_THAT(e.what(), Contains("unknown GPU 'h900-sxm'"));
  CHECK_THAT(e.what(), Contains("h100-sxm"));
  CHECK_THAT(e.what(), Contains("a100-80gb"));
}

TEST_CASE("scenario error: an unknown model lists the catalogue", "[scenario]") {
  const auto e = file_error("bad-unknown-model.toml");
  CHECK(e.line() == 4);
  CHECK(e.key() == "model.name");
  CHECK_THAT(e.what(), Contains("unknown model 'llama-5-1t'"));
  CHECK_THAT(e.what(), Contains("llama-3.1-70b"));
}

TEST_CASE("scenario error: fp8 on a GPU without fp8 (A100)", "[scenario]") {
  const auto e = file_error("bad-fp8-a100.toml");
  CHECK(e.line() == 6);
  CHECK(e.key() == "hardware.dtype");
  CHECK_THAT(e.what(), Contains("a100-80gb has no fp8 support"));
}

TEST_CASE("scenario error: tensor_parallel that does not divide gpus_per_node", "[scenario]") {
  const auto e = file_error("bad-tp.toml");
  CHECK(e.line() == 5);
  CHECK(e.key() == "hardware.tensor_parallel");
  CHECK_THAT(e.what(), Contains("must divide gpus_per_node (8)"));

  const auto big = text_error("[hardware]\ntensor_parallel = 16\n");
  CHECK(big.key() == "hardware.tensor_parallel");
}

TEST_CASE("scenario error: a lognormal p99 below its mean", "[scenario]") {
  const auto e = file_error("bad-p99-below-mean.toml");
  CHECK(e.line() == 12);
  CHECK(e.key() == "workload.prompt_tokens.p99");
  CHECK_THAT(e.what(), EndsWith("bad-p99-below-mean.toml:12: workload.prompt_tokens.p99: expected a number greater "
                                "than the mean (1000), got 800"));

  // A check only make_distribution() knows (a p99 too far above the mean) keeps file, line and key.
  const auto far = text_error(
      "[workload]\n\nprompt_tokens = { dist = \"lognormal\", mean = 10, p99 = 100000 }\n");
  CHECK(far.line() == 3);
  CHECK(far.key() == "workload.prompt_tokens.p99");
  CHECK_THAT(far.what(), Contains("too far above"));
}

TEST_CASE("scenario error: two percentile keys in one distribution", "[scenario]") {
  const auto e = file_error("bad-two-percentiles.toml");
  CHECK(e.line() == 7);
  CHECK(e.key() == "workload.output_tokens.p99");
  CHECK_THAT(e.what(), Contains("only one percentile key is allowed, got p90 and p99"));
}

TEST_CASE("scenario error: other distribution mistakes", "[scenario]") {
  const auto u = text_error("[workload]\nprompt_tokens = { dist = \"zipf\", value = 3 }\n");
  CHECK(u.key() == "workload.prompt_tokens.dist");
  CHECK_THAT(u.what(), Contains("unknown dist 'zipf'"));

  const auto notused = text_error("[workload]\nprompt_tokens = { dist = \"fixed\", value = 3, mean = 4 }\n");
  CHECK(notused.key() == "workload.prompt_tokens.mean");

  const auto range = text_error("[workload]\nprompt_tokens = { dist = \"uniform\", low = 50, high = 10 }\n");
  CHECK(range.key() == "workload.prompt_tokens.high");
  CHECK(range.line() == 2);

  const auto missing = text_error("[workload]\nprompt_tokens = { dist = \"exponential\" }\n");
  CHECK(missing.key() == "workload.prompt_tokens.mean");
  CHECK(missing.line() == 2);

  const auto toolong = text_error("[workload]\noutput_tokens = { dist = \"fixed\", value = 3, max = 1e9 }\n");
  CHECK(toolong.key() == "workload.output_tokens.max");
}

TEST_CASE("scenario error: unknown batching policy or router lists the registered ones", "[scenario]") {
  const auto b = file_error("bad-unknown-policy.toml");
  CHECK(b.line() == 4);
  CHECK(b.key() == "policy.batching");
  CHECK_THAT(b.what(), Contains("unknown batching policy \"speculative\""));
  CHECK_THAT(b.what(), Contains("continuous"));

  const auto r = file_error("bad-unknown-router.toml");
  CHECK(r.line() == 4);
  CHECK(r.key() == "policy.router");
  CHECK_THAT(r.what(), Contains("round-robin"));
  CHECK_THAT(r.what(), Contains("central-queue"));
}

TEST_CASE("scenario error: out-of-range values elsewhere", "[scenario]") {
  CHECK(text_error("[cost]\nmfu = 1.5\n").key() == "cost.mfu");
  CHECK_THAT(text_error("[cost]\nmfu = 1.5\n").what(), Contains("expected a number in [0.001, 1], got 1.5"));
  CHECK(text_error("[cost]\nkv_reserve_fraction = 1\n").key() == "cost.kv_reserve_fraction");
  CHECK(text_error("[cost]\nformula_utilization = 0\n").key() == "cost.formula_utilization");
  CHECK_THAT(text_error("[cost]\nformula_utilization = 1.2\n").what(), Contains("(0, 1]"));
  CHECK(tf::load_scenario_text("[cost]\nformula_utilization = 0.4\n", "t.toml").cost.formula_utilization == 0.4);
  CHECK(tf::load_scenario_text("", "t.toml").cost.formula_utilization == 0.0);
  CHECK(text_error("[fleet]\nreplicas = 0\n").key() == "fleet.replicas");
  CHECK(text_error("seed = -1\n").key() == "seed");
  CHECK(text_error("[slo]\nttft_p99_s = 0\n").key() == "slo.ttft_p99_s");
  CHECK(text_error("[hardware]\ndtype = \"int4\"\n").key() == "hardware.dtype");
  CHECK(text_error("[model]\nname = \"llama-3.1-8b\"\nkv_heads = 5\n").key() == "model.kv_heads");
  const auto gpu = text_error("[hardware.gpu]\nname = \"z9\"\nfp16_tflops = 100\n");
  CHECK(gpu.key() == "hardware.gpu.hbm_gb");
  CHECK(gpu.line() == 1);
  const auto model = text_error("[model]\nname = \"mine\"\nparams = 1e9\n");
  CHECK(model.key() == "model.layers");
}

// --- --set overrides ------------------------------------------------------------------------

TEST_CASE("scenario --set: integers - floats - strings - bare strings and inline tables", "[scenario]") {
  const tf::Scenario s = tf::load_scenario_file(
      tf::test::source_dir() + "/scenarios/chat-hour.toml",
      {"fleet.replicas=12", "seed=7", "workload.arrival.rate_per_s=7.5", "name=\"renamed run\"",
       "model.name=llama-2-7b", "hardware.dtype=fp16", "workload.prompt_tokens={ dist = \"fixed\", value = 64 }",
       "slo.ttft_p99_s = 1", "policy.router = central-queue", "cost.engine=sglang"});
  CHECK(s.replicas == 12);
  CHECK(s.seed == 7);
  CHECK(s.workload.arrival.rate_per_s == 7.5);
  CHECK(s.workload.arrival.process == "poisson");  // the rest of the inline table stays
  CHECK(s.name == "renamed run");
  CHECK(s.model.name == "llama-2-7b");
  CHECK(s.dtype == tf::Dtype::fp16);
  CHECK(s.workload.prompt_tokens.dist == "fixed");
  CHECK(s.workload.prompt_tokens.value == 64.0);
  CHECK(s.workload.prompt_tokens.max == 4096.0);  // llama-2-7b's context window
  CHECK(s.slo.ttft_p99_s == 1.0);
  CHECK(s.slo.tpot_p99_s == 0.2);
  CHECK(s.router == "central-queue");
  CHECK(s.cost.engine == "sglang");
  CHECK(s.cost.mfu == tf::engine_profile("sglang")->mfu);

  // Sections absent from the file are created.
  const tf::Scenario m = tf::load_scenario_file(fixture("minimal.toml"), {"cost.mfu=0.4", "hardware.gpu=h200"});
  CHECK(m.cost.mfu == 0.4);
  CHECK(m.gpu.name == "h200-sxm");
}

TEST_CASE("scenario --set: errors name --set and the key", "[scenario]") {
  const auto unknown = file_error("minimal.toml", {"fleet.replica=3"});
  CHECK(unknown.file() == "--set");
  CHECK(unknown.line() == 0);
  CHECK(unknown.key() == "fleet.replica");
  CHECK_THAT(unknown.what(), Contains("did you mean 'replicas'?"));

  const auto top = file_error("minimal.toml", {"nonsense.deep.key=1"});
  CHECK(top.file() == "--set");
  CHECK(top.key() == "nonsense");

  const auto range = file_error("bad-unknown-nested.toml", {"fleet.replicaz=0"});
  CHECK(range.file() != "--set");  // the file's own unknown key comes first
  CHECK(range.line() == 8);

  const auto value = file_error("minimal.toml", {"fleet.replicas=0"});
  CHECK(value.file() == "--set");
  CHECK(value.line() == 0);
  CHECK(value.key() == "fleet.replicas");
  CHECK_THAT(value.what(), Contains("--set: fleet.replicas: expected an integer from 1 to 20000, got 0"));

  const auto bare = file_error("minimal.toml", {"fleet.replicas=many"});
  CHECK(bare.file() == "--set");
  CHECK_THAT(bare.what(), Contains("expected an integer, got a string (\"many\")"));

  const auto inline_key = file_error("minimal.toml", {"workload.arrival={ process = \"poisson\", rat = 1 }"});
  CHECK(inline_key.file() == "--set");
  CHECK(inline_key.key() == "workload.arrival.rat");

  const auto malformed = file_error("minimal.toml", {"fleet.replicas"});
  CHECK(malformed.file() == "--set");
  CHECK_THAT(malformed.what(), Contains("expected key=value"));

  const auto into_scalar = file_error("minimal.toml", {"name.first=1"});
  CHECK(into_scalar.file() == "--set");
  CHECK(into_scalar.key() == "name.first");

  // A value from the file that fails because of an override is still reported where it is.
  const auto warm = file_error("bad-warmup.toml", {"warmup_s=10", "duration_s=5"});
  CHECK(warm.file() == "--set");
  CHECK(warm.key() == "warmup_s");
}

TEST_CASE("scenario: disaggregated serving keys are checked", "[scenario]") {
  const std::string base = "[fleet]\nreplicas = 4\n[policy]\n";
  {
    const tf::Scenario s = tf::load_scenario_text(base + "batching = \"disaggregated\"\n", "t.toml");
    CHECK(tf::prefill_pool_size(s) == 1);  // a quarter of 4
    CHECK(tf::decode_router_of(s) == "round-robin");  // the router
    tf::Scenario bigger = s;
    bigger.replicas = 12;  // tokenfleet size keeps the share
    CHECK(tf::prefill_pool_size(bigger) == 3);
    bigger.replicas = 2;
    CHECK(tf::prefill_pool_size(bigger) == 1);
  }
  {
    const tf::Scenario s = tf::load_scenario_text(
        base + "batching = \"disaggregated\"\nprefill_replicas = 3\nrouter = \"central-queue\"\n", "t.toml");
    CHECK(tf::prefill_pool_size(s) == 3);
    CHECK(tf::decode_router_of(s) == "least-tokens");  // a central queue cannot pick where the KV goes
  }
  CHECK(tf::prefill_pool_size(tf::load_scenario_text(base, "t.toml")) == 0);
  auto e = text_error(base + "prefill_replicas = 2\n");
  CHECK(e.key() == "policy.prefill_replicas");
  CHECK_THAT(e.what(), Contains("disaggregated"));
  e = text_error(base + "batching = \"disaggregated\"\nprefill_replicas = 4\n");
  CHECK(e.key() == "policy.prefill_replicas");
  CHECK(e.line() == 5);
  e = text_error(base + "batching = \"disaggregated\"\ndecode_router = \"central-queue\"\n");
  CHECK(e.key() == "policy.decode_router");
  e = text_error(base + "batching = \"disaggregated\"\ndecode_router = \"nearest\"\n");
  CHECK(e.key() == "policy.decode_router");
  CHECK_THAT(e.what(), Contains("least-kv"));
  // Swap keeps a preempted request's KV on its replica: refused with a central queue, which compare can set after
  // loading (the engine checks again); with disaggregation only the decode router matters.
  {
    tf::Scenario swap = tf::load_scenario_text(base + "kv_cache = \"paged\"\npreemption = \"swap\"\n", "t.toml");
    CHECK(tf::policy_conflict(swap).empty());
    swap.router = "central-queue";
    CHECK_THAT(tf::policy_conflict(swap), Contains("central-queue"));
    swap.batching = "disaggregated";  // decode router: least-tokens
    CHECK(tf::policy_conflict(swap).empty());
    swap.decode_router = "central-queue";
    CHECK_FALSE(tf::policy_conflict(swap).empty());
  }
  e = text_error("[fleet]\nreplicas = 1\n[policy]\nbatching = \"disaggregated\"\n");
  CHECK(e.key() == "policy.batching");
  CHECK_THAT(e.what(), Contains("at least 2 replicas"));
}

// --- preemption (paged KV cache) ----------------------------------------------------------------

TEST_CASE("scenario: policy.preemption - swap with the paged cache - pcie_gbps of a GPU", "[scenario][kv]") {
  const tf::Scenario d = tf::load_scenario_text("[policy]\nkv_cache = \"paged\"\n", "t.toml");
  CHECK_FALSE(d.swap_preemption);  // recompute by default
  const tf::Scenario s =
      tf::load_scenario_text("[policy]\nkv_cache = \"paged\"\npreemption = \"swap\"\n", "t.toml");
  CHECK(s.swap_preemption);
  CHECK(s.gpu.pcie_Bps == 64e9);  // h100-sxm, the default GPU
  const tf::Scenario r =
      tf::load_scenario_text("[policy]\nkv_cache = \"paged\"\npreemption = \"recompute\"\n", "t.toml");
  CHECK_FALSE(r.swap_preemption);
  // A GPU's PCIe figure can be given (gigabytes per second, per direction), and is optional for a custom GPU.
  const tf::Scenario g =
      tf::load_scenario_text("[hardware]\ngpu = { name = \"h100-sxm\", pcie_gbps = 32 }\n", "t.toml");
  CHECK(g.gpu.pcie_Bps == Approx(32e9));
  const tf::Scenario c = tf::load_scenario_file(fixture("custom-gpu.toml"));
  CHECK(c.gpu.pcie_Bps == 0.0);
}

TEST_CASE("scenario error: swap preemption with the reserved cache names policy.preemption", "[scenario][kv]") {
  const auto e = text_error("[policy]\nbatching = \"continuous\"\npreemption = \"swap\"\n");
  CHECK(e.key() == "policy.preemption");
  CHECK(e.line() == 3);
  CHECK_THAT(e.what(), Contains("t.toml:3") && Contains("kv_cache = \"paged\""));
  const auto v = text_error("[policy]\nkv_cache = \"paged\"\npreemption = \"evict\"\n");
  CHECK(v.key() == "policy.preemption");
  CHECK_THAT(v.what(), Contains("\"recompute\" or \"swap\""));
  // Swap needs the GPU's PCIe bandwidth.
  const auto p = text_error("[hardware]\ngpu = { name = \"h100-sxm\", pcie_gbps = 0 }\n[policy]\nkv_cache = "
                            "\"paged\"\npreemption = \"swap\"\n");
  CHECK(p.key() == "policy.preemption");
  CHECK_THAT(p.what(), Contains("pcie_gbps"));
  // The central queue may hand a swapped-out request to a replica that does not hold its KV.
  const auto q = text_error("[policy]\nkv_cache = \"paged\"\npreemption = \"swap\"\nrouter = \"central-queue\"\n");
  CHECK(q.key() == "policy.preemption");
  CHECK_THAT(q.what(), Contains("central-queue"));
}

TEST_CASE("scenario: policy.kv_watermark - a fraction in 0 to 0.5 - default 0.01", "[scenario][kv]") {
  CHECK(tf::load_scenario_text("[policy]\nkv_cache = \"paged\"\n", "t.toml").kv_watermark == 0.01);
  CHECK(tf::load_scenario_text("[policy]\nkv_cache = \"paged\"\nkv_watermark = 0\n", "t.toml").kv_watermark == 0.0);
  CHECK(tf::load_scenario_text("[policy]\nkv_cache = \"paged\"\nkv_watermark = 0.2\n", "t.toml").kv_watermark == 0.2);
  const auto e = text_error("[policy]\nkv_cache = \"paged\"\nkv_watermark = 0.5\n");
  CHECK(e.key() == "policy.kv_watermark");
  CHECK(e.line() == 3);
  CHECK(text_error("[policy]\nkv_watermark = -0.1\n").key() == "policy.kv_watermark");
}

TEST_CASE("scenario: a trace replayed without duration_s lasts until its last row arrives", "[scenario][trace]") {
  const std::string trace = tf::test::data_dir() + "/traces/azure-llm-2023-code.csv";
  const std::string base = "[workload]\ntrace = { path = \"" + trace + "\" }\n";
  const tf::Scenario s = tf::load_scenario_text(base, "t.toml");
  CHECK(s.duration_from_trace);
  CHECK(s.duration_s == Approx(tf::trace_span_s(s.workload.trace) + 1e-3));
  CHECK(s.duration_s > 3000.0);  // the code trace spans about an hour
  CHECK(s.warmup_s == 60.0);
  // Given, it is kept; a looped trace keeps the default; a warm-up beyond the span is refused.
  CHECK(tf::load_scenario_text("duration_s = 100\n" + base, "t.toml").duration_s == 100.0);
  const std::string looped = "[workload]\ntrace = { path = \"" + trace + "\", loop = true }\n";
  CHECK(tf::load_scenario_text(looped, "t.toml").duration_s == 600.0);
  const auto e = text_error("warmup_s = 5000\n" + base);
  CHECK(e.key() == "warmup_s");
  CHECK_THAT(e.what(), Contains("trace's span"));
}

// --- policy parameters (checked against the registry's schemas) ---------------------------------------------------

TEST_CASE("scenario: policy parameters are read into policy_params and limits, checked against the schema",
          "[scenario][registry]") {
  const tf::Scenario s =
      tf::load_scenario_text("[policy]\nbatching = \"static\"\nbatch_size = 4\ntimeout_s = 1\n", "t.toml");
  CHECK(s.batching == "static");
  CHECK(s.policy_params.integer("batch_size") == 4);
  CHECK(s.policy_params.number("timeout_s") == 1.0);  // an integer where a number is expected
  CHECK(s.policy_params.values().size() == 2);        // what was given; the policy's defaults fill the rest
  CHECK(s.limits.batch_size == 4);
  CHECK(s.limits.timeout_s == 1.0);
  CHECK(s.limits.max_batch == 256);
  CHECK(s.notes.empty());
  CHECK(tf::make_batching_policy(s.batching, s.policy_params)->name() == "static");

  // Out of range: the message names file, line and key, in the loader's words.
  auto e = text_error("[policy]\nbatching = \"static\"\nbatch_size = 0\n");
  CHECK(e.key() == "policy.batch_size");
  CHECK(e.line() == 3);
  CHECK(std::string(e.what()) == "t.toml:3: policy.batch_size: expected an integer at least 1, got 0");
  e = text_error("[policy]\nbatching = \"dynamic\"\nmax_queue_delay_s = -1\n");
  CHECK(std::string(e.what()) == "t.toml:3: policy.max_queue_delay_s: expected a number at least 0, got -1");
  // A shared parameter whose range this policy narrows: the policy is named.
  e = text_error("[policy]\nbatching = \"chunked-prefill\"\nmax_batched_tokens = 8\n");
  CHECK(e.key() == "policy.max_batched_tokens");
  CHECK(std::string(e.what()) ==
        "t.toml:3: policy.max_batched_tokens: expected an integer at least 16 for chunked-prefill, got 8");
  // Types come from the schema too.
  e = text_error("[policy]\nbatching = \"static\"\ntimeout_s = \"fast\"\n");
  CHECK(std::string(e.what()) == "t.toml:3: policy.timeout_s: expected a number, got a string (\"fast\")");
  e = text_error("[policy]\nmax_batch = 2.5\n");
  CHECK(std::string(e.what()) == "t.toml:2: policy.max_batch: expected an integer, got a floating-point number (2.5)");
  // From --set.
  e = text_error("[policy]\nbatching = \"static\"\n", {"policy.batch_size=-3"});
  CHECK(std::string(e.what()) == "--set: policy.batch_size: expected an integer at least 1, got -3");
}

TEST_CASE("scenario: a parameter only other policies take is kept - checked against theirs - and noted",
          "[scenario][registry]") {
  // The rule (sim/scenario/policy.cpp): compare --policies and --set policy.batching switch policies on a file that
  // stays as it is, so a parameter of another policy of the kind is not an error; it must suit that policy, and
  // the scenario says it is unused by the chosen one.
  const tf::Scenario s = tf::load_scenario_text("[policy]\nbatch_size = 16\ntimeout_s = 0.2\n", "t.toml");
  CHECK(s.batching == "continuous");
  CHECK(s.policy_params.integer("batch_size") == 16);
  REQUIRE(s.notes.size() == 2);
  CHECK(s.notes[0] ==
        "t.toml:2: policy.batch_size: batching policy \"continuous\" does not take it (it takes max_batch, "
        "max_batched_tokens); kept for static, should compare --policies or --set policy.batching choose it");
  CHECK_THAT(s.notes[1], Contains("t.toml:3: policy.timeout_s:"));
  // ... and reaches that policy when it is chosen.
  tf::Scenario switched = s;
  switched.batching = "static";
  const auto* info = tf::PolicyRegistry::global().find("batching", "static");
  CHECK(tf::resolve_params(*info, switched.policy_params).integer("batch_size") == 16);
  CHECK(tf::make_batching_policy(switched.batching, switched.policy_params) != nullptr);

  // Checked against the policies that take it: an error when none would accept it.
  auto e = text_error("[policy]\nbatch_size = 0\n");
  CHECK(e.key() == "policy.batch_size");
  CHECK(std::string(e.what()) == "t.toml:2: policy.batch_size: expected an integer at least 1 for static, got 0");
  // It suits one of them (continuous's range for max_batched_tokens, though not chunked-prefill's): kept.
  const tf::Scenario st =
      tf::load_scenario_text("[policy]\nbatching = \"static\"\nmax_batched_tokens = 8\n", "t.toml");
  REQUIRE(st.notes.size() == 1);
  CHECK_THAT(st.notes[0], Contains("kept for chunked-prefill, continuous, disaggregated"));
  e = text_error("[policy]\nbatching = \"static\"\nmax_batched_tokens = 0\n");
  CHECK_THAT(e.what(), Contains("policy.max_batched_tokens: expected an integer at least"));

  // Switching with --set on a file that gives another policy's parameters (the shipped ones give max_batch and
  // max_batched_tokens) works: noted, not refused.
  const tf::Scenario def =
      tf::load_scenario_text(tf::default_scenario_toml(), "<built-in default>", {"policy.batching=static"});
  CHECK(def.batching == "static");
  CHECK(def.notes.size() == 2);
  // A key no policy takes is still an unknown key.
  e = text_error("[policy]\nbatch_sise = 4\n");
  CHECK_THAT(e.what(), Contains("unknown key 'batch_sise'; did you mean 'batch_size'?"));
}

TEST_CASE("scenario: every registered parameter is a key of [policy]", "[scenario][registry]") {
  const tf::PolicyRegistry& registry = tf::PolicyRegistry::global();
  for (const tf::PolicyKindInfo& kind : registry.kinds())
    for (const tf::PolicyInfo* p : registry.policies(kind.name)) {
      if (kind.key.find('.') != std::string::npos) continue;  // autoscaler.policy: [autoscaler] (test_autoscaler.cpp)
      std::string text = "[fleet]\nreplicas = 2\n[policy]\n" + kind.key + " = \"" + p->name + "\"\n";
      for (const tf::ParamSpec& spec : p->params) text += spec.name + " = " + tf::value_text(spec.default_value) + "\n";
      INFO(text);
      const tf::Scenario s = tf::load_scenario_text(text, "t.toml");
      CHECK(s.notes.empty());
      CHECK(s.policy_params.values().size() == p->params.size());
    }
}

TEST_CASE("a trace's rate_scale is bounded where it is set (a huge one used to send nothing)", "[scenario][errors]") {
  const std::string trace = tf::test::data_dir() + "/traces/azure-llm-2023-code.csv";
  for (const char* scale : {"1e300", "1e19", "1000001"}) {
    INFO(scale);
    const auto e = text_error(std::string("[workload]\ntrace = { path = \"") + trace + "\", rate_scale = " + scale +
                              " }\n");
    CHECK(e.key() == "workload.trace.rate_scale");
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("expected a number in (0, 1000000]"));
  }
  const tf::Scenario s = tf::load_scenario_text(
      std::string("[workload]\ntrace = { path = \"") + trace + "\", rate_scale = 1000000 }\n", "t.toml");
  CHECK(s.workload.trace.rate_scale == 1e6);
}

TEST_CASE("a trace with no request to replay is an error where it is loaded, in every format", "[scenario][errors]") {
  const std::string dir = tf::test::temp_dir("empty-trace");
  const std::vector<std::pair<std::string, std::string>> files = {
      {"azure.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n"},
      {"plain.csv", "arrival_s,prompt_tokens,output_tokens\n"},
      {"empty.jsonl", ""},
      {"blank.csv", "\n\n"},
  };
  for (const auto& [name, text] : files) {
    INFO(name);
    tf::test::write_file(dir + "/" + name, text);
    const auto e = text_error("[workload]\ntrace = { path = \"" + dir + "/" + name + "\" }\n");
    CHECK(e.key() == "workload.trace.path");
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("holds no request to replay"));
  }
  // Every row bad and skipped: nothing left either.
  tf::test::write_file(dir + "/bad.csv", "arrival_s,prompt_tokens,output_tokens\n1.0,x,5\n2.0,7,y\n");
  const auto e = text_error("[workload]\ntrace = { path = \"" + dir + "/bad.csv\", skip_bad_rows = true }\n");
  CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("every row skipped as bad"));
}

// Issue 11 (reliability): text toml++ must never see, and figures bounded where they are read.
TEST_CASE("scenario: a byte-order mark is skipped and text that is not UTF-8 is refused with line and offset",
          "[scenario][utf8]") {
  const tf::Scenario plain = tf::load_scenario_text("seed = 7\n", "t.toml");
  const tf::Scenario bom = tf::load_scenario_text("\xEF\xBB\xBFseed = 7\n", "t.toml");
  CHECK(bom.seed == plain.seed);
  // CB BE (a valid two-byte character) where TOML allows only ASCII; invalid sequences anywhere.
  auto e = text_error("seed = 7\n\xCB\xBE\n");
  CHECK(e.line() == 2);
  CHECK_THAT(e.what(), Contains("t.toml:2: byte offset 9: a non-ASCII character (bytes CB BE)"));
  e = text_error("seed = 7\nname = \"a\xC3\x28\"\n");
  CHECK_THAT(e.what(), Contains("t.toml:2: byte offset 18: not valid UTF-8 (bytes C3 28"));
  e = text_error("\xEF\xBB\xBFseed = 7 # \xED\xA0\x80\n");  // a surrogate, in a comment; offsets count the BOM
  CHECK_THAT(e.what(), Contains("byte offset 14: not valid UTF-8"));
  e = text_error("\xFF");
  CHECK_THAT(e.what(), Contains("t.toml:1: byte offset 0: not valid UTF-8 (bytes FF)"));
  // Non-ASCII inside strings and comments is fine.
  CHECK(tf::load_scenario_text("name = \"caf\xC3\xA9 \xCB\xBE\" # \xC3\xA9t\xC3\xA9\n", "t.toml").name ==
        "caf\xC3\xA9 \xCB\xBE");
  CHECK(tf::load_scenario_text("name = '''\n\xC3\xA9'''\n", "t.toml").name == "\xC3\xA9");
  // --set values go through the same check.
  e = text_error("", {"name=\xC3\x28"});
  CHECK_THAT(e.what(), Contains("--set: name: the value is not valid UTF-8"));
  CHECK(tf::load_scenario_text("", "t.toml", {"name=\xCB\xBE"}).name == "\xCB\xBE");
}

TEST_CASE("scenario: spans fleets rates and hardware figures are bounded at load with the bound stated",
          "[scenario][limits]") {
  const std::string base = tf::default_scenario_toml();
  auto err = [&](std::vector<std::string> sets) { return std::string(text_error(base, sets).what()); };
  CHECK_THAT(err({"duration_s=1e300", "workload.arrival.rate_per_s=1e-299"}),
             Contains("--set: duration_s: expected a number of seconds in (0, 1e9]"));
  CHECK_THAT(err({"duration_s=1e12"}), Contains("duration_s"));
  CHECK_THAT(err({"fleet.replicas=2147483647"}), Contains("fleet.replicas: expected an integer from 1 to 20000"));
  CHECK_THAT(err({"fleet.replicas=20001"}), Contains("from 1 to 20000"));
  CHECK_THAT(err({"fleet.replicas=20000", "hardware.tensor_parallel=8", "hardware.pipeline_parallel=2"}),
             Contains("320000 GPUs, more than the 160000 one run simulates"));
  CHECK_THAT(err({"workload.arrival.rate_per_s=1e9"}),
             Contains("workload.arrival.rate_per_s: a mean rate of") && Contains("more than the 1e6 requests/s"));
  CHECK_THAT(err({"workload.arrival.rate_per_s=1e6"}), Contains("more than the 1e8 (100 million)"));
  CHECK_THAT(err({"hardware.gpu={ name = \"h100-sxm\", hbm_gb = 1e300 }"}),
             Contains("hardware.gpu.hbm_gb: expected a number in (0, 100000") && Contains("got 1e+300"));
  CHECK_THAT(err({"hardware.gpu={ name = \"h100-sxm\", fp16_tflops = 1e30 }"}), Contains("hardware.gpu.fp16_tflops"));
  CHECK_THAT(err({"hardware.gpu={ name = \"h100-sxm\", busy_watts = 1e9 }"}), Contains("hardware.gpu.busy_watts"));
  CHECK_THAT(err({"hardware.network_gbps=1e300"}), Contains("hardware.network_gbps"));
  CHECK_THAT(err({"model.params=1e300"}), Contains("model.params"));
  CHECK_THAT(err({"model.context_window=99999999999"}), Contains("model.context_window"));
  // At the bounds, it loads.
  CHECK(tf::load_scenario_text(base, "t.toml", {"fleet.replicas=20000"}).replicas == 20000);
  CHECK(tf::load_scenario_text(base, "t.toml", {"duration_s=1e9", "workload.arrival.rate_per_s=0.01"}).duration_s ==
        1e9);
}

// --- the operator-level cost model's keys ------------------------------------------------------------------

TEST_CASE("scenario [cost]: engine profiles, a measured profile, and the removed attention_flops", "[scenario][cost]") {
  const tf::Scenario v = tf::load_scenario_text("[cost]\nengine = \"vllm\"\noverhead_ms = 1\n", "t.toml");
  CHECK(v.cost.engine == "vllm");
  CHECK(v.cost.mbu == tf::engine_profile("vllm")->mbu);  // the profile's figures, one key changed
  CHECK(v.cost.overhead_s == Approx(0.001));
  CHECK_THAT(text_error("[cost]\nengine = \"tgi\"\n").what(), Contains("unknown engine 'tgi'; known engines: trtllm, vllm, sglang"));
  CHECK(text_error("[cost]\nengine = \"tgi\"\n").key() == "cost.engine");
  CHECK_THAT(text_error("[cost]\nattention_flops = true\n").what(), Contains("was removed"));
  const std::string profile = tf::test::source_dir() + "/tests/data/profiles/h100-fp16-synthetic.csv";
  const tf::Scenario p = tf::load_scenario_text(
      "[hardware]\ngpu = \"h100-sxm\"\ndtype = \"fp16\"\n[cost]\nprofile = \"" + profile + "\"\n", "t.toml");
  REQUIRE(p.cost.gemm_profile);
  CHECK(p.cost.attention_decode_efficiency == Approx(0.65).epsilon(1e-5));
  CHECK_THAT(text_error("[hardware]\ngpu = \"h200-sxm\"\n[cost]\nprofile = \"" + profile + "\"\n").what(),
             Contains("cost.profile") && Contains("measured on 'h100-sxm'"));
  CHECK_THAT(text_error("[cost]\nprofile = \"" + profile + "\"\nmfu = 0.5\n").what(), Contains("cannot be set with a measured profile"));
}

TEST_CASE("scenario [model]: the MLP of an explicit shape is derived from params - experts are required for a MoE",
          "[scenario][cost]") {
  // 16 layers of d 2048 (16 heads, 4 KV heads, head dim 128): attention 16 x (2048 x 24 x 128 + 2048 x 2048) = 167.8 M;
  // embeddings 2 x 32000 x 2048 = 131.1 M; a gated MLP of 3 x 2048 x ffn x 16 makes up the rest of 1e9.
  const tf::Scenario n = tf::load_scenario_text(
      "[model]\nparams = 1e9\nlayers = 16\nd_model = 2048\nheads = 16\nkv_heads = 4\nhead_dim = 128\n"
      "context_window = 4096\n", "t.toml");
  const double attention = 16.0 * (2048.0 * 24 * 128 + 2048.0 * 2048), embeddings = 2.0 * 32000 * 2048;
  CHECK(n.model.ffn_dim == static_cast<int>(std::llround((1e9 - attention - embeddings) / (3.0 * 2048 * 16))));
  CHECK(n.model.shape_params() == Approx(1e9).epsilon(1e-4));
  CHECK_THAT(text_error("[model]\nname = \"m\"\nparams = 20e9\nactive_params = 5e9\nlayers = 24\nd_model = 3072\n"
                        "kv_heads = 8\nhead_dim = 128\ncontext_window = 4096\n").what(),
             Contains("give experts and experts_per_token"));
  CHECK_THAT(text_error("[model]\nparams = 1e6\nlayers = 16\nd_model = 2048\nheads = 16\nkv_heads = 4\nhead_dim = 128\n"
                        "context_window = 4096\n").what(),
             Contains("leave no room for an MLP"));
  const tf::Scenario mix = tf::load_scenario_text("[model]\nname = \"mixtral-8x7b\"\n", "t.toml");
  CHECK(mix.model.experts == 8);
  CHECK(mix.model.experts_per_token == 2);
  CHECK(mix.model.ffn_dim == 14336);
}

TEST_CASE("scenario: a file key naming a device or a folder is refused at load - it would be read for ever",
          "[scenario][limits]") {
  // Found by fuzzing the loader: workload.trace.path = "/dev/zero" hung validate.
  const auto dev = text_error("[workload]\ntrace = { path = \"/dev/zero\" }\n");
  CHECK(dev.key() == "workload.trace.path");
  CHECK_THAT(dev.what(), Contains("'/dev/zero' is not a regular file"));
  const auto dir = text_error("[workload]\ntrace = { path = \"/tmp\" }\n");
  CHECK_THAT(dir.what(), Contains("is not a regular file"));
  CHECK_THAT(text_error("[cost]\nprofile = \"/dev/null\"\n").what(), Contains("cost.profile") && Contains("not a regular file"));
}
