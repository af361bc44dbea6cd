// End-to-end through the SimGrid engine (one simulation per process: ctest runs each test case alone).
// Queueing theory is the independent truth: with max_batch 1 a replica is a single server.
#include <catch2/catch.hpp>

#include <cmath>
#include <algorithm>
#include <numeric>

#include "cluster/cost_model.hpp"
#include "results/summary.hpp"
#include "sim/replica/replica_model.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"
#include "results/timeseries.hpp"
#include "helpers.hpp"
#include "queueing.hpp"

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

// Erlang C: tests/queueing.hpp.
using tf::test::erlang_c;

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

TEST_CASE("energy over the run and over the window equals the integral of the power time series", "[engine][energy]") {
  Scenario s = load_scenario_text(default_scenario_toml(), "default");
  s.duration_s = 300.0;
  s.warmup_s = 60.0;  // both whole windows, so that the rows of [warmup, duration) are the measurement window
  RunOptions o;
  o.timeseries_window_s = 20.0;
  const RunResult r = run_simulation(s, o);
  FleetFacts fleet;
  fleet.replicas = s.replicas;
  fleet.gpus_per_replica = s.tensor_parallel;
  fleet.idle_watts_per_gpu = s.gpu.idle_watts;
  const auto rows = build_timeseries(r.records, r.activity, fleet, r.totals.simulated_s);
  double total = 0.0, window = 0.0, busy_top = 0.0;
  for (const auto& row : rows) {
    const double len = row.end_s - row.start_s;
    total += row.power_w * len;
    if (row.start_s >= s.warmup_s && row.end_s <= s.duration_s) window += row.power_w * len;
    busy_top = std::max(busy_top, row.power_w);
  }
  INFO("Σ power_w × length " << total << " J, energy " << r.totals.energy_total_j << " J; in the window " << window
                             << " J, energy " << r.totals.energy_window_j << " J");
  CHECK(std::abs(total - r.totals.energy_total_j) <= 1e-9 * r.totals.energy_total_j);
  CHECK(std::abs(window - r.totals.energy_window_j) <= 1e-9 * r.totals.energy_window_j);
  // Busy GPUs draw more than idle ones and never more than TDP.
  const double gpus = s.replicas * s.tensor_parallel;
  CHECK(r.totals.energy_window_j > gpus * s.gpu.idle_watts * (s.duration_s - s.warmup_s));
  CHECK(busy_top <= gpus * s.gpu.busy_watts + 1e-9);
  const Summary sum = summarize(s.name, s.seed, r.records, s.warmup_s, r.totals, s.slo);
  CHECK(sum.energy_per_output_token_j == Approx(r.totals.energy_window_j / r.totals.served_output_tokens));
  CHECK(sum.mean_power_per_gpu_w == Approx(r.totals.energy_window_j / (gpus * (s.duration_s - s.warmup_s))));
  CHECK(sum.mean_power_per_gpu_w > s.gpu.idle_watts);
  CHECK(sum.mean_power_per_gpu_w < s.gpu.busy_watts);
}

TEST_CASE("the energy of one request by hand: a prefill iteration and a decode stretch at their power", "[engine][energy]") {
  // One request (600 prompt tokens, 40 output tokens) at t = 1 s on the first of two replicas of 2 x H100; the
  // second replica idles all along. Its prefill is one iteration of 600 tokens, then 39 decode iterations at batch 1.
  const std::string dir = tf::test::temp_dir("one-request");
  const std::string trace = dir + "/one.csv";
  tf::test::write_file(trace, "arrival_s,prompt_tokens,output_tokens\n1.0,600,40\n");
  const Scenario s = load_scenario_text(R"(
name = "one-request"
duration_s = 10
warmup_s = 0
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
tensor_parallel = 2
dtype = "fp16"
[fleet]
replicas = 2
[workload]
trace = { path = ")" + trace + R"(" }
[policy]
batching = "continuous"
router = "round-robin"
)", "one-request");
  const RunResult r = run_simulation(s);
  REQUIRE(r.records.size() == 1);
  const RequestRecord& rec = r.records[0];
  REQUIRE(rec.finished());
  // The cost model's step times, and the request's timeline agrees with them.
  const CostModel cost(s.model, s.gpu, s.dtype, s.tensor_parallel, s.cost);
  IterationShape prefill;
  prefill.prefill_tokens = 600;
  prefill.prefill_sequences = 1;
  prefill.prefill_attention_context = 600.0 * 601.0 / 2.0;
  const double t_prefill = cost.iteration_time_s(prefill);
  const double t_decode = cost.decode_stretch_s(1, 601, 39);
  CHECK(rec.admitted_s == 1.0);
  CHECK(rec.first_token_s - rec.admitted_s == Approx(t_prefill).epsilon(1e-12));
  CHECK(rec.finished_s - rec.first_token_s == Approx(t_decode).epsilon(1e-12));
  // Power by hand (cluster/power.hpp): H100 idles at 75 W of its 700 W; a decode at batch 1 draws 300 W; a prefill of
  // n > 128 tokens the batch-128 fraction 0.808 of (700 - 75) above idle, plus the rest up to TDP in proportion to
  // log2(n / 128) / log2(2048 / 128).
  const double idle = 75.0, range = 700.0 - 75.0;
  const double f128 = (580.0 - 75.0) / range;
  const double p_prefill = idle + range * (f128 + (1.0 - f128) * std::log2(600.0 / 128.0) / 4.0);
  const double p_decode = 300.0;
  const double gpus = 4.0, replica_gpus = 2.0;
  REQUIRE(r.totals.simulated_s == 10.0);
  const double expected = idle * gpus * 10.0 + replica_gpus * (p_prefill - idle) * t_prefill +
                          replica_gpus * (p_decode - idle) * t_decode;
  INFO("prefill " << t_prefill << " s at " << p_prefill << " W, decode " << t_decode << " s at " << p_decode
                  << " W: " << expected << " J; the run: " << r.totals.energy_total_j << " J");
  CHECK(r.totals.energy_total_j == Approx(expected).epsilon(1e-12));
  CHECK(r.totals.energy_window_j == Approx(expected).epsilon(1e-12));
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
