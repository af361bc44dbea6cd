// estimate --preset huafu-2024 --simulate: the demand as the report states it, the identity, and the outputs.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "results/record_sink.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/estimate_sim.hpp"
#include "sim/study/pods.hpp"
#include "workloads/curve.hpp"
#include "helpers.hpp"

using namespace tf;
using namespace tf::test;
namespace fs = std::filesystem;

namespace {

SimulatedYearInputs year_2024() {
  for (const auto& y : huafu_2024_simulated_preset())
    if (y.report.label == "2024") return y;
  FAIL("no 2024 in the preset");
  return {};
}

}  // namespace

TEST_CASE("the simulated preset: its years, mixes and overrides", "[estimate-sim]") {
  auto years = huafu_2024_simulated_preset();
  REQUIRE(years.size() == 3);
  CHECK(years[0].report.label == "2024");
  CHECK(years[0].current_gpu == "h100-sxm");
  CHECK(years[0].previous_gpu == "a100-80gb");
  CHECK(years[2].current_gpu == "next-gen");
  apply_simulated_overrides(years, {"2025.peak_to_mean=2", "2025.peak_multiple=2.5", "2024.ttft_p99_s=1.5"});
  CHECK(years[1].peak_to_mean == 2.0);
  CHECK(years[1].report.peak_multiple == 2.5);
  CHECK(years[0].ttft_p99_s == 1.5);
  CHECK_THROWS_WITH(apply_simulated_overrides(years, {"2030.peak_to_mean=2"}), Catch::Matchers::Contains("unknown year"));
  CHECK_THROWS_WITH(apply_simulated_overrides(years, {"2024.peak_to_mean=0.5"}), Catch::Matchers::Contains("above 1"));
  CHECK_THROWS_WITH(apply_simulated_overrides(years, {"2024.think_time_s=x"}), Catch::Matchers::Contains("a number"));
}

TEST_CASE("the simulated 2024: the pod's visits carry the report's tokens per Q&A, the identity gives the simulated "
          "fleet and k is the curve's busiest hour over its mean",
          "[estimate-sim]") {
  SimulatedYearInputs in = year_2024();
  in.pod_units = 1.0;  // a small pod: quick
  const SimulatedYear y = simulate_year(in, 2, nullptr);
  REQUIRE(y.error.empty());
  REQUIRE(!y.pods.empty());
  // The report's arithmetic, unchanged: 1.481 M.
  CHECK(y.report_gpus == Approx(1.481e6).epsilon(0.001));
  // The token split: q = 4,980 / 3 - 1,046 = 614 new tokens a question, the longest context q + 4 (q + a) + a.
  CHECK(y.question_tokens == 614);
  CHECK(y.max_context_tokens == 614 + 4 * (614 + 1046) + 1046);
  // What the simulation offered: prompt + answer per question, the report's 4,980 (the conversation carried makes
  // up the prompt); within 2 % (the busiest hour's visits, some cut at its end).
  const SimulatedPod& p = y.pods.back();
  CHECK(p.mean_output_tokens == Approx(1046).epsilon(0.001));
  CHECK(p.mean_prompt_tokens + p.mean_output_tokens == Approx(4980).epsilon(0.02));
  // The identity, in the formula's convention: 2 P D k / (F u T) with the simulated k and u is the simulated fleet.
  const double D = in.report.visits_per_year * in.report.qa_per_visit * in.report.tokens_per_qa;
  const double T = in.report.seconds;
  CHECK(2 * in.report.params * D * y.peak_multiple / (y.mix_flops * y.utilization * T) ==
        Approx(y.simulated_gpus).epsilon(1e-9));
  CHECK(y.identity_gpus == Approx(y.simulated_gpus).epsilon(1e-9));
  CHECK(y.simulated_gpus == Approx(p.gpus / p.share).epsilon(1e-12));
  // F: the mean of H100's and A100's dense FP16 peaks, the report's 650.5 TFLOP/s.
  CHECK(y.mix_flops == Approx(650.5e12).epsilon(1e-6));
  // k by numerical integration of the curve's rate over the hour centred on 20:00, over its daily mean.
  RateCurveSpec c;
  c.kind = "parametric";
  c.peak_to_mean = in.peak_to_mean;
  c.peak_hour = 20.0;
  const auto curve = make_rate_curve(c);
  double hour = 0, day = 0;
  for (int i = 0; i < 3600; ++i) hour += curve->rate(19.5 * 3600 + i + 0.5);
  for (int i = 0; i < 86400; ++i) day += curve->rate(i + 0.5);
  CHECK(y.peak_multiple == Approx((hour / 3600) / (day / 86400)).epsilon(1e-4));
  CHECK(y.peak_multiple < in.peak_to_mean);
  // The pod met its targets, and one fewer unit at the same share did not.
  bool fewer_failed = false;
  for (const auto& pr : y.probes)
    if (pr.share == p.share && pr.units == p.units - 1 && !pr.pass) fewer_failed = true;
  CHECK((fewer_failed || p.units == 1));
  CHECK(p.ttft_p99_s <= y.ttft_target_s);
  CHECK(p.tpot_p99_s <= y.tpot_target_s);
  // The year's pod scenario loads and is the mixed fleet half and half by GPUs.
  const Scenario s = load_scenario_text(y.scenario_toml, "pod.toml");
  REQUIRE(s.fleet_pools.size() == 2);
  CHECK(s.fleet_pools[0].gpus() == s.fleet_pools[1].gpus());
  CHECK(s.fleet_gpus() == p.gpus);
}

TEST_CASE("estimate --simulate writes its JSON, CSV and page, and refuses what it does not take", "[estimate-sim]") {
  const std::string dir = temp_dir("estimate-sim");
  auto r = run_command(binary() + " estimate --preset huafu-2024 --simulate --years 2024 --set 2024.pod_units=1 --out " +
                       dir);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Matchers::Contains("GPUs, simulated") && Catch::Matchers::Contains("1.481 M") &&
                           Catch::Matchers::Contains("The scale check"));
  const auto j = nlohmann::json::parse(read_file(dir + "/estimate_sim.json"));
  REQUIRE(j.at("years").size() == 1);
  const auto& y = j.at("years")[0];
  CHECK(y.at("report").at("gpus").get<double>() == Approx(1.481e6).epsilon(0.001));
  CHECK(y.at("simulated").at("identity_gpus").get<double>() ==
        Approx(y.at("simulated").at("gpus").get<double>()).epsilon(1e-9));
  const auto csv = parse_csv(read_file(dir + "/estimate_sim.csv"));
  REQUIRE(csv.size() == 2);
  CHECK(csv[1][0] == "2024");
  CHECK(std::abs(std::stod(csv[1][2]) - y.at("simulated").at("gpus").get<double>()) < 1.0);
  CHECK_THAT(read_file(dir + "/report.html"), Catch::Matchers::Contains("<svg"));
  // The pod scenario runs as it is.
  r = run_command(binary() + " run " + dir + "/pod-2024.toml -q");
  CHECK(r.exit_code == 0);
  r = run_command(binary() + " estimate --preset huafu-2024 --simulate --years 2031");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Matchers::Contains("--years 2031"));
  r = run_command(binary() + " estimate --simulate");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Matchers::Contains("--simulate takes --preset huafu-2024"));
  r = run_command(binary() + " estimate --preset huafu-2024 --simulate --formula --set 2024.peak_to_mean=2");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Matchers::Contains("not with --formula"));
  r = run_command(binary() + " estimate --preset huafu-2024 --formula");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Matchers::Contains("it takes --simulate"));
  fs::remove_all(dir);
}

TEST_CASE("the curve's peak-to-mean for a busiest hour of k times the mean inverts the busiest hour", "[estimate-sim]") {
  for (double k : {1.3, 3.0, 4.0, 5.0}) {
    const double ptm = peak_to_mean_for_busiest_hour(k);
    CHECK(busiest_hour_multiple(ptm) == Approx(k).epsilon(1e-9));
    CHECK(ptm > k);  // the busiest instant is above the busiest hour around it
  }
  CHECK_THROWS_WITH(peak_to_mean_for_busiest_hour(1.0), Catch::Matchers::Contains("above 1"));
}

TEST_CASE("the report's arithmetic by simulation: with its own k and u and the cost model reduced to 2 x P at u, the "
          "simulated fleet is the report's within 5 %",
          "[estimate-sim][formula]") {
  // Each year as the report takes it: k the curve's busiest hour over the day's mean, u the cost model's, every token
  // of a Q&A computed (no prefix cache), targets that only a fleet falling behind misses. What the simulation adds
  // to the formula is the queueing of the busiest hour and the rounding to whole units of the mix: a few percent.
  auto years = huafu_2024_formula_preset();
  REQUIRE(years.size() == 3);
  for (const auto& in : years) {
    INFO(in.report.label);
    const SimulatedYear y = simulate_year(in, 2, nullptr);
    REQUIRE(y.error.empty());
    REQUIRE(!y.pods.empty());
    CHECK(y.peak_multiple == Approx(in.report.peak_multiple).epsilon(1e-6));
    const SimulatedPod& p = y.pods.back();
    // Every token the report counts, computed at 2 x P: prompt + answer per Q&A is the report's tokens per Q&A, and
    // no prompt token came from a cache.
    CHECK(p.mean_prompt_tokens + p.mean_output_tokens == Approx(in.report.tokens_per_qa).epsilon(0.03));
    CHECK(p.prefix_hit_rate == 0.0);
    // (the FLOPs and the tokens served are counted over the window, an iteration across its edges in part: 0.1 %)
    CHECK(p.cost_model_flops_per_token == Approx(2 * in.report.params).epsilon(1e-3));
    CHECK(p.units >= 16);
    // The report's GPUs (1.481 / 5.590 / 13.410 M) within 5 %, and not below them by more than one unit of the pod
    // (a fleet below the busiest hour's mean capacity falls behind over the hour).
    CHECK(y.simulated_gpus == Approx(y.report_gpus).epsilon(0.05));
    CHECK(y.simulated_gpus >= y.report_gpus * (1.0 - 1.0 / p.units) - 1.0);
  }
}
