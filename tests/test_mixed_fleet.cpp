// Mixed fleets ([[fleet.pool]]): pools of several GPU types behind a balancer that splits arrivals by capacity.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "cluster/cost_model.hpp"
#include "policies/batching.hpp"
#include "results/economics.hpp"
#include "sim/replica/replica_model.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/pods.hpp"
#include "helpers.hpp"

using namespace tf;
using namespace tf::test;
namespace fs = std::filesystem;

namespace {

// Llama-3.1-8B on one GPU per replica, fixed lengths (so that the mean lengths are exact), `pools` as TOML.
std::string mixed(const std::string& pools, double rate, int replicas_line = 0, const std::string& extra = "") {
  return "name = \"mixed-test\"\nseed = 5\nduration_s = 300\nwarmup_s = 30\n[model]\nname = \"llama-3.1-8b\"\n"
         "[hardware]\ndtype = \"fp16\"\n[fleet]\n" +
         (replicas_line > 0 ? "replicas = " + std::to_string(replicas_line) + "\n" : std::string()) + pools +
         "[workload]\narrival = { process = \"poisson\", rate_per_s = " + std::to_string(rate) +
         " }\nprompt_tokens = { dist = \"fixed\", value = 1000 }\noutput_tokens = { dist = \"fixed\", value = 200 }\n"
         "[policy]\nbatching = \"continuous\"\nmax_batch = 64\nmax_batched_tokens = 8192\nrouter = \"least-tokens\"\n" +
         extra;
}

const std::string kTwoPools =
    "[[fleet.pool]]\nname = \"h100\"\ngpu = \"h100-sxm\"\nreplicas = 2\n"
    "[[fleet.pool]]\nname = \"a100\"\ngpu = \"a100-80gb\"\nreplicas = 3\n";

nlohmann::json run_summary(const std::string& dir, const std::string& toml) {
  write_file(dir + "/s.toml", toml);
  const auto r = run_command(binary() + " run " + dir + "/s.toml -q --out " + dir + "/out");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(read_file(dir + "/out/summary.json"));
}

double saturated(const Scenario& s, const char* gpu) {
  const CostModel cost(s.model, *find_gpu(gpu), Dtype::fp16, Layout{}, s.cost);
  return saturated_output_tokens_per_s(cost, ContinuousBatching(s.limits), 1000, 200, 4 * s.limits.max_batch);
}

}  // namespace

TEST_CASE("[[fleet.pool]]: pools by replicas, by GPU share (largest remainder) and by FLOP/s share", "[mixed]") {
  Scenario s = load_scenario_text(mixed(kTwoPools, 5.0), "t.toml");
  REQUIRE(s.fleet_pools.size() == 2);
  CHECK(s.replicas == 5);
  CHECK(s.fleet_gpus() == 5);
  CHECK(s.fleet_pools[1].gpu.name == "a100-80gb");
  // GPU shares of 1/2 with replicas of 1 and 2 GPUs: replicas 2 : 1 (ideal 0.5/1 : 0.5/2), 7 in all -> 4.67 and
  // 2.33 -> 5 and 2 by largest remainder.
  s = load_scenario_text(mixed("[[fleet.pool]]\nname = \"a\"\ngpu = \"h100-sxm\"\ngpu_share = 0.5\n"
                               "[[fleet.pool]]\nname = \"b\"\ngpu = \"a100-80gb\"\ntensor_parallel = 2\ngpu_share = 0.5\n",
                               5.0, 7),
                         "t.toml");
  CHECK(s.fleet_pools[0].replicas == 5);
  CHECK(s.fleet_pools[1].replicas == 2);
  CHECK(s.fleet_pools[1].tensor_parallel == 2);
  CHECK(s.fleet_gpus() == 9);
  // FLOP/s shares of 1/2: H100 989 against A100 312 TFLOP/s, so A100 replicas 989/312 = 3.17 times as many:
  // 10 replicas -> 2.40 and 7.60 -> 2 and 8.
  s = load_scenario_text(mixed("[[fleet.pool]]\nname = \"a\"\ngpu = \"h100-sxm\"\nflops_share = 0.5\n"
                               "[[fleet.pool]]\nname = \"b\"\ngpu = \"a100-80gb\"\nflops_share = 0.5\n",
                               5.0, 10),
                         "t.toml");
  CHECK(s.fleet_pools[0].replicas == 2);
  CHECK(s.fleet_pools[1].replicas == 8);
}

TEST_CASE("[[fleet.pool]] errors name the pool's key, its line and what is expected", "[mixed]") {
  auto fails_with = [](const std::string& toml, const std::string& what, const std::string& key) {
    try {
      (void)load_scenario_text(toml, "t.toml");
      FAIL("expected an error: " + what);
    } catch (const ScenarioError& e) {
      INFO(e.what());
      CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains(what));
      CHECK(e.key() == key);
      CHECK(e.line() > 0);
    }
  };
  fails_with(mixed("[[fleet.pool]]\ngpu = \"h100-sxm\"\nreplicas = 2\n", 5.0), "each pool needs a name",
             "fleet.pool[0].name");
  fails_with(mixed("[[fleet.pool]]\nname = \"a\"\nreplicas = 2\n[[fleet.pool]]\nname = \"a\"\nreplicas = 1\n", 5.0),
             "pool names must differ", "fleet.pool[1].name");
  fails_with(mixed("[[fleet.pool]]\nname = \"a\"\nreplicas = 2\n[[fleet.pool]]\nname = \"b\"\ngpu_share = 0.5\n", 5.0),
             "every pool must be sized the same way", "fleet.pool[1].gpu_share");
  fails_with(mixed("[[fleet.pool]]\nname = \"a\"\ngpu_share = 0.5\n[[fleet.pool]]\nname = \"b\"\ngpu_share = 0.4\n",
                   5.0, 4),
             "add up to 0.9, expected 1", "fleet.pool");
  fails_with(mixed("[[fleet.pool]]\nname = \"a\"\nreplicas = 2\n[[fleet.pool]]\nname = \"b\"\ngpu = \"h99\"\nreplicas = 1\n",
                   5.0),
             "unknown GPU 'h99'", "fleet.pool[1].gpu");
  fails_with(mixed("[[fleet.pool]]\nname = \"a\"\nreplicas = 2\ntensor_paralel = 2\n", 5.0),
             "did you mean 'tensor_parallel'", "fleet.pool[0].tensor_paralel");
  fails_with(mixed(kTwoPools, 5.0, 4), "expected the pools' replicas added up (5)", "fleet.replicas");
}

TEST_CASE("the balancer splits arrivals by capacity: each pool's share is its saturated capacity over the fleet's, "
          "and each pool gets that share of the requests",
          "[mixed]") {
  const Scenario s = load_scenario_text(mixed(kTwoPools, 40.0), "t.toml");
  // Independently: one saturated replica of each GPU at the (fixed) lengths, times the pool's replicas.
  const double h = 2 * saturated(s, "h100-sxm"), a = 3 * saturated(s, "a100-80gb");
  const auto shares = pool_arrival_shares(s);
  REQUIRE(shares.size() == 2);
  CHECK(shares[0] == Approx(h / (h + a)).epsilon(1e-9));
  CHECK(shares[0] > 0.5);  // 2 H100 replicas outserve 3 A100 ones (989 against 312 TFLOP/s, 3.35 against 2.04 TB/s)
  const std::string dir = temp_dir("mixed-split");
  const auto j = run_summary(dir, mixed(kTwoPools, 40.0));
  REQUIRE(j.at("pools").size() == 2);
  const double n = j.at("requests").at("arrived").get<double>();
  const double got = j.at("pools")[0].at("arrived").get<double>() / n;
  const double sd = std::sqrt(shares[0] * (1 - shares[0]) / n);
  INFO("pool h100 took " << got << " of " << n << " arrivals, its share is " << shares[0]);
  CHECK(std::abs(got - shares[0]) < 4 * sd);
  CHECK(j.at("pools")[0].at("arrival_share").get<double>() == Approx(shares[0]).epsilon(1e-12));
  // Replicas numbered fleet-wide: the h100 pool's are 0 and 1, the a100 pool's 2, 3, 4.
  const auto rows = parse_csv(read_file(dir + "/out/requests.csv"));
  std::size_t first_pool = 0;
  for (std::size_t k = 1; k < rows.size(); ++k) {
    const int replica = std::stoi(rows[k][4]);
    REQUIRE(replica >= 0);
    REQUIRE(replica < 5);
    if (replica < 2) ++first_pool;
  }
  CHECK(static_cast<double>(first_pool) == j.at("pools")[0].at("arrived").get<double>());
  fs::remove_all(dir);
}

TEST_CASE("a mixed fleet's saturated capacity is the sum of its pools' capacities", "[mixed]") {
  // Offered far beyond what the fleet serves (admission bounds the queues), each run serves at its capacity.
  const std::string bound = "max_queued_per_replica = 256\n";
  const std::string dir = temp_dir("mixed-capacity");
  auto served = [&](const std::string& pools) {
    return run_summary(dir, mixed(pools, 300.0, 0, bound)).at("throughput").at("output_tokens_per_s").get<double>();
  };
  const double both = served(kTwoPools);
  const double h100 = served("[[fleet.pool]]\nname = \"h100\"\ngpu = \"h100-sxm\"\nreplicas = 2\n");
  const double a100 = served("[[fleet.pool]]\nname = \"a100\"\ngpu = \"a100-80gb\"\nreplicas = 3\n");
  INFO("mixed " << both << " out tok/s; h100 pool alone " << h100 << ", a100 pool alone " << a100);
  CHECK(both == Approx(h100 + a100).epsilon(0.02));
  // And each alone near its replicas' saturated capacity (the replica model's, at these lengths).
  const Scenario s = load_scenario_text(mixed(kTwoPools, 300.0), "t.toml");
  CHECK(h100 == Approx(2 * saturated(s, "h100-sxm")).epsilon(0.10));
  CHECK(a100 == Approx(3 * saturated(s, "a100-80gb")).epsilon(0.10));
  fs::remove_all(dir);
}

TEST_CASE("a mixed fleet: arrival_share, when given, is the split",
          "[mixed]") {
  const std::string dir = temp_dir("mixed-given");
  const auto j = run_summary(dir, mixed("[[fleet.pool]]\nname = \"h100\"\ngpu = \"h100-sxm\"\nreplicas = 2\n"
                                        "arrival_share = 0.25\n[[fleet.pool]]\nname = \"a100\"\ngpu = \"a100-80gb\"\n"
                                        "replicas = 3\narrival_share = 0.75\n",
                                        20.0));
  const double n = j.at("requests").at("arrived").get<double>();
  const double got = j.at("pools")[0].at("arrived").get<double>() / n;
  CHECK(std::abs(got - 0.25) < 4 * std::sqrt(0.25 * 0.75 / n));
  CHECK(j.at("pools")[1].at("gpus").get<int>() == 3);
  fs::remove_all(dir);
}

TEST_CASE("validate checks every pool of a mixed fleet and names the one that cannot be served", "[mixed]") {
  const std::string dir = temp_dir("mixed-validate");
  // Llama-3.1-70B in FP16 (141 GB of weights) fits 2 x H100 but not 1 x A100 (80 GB).
  std::string toml = mixed("[[fleet.pool]]\nname = \"h100\"\ngpu = \"h100-sxm\"\ntensor_parallel = 2\nreplicas = 1\n"
                           "[[fleet.pool]]\nname = \"small\"\ngpu = \"a100-80gb\"\nreplicas = 1\n",
                           5.0);
  toml.replace(toml.find("llama-3.1-8b"), 12, "llama-3.1-70b");
  write_file(dir + "/s.toml", toml);
  auto r = run_command(binary() + " validate " + dir + "/s.toml");
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.output, Catch::Matchers::Contains("pool 'small'") && Catch::Matchers::Contains("a100-80gb"));
  r = run_command(binary() + " run " + dir + "/s.toml -q");
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.output, Catch::Matchers::Contains("pool 'small'"));
  fs::remove_all(dir);
}

TEST_CASE("set_fleet_replicas splits a new total in the file's mix, every pool keeping a replica", "[mixed]") {
  // GPU shares of 1/2 with replicas of 1 and 2 GPUs: the mix is 2/3 : 1/3 of the replicas.
  const std::string pools =
      "[[fleet.pool]]\nname = \"one\"\ngpu = \"h100-sxm\"\ngpu_share = 0.5\n"
      "[[fleet.pool]]\nname = \"two\"\ngpu = \"h100-sxm\"\ntensor_parallel = 2\ngpu_share = 0.5\n";
  Scenario s = load_scenario_text(mixed(pools, 5.0, 7), "t.toml");
  CHECK(mix_share(s, 0) == Approx(2.0 / 3.0));
  CHECK(mix_share(s, 1) == Approx(1.0 / 3.0));
  for (int n : {2, 3, 7, 10, 31}) {
    INFO(n);
    Scenario at = s;
    set_fleet_replicas(at, n);
    // The loader's own split at that total (where it gives each pool one), and the largest remainder by hand.
    const double ideal = 2.0 * n / 3.0;
    const int expect_one = std::max(1, std::min(n - 1, static_cast<int>(std::round(ideal))));
    CHECK(at.fleet_pools[0].replicas == expect_one);
    CHECK(at.fleet_pools[0].replicas + at.fleet_pools[1].replicas == n);
    CHECK(at.replicas == n);
    CHECK(at.fleet_gpus() == at.fleet_pools[0].replicas + 2 * at.fleet_pools[1].replicas);
    CHECK(fleet_gpus_at(s, n) == at.fleet_gpus());
    if (n >= 3) {
      const Scenario loaded = load_scenario_text(mixed(pools, 5.0, n), "t.toml");
      CHECK(loaded.fleet_pools[0].replicas == at.fleet_pools[0].replicas);
    }
  }
  Scenario at = s;
  CHECK_THROWS_WITH(set_fleet_replicas(at, 1), Catch::Matchers::Contains("at least 2 replicas"));
  // A pool the largest remainder would leave at none keeps one, taken from the pool with the most: 9 : 1 at 2 -> 1, 1;
  // three pools 0.8 / 0.1 / 0.1 of one-GPU replicas at 4 -> 3.2, 0.4, 0.4 -> 3, 1, 0 by largest remainder -> 2, 1, 1.
  const std::string nine =
      "[[fleet.pool]]\nname = \"a\"\ngpu = \"h100-sxm\"\ngpu_share = 0.9\n"
      "[[fleet.pool]]\nname = \"b\"\ngpu = \"a100-80gb\"\ngpu_share = 0.1\n";
  Scenario n2 = load_scenario_text(mixed(nine, 5.0, 10), "t.toml");
  CHECK(n2.fleet_pools[0].replicas == 9);
  set_fleet_replicas(n2, 2);
  CHECK(n2.fleet_pools[0].replicas == 1);
  CHECK(n2.fleet_pools[1].replicas == 1);
  const std::string three =
      "[[fleet.pool]]\nname = \"a\"\ngpu = \"h100-sxm\"\ngpu_share = 0.8\n"
      "[[fleet.pool]]\nname = \"b\"\ngpu = \"a100-80gb\"\ngpu_share = 0.1\n"
      "[[fleet.pool]]\nname = \"c\"\ngpu = \"h200-sxm\"\ngpu_share = 0.1\n";
  Scenario t4 = load_scenario_text(mixed(three, 5.0, 10), "t.toml");
  set_fleet_replicas(t4, 4);
  CHECK(t4.fleet_pools[0].replicas == 2);
  CHECK(t4.fleet_pools[1].replicas == 1);
  CHECK(t4.fleet_pools[2].replicas == 1);
  set_fleet_replicas(t4, 20);  // exact: 16, 2, 2
  CHECK(t4.fleet_pools[0].replicas == 16);
  CHECK(t4.fleet_pools[2].replicas == 2);
  // Three pools by GPU share 0.2 / 0.3 / 0.5 of 1-, 2- and 8-GPU replicas at 24: ideal 0.2, 0.15, 0.0625 of 0.4125
  // -> 11.64, 8.73, 3.64 -> 11, 8, 3 and the two replicas left to the largest remainders .727 and .636 (a tie with
  // .636, to the earlier pool): 12, 9, 3, by hand.
  const std::string layouts =
      "[[fleet.pool]]\nname = \"a\"\ngpu = \"h100-sxm\"\ngpu_share = 0.2\n"
      "[[fleet.pool]]\nname = \"b\"\ngpu = \"h100-sxm\"\ntensor_parallel = 2\ngpu_share = 0.3\n"
      "[[fleet.pool]]\nname = \"c\"\ngpu = \"h100-sxm\"\ntensor_parallel = 8\ngpu_share = 0.5\n";
  const Scenario l24 = load_scenario_text(mixed(layouts, 5.0, 24), "t.toml");
  CHECK(l24.fleet_pools[0].replicas == 12);
  CHECK(l24.fleet_pools[1].replicas == 9);
  CHECK(l24.fleet_pools[2].replicas == 3);
  // Pools given by replicas: the mix is their proportions.
  const Scenario r = load_scenario_text(mixed(kTwoPools, 5.0), "t.toml");
  Scenario r10 = r;
  set_fleet_replicas(r10, 10);
  CHECK(r10.fleet_pools[0].replicas == 4);
  CHECK(r10.fleet_pools[1].replicas == 6);
  // The mean peak per GPU: H100 and A100 FP16 peaks weighted by their GPUs.
  CHECK(fleet_peak_flops_per_gpu(r) == Approx((2 * find_gpu("h100-sxm")->fp16_flops + 3 * find_gpu("a100-80gb")->fp16_flops) / 5));
}

TEST_CASE("size a mixed fleet at its mix: the smallest total meeting the targets, run at it meets them, one fewer "
          "misses, its capacity covers the demand",
          "[mixed][sizing]") {
  const std::string dir = temp_dir("mixed-size");
  const std::string pools =
      "[[fleet.pool]]\nname = \"h100\"\ngpu = \"h100-sxm\"\ngpu_share = 0.5\n"
      "[[fleet.pool]]\nname = \"a100\"\ngpu = \"a100-80gb\"\ngpu_share = 0.5\n";
  const std::string toml = mixed(pools, 100.0, 4, "[slo]\nttft_p99_s = 0.5\ntpot_p99_s = 0.04\n");
  write_file(dir + "/s.toml", toml);
  auto r = run_command(binary() + " size " + dir + "/s.toml --margin point --out " + dir + "/out");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(read_file(dir + "/out/sizing.json"));
  const auto& g = j.at("results")[0];
  const int n = g.at("replicas").get<int>();
  REQUIRE(n >= 3);
  // Its pools are the mix at that total, and its GPUs theirs.
  const Scenario s = load_scenario_text(toml, "t.toml");
  Scenario at = s;
  set_fleet_replicas(at, n);
  REQUIRE(g.at("pools").size() == 2);
  CHECK(g.at("pools")[0].at("replicas").get<int>() == at.fleet_pools[0].replicas);
  CHECK(g.at("pools")[1].at("replicas").get<int>() == at.fleet_pools[1].replicas);
  CHECK(g.at("gpus").get<double>() == static_cast<double>(at.fleet_gpus()));
  // Saturated, the answer's pools carry the offered 100 x 200 output tokens/s (no fleet below its capacity keeps up).
  double cap = 0;
  for (double c : pool_capacities(at)) cap += c;
  CHECK(cap >= 100.0 * 200.0);
  // `run` at the answer meets both targets; one replica fewer misses one (the point rule).
  auto p99s = [&](int replicas) {
    fs::create_directories(dir + "/r" + std::to_string(replicas));
    const auto sum = run_summary(dir + "/r" + std::to_string(replicas),
                                 mixed(pools, 100.0, replicas, "[slo]\nttft_p99_s = 0.5\ntpot_p99_s = 0.04\n"));
    return std::make_pair(sum.at("latency_s").at("ttft").at("p99").get<double>(),
                          sum.at("latency_s").at("tpot").at("p99").get<double>());
  };
  const auto [ttft, tpot] = p99s(n);
  CHECK(ttft <= 0.5);
  CHECK(tpot <= 0.04);
  const auto [ttft1, tpot1] = p99s(n - 1);
  CHECK((ttft1 > 0.5 || tpot1 > 0.04));
  // The price is the pools', weighted by their GPUs (the defaults: results/economics.hpp).
  CHECK_THAT(g.at("economics").at("price_source").get<std::string>(), Catch::Matchers::Contains("weighted by their GPUs"));
  const double h100 = default_gpu_price("h100-sxm")->usd_per_gpu_hour, a100 = default_gpu_price("a100-80gb")->usd_per_gpu_hour;
  CHECK(g.at("economics").at("usd_per_gpu_hour").get<double>() ==
        Approx((h100 * at.fleet_pools[0].gpus() + a100 * at.fleet_pools[1].gpus()) / static_cast<double>(at.fleet_gpus())));
  CHECK(h100 != a100);
  // What sizes one GPU type in other ways is refused, with the reason.
  r = run_command(binary() + " size " + dir + "/s.toml --gpus h100-sxm");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Matchers::Contains("--gpus: not supported for a mixed fleet"));
  r = run_command(binary() + " size " + dir + "/s.toml --per-hour --search tp");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Matchers::Contains("--search tp, --per-hour"));
  fs::remove_all(dir);
}

TEST_CASE("size --search mix: the first pool's share of the GPUs at 25, 50 and 75 %, each sized at its mix and ranked",
          "[mixed][sizing]") {
  const std::string dir = temp_dir("mixed-search");
  const std::string pools =
      "[[fleet.pool]]\nname = \"h100\"\ngpu = \"h100-sxm\"\ngpu_share = 0.5\n"
      "[[fleet.pool]]\nname = \"a100\"\ngpu = \"a100-80gb\"\ngpu_share = 0.5\n";
  write_file(dir + "/s.toml", mixed(pools, 100.0, 4, "[slo]\nttft_p99_s = 0.5\ntpot_p99_s = 0.04\n"));
  auto r = run_command(binary() + " size " + dir + "/s.toml --margin point --search mix --out " + dir + "/out");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Matchers::Contains("Ranking"));
  const auto j = nlohmann::json::parse(read_file(dir + "/out/sizing.json"));
  REQUIRE(j.at("results").size() == 3);
  std::vector<double> gpus;
  int best = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& g = j.at("results")[i];
    REQUIRE(g.at("found").get<bool>());
    const double share = 0.25 * static_cast<double>(i + 1);
    const auto& p = g.at("pools");
    const double h = p[0].at("gpus").get<double>(), a = p[1].at("gpus").get<double>();
    // The H100 pool's share of the GPUs is the one asked, to within a replica.
    CHECK(std::abs(h - share * (h + a)) <= 1.0);
    CHECK(g.at("gpus").get<double>() == h + a);
    gpus.push_back(h + a);
    best += g.at("best_of_type").get<bool>() ? 1 : 0;
  }
  // H100 serves more per GPU than A100: the more of the mix it is, the fewer GPUs the demand needs.
  CHECK(gpus[0] >= gpus[1]);
  CHECK(gpus[1] >= gpus[2]);
  CHECK(gpus[0] > gpus[2]);
  CHECK(best == 1);
  r = run_command(binary() + " size " + source_dir() + "/scenarios/chat-hour.toml --search mix");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Matchers::Contains("this scenario has one GPU type"));
  fs::remove_all(dir);
}
