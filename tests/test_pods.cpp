// Pods ([fleet] pods): the seeded random split, and fleets of pods against one pooled fleet, through the binary.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "workloads/pod_split.hpp"

using namespace tf::test;
namespace fs = std::filesystem;

namespace {

struct Row {
  std::uint64_t id = 0;
  double arrival_s = 0.0;
  std::int64_t prompt = 0, output = 0;
  int replica = -1;
  double ttft_s = 0.0, e2e_s = 0.0;
};

std::vector<Row> read_requests(const std::string& path) {
  // id,arrival_s,prompt_tokens,output_tokens,replica,queue_s,ttft_s,tpot_s,e2e_s,...
  const auto cells = parse_csv(read_file(path));
  std::vector<Row> rows;
  for (std::size_t k = 1; k < cells.size(); ++k) {
    const auto& c = cells[k];
    REQUIRE(c.size() >= 9);
    Row r;
    r.id = std::stoull(c[0]);
    r.arrival_s = std::stod(c[1]);
    r.prompt = std::stoll(c[2]);
    r.output = std::stoll(c[3]);
    r.replica = std::stoi(c[4]);
    r.ttft_s = std::stod(c[6]);
    r.e2e_s = std::stod(c[8]);
    rows.push_back(r);
  }
  return rows;
}

// Two-sample Kolmogorov-Smirnov statistic.
double ks_statistic(std::vector<double> a, std::vector<double> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::size_t i = 0, j = 0;
  double d = 0.0;
  while (i < a.size() && j < b.size()) {
    const double x = std::min(a[i], b[j]);
    while (i < a.size() && a[i] <= x) ++i;
    while (j < b.size() && b[j] <= x) ++j;
    d = std::max(d, std::abs(static_cast<double>(i) / a.size() - static_cast<double>(j) / b.size()));
  }
  return d;
}

// A fleet of small replicas at moderate load, `replicas` in all.
std::string scenario(const std::string& router, double rate, int replicas, double duration = 900.0, int max_batch = 32) {
  return "name = \"pods-test\"\nseed = 11\nduration_s = " + std::to_string(duration) +
         "\nwarmup_s = 0\n[model]\nname = \"llama-3.1-8b\"\n[hardware]\ngpu = \"h100-sxm\"\ntensor_parallel = 1\n"
         "dtype = \"fp16\"\n[fleet]\nreplicas = " +
         std::to_string(replicas) + "\n[workload]\narrival = { process = \"poisson\", rate_per_s = " + std::to_string(rate) +
         " }\nprompt_tokens = { dist = \"lognormal\", mean = 1000, p99 = 6000 }\n"
         "output_tokens = { dist = \"lognormal\", mean = 250, p99 = 1200 }\n[policy]\nbatching = \"continuous\"\n"
         "max_batch = " + std::to_string(max_batch) + "\nmax_batched_tokens = 8192\nrouter = \"" +
         router + "\"\n";
}

std::vector<Row> run_requests(const std::string& dir, const std::string& toml, const std::string& extra) {
  write_file(dir + "/s.toml", toml);
  const auto r = run_command(binary() + " run " + dir + "/s.toml -q --out " + dir + "/out" + extra);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return read_requests(dir + "/out/requests.csv");
}

}  // namespace

TEST_CASE("pod_of: requests spread evenly over the pods, a session's questions together, fixed by the seed",
          "[pods]") {
  const int pods = 7;
  std::vector<int> count(pods, 0);
  const int n = 140000;
  for (int i = 0; i < n; ++i) {
    tf::Request r;
    r.id = static_cast<std::uint64_t>(i);
    ++count[static_cast<std::size_t>(tf::pod_of(r, 5, pods))];
  }
  // Chi-square with 6 degrees of freedom: 22.46 is its 0.1 % critical value.
  double chi2 = 0.0;
  for (int c : count) chi2 += (c - n / 7.0) * (c - n / 7.0) / (n / 7.0);
  CHECK(chi2 < 22.46);
  tf::Request a, b;
  a.session = b.session = 42;
  a.turn = 1;
  b.turn = 4;
  a.id = 100;
  b.id = 9999;
  CHECK(tf::pod_of(a, 5, pods) == tf::pod_of(b, 5, pods));
  // Another seed moves requests between pods; one pod takes all.
  int moved = 0;
  for (int i = 0; i < 1000; ++i) {
    tf::Request r;
    r.id = static_cast<std::uint64_t>(i);
    moved += tf::pod_of(r, 5, pods) != tf::pod_of(r, 6, pods);
    CHECK(tf::pod_of(r, 5, 1) == 0);
  }
  CHECK(moved > 700);  // about 6/7 of them
}

TEST_CASE("pods = 1 is one fleet, byte for byte", "[pods]") {
  const std::string dir = temp_dir("pods-one");
  write_file(dir + "/s.toml", scenario("least-tokens", 20.0, 4, 200.0));
  REQUIRE(run_command(binary() + " run " + dir + "/s.toml -q --out " + dir + "/a").exit_code == 0);
  REQUIRE(run_command(binary() + " run " + dir + "/s.toml -q --set fleet.pods=1 --out " + dir + "/b").exit_code == 0);
  for (const char* f : {"requests.csv", "summary.json", "timeseries.csv"})
    CHECK(read_file(dir + "/a/" + f) == read_file(dir + "/b/" + f));
  fs::remove_all(dir);
}

TEST_CASE("pods with random routing serve like the pooled fleet: the same requests, latencies from one distribution "
          "(two-sample KS at 1 %)",
          "[pods]") {
  // 12 replicas at about half load, random routing: each replica sees a Poisson stream of rate/12 either way (a random
  // split of a Poisson process is Poisson), so 4 pods of 3 must give the per-request latencies one fleet of 12 gives.
  const std::string dir = temp_dir("pods-random");
  const auto pooled = run_requests(dir, scenario("random", 24.0, 12), "");
  const auto podded = run_requests(dir, scenario("random", 24.0, 12), " --set fleet.pods=4 --jobs 2");
  REQUIRE(pooled.size() == podded.size());
  REQUIRE(pooled.size() > 15000);
  std::vector<double> e2e_a, e2e_b, ttft_a, ttft_b;
  std::set<int> replicas;
  for (std::size_t i = 0; i < pooled.size(); ++i) {
    // The same workload: every request, with its arrival and lengths, in id order.
    REQUIRE(podded[i].id == pooled[i].id);
    REQUIRE(podded[i].arrival_s == pooled[i].arrival_s);
    REQUIRE(podded[i].prompt == pooled[i].prompt);
    REQUIRE(podded[i].output == pooled[i].output);
    replicas.insert(podded[i].replica);
    e2e_a.push_back(pooled[i].e2e_s);
    e2e_b.push_back(podded[i].e2e_s);
    ttft_a.push_back(pooled[i].ttft_s);
    ttft_b.push_back(podded[i].ttft_s);
  }
  CHECK(replicas.size() == 12);  // numbered fleet-wide, 0-11
  CHECK(*replicas.begin() == 0);
  CHECK(*replicas.rbegin() == 11);
  const double n = static_cast<double>(pooled.size());
  const double critical = 1.628 * std::sqrt(2.0 / n);  // alpha = 1 %, two equal samples
  const double d_e2e = ks_statistic(e2e_a, e2e_b), d_ttft = ks_statistic(ttft_a, ttft_b);
  WARN("KS D: e2e " << d_e2e << ", ttft " << d_ttft << ", critical " << critical);
  CHECK(d_e2e < critical);
  CHECK(d_ttft < critical);
  const auto pj = nlohmann::json::parse(read_file(dir + "/out/summary.json"));
  CHECK(pj["requests"]["arrived"].get<std::size_t>() == pooled.size());
  fs::remove_all(dir);
}

TEST_CASE("pods with join-shortest-queue are conservative: never better than the pooled fleet", "[pods]") {
  // Small batches (4) near saturation, so that requests queue: JSQ over 12 replicas pools better than over 3.
  const std::string dir = temp_dir("pods-jsq");
  const auto pooled = run_requests(dir, scenario("join-shortest-queue", 16.0, 12, 600.0, 4), "");
  const auto podded = run_requests(dir, scenario("join-shortest-queue", 16.0, 12, 600.0, 4), " --set fleet.pods=4");
  REQUIRE(pooled.size() == podded.size());
  auto stats = [](const std::vector<Row>& rows) {
    std::vector<double> t;
    double mean = 0.0;
    for (const auto& r : rows) {
      t.push_back(r.ttft_s);
      mean += r.ttft_s;
    }
    std::sort(t.begin(), t.end());
    return std::pair<double, double>{mean / static_cast<double>(t.size()), t[t.size() * 99 / 100]};
  };
  const auto [mean_pooled, p99_pooled] = stats(pooled);
  const auto [mean_pods, p99_pods] = stats(podded);
  WARN("TTFT mean " << mean_pooled << " s pooled, " << mean_pods << " s in pods; p99 " << p99_pooled << " / "
                    << p99_pods);
  CHECK(mean_pods >= mean_pooled);
  CHECK(p99_pods >= p99_pooled);
  fs::remove_all(dir);
}

TEST_CASE("pods with sessions: every question served once, numbered in arrival order over the fleet", "[pods]") {
  const std::string dir = temp_dir("pods-sessions");
  const auto r = run_command(binary() + " run " + source_dir() +
                             "/tests/golden/sessions.toml -q --set fleet.replicas=6 --set fleet.pods=3 --out " + dir);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto rows = read_requests(dir + "/requests.csv");
  REQUIRE(rows.size() > 100);
  std::set<int> pods_used;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(rows[i].id == i);  // each question once, numbered 0, 1, 2, ...
    if (i > 0) CHECK(rows[i].arrival_s >= rows[i - 1].arrival_s);  // in arrival order
    CHECK(rows[i].replica >= 0);
    CHECK(rows[i].replica < 6);
    pods_used.insert(rows[i].replica / 2);
  }
  CHECK(pods_used.size() == 3);
  const auto j = nlohmann::json::parse(read_file(dir + "/summary.json"));
  CHECK(j["requests"]["unfinished"].get<std::size_t>() == 0);
  fs::remove_all(dir);
}

TEST_CASE("fleet.pods errors name the key and what is expected", "[pods]") {
  const std::string dir = temp_dir("pods-errors");
  write_file(dir + "/s.toml", scenario("random", 5.0, 10, 60.0));
  auto r = run_command(binary() + " run " + dir + "/s.toml -q --set fleet.pods=3");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Matchers::Contains("fleet.replicas") && Catch::Matchers::Contains("multiple of fleet.pods"));
  r = run_command(binary() + " run " + dir + "/s.toml -q --set fleet.pods=2 --set fleet.replicas_per_pod=4");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Matchers::Contains("2 x 4 = 8"));
  // size sizes pods (tests/test_pod_sizing.cpp), but not hour by hour.
  r = run_command(binary() + " size " + dir + "/s.toml --set fleet.pods=2 --per-hour --set slo.ttft_p99_s=1");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Matchers::Contains("--per-hour: not supported with fleet.pods = 2"));
  fs::remove_all(dir);
}
