// The answer's margins: Student's t intervals by hand and by their coverage, the verdicts, and size --margin.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "results/margin.hpp"

using namespace tf;
using namespace tf::test;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

TEST_CASE("margin: Student's t quantiles from the tables, and the interval by hand", "[margin]") {
  CHECK(student_t95(1) == Approx(12.706));
  CHECK(student_t95(2) == Approx(4.303));
  CHECK(student_t95(9) == Approx(2.262));
  CHECK(student_t95(30) == Approx(2.042));
  CHECK(student_t95(60) == Approx(2.000).epsilon(0.002));   // tables: 2.000
  CHECK(student_t95(120) == Approx(1.980).epsilon(0.002));  // tables: 1.980
  // {1, 2, 3}: sd 1, half-width t(2) / sqrt(3).
  const MarginInterval m = margin_interval({1.0, 2.0, 3.0}, 2.0);
  CHECK(m.samples == 3);
  CHECK(m.hi - 2.0 == Approx(4.303 / std::sqrt(3.0)));
  CHECK(2.0 - m.lo == Approx(4.303 / std::sqrt(3.0)));
  // Centred on the point given (the whole window's p99 for batch means), not on the values' mean.
  const MarginInterval c = margin_interval({1.0, 2.0, 3.0}, 10.0);
  CHECK(c.lo == Approx(10.0 - 4.303 / std::sqrt(3.0)));
  CHECK(margin_interval({5.0}, 5.0).samples == 0);
}

TEST_CASE("margin: the t interval covers the true mean 95 % of the time (normal samples, seeded)", "[margin]") {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal(3.0, 0.7);
  for (const int n : {3, 10}) {
    int covered = 0;
    const int trials = 4000;
    for (int t = 0; t < trials; ++t) {
      std::vector<double> v;
      double mean = 0.0;
      for (int i = 0; i < n; ++i) {
        v.push_back(normal(rng));
        mean += v.back() / n;
      }
      const MarginInterval m = margin_interval(v, mean);
      covered += m.lo <= 3.0 && 3.0 <= m.hi ? 1 : 0;
    }
    INFO("n = " << n << ", covered " << covered << " of " << trials);
    // 95 % +- 3 standard errors of a binomial share over 4000 trials (1.0 %).
    CHECK(std::abs(covered / 4000.0 - 0.95) < 0.0105);
  }
}

TEST_CASE("margin: verdicts against the targets", "[margin]") {
  MarginInterval below{0.1, 0.08, 0.12, 5}, around{0.2, 0.18, 0.22, 5}, above{0.3, 0.28, 0.32, 5};
  CHECK(margin_verdict(below, 0.15, below, 0.15) == "clears the targets");
  CHECK(margin_verdict(below, 0.15, around, 0.21) == "within noise");
  CHECK(margin_verdict(around, 0.21, above, 0.25) == "misses");
  CHECK(margin_verdict(above, 0.0, below, 0.15) == "clears the targets");  // no TTFT target
  CHECK(margin_verdict(MarginInterval{}, 0.1, MarginInterval{}, 0.1) == "no interval");
}

TEST_CASE("size --margin: an answer within noise of its TPOT target is said so - safe sizes past it", "[margin][cli][sizing]") {
  // The default scenario for 180 s: 2 replicas give TPOT p99 21.5 ms, whose batch-means interval holds 22 ms.
  const std::string args = " size --jobs 2 --set duration_s=200 --set warmup_s=20 --set slo.ttft_p99_s=0.5"
                           " --set slo.tpot_p99_s=0.022";
  const std::string point_dir = temp_dir("margin-point"), safe_dir = temp_dir("margin-safe");
  const auto point = run_command(binary() + args + " --margin point --out " + point_dir);
  const auto safe = run_command(binary() + args + " --out " + safe_dir);  // safe is the default
  INFO(point.output);
  INFO(safe.output);
  REQUIRE(point.exit_code == 0);
  REQUIRE(safe.exit_code == 0);
  const auto pj = nlohmann::json::parse(read_file(point_dir + "/sizing.json"));
  const auto sj = nlohmann::json::parse(read_file(safe_dir + "/sizing.json"));
  CHECK(pj["margin_rule"] == "point");
  CHECK(sj["margin_rule"] == "safe");
  const auto& pg = pj["results"][0];
  const auto& sg = sj["results"][0];
  CHECK(pg["margin"]["method"] == "batch means");
  CHECK(pg["margin"]["tpot"]["samples"] == 10);
  const double tpot = pg["margin"]["tpot"]["point"].get<double>();
  CHECK(tpot <= 0.022);
  CHECK(pg["margin"]["tpot"]["hi"].get<double>() > 0.022);
  CHECK(pg["margin"]["verdict"] == "within noise");
  CHECK_THAT(point.output, Contains("within noise of a target"));
  // The safe answer is larger, clears the targets, and the point answer is its one-fewer, within noise.
  CHECK(sg["replicas"].get<int>() > pg["replicas"].get<int>());
  CHECK(sg["margin"]["verdict"] == "clears the targets");
  CHECK(sg["margin"]["tpot"]["hi"].get<double>() < 0.022);
  CHECK(sg["margin"]["ttft"]["hi"].get<double>() < 0.5);
  CHECK(sg["one_fewer_margin"]["verdict"] == "within noise");
  CHECK_THAT(safe.output, Contains("fails the safe margin"));
  fs::remove_all(point_dir);
  fs::remove_all(safe_dir);
  // Over seeds: the interval is over the seeds' p99s.
  const auto seeds = run_command(binary() + args + " --seeds 3");
  INFO(seeds.output);
  CHECK(seeds.exit_code == 0);
  CHECK_THAT(seeds.output, Contains("(95 %, over 3 seeds"));
  // The busiest hour of one seed has no interval: refused with safe.
  const auto refused = run_command(binary() + args + " --margin safe --window busiest-hour");
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.output, Contains("--margin safe with --window busiest-hour needs --seeds 2"));
  // Without --margin, the default there is the point rule, said once, and the answer is the point rule's.
  const std::string hour_point = temp_dir("margin-hour-point"), hour_default = temp_dir("margin-hour-default");
  const auto by_point = run_command(binary() + args + " --margin point --window busiest-hour --out " + hour_point);
  const auto by_default = run_command(binary() + args + " --window busiest-hour --out " + hour_default);
  INFO(by_default.output);
  REQUIRE(by_point.exit_code == 0);
  REQUIRE(by_default.exit_code == 0);
  CHECK_THAT(by_default.output, Contains("margin: the point rule (--window busiest-hour with one seed has no interval"));
  const auto hp = nlohmann::json::parse(read_file(hour_point + "/sizing.json"));
  const auto hd = nlohmann::json::parse(read_file(hour_default + "/sizing.json"));
  CHECK(hd["margin_rule"] == "point");
  CHECK(hd["results"][0]["replicas"] == hp["results"][0]["replicas"]);
  fs::remove_all(hour_point);
  fs::remove_all(hour_default);
}
