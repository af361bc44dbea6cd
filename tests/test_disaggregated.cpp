// Disaggregated serving: prefill and decode pools, the KV cache moving between them over the SimGrid network.
// The independent truth is a hand calculation of each transfer: the route's latency plus the bytes over its
// narrowest link, shared fairly between the transfers that use it at the same time.
// One simulation per process: ctest runs each test case alone.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "cluster/catalog.hpp"
#include "cluster/cost_model.hpp"
#include "helpers.hpp"
#include "results/summary.hpp"
#include "sim/study/child_process.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"

using namespace tf;
using namespace tf::test;

namespace {

// Llama-3.1-8B in FP16: KV bytes per token = 2 (K, V) x 32 layers x 8 KV heads x 128 x 2 bytes.
constexpr double kKvBytesPerToken = 2.0 * 32 * 8 * 128 * 2;  // 131,072

// Four replicas of 4 x H100, 8 GPUs per node: replicas 0 and 1 (the prefill pool) fill node 0, replicas 2 and 3
// (the decode pool) node 1, so every KV cache crosses both nodes' links to the core switch. The requests come
// from a CSV trace: `rows` is its text (arrival_s,prompt_tokens,output_tokens).
Scenario two_node_scenario(const std::string& rows, double network_gbps, const std::string& extra = "") {
  const std::string dir = temp_dir("disagg");
  write_file(dir + "/trace.csv", rows);
  return load_scenario_text(R"(
name = "disaggregated"
seed = 3
duration_s = 100
warmup_s = 0
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
dtype = "fp16"
tensor_parallel = 4
gpus_per_node = 8
network_gbps = )" + std::to_string(network_gbps) + R"(
network_latency_us = 5
[fleet]
replicas = 4
[workload]
trace = { path = ")" + dir + R"(/trace.csv", format = "csv" }
[policy]
batching = "disaggregated"
prefill_replicas = 2
router = "round-robin"
)" + extra,
                            "disaggregated");
}

// A lone transfer between the nodes: 2 NVLink hops (1 us each) and 2 network hops (5 us each); the 4 GPUs' shares
// travel side by side and together fill the node's link.
double lone_transfer_s(double prompt_tokens, double network_gbps) {
  return 2 * 1e-6 + 2 * 5e-6 + prompt_tokens * kKvBytesPerToken / (network_gbps * 1e9 / 8.0);
}

}  // namespace

TEST_CASE("a lone KV transfer takes the route latency plus its bytes over the narrowest link", "[disaggregated]") {
  REQUIRE(find_model("llama-3.1-8b")->kv_bytes_per_token(Dtype::fp16) == kKvBytesPerToken);
  // Requests 10 s apart: each transfer has the network to itself.
  const Scenario s = two_node_scenario("0.5,2000,20\n10.5,4000,20\n20.5,500,20\n", 400.0);
  const RunResult r = run_simulation(s);
  REQUIRE(r.records.size() == 3);
  const CostModel cost(s.model, s.gpu, s.dtype, s.tensor_parallel, s.cost);
  for (const auto& rec : r.records) {
    INFO("request " << rec.id);
    REQUIRE(rec.finished());
    CHECK(rec.prefill_replica >= 0);
    CHECK(rec.prefill_replica <= 1);
    CHECK(rec.replica >= 2);
    const double expected = lone_transfer_s(static_cast<double>(rec.prompt_tokens), 400.0);
    CHECK(rec.kv_transfer_s == Approx(expected).epsilon(1e-6));
    // The time to first token is the prefill iteration (alone on its replica) plus the transfer.
    IterationShape prefill;
    prefill.prefill_tokens = rec.prompt_tokens;
    prefill.prefill_sequences = 1;
    prefill.prefill_attention_context = rec.prompt_tokens * (rec.prompt_tokens + 1.0) / 2.0;
    CHECK(rec.ttft_s() == Approx(cost.iteration_time_s(prefill) + expected).epsilon(1e-6));
  }
  CHECK(r.totals.kv_transfers == 3);
  CHECK(r.totals.kv_transfer_bytes == Approx((2000 + 4000 + 500) * kKvBytesPerToken));
}

TEST_CASE("KV transfer time grows as link bandwidth shrinks", "[disaggregated]") {
  // One simulation per bandwidth, each in a child process (one SimGrid engine per process); each child returns
  // its transfer times, and a busy stretch's mean transfer time as well, where transfers overlap.
  std::string rows = "0.5,3000,20\n10.5,3000,20\n";
  for (int i = 0; i < 200; ++i) rows += std::to_string(20.0 + 0.02 * i) + ",2500,50\n";
  const std::vector<double> bandwidths{3200.0, 800.0, 200.0, 50.0};
  std::vector<std::function<std::string()>> tasks;
  for (double gbps : bandwidths)
    tasks.push_back([rows, gbps] {
      const RunResult r = run_simulation(two_node_scenario(rows, gbps));
      double busy_mean = 0.0;
      for (std::size_t i = 2; i < r.records.size(); ++i) busy_mean += r.records[i].kv_transfer_s;
      busy_mean /= static_cast<double>(r.records.size() - 2);
      return fmt::format("{:.17g} {:.17g} {:.17g}", r.records[0].kv_transfer_s, r.records[1].kv_transfer_s, busy_mean);
    });
  const auto results = run_in_children(tasks, 2);
  double previous_lone = 0.0, previous_busy = 0.0;
  for (std::size_t k = 0; k < bandwidths.size(); ++k) {
    INFO(bandwidths[k] << " Gb/s: " << results[k].error);
    REQUIRE(results[k].ok);
    std::istringstream in(results[k].output);
    double a = 0.0, b = 0.0, busy = 0.0;
    in >> a >> b >> busy;
    CHECK(a == Approx(lone_transfer_s(3000, bandwidths[k])).epsilon(1e-6));
    CHECK(b == Approx(lone_transfer_s(3000, bandwidths[k])).epsilon(1e-6));
    CHECK(a > previous_lone);
    // Under load transfers overlap and queue for the link: at least the lone time, and longer the thinner the link.
    CHECK(busy >= lone_transfer_s(2500, bandwidths[k]) * (1 - 1e-9));
    CHECK(busy > previous_busy);
    previous_lone = a;
    previous_busy = busy;
  }
}

TEST_CASE("KV transfers that share a link slow each other down", "[disaggregated]") {
  // Two identical requests at once: one per prefill replica, prefilled side by side, and their caches leave node 0
  // together over its one link: each gets half of it. A third, alone, 10 s later takes the lone time.
  const Scenario s = two_node_scenario("0.5,3000,20\n0.5,3000,20\n10.5,3000,20\n", 400.0);
  const RunResult r = run_simulation(s);
  REQUIRE(r.records.size() == 3);
  const double bytes_s = 3000 * kKvBytesPerToken / 50e9;
  CHECK(r.records[0].prefill_replica != r.records[1].prefill_replica);
  CHECK(r.records[0].kv_transfer_s == Approx(12e-6 + 2 * bytes_s).epsilon(1e-6));
  CHECK(r.records[1].kv_transfer_s == Approx(12e-6 + 2 * bytes_s).epsilon(1e-6));
  CHECK(r.records[2].kv_transfer_s == Approx(12e-6 + bytes_s).epsilon(1e-6));
}

TEST_CASE("within a node the KV cache moves over NVLink", "[disaggregated]") {
  // Two replicas of 4 GPUs share node 0: each GPU sends its quarter over its own NVLink port (900 GB/s).
  const Scenario s = two_node_scenario("0.5,4000,20\n", 400.0, "");
  Scenario one_node = s;
  one_node.replicas = 2;  // prefill share 2/4: one prefill and one decode replica
  const RunResult r = run_simulation(one_node);
  REQUIRE(r.records.size() == 1);
  CHECK(r.records[0].prefill_replica == 0);
  CHECK(r.records[0].replica == 1);
  CHECK(r.records[0].kv_transfer_s == Approx(2e-6 + 4000 * kKvBytesPerToken / 4 / 900e9).epsilon(1e-6));
}

TEST_CASE("disaggregated serving drains a busy workload and decodes only on the decode pool", "[disaggregated]") {
  std::string rows;
  for (int i = 0; i < 400; ++i)
    rows += std::to_string(0.05 * i) + "," + std::to_string(200 + (i * 997) % 3000) + "," +
            std::to_string(1 + (i * 31) % 300) + "\n";
  const Scenario s = two_node_scenario(rows, 400.0);
  const RunResult r = run_simulation(s);
  REQUIRE(r.records.size() == 400);
  std::int64_t transfers = 0;
  for (const auto& rec : r.records) {
    INFO("request " << rec.id);
    REQUIRE(rec.finished());
    CHECK(rec.first_token_s >= rec.admitted_s);
    CHECK(rec.finished_s >= rec.first_token_s);
    if (rec.output_tokens == 1) {  // the answer is the first token: nothing to move, done on the prefill pool
      CHECK(rec.replica <= 1);
      CHECK(rec.kv_transfer_s < 0.0);
      continue;
    }
    ++transfers;
    CHECK(rec.replica >= 2);
    CHECK(rec.prefill_replica <= 1);
    CHECK(rec.kv_transfer_s >= lone_transfer_s(static_cast<double>(rec.prompt_tokens), 400.0) * (1 - 1e-9));
    CHECK(rec.ttft_s() > rec.kv_transfer_s);
  }
  CHECK(r.totals.kv_transfers == transfers);
  const Summary sum = summarize(s.name, s.seed, r.records, s.warmup_s, r.totals, s.slo);
  CHECK(sum.kv_transfer.count == static_cast<std::size_t>(transfers));
  const auto j = to_json(sum);
  CHECK(j["kv_transfers"]["count"] == transfers);
  CHECK(j["latency_s"]["kv_transfer"]["count"] == transfers);
}

TEST_CASE("KV caches move only when the decode replica has room and wait on the prefill replica until then",
          "[disaggregated]") {
  // Llama-3.1-70B in FP8 on one H100 per replica: about 8,500 tokens of KV each. One prefill replica feeds three
  // decode replicas faster than they can hold the answers, so moves wait for room and the prefill replica keeps
  // their KV meanwhile. With whole-answer reservations the KV a request holds is known exactly from its record:
  // on its decode replica prompt + output tokens from its first token (the move's end) to its finish; on its
  // prefill replica prompt + 1 from its admission to the move's end.
  std::string rows;
  for (int i = 0; i < 300; ++i)
    rows += std::to_string(0.25 * i) + "," + std::to_string(200 + (i * 577) % 2300) + "," +
            std::to_string(50 + (i * 131) % 1450) + "\n";
  const std::string dir = temp_dir("disagg-room");
  write_file(dir + "/trace.csv", rows);
  const Scenario s = load_scenario_text(R"(
name = "room"
duration_s = 100
warmup_s = 0
[model]
name = "llama-3.1-70b"
[hardware]
gpu = "h100-sxm"
dtype = "fp8"
[fleet]
replicas = 4
[workload]
trace = { path = ")" + dir + R"(/trace.csv", format = "csv" }
[policy]
batching = "disaggregated"
prefill_replicas = 1
decode_router = "least-kv"
)",
                                        "room");
  const CostModel cost(s.model, s.gpu, s.dtype, s.tensor_parallel, s.cost);
  const std::int64_t capacity = cost.kv_capacity_tokens();
  REQUIRE(capacity < 9000);
  const RunResult r = run_simulation(s);
  REQUIRE(r.records.size() == 300);
  // Sweep each replica's holdings over time: +tokens at the start of a holding, -tokens at its end.
  std::map<int, std::vector<std::pair<double, std::int64_t>>> events;
  double waited = 0.0;
  for (const auto& rec : r.records) {
    REQUIRE(rec.finished());
    REQUIRE(rec.prefill_replica == 0);
    events[rec.replica].push_back({rec.first_token_s, rec.prompt_tokens + rec.output_tokens});
    events[rec.replica].push_back({rec.finished_s, -(rec.prompt_tokens + rec.output_tokens)});
    events[0].push_back({rec.admitted_s, rec.prompt_tokens + 1});
    events[0].push_back({rec.first_token_s, -(rec.prompt_tokens + 1)});
    // The time to first token covers the prefill, any wait for room and the move.
    waited = std::max(waited, rec.ttft_s() - rec.queue_s() - rec.kv_transfer_s);
  }
  for (auto& [replica, ev] : events) {
    std::sort(ev.begin(), ev.end());  // at equal times the releases (negative) come first
    std::int64_t held = 0, peak = 0;
    for (const auto& [t, d] : ev) peak = std::max(peak, held += d);
    INFO("replica " << replica << " peak " << peak << " of " << capacity);
    CHECK(peak <= capacity);
    CHECK(held == 0);
  }
  CHECK(waited > 1.0);  // some KV caches waited for room (the prefill itself takes well under a second)
}

TEST_CASE("a KV transfer under way when arrivals end runs to its end", "[disaggregated]") {
  // The last request arrives 0.1 s before duration_s on a thin link (10 Gb/s): its move is still under way when
  // arrivals end, and must take its whole time (ending the arrivals once cut it short).
  const Scenario s = two_node_scenario("99.9,3000,20\n", 10.0);
  const RunResult r = run_simulation(s);
  REQUIRE(r.records.size() == 1);
  REQUIRE(r.records[0].finished());
  CHECK(r.records[0].first_token_s > s.duration_s);
  CHECK(r.records[0].kv_transfer_s == Approx(lone_transfer_s(3000, 10.0)).epsilon(1e-6));
}
