// End-to-end through the SimGrid engine (one simulation per process: ctest runs each test case alone).
// Queueing theory is the independent truth: with max_batch 1 a replica is a single server.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <numeric>

#include "cluster/cost_model.hpp"
#include "results/summary.hpp"
#include "sim/replica/replica_model.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"

using namespace tf;

namespace {

// One server: requests of 1 prompt token and exponentially distributed answers; the service time is
// (answer tokens) x (one iteration), so service is (close to) exponential.
std::string single_server_scenario(int replicas, const std::string& router, double rate, double duration) {
  return R"(
name = "queueing"
seed = 11
duration_s = )" + std::to_string(duration) + R"(
warmup_s = 200
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
dtype = "fp16"
[fleet]
replicas = )" + std::to_string(replicas) + R"(
[workload]
arrival = { process = "poisson", rate_per_s = )" + std::to_string(rate) + R"( }
prompt_tokens = { dist = "fixed", value = 1 }
output_tokens = { dist = "exponential", mean = 40, max = 100000 }
[policy]
batching = "continuous"
max_batch = 1
router = ")" + router + R"("
)";
}

struct Measured {
  double mean_wait = 0.0;
  double mean_service = 0.0;
  double second_moment_service = 0.0;
  std::size_t n = 0;
};

Measured measure(const RunResult& r, double warmup) {
  Measured m;
  for (const auto& rec : r.records) {
    if (rec.arrival_s < warmup) continue;
    REQUIRE(rec.finished());
    const double service = rec.finished_s - rec.admitted_s;
    m.mean_wait += rec.queue_s();
    m.mean_service += service;
    m.second_moment_service += service * service;
    ++m.n;
  }
  m.mean_wait /= static_cast<double>(m.n);
  m.mean_service /= static_cast<double>(m.n);
  m.second_moment_service /= static_cast<double>(m.n);
  return m;
}

double erlang_c(int c, double offered_load) {
  // Probability of waiting in M/M/c with offered load a = lambda / mu (Erlang C).
  double sum = 0.0, term = 1.0;
  for (int k = 0; k < c; ++k) {
    if (k > 0) term *= offered_load / k;
    sum += term;
  }
  const double last = term * offered_load / c;  // a^c / c!
  const double rho = offered_load / c;
  return last / (1.0 - rho) / (sum + last / (1.0 - rho));
}

}  // namespace

TEST_CASE("M/M/1: max batch 1 and exponential answers give the M/M/1 mean queueing delay within 5 %",
          "[engine][queueing]") {
  // One iteration of Llama-3.1-8B at batch 1 on an H100 is about 9 ms, so a 40-token answer takes about
  // 0.37 s; 1.6 requests/s gives a utilization near 0.6.
  const double rate = 1.6;
  const Scenario s = load_scenario_text(single_server_scenario(1, "round-robin", rate, 150200), "mm1");
  const RunResult r = run_simulation(s);
  const Measured m = measure(r, s.warmup_s);
  const double mu = 1.0 / m.mean_service;
  const double rho = rate / mu;
  INFO("n = " << m.n << ", rho = " << rho << ", service mean " << m.mean_service);
  REQUIRE(rho > 0.5);
  REQUIRE(rho < 0.7);
  // The service time is exponential up to rounding answers to whole tokens: its squared coefficient of
  // variation is close to 1.
  const double scv = m.second_moment_service / (m.mean_service * m.mean_service) - 1.0;
  CHECK(scv == Approx(1.0).margin(0.05));
  const double mm1_wait = rho / (mu - rate);
  INFO("simulated mean wait " << m.mean_wait << " s, M/M/1 " << mm1_wait << " s");
  CHECK(std::abs(m.mean_wait / mm1_wait - 1.0) < 0.05);
}

TEST_CASE("M/M/c: the central queue with 4 replicas gives the Erlang C mean queueing delay within 5 %",
          "[engine][queueing]") {
  const int c = 4;
  const double rate = 7.0;
  const Scenario s = load_scenario_text(single_server_scenario(c, "central-queue", rate, 40200), "mmc");
  const RunResult r = run_simulation(s);
  const Measured m = measure(r, s.warmup_s);
  const double mu = 1.0 / m.mean_service;
  const double a = rate / mu;
  INFO("n = " << m.n << ", utilization = " << a / c);
  REQUIRE(a / c > 0.6);
  REQUIRE(a / c < 0.8);
  const double erlang_wait = erlang_c(c, a) / (c * mu - rate);
  INFO("simulated mean wait " << m.mean_wait << " s, Erlang C " << erlang_wait << " s");
  CHECK(std::abs(m.mean_wait / erlang_wait - 1.0) < 0.05);
}

TEST_CASE("round-robin over 4 replicas waits longer than the central queue at the same load", "[engine][queueing]") {
  // Round-robin splits a Poisson stream into 4 Erlang-4 streams, each an E4/M/1 queue: its waits lie
  // between the central queue's (M/M/4) and an M/M/1's at the same utilization.
  const double rate = 7.0;
  const Scenario s = load_scenario_text(single_server_scenario(4, "round-robin", rate, 40200), "rr");
  const RunResult r = run_simulation(s);
  const Measured m = measure(r, s.warmup_s);
  const double mu = 1.0 / m.mean_service;
  const double rho = rate / (4 * mu);
  const double mm1_wait = rho / (mu - rate / 4);
  const double mm4_wait = erlang_c(4, rate / mu) / (4 * mu - rate);
  INFO("round-robin " << m.mean_wait << ", M/M/4 " << mm4_wait << ", M/M/1 " << mm1_wait);
  CHECK(m.mean_wait > mm4_wait);
  CHECK(m.mean_wait < mm1_wait);
}

TEST_CASE("every request that arrives finishes - and the summary adds up", "[engine]") {
  const Scenario s = load_scenario_text(default_scenario_toml(), "default");
  const RunResult r = run_simulation(s);
  REQUIRE(!r.records.empty());
  for (std::size_t i = 0; i < r.records.size(); ++i) {
    const auto& rec = r.records[i];
    REQUIRE(rec.id == i);
    REQUIRE(rec.finished());
    REQUIRE(rec.arrival_s <= rec.admitted_s);
    REQUIRE(rec.admitted_s < rec.first_token_s);
    REQUIRE(rec.first_token_s <= rec.finished_s);
    REQUIRE(rec.replica >= 0);
    REQUIRE(rec.replica < s.replicas);
  }
  const Summary sum = summarize(s.name, s.seed, r.records, s.warmup_s, r.totals, s.slo);
  CHECK(sum.requests_unfinished == 0);
  CHECK(sum.mfu > 0.0);
  CHECK(sum.mfu < 1.0);
  CHECK(sum.busy_fraction > 0.0);
  CHECK(sum.busy_fraction <= 1.0);
  CHECK(sum.mean_batch_size >= 1.0);
  // Below capacity the fleet serves what is offered: output tokens produced in the window against the arrival
  // rate x the mean answer (250 tokens).
  CHECK(sum.offered_output_tokens_per_s == Approx(s.workload.arrival.rate_per_s * 250.0).epsilon(0.1));
  CHECK(sum.output_tokens_per_s == Approx(sum.offered_output_tokens_per_s).epsilon(0.05));
  CHECK(sum.requests_per_s == Approx(sum.offered_requests_per_s).epsilon(0.05));
}

TEST_CASE("an overloaded fleet serves less than is offered and its throughput says so", "[engine]") {
  Scenario s = load_scenario_text(default_scenario_toml(), "default");
  s.duration_s = 60;
  s.warmup_s = 10;
  s.workload.arrival.rate_per_s = 200;
  s.replicas = 2;
  const RunResult r = run_simulation(s);
  const Summary sum = summarize(s.name, s.seed, r.records, s.warmup_s, r.totals, s.slo);
  CHECK(sum.requests_unfinished == 0);  // the run drains
  CHECK(sum.output_tokens_per_s < 0.5 * sum.offered_output_tokens_per_s);
  CHECK(sum.requests_per_s < 0.5 * sum.offered_requests_per_s);
  // What was served cannot exceed what two saturated replicas can produce.
  const CostModel cost(s.model, s.gpu, s.dtype, s.tensor_parallel, s.cost);
  CHECK(sum.output_tokens_per_s <= 2 * 1.2 * saturated_output_tokens_per_s(cost, ContinuousBatching(s.limits), 1000, 250, 1024));
}

TEST_CASE("the host energy plugin's energy matches idle and busy power over idle and busy time", "[engine][energy]") {
  Scenario s = load_scenario_text(default_scenario_toml(), "default");
  s.warmup_s = 0.0;
  const RunResult r = run_simulation(s);
  const double gpus = s.replicas * s.tensor_parallel;
  const double busy_gpu_s = r.totals.busy_replica_s * s.tensor_parallel;
  const double expected = s.gpu.idle_watts * gpus * s.duration_s + (s.gpu.busy_watts - s.gpu.idle_watts) * busy_gpu_s;
  INFO("plugin " << r.totals.energy_window_j << " J, by hand " << expected << " J");
  CHECK(r.totals.energy_window_j == Approx(expected).epsilon(0.01));
  CHECK(r.totals.energy_total_j >= r.totals.energy_window_j);
}

// Energy from the replicas' steps, with the flat busy power the plugin assumes, against the plugin's own totals on a
// golden scenario (one simulation per process: one test case per scenario).
static void check_steps_energy_against_plugin(const char* name) {
  const Scenario s = load_scenario_file(std::string(TF_SOURCE_DIR) + "/tests/golden/" + name + ".toml");
  const RunResult r = run_simulation(s);
  const RunTotals& t = r.totals;
  const double window_rel = std::abs(t.analytic_energy_window_j - t.energy_window_j) / t.energy_window_j;
  const double total_rel = std::abs(t.analytic_energy_total_j - t.energy_total_j) / t.energy_total_j;
  INFO(name << ": window plugin " << t.energy_window_j << " J, steps " << t.analytic_energy_window_j
            << " J (relative " << window_rel << "); total plugin " << t.energy_total_j << " J, steps "
            << t.analytic_energy_total_j << " J (relative " << total_rel << ")");
  std::printf("%s: window relative difference %.3g, total %.3g\n", name, window_rel, total_rel);
  CHECK(window_rel < 1e-9);
  CHECK(total_rel < 1e-9);
}

TEST_CASE("energy from the steps (flat busy power) equals the plugin's: golden colocated", "[engine][energy]") {
  check_steps_energy_against_plugin("colocated");
}
TEST_CASE("energy from the steps (flat busy power) equals the plugin's: golden disaggregated", "[engine][energy]") {
  check_steps_energy_against_plugin("disaggregated");
}
TEST_CASE("energy from the steps (flat busy power) equals the plugin's: golden paged", "[engine][energy]") {
  check_steps_energy_against_plugin("paged");
}
TEST_CASE("energy from the steps (flat busy power) equals the plugin's: golden sessions", "[engine][energy]") {
  check_steps_energy_against_plugin("sessions");
}
TEST_CASE("energy from the steps (flat busy power) equals the plugin's: golden swap", "[engine][energy]") {
  check_steps_energy_against_plugin("swap");
}

TEST_CASE("a model that does not fit its replica is refused with a clear message", "[engine][errors]") {
  Scenario s = load_scenario_text(default_scenario_toml(), "default");
  s.model = *find_model("llama-3.1-405b");
  try {
    run_simulation(s);
    FAIL("expected SimulationError");
  } catch (const SimulationError& e) {
    CHECK_THAT(e.what(), Catch::Matchers::Contains("llama-3.1-405b") && Catch::Matchers::Contains("tensor_parallel"));
  }
}

TEST_CASE("a request longer than the KV capacity stops the run with a clear message", "[engine][errors]") {
  Scenario s = load_scenario_text(default_scenario_toml(), "default");
  s.model = *find_model("llama-3.1-70b");
  s.tensor_parallel = 1;  // 72 GB usable - 70.6 GB of FP8 weights: about 8,500 tokens of KV cache
  s.dtype = Dtype::fp8;
  s.workload.prompt_tokens = DistributionSpec{};
  s.workload.prompt_tokens.dist = "fixed";
  s.workload.prompt_tokens.value = 20000;
  s.workload.prompt_tokens.max = 200000;
  try {
    run_simulation(s);
    FAIL("expected SimulationError");
  } catch (const SimulationError& e) {
    CHECK_THAT(e.what(), Catch::Matchers::Contains("KV cache") && Catch::Matchers::Contains("request 0"));
  }
}
