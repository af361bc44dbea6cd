// `size` on a fleet of pods and `size --scale-check`: the share split (nested, pod 0 of N pods is the share 1/N),
// one pod's sizing against `run` on the fleet it gives, the scale check against Erlang C (a central queue pools)
// and M/M/1 (random routing does not), and the command line's files and refusals.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/cost_model.hpp"
#include "helpers.hpp"
#include "queueing.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/sizing.hpp"
#include "workloads/generator.hpp"
#include "workloads/pod_split.hpp"

using namespace tf;
using namespace tf::test;
namespace fs = std::filesystem;

namespace {

SizingOptions quiet() {
  SizingOptions o;
  o.verbose = false;
  o.jobs = 2;
  return o;
}

// percentile_sorted's interpolation (results/quantiles.hpp): between ranks floor and ceil of q (n - 1).
double p99_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0.0;
  const double pos = 0.99 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  if (lo + 1 >= v.size()) return v[lo];
  return v[lo] + (pos - static_cast<double>(lo)) * (v[lo + 1] - v[lo]);
}

// A single-server queue per replica (max batch 1, one-token prompts, exponential answers: M/M/c with the central
// queue), 40 requests/s offered.
std::string queue_scenario(const std::string& router) {
  return R"(
name = "scale-queue"
seed = 5
duration_s = 11300
warmup_s = 300
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[fleet]
replicas = 1
[workload]
arrival = { process = "poisson", rate_per_s = 40.0 }
prompt_tokens = { dist = "fixed", value = 1 }
output_tokens = { dist = "exponential", mean = 40, max = 100000 }
[policy]
max_batch = 1
router = ")" + router + R"("
[slo]
ttft_p99_s = 1.0
)";
}

// The mean service time of the workload's requests by the cost model (one prefill iteration of one token, then a
// decode iteration of batch 1 per further token), and that prefill iteration.
std::pair<double, double> service_and_prefill(const Scenario& s) {
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
  return {service / n, prefill_s};
}

// Llama-3.1-8B replicas with continuous batching and least-tokens routing in 4 pods, 70 requests/s: a pod of 2
// replicas saturates on some shares of the split and not on others.
std::string pods_scenario() {
  return R"(
name = "pods-size"
seed = 11
duration_s = 900
warmup_s = 60
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
tensor_parallel = 1
dtype = "fp16"
[fleet]
pods = 4
replicas = 4
[workload]
arrival = { process = "poisson", rate_per_s = 70.0 }
prompt_tokens = { dist = "lognormal", mean = 1000, p99 = 6000 }
output_tokens = { dist = "lognormal", mean = 250, p99 = 1200 }
[policy]
batching = "continuous"
max_batch = 32
max_batched_tokens = 8192
router = "least-tokens"
[slo]
ttft_p99_s = 1.5
tpot_p99_s = 0.03
)";
}

struct PodFigures {
  std::size_t requests = 0;
  double ttft_p99_s = 0.0, tpot_p99_s = 0.0;
};

// Each pod's figures over the window from a fleet of pods' requests.csv (pod k's replica j is k x m + j; a
// request never finished counts as beyond any target, as the window figures count it).
std::map<int, PodFigures> pod_figures(const std::string& requests_csv, int per_pod, double start_s, double end_s) {
  const auto cells = parse_csv(read_file(requests_csv));
  REQUIRE(cells.size() > 1);
  REQUIRE(cells[0][1] == "arrival_s");
  REQUIRE(cells[0][3] == "output_tokens");
  REQUIRE(cells[0][4] == "replica");
  REQUIRE(cells[0][6] == "ttft_s");
  REQUIRE(cells[0][7] == "tpot_s");
  std::map<int, std::vector<double>> ttft, tpot;
  std::map<int, PodFigures> out;
  for (std::size_t k = 1; k < cells.size(); ++k) {
    const auto& c = cells[k];
    const double arrival = std::stod(c[1]);
    if (arrival < start_s || arrival >= end_s) continue;
    const int replica = std::stoi(c[4]);
    REQUIRE(replica >= 0);  // nothing is rejected or left unserved here
    const int pod = replica / per_pod;
    ++out[pod].requests;
    ttft[pod].push_back(c[6].empty() ? 1e300 : std::stod(c[6]));
    if (std::stoll(c[3]) > 1) tpot[pod].push_back(c[7].empty() ? 1e300 : std::stod(c[7]));
  }
  for (auto& [pod, f] : out) {
    f.ttft_p99_s = p99_of(ttft[pod]);
    f.tpot_p99_s = p99_of(tpot[pod]);
  }
  return out;
}

}  // namespace

TEST_CASE("in_share: the shares are nested, near their size, a session's questions together, and the share 1/N is "
          "pod 0 of N pods",
          "[pods][share]") {
  const int n = 200000;
  const std::vector<double> shares{0.01, 0.1, 1.0 / 3.0, 0.5, 0.9, 1.0};
  std::vector<std::set<std::uint64_t>> kept(shares.size());
  for (int i = 0; i < n; ++i) {
    Request r;
    r.id = static_cast<std::uint64_t>(i);
    for (std::size_t k = 0; k < shares.size(); ++k)
      if (in_share(r, 7, shares[k])) kept[k].insert(r.id);
  }
  for (std::size_t k = 0; k < shares.size(); ++k) {
    INFO("share " << shares[k]);
    // Binomial(n, share): 5 standard deviations.
    const double sd = std::sqrt(n * shares[k] * (1.0 - shares[k]));
    CHECK(std::abs(static_cast<double>(kept[k].size()) - n * shares[k]) <= 5.0 * sd + 1e-9);
    if (k > 0)
      CHECK(std::includes(kept[k].begin(), kept[k].end(), kept[k - 1].begin(), kept[k - 1].end()));
  }
  CHECK(kept.back().size() == static_cast<std::size_t>(n));
  // The share 1/N is pod 0 of N pods, request for request.
  for (int pods : {2, 3, 7, 64}) {
    INFO(pods << " pods");
    std::size_t differ = 0, in_pod0 = 0;
    for (int i = 0; i < n; ++i) {
      Request r;
      r.id = static_cast<std::uint64_t>(i);
      const bool pod0 = pod_of(r, 7, pods) == 0;
      in_pod0 += pod0 ? 1 : 0;
      differ += pod0 != in_share(r, 7, 1.0 / pods) ? 1 : 0;
    }
    CHECK(differ == 0);
    CHECK(in_pod0 > 0);
  }
  // A session's questions share its fate; another seed draws another share.
  Request a, b;
  a.session = b.session = 99;
  a.turn = 1;
  b.turn = 6;
  a.id = 3;
  b.id = 70000;
  for (double f : shares) CHECK(in_share(a, 7, f) == in_share(b, 7, f));
  std::size_t moved = 0;
  for (int i = 0; i < 10000; ++i) {
    Request r;
    r.id = static_cast<std::uint64_t>(i);
    moved += in_share(r, 7, 0.5) != in_share(r, 8, 0.5) ? 1 : 0;
  }
  CHECK(moved > 4000);  // about half
  CHECK(moved < 6000);
}

TEST_CASE("size with fleet.pods = 1 writes the bytes of one fleet (the reference files)", "[pods][sizing][cli]") {
  const std::string ref = source_dir() + "/tests/data/sizing/default-short";
  const std::string out = temp_dir("pod-size-one");
  const auto r = run_command(binary() + " size --jobs 2 --out " + out +
                             " --set duration_s=200 --set warmup_s=20 --set slo.ttft_p99_s=0.5 "
                             "--set slo.tpot_p99_s=0.02 --set fleet.pods=1");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(out + "/sizing.json") == read_file(ref + "/sizing.json"));
  CHECK(read_file(out + "/probes.csv") == read_file(ref + "/probes.csv"));
  CHECK_FALSE(fs::exists(out + "/scale_check.json"));
  fs::remove_all(out);
}

TEST_CASE("size on 4 pods: the answer is 4 x m, run on that fleet gives each pod the figures size found and meets "
          "the targets, and with m - 1 per pod the pods size said miss them",
          "[pods][sizing][cli]") {
  const std::string dir = temp_dir("pod-size");
  write_file(dir + "/s.toml", pods_scenario());
  const auto sized = run_command(binary() + " size " + dir + "/s.toml --jobs 2 --out " + dir + "/size");
  INFO(sized.output);
  REQUIRE(sized.exit_code == 0);
  const auto j = nlohmann::json::parse(read_file(dir + "/size/sizing.json"));
  const auto& g = j.at("results").at(0);
  REQUIRE(g.at("found").get<bool>());
  const auto& pods = g.at("pods");
  const int m = pods.at("replicas_per_pod").get<int>();
  INFO("answer: 4 pods x " << m);
  REQUIRE(pods.at("pods").get<int>() == 4);
  REQUIRE(m >= 2);
  CHECK(g.at("replicas").get<int>() == 4 * m);
  CHECK(g.at("gpus").get<double>() == 4.0 * m);
  CHECK_THAT(sized.output, Catch::Matchers::Contains("answer: 4 pods x " + std::to_string(m) + " replicas = " +
                                                     std::to_string(4 * m) + " replicas, " + std::to_string(4 * m) +
                                                     " GPUs"));
  // The probes the search ran: a row per pod and candidate, the pods' replicas.
  const auto probes = parse_csv(read_file(dir + "/size/probes.csv"));
  REQUIRE(probes.size() > 4);
  CHECK(probes[0][1] == "replicas");
  CHECK(probes[0][2] == "pod");
  CHECK((probes.size() - 1) % 4 == 0);

  const double ttft_target = 1.5, tpot_target = 0.03;
  auto run_fleet_of = [&](int per_pod, const std::string& out) {
    const auto r = run_command(binary() + " run " + dir + "/s.toml -q --jobs 2 --set fleet.replicas=" +
                               std::to_string(4 * per_pod) + " --out " + dir + "/" + out);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return pod_figures(dir + "/" + out + "/requests.csv", per_pod, 60.0, 900.0);
  };
  // At the answer: every pod, recomputed from run's records, is the pod size simulated (same requests, same p99s to
  // the CSV's 9 decimals) and meets the targets; so does the fleet as a whole.
  const auto at = run_fleet_of(m, "at");
  REQUIRE(at.size() == 4);
  for (const auto& f : pods.at("answer")) {
    const int k = f.at("pod").get<int>();
    INFO("pod " << k);
    CHECK(at.at(k).requests == f.at("requests").get<std::size_t>());
    CHECK(at.at(k).ttft_p99_s == Approx(f.at("ttft_p99_s").get<double>()).epsilon(1e-6));
    CHECK(at.at(k).tpot_p99_s == Approx(f.at("tpot_p99_s").get<double>()).epsilon(1e-6));
    CHECK(at.at(k).ttft_p99_s <= ttft_target);
    CHECK(at.at(k).tpot_p99_s <= tpot_target);
  }
  const auto summary = nlohmann::json::parse(read_file(dir + "/at/summary.json"));
  CHECK(summary.at("slo").at("met").get<bool>());
  // One replica fewer per pod: the pods that miss, recomputed, are those size counted (at least one).
  const auto fewer = run_fleet_of(m - 1, "fewer");
  int missing = 0;
  for (const auto& [k, f] : fewer) missing += f.ttft_p99_s > ttft_target || f.tpot_p99_s > tpot_target ? 1 : 0;
  CHECK(missing >= 1);
  CHECK(missing == pods.at("one_fewer_pods_missing").get<int>());
  CHECK(pods.at("one_fewer_replicas_per_pod").get<int>() == m - 1);
  fs::remove_all(dir);
}

TEST_CASE("scale check with a central queue: each pod serves the rate at which M/M/m keeps the p99 wait on target "
          "(Erlang C), and pooling lowers the GPUs per unit of demand as Erlang C says",
          "[scale][queueing]") {
  Scenario s = load_scenario_text(queue_scenario("central-queue"), "scale-queue");
  const auto [service_s, prefill_s] = service_and_prefill(s);
  const double mu = 1.0 / service_s;
  const double wait = 2.0;
  s.slo.ttft_p99_s = wait + prefill_s;  // TTFT = wait + the prefill iteration
  const Demand demand = measure_demand(s);
  ScaleCheckOptions check;
  check.max_replicas = 8;
  const auto rows = scale_check(s, quiet(), demand, check);
  REQUIRE(rows.size() == 4);
  double previous = 0.0, previous_erlang = 0.0;
  for (const auto& row : rows) {
    const double erlang = mmc_rate_for_wait_p99(row.replicas, mu, wait);
    INFO(row.replicas << " replicas: share " << row.share << " (fails at " << row.share_fails << "), "
                      << row.requests_per_s << " requests/s; Erlang C " << erlang << " (mu " << mu << ")");
    REQUIRE(row.found);
    CHECK_FALSE(row.whole);
    CHECK(row.share_fails > row.share);
    CHECK(row.share_fails - row.share <= check.tolerance * row.share * 1.0000001);
    CHECK(std::abs(row.requests_per_s / erlang - 1.0) < 0.08);
    // GPUs per unit of demand: down with every doubling, by about Erlang C's saving.
    const double per_unit = row.replicas / row.requests_per_s, erlang_per_unit = row.replicas / erlang;
    if (previous > 0.0) {
      CHECK(per_unit < previous);
      CHECK(std::abs((1.0 - per_unit / previous) - (1.0 - erlang_per_unit / previous_erlang)) < 0.08);
    }
    previous = per_unit;
    previous_erlang = erlang_per_unit;
    // Every probe of the row is a share of the same arrivals: its requests in the window near share x all of them.
    for (const auto& p : row.probes) {
      CHECK(p.replicas == row.replicas);
      const double expect = p.share * demand.requests;
      CHECK(std::abs(static_cast<double>(p.whole.requests) - expect) <= 5.0 * std::sqrt(expect) + 1.0);
    }
  }
}

TEST_CASE("scale check with random routing: every replica is an M/M/1 on its part, so a pod of m serves m times "
          "one replica's rate and pooling saves nothing",
          "[scale][queueing]") {
  Scenario s = load_scenario_text(queue_scenario("random"), "scale-random");
  const auto [service_s, prefill_s] = service_and_prefill(s);
  const double mu = 1.0 / service_s;
  const double wait = 2.0;
  s.slo.ttft_p99_s = wait + prefill_s;
  const double one = mmc_rate_for_wait_p99(1, mu, wait);  // M/M/1
  ScaleCheckOptions check;
  check.max_replicas = 4;
  const auto rows = scale_check(s, quiet(), measure_demand(s), check);
  REQUIRE(rows.size() == 3);
  double first = 0.0;
  for (const auto& row : rows) {
    INFO(row.replicas << " replicas: " << row.requests_per_s << " requests/s; " << row.replicas << " x M/M/1 "
                      << row.replicas * one);
    REQUIRE(row.found);
    CHECK(std::abs(row.requests_per_s / (row.replicas * one) - 1.0) < 0.10);
    const double per_unit = row.replicas / row.requests_per_s;
    if (first == 0.0) first = per_unit;
    CHECK(std::abs(per_unit / first - 1.0) < 0.12);  // flat within noise: no gain from pooling
  }
}

TEST_CASE("size --scale-check: the table, scale_check.csv/json and the report's section - the same bytes twice",
          "[scale][cli]") {
  const std::string dir = temp_dir("scale-cli");
  write_file(dir + "/s.toml", queue_scenario("central-queue"));
  const std::string cmd = binary() + " size " + dir + "/s.toml --jobs 2 --scale-check 2 --set duration_s=1800 "
                          "--set workload.arrival.rate_per_s=20 --set slo.ttft_p99_s=2.01 --out ";
  const auto a = run_command(cmd + dir + "/a --report");
  INFO(a.output);
  REQUIRE(a.exit_code == 0);
  CHECK_THAT(a.output, Catch::Matchers::Contains("scale check: a pod of m = 1, 2, 4, ... up to 2 replicas"));
  CHECK_THAT(a.output, Catch::Matchers::Contains("GPUs/1k req/s"));
  const auto j = nlohmann::json::parse(read_file(dir + "/a/scale_check.json"));
  const auto sizing = nlohmann::json::parse(read_file(dir + "/a/sizing.json"));
  const auto& rows = j.at("results").at(0).at("rows");
  REQUIRE(rows.size() == 3);  // 1, 2 and the answer
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(rows[i].at("kind") == "pod");
    CHECK(rows[i].at("replicas").get<int>() == 1 << i);
    CHECK(rows[i].at("found").get<bool>());
    // GPUs per 1,000 requests/s is GPUs over the demand served, and the pods for the demand cover it.
    const double per_unit = rows[i].at("gpus_per_1k_requests_per_s").get<double>();
    CHECK(per_unit == Approx(rows[i].at("gpus").get<double>() / rows[i].at("requests_per_s").get<double>() * 1e3));
    const int pods = rows[i].at("pods_for_demand").get<int>();
    CHECK(pods * rows[i].at("share").get<double>() >= 1.0);
    CHECK((pods - 1) * rows[i].at("share").get<double>() < 1.0);
    if (i > 0)
      CHECK(rows[i].at("gain").get<double>() ==
            Approx(1.0 - per_unit / rows[i - 1].at("gpus_per_1k_requests_per_s").get<double>()));
  }
  CHECK(rows[2].at("kind") == "answer");
  CHECK(rows[2].at("replicas").get<int>() == sizing.at("results").at(0).at("replicas").get<int>());
  CHECK(rows[2].at("replicas").get<int>() > 2);
  // The CSV holds the same rows.
  const auto csv = parse_csv(read_file(dir + "/a/scale_check.csv"));
  REQUIRE(csv.size() == 4);
  CHECK(csv[0][1] == "kind");
  CHECK(csv[3][1] == "answer");
  const std::string html = read_file(dir + "/a/report.html");
  CHECK_THAT(html, Catch::Matchers::Contains("<h2>Scale check</h2>"));
  CHECK_THAT(html, Catch::Matchers::Contains("scale_check.csv"));
  // The same command, the same bytes.
  const auto b = run_command(cmd + dir + "/b");
  REQUIRE(b.exit_code == 0);
  for (const char* f : {"scale_check.json", "scale_check.csv", "sizing.json", "probes.csv"})
    CHECK(read_file(dir + "/a/" + f) == read_file(dir + "/b/" + f));
  fs::remove_all(dir);
}

TEST_CASE("size refuses a --scale-check that is not a power of two, --scale-gain alone or out of range, and "
          "--per-hour on pods, naming them, before writing anything",
          "[scale][pods][cli][errors]") {
  const std::string dir = temp_dir("scale-bad");
  write_file(dir + "/s.toml", pods_scenario());
  const std::string one = " --set fleet.pods=1 --set fleet.replicas=1";
  const std::vector<std::pair<std::string, std::string>> bad{
      {" --scale-check 0" + one, "--scale-check: expected the largest pod to check, a power of two"},
      {" --scale-check 3" + one, "got 3"},
      {" --scale-check -4" + one, "got -4"},
      {" --scale-check 4 --scale-gain 0" + one, "--scale-gain: expected a percentage"},
      {" --scale-check 4 --scale-gain 100" + one, "--scale-gain: expected a percentage"},
      {" --scale-gain 10" + one, "--scale-gain: only with --scale-check"},
      {" --per-hour", "--per-hour: not supported with fleet.pods = 4"},
  };
  for (const auto& [args, message] : bad) {
    INFO(args);
    const auto r = run_command(binary() + " size " + dir + "/s.toml --out " + dir + "/out" + args);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Matchers::Contains(message));
    CHECK_FALSE(fs::exists(dir + "/out/sizing.json"));
    CHECK_FALSE(fs::exists(dir + "/out/scale_check.json"));
  }
  fs::remove_all(dir);
}
