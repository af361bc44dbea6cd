// Fleet sizing and the analytic estimate.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "cluster/cost_model.hpp"
#include "results/summary.hpp"
#include "sim/engine/engine.hpp"
#include "sim/study/estimate.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/sizing.hpp"
#include "workloads/generator.hpp"
#include "queueing.hpp"

using namespace tf;
using tf::test::mmc_wait_p99;

namespace {

SizingOptions quiet() {
  SizingOptions o;
  o.verbose = false;
  o.jobs = 2;
  return o;
}

}  // namespace

TEST_CASE("a Probe sent back by a sizing child as JSON reads back equal field by field", "[sizing][json]") {
  auto window = [](double k) {
    WindowFigures w;
    w.start_s = 3600.0 * k;
    w.end_s = 3600.0 * k + 3599.5;
    w.requests = static_cast<std::size_t>(1000 + k);
    w.unfinished = static_cast<std::size_t>(k);
    w.ttft_p99_s = 0.1 + 0.2 * k;
    w.tpot_p99_s = 1.0 / 3.0 + k;
    w.attainment = 0.987654321 - k / 100;
    w.prompt_tokens = 1e7 + k;
    w.output_tokens = 2.5e6 + k;
    w.ttft_met = k > 1;
    w.tpot_met = k < 2;
    w.met = w.ttft_met && w.tpot_met;
    return w;
  };
  Probe p;
  p.replicas = 37;
  p.seed = 18446744073709551615u;
  p.pod = 41;
  p.share = 0.1234567890123;
  p.error = "a \"quoted\" error,\nover two lines";
  p.whole = window(0);
  p.busiest = window(1);
  p.hours = {window(2), window(3), window(4)};
  p.mfu = 0.123456789012345;
  p.busy_fraction = 1e-300;
  p.flops = 6.02e23;
  p.energy_kwh = 42.5;
  p.window_s = 86400.0;
  const Probe back = nlohmann::json::parse(nlohmann::json(p).dump()).get<Probe>();
  CHECK(back.replicas == p.replicas);
  CHECK(back.seed == p.seed);
  CHECK(back.pod == p.pod);
  CHECK(back.share == p.share);
  CHECK(back.error == p.error);
  CHECK(back.mfu == p.mfu);
  CHECK(back.busy_fraction == p.busy_fraction);
  CHECK(back.flops == p.flops);
  CHECK(back.energy_kwh == p.energy_kwh);
  CHECK(back.window_s == p.window_s);
  REQUIRE(back.hours.size() == p.hours.size());
  std::vector<std::pair<const WindowFigures*, const WindowFigures*>> windows = {{&back.whole, &p.whole},
                                                                                {&back.busiest, &p.busiest}};
  for (std::size_t h = 0; h < p.hours.size(); ++h) windows.emplace_back(&back.hours[h], &p.hours[h]);
  for (const auto& [b, o] : windows) {
    CHECK(b->start_s == o->start_s);
    CHECK(b->end_s == o->end_s);
    CHECK(b->requests == o->requests);
    CHECK(b->unfinished == o->unfinished);
    CHECK(b->ttft_p99_s == o->ttft_p99_s);
    CHECK(b->tpot_p99_s == o->tpot_p99_s);
    CHECK(b->attainment == o->attainment);
    CHECK(b->prompt_tokens == o->prompt_tokens);
    CHECK(b->output_tokens == o->output_tokens);
    CHECK(b->ttft_met == o->ttft_met);
    CHECK(b->tpot_met == o->tpot_met);
    CHECK(b->met == o->met);
  }
  CHECK(back.hours[0].ttft_met);  // the windows did not all come back alike
  CHECK_FALSE(back.hours[2].tpot_met);
}

TEST_CASE("size: the answer n meets the targets and n - 1 does not (both simulated again)", "[sizing]") {
  Scenario s = load_scenario_text(default_scenario_toml(), "default",
                                  {"duration_s=300", "warmup_s=30", "slo.ttft_p99_s=0.5", "slo.tpot_p99_s=0.015"});
  const SizingResult r = size_fleet(s, quiet());
  REQUIRE(r.found);
  INFO("answer " << r.replicas);
  REQUIRE(r.replicas >= 2);
  const Probe at = run_probe(s, r.replicas, s.seed);
  const Probe below = run_probe(s, r.replicas - 1, s.seed);
  REQUIRE(at.error.empty());
  REQUIRE(below.error.empty());
  CHECK(at.whole.met);
  CHECK(at.whole.ttft_p99_s <= 0.5);
  CHECK(at.whole.tpot_p99_s <= 0.015);
  CHECK_FALSE(below.whole.met);
  // The probes the search ran agree with the fresh ones: same seed, same numbers.
  CHECK(r.answer_probes.front().whole.ttft_p99_s == at.whole.ttft_p99_s);
  CHECK(r.below_probes.front().whole.tpot_p99_s == below.whole.tpot_p99_s);
}

TEST_CASE("size: max batch 1 with the central queue agrees with the Erlang C fleet for a waiting-time target",
          "[sizing][queueing]") {
  const double lambda = 20.0;
  const std::string text = R"(
name = "erlang"
seed = 5
duration_s = 6000
warmup_s = 300
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[fleet]
replicas = 1
[workload]
arrival = { process = "poisson", rate_per_s = 20.0 }
prompt_tokens = { dist = "fixed", value = 1 }
output_tokens = { dist = "exponential", mean = 40, max = 100000 }
[policy]
max_batch = 1
router = "central-queue"
[slo]
ttft_p99_s = 1.0
)";
  Scenario s = load_scenario_text(text, "erlang");
  // The service time of each request by the cost model: one prefill iteration of 1 token, then one decode
  // iteration of batch 1 per further token. Its mean over this workload gives mu.
  const CostModel cost(s.model, s.gpu, s.dtype, s.tensor_parallel, s.cost);
  IterationShape prefill;
  prefill.prefill_tokens = 1;
  prefill.prefill_sequences = 1;
  prefill.prefill_attention_context = 1;
  const double prefill_s = cost.iteration_time_s(prefill);
  RequestGenerator gen(s.workload, s.seed, s.duration_s);
  double service = 0.0, n = 0.0;
  while (auto r = gen.next()) {
    service += prefill_s + cost.decode_stretch_s(1, 2, r->output_tokens - 1);
    n += 1.0;
  }
  const double mu = n / service;
  // The Erlang C fleet for a p99 waiting-time target halfway (geometrically) between two fleet sizes, so
  // that the answer is not on a knife's edge.
  int c = static_cast<int>(std::ceil(lambda / mu)) + 1;
  while (mmc_wait_p99(c, lambda, mu) > 1.0) ++c;
  const double target_wait = std::sqrt(mmc_wait_p99(c, lambda, mu) * mmc_wait_p99(c - 1, lambda, mu));
  INFO("mu " << mu << ", Erlang C fleet " << c << ", p99 wait at c " << mmc_wait_p99(c, lambda, mu) << ", at c-1 "
             << mmc_wait_p99(c - 1, lambda, mu) << ", target " << target_wait);
  REQUIRE(mmc_wait_p99(c - 1, lambda, mu) > 1.3 * target_wait);
  REQUIRE(mmc_wait_p99(c, lambda, mu) < target_wait / 1.3);
  s.slo.ttft_p99_s = target_wait + prefill_s;  // TTFT = wait + the prefill iteration
  const SizingResult r = size_fleet(s, quiet());
  REQUIRE(r.found);
  CHECK(r.replicas == c);
}

TEST_CASE("size: a TPOT target below one decode iteration at batch 1 has no answer and says why", "[sizing]") {
  Scenario s = load_scenario_text(default_scenario_toml(), "default", {"slo.tpot_p99_s=0.005"});
  const SizingResult r = size_fleet(s, quiet());
  CHECK_FALSE(r.found);
  CHECK_THAT(r.reason, Catch::Matchers::Contains("TPOT target") && Catch::Matchers::Contains("at any batch size"));
  CHECK(r.probes.empty());
}

TEST_CASE("size: a scenario without latency targets is refused", "[sizing]") {
  Scenario s = load_scenario_text(default_scenario_toml(), "default");
  s.slo = SloTargets{};
  CHECK_THROWS_AS(size_fleet(s, quiet()), ScenarioError);
}

TEST_CASE("size: a search bound too small gives no answer with the figures at the bound", "[sizing]") {
  Scenario s = load_scenario_text(default_scenario_toml(), "default",
                                  {"duration_s=200", "warmup_s=20", "slo.ttft_p99_s=0.5", "slo.tpot_p99_s=0.012"});
  SizingOptions o = quiet();
  o.max_replicas = 1;
  const SizingResult r = size_fleet(s, o);
  CHECK_FALSE(r.found);
  CHECK_THAT(r.reason, Catch::Matchers::Contains("no fleet of up to 1 replicas"));
}

TEST_CASE("size: several seeds per candidate and a busiest-hour window", "[sizing]") {
  Scenario s = load_scenario_text(default_scenario_toml(), "default",
                                  {"duration_s=300", "warmup_s=30", "slo.ttft_p99_s=0.5", "slo.tpot_p99_s=0.015"});
  SizingOptions o = quiet();
  o.seeds = 3;
  const SizingResult r = size_fleet(s, o);
  REQUIRE(r.found);
  REQUIRE(r.answer_probes.size() == 3);
  for (const auto& p : r.answer_probes) CHECK(p.whole.met);
  // With every seed required, at least one seed fails one replica fewer.
  bool any_fail = false;
  for (const auto& p : r.below_probes) any_fail = any_fail || !p.whole.met;
  CHECK(any_fail);
  // The busiest hour of a run shorter than an hour is the whole window.
  CHECK(r.answer_probes.front().busiest.requests == r.answer_probes.front().whole.requests);
}

TEST_CASE("estimate: the huafu-2024 preset reproduces 1.48 M / 5.59 M / 13.41 M GPUs", "[estimate]") {
  const auto years = huafu_2024_preset();
  REQUIRE(years.size() == 4);
  auto three_digits = [](double v) { return std::round(v / 1e4) / 100.0; };  // millions, 3 significant digits
  CHECK(three_digits(analytic_estimate(years[1]).gpus) == Approx(1.48));
  CHECK(three_digits(analytic_estimate(years[2]).gpus) == Approx(5.59));
  CHECK(three_digits(analytic_estimate(years[3]).gpus) == Approx(13.41));
}

TEST_CASE("estimate: the arithmetic of 2024 by hand", "[estimate]") {
  const EstimateResult r = analytic_estimate(huafu_2024_preset()[1]);
  // D = 28.8e9 visits x 5 Q&A x 4980 tokens = 7.1712e14 tokens.
  CHECK(r.tokens == Approx(7.1712e14));
  // 2 x 1.8e12 x 7.1712e14 x k 4 = 1.0326528e28 FLOPs.
  CHECK(r.compute_flops == Approx(1.0326528e28));
  // One GPU: (989 + 312) / 2 = 650.5 TFLOP/s x 0.34 x 31,536,000 s = 6.97485e21 FLOPs per year.
  CHECK(r.gpus == Approx(1.0326528e28 / (650.5e12 * 0.34 * 31536000.0)));
  CHECK(r.gpus == Approx(1.4805e6).epsilon(1e-4));
  // 2 x active parameters scales by active / 1.8e12, the active parameters of the gpt4-class shape (about 278e9:
  // 120 x (440.4 M attention + 2 x 924.8 M expert + router) + 2.87 B embeddings).
  const double active = 120.0 * (14336.0 * (112 + 16) * 128 + 112.0 * 128 * 14336 + 2 * 3.0 * 14336 * 21504 +
                                 14336.0 * 16) + 2.0 * 100000 * 14336;
  CHECK(active == Approx(277.7e9).epsilon(1e-3));
  CHECK(r.gpus_active == Approx(r.gpus * active / 1.8e12));
  // Kaplan's attention term at n_ctx = 4980: 2 x 120 x 4980 x d_attn FLOPs per token more, d_attn = 112 heads x 128.
  CHECK(r.gpus_with_attention == Approx(r.gpus * (3.6e12 + 2.0 * 120 * 4980 * 14336) / 3.6e12));
}

TEST_CASE("estimate: overrides change one year and bad ones are refused", "[estimate]") {
  auto years = huafu_2024_preset();
  apply_estimate_overrides(years, {"2025.peak_multiple=2.5"});
  CHECK(years[2].peak_multiple == 2.5);
  CHECK(analytic_estimate(years[2]).gpus == Approx(5.590e6 * 2.5 / 3.5).epsilon(1e-3));
  CHECK_THROWS_WITH(apply_estimate_overrides(years, {"2031.peak_multiple=2"}), Catch::Matchers::Contains("unknown year"));
  CHECK_THROWS_WITH(apply_estimate_overrides(years, {"2025.peak=2"}), Catch::Matchers::Contains("unknown field"));
  CHECK_THROWS_WITH(apply_estimate_overrides(years, {"2025.utilization=abc"}), Catch::Matchers::Contains("expected a number"));
  CHECK_THROWS_WITH(apply_estimate_overrides(years, {"2025.utilization=1.5"}), Catch::Matchers::Contains("fraction"));
}

TEST_CASE("size --per-hour: each hour's fleet meets that hour's targets and one replica fewer does not", "[sizing]") {
  const std::string text = R"(
name = "two-hours"
seed = 3
duration_s = 7200
warmup_s = 60
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[workload]
arrival = { process = "diurnal", rate_per_s = 10.0, peak_to_mean = 1.8, peak_hour = 1.5 }
prompt_tokens = { dist = "lognormal", mean = 800, p99 = 4000 }
output_tokens = { dist = "lognormal", mean = 200, p99 = 1000 }
[slo]
ttft_p99_s = 0.5
tpot_p99_s = 0.013
)";
  const Scenario s = load_scenario_text(text, "two-hours");
  SizingOptions o = quiet();
  o.per_hour = true;
  const SizingResult r = size_fleet(s, o);
  REQUIRE(r.found);
  REQUIRE(r.per_hour_replicas.size() == 2);
  REQUIRE(r.per_hour.size() == 2);
  // Each hour is judged on hour probes of its own (simulated after the half hour before it): at the answer they meet
  // the targets over the hour's requests, one replica fewer they do not.
  auto find = [&](int n, int hour) -> const Probe* {
    for (const auto& p : r.probes)
      if (p.replicas == n && p.seed == s.seed && p.hour == hour) return &p;
    return nullptr;
  };
  for (std::size_t h = 0; h < 2; ++h) {
    const int nh = r.per_hour_replicas[h];
    INFO("hour " << h << " needs " << nh << " replicas; the whole window needs " << r.replicas);
    REQUIRE(nh >= 1);
    CHECK(r.per_hour[h].replicas == nh);
    const Probe* at = find(nh, static_cast<int>(h));
    REQUIRE(at != nullptr);
    CHECK(at->whole.met);
    CHECK(at->whole.requests == r.per_hour[h].requests);
    if (nh > 1) {
      const Probe* below = find(nh - 1, static_cast<int>(h));
      REQUIRE(below != nullptr);
      CHECK_FALSE(below->whole.met);
    }
  }
}

namespace {

// The demand as it was measured before it was streamed: every prompt kept and sorted for the 99th percentile.
Demand demand_by_sorting(const Scenario& s) {
  Demand d;
  d.window_s = s.duration_s - s.warmup_s;
  std::vector<double> prompts, hour_requests, hour_prompts;
  double prompt_sum = 0.0;
  RequestGenerator gen(s.workload, s.seed, s.duration_s);
  while (auto r = gen.next()) {
    prompts.push_back(static_cast<double>(r->prompt_tokens));
    prompt_sum += static_cast<double>(r->prompt_tokens);
    if (r->arrival_s < s.warmup_s) continue;
    d.requests += 1.0;
    d.prompt_tokens += static_cast<double>(r->prompt_tokens);
    d.output_tokens += static_cast<double>(r->output_tokens);
    const auto h = static_cast<std::size_t>(std::floor(r->arrival_s / 3600.0));
    if (h >= d.hour_tokens.size()) d.hour_tokens.resize(h + 1, 0.0);
    d.hour_tokens[h] += static_cast<double>(r->prompt_tokens + r->output_tokens);
    if (h >= hour_requests.size()) hour_requests.resize(h + 1, 0.0);
    hour_requests[h] += 1.0;
    if (h >= hour_prompts.size()) hour_prompts.resize(h + 1, 0.0);
    hour_prompts[h] += static_cast<double>(r->prompt_tokens);
  }
  // The busiest whole hour inside [warmup_s, duration_s): the most requests, the first of equals.
  for (std::size_t h = 0; h < hour_requests.size(); ++h)
    if (h * 3600.0 >= s.warmup_s && (h + 1) * 3600.0 <= s.duration_s &&
        (d.busiest_hour < 0 || hour_requests[h] > d.busiest_hour_requests)) {
      d.busiest_hour = static_cast<int>(h);
      d.busiest_hour_requests = hour_requests[h];
      d.busiest_hour_prompt_tokens = hour_prompts[h];
    }
  d.all_requests = static_cast<double>(prompts.size());
  d.all_prompt_mean = prompts.empty() ? 0.0 : prompt_sum / static_cast<double>(prompts.size());
  std::sort(prompts.begin(), prompts.end());
  d.all_prompt_p99 = prompts.empty() ? 0.0 : percentile_sorted(prompts, 99.0);
  return d;
}

void check_same(const Demand& a, const Demand& b) {
  CHECK(a.requests == b.requests);
  CHECK(a.prompt_tokens == b.prompt_tokens);
  CHECK(a.output_tokens == b.output_tokens);
  CHECK(a.window_s == b.window_s);
  CHECK(a.all_requests == b.all_requests);
  CHECK(a.all_prompt_mean == b.all_prompt_mean);
  CHECK(a.all_prompt_p99 == b.all_prompt_p99);
  CHECK(a.busiest_hour == b.busiest_hour);
  CHECK(a.busiest_hour_requests == b.busiest_hour_requests);
  CHECK(a.busiest_hour_prompt_tokens == b.busiest_hour_prompt_tokens);
  CHECK(a.hour_tokens == b.hour_tokens);
}

}  // namespace

TEST_CASE("sizing: the streamed demand (a histogram of prompts) equals sorting every prompt, to the bit",
          "[sizing][demand]") {
  const std::string dir = TF_SOURCE_DIR;
  std::vector<Scenario> scenarios;
  scenarios.push_back(load_scenario_text(default_scenario_toml(), "default"));
  scenarios.push_back(load_scenario_file(dir + "/scenarios/chat-day.toml", {"duration_s=3000", "warmup_s=300"}));
  scenarios.push_back(load_scenario_file(dir + "/scenarios/servegen-day.toml", {"duration_s=2000"}));
  scenarios.push_back(load_scenario_file(dir + "/scenarios/sessions-demand.toml", {"duration_s=2000"}));
  scenarios.push_back(load_scenario_file(dir + "/scenarios/azure-conv-replay.toml", {"duration_s=600"}));
  // Few requests (the 99th percentile between two ranks) and one request.
  scenarios.push_back(load_scenario_text(default_scenario_toml(), "default", {"duration_s=3", "warmup_s=0"}));
  for (const auto& s : scenarios) {
    INFO(s.name);
    const Demand streamed = measure_demand(s);
    REQUIRE(streamed.all_requests > 0);
    check_same(streamed, demand_by_sorting(s));
  }
  // Prompts beyond the histogram's dense part (4 Mi tokens) go to its sparse part, in order.
  Scenario big = load_scenario_text(default_scenario_toml(), "default", {"duration_s=50", "warmup_s=0"});
  DemandMeter meter(big);
  std::vector<double> prompts;
  for (int i = 0; i < 300; ++i) {
    Request r;
    r.arrival_s = i * 0.1;
    r.prompt_tokens = (i % 3 == 0) ? (std::int64_t{1} << 23) + i : 100 + (i * 37) % 900;
    r.output_tokens = 1;
    meter.add(r);
    prompts.push_back(static_cast<double>(r.prompt_tokens));
  }
  std::sort(prompts.begin(), prompts.end());
  CHECK(meter.result().all_prompt_p99 == percentile_sorted(prompts, 99.0));
  CHECK(meter.result().all_prompt_p99 > static_cast<double>(std::int64_t{1} << 23));
}

TEST_CASE("sizing: a workload longer than the preview is measured whole in a child - the same demand", "[sizing][demand]") {
  const Scenario s =
      load_scenario_file(std::string(TF_SOURCE_DIR) + "/scenarios/chat-day.toml", {"duration_s=3000", "warmup_s=300"});
  const auto runner = make_local_runner(1);
  DemandMeasurement small(s, *runner, nullptr, 1000);
  REQUIRE_FALSE(small.exact_known());
  CHECK(small.preview_requests() == 1000);
  // The provisional figures are an estimate: near, not equal.
  const Demand exact = measure_demand(s);
  CHECK(small.provisional().requests == Approx(exact.requests).epsilon(0.1));
  CHECK(small.provisional().output_tokens == Approx(exact.output_tokens).epsilon(0.2));
  check_same(small.exact(), exact);
  DemandMeasurement whole(s, *runner, nullptr, 100000000);
  REQUIRE(whole.exact_known());
  check_same(whole.exact(), exact);
}

TEST_CASE("sizing: probes started early for a provisional demand leave the search's probes and answer unchanged",
          "[sizing][demand]") {
  Scenario s = load_scenario_text(default_scenario_toml(), "default",
                                  {"duration_s=200", "warmup_s=20", "slo.ttft_p99_s=0.5", "slo.tpot_p99_s=0.02"});
  const SizingResult plain = size_fleet(s, quiet());
  const auto runner = make_local_runner(2);
  SizingOptions o = quiet();
  o.runner = runner.get();
  DemandMeasurement early(s, *runner, nullptr, 500);
  REQUIRE_FALSE(early.exact_known());
  const SizingResult r = size_fleet(s, o, early);
  REQUIRE(plain.found);
  REQUIRE(r.found);
  CHECK(r.replicas == plain.replicas);
  REQUIRE(r.probes.size() == plain.probes.size());
  for (std::size_t i = 0; i < r.probes.size(); ++i) {
    CHECK(r.probes[i].replicas == plain.probes[i].replicas);
    CHECK(r.probes[i].whole.ttft_p99_s == plain.probes[i].whole.ttft_p99_s);
  }
}
