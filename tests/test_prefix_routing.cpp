// Prefix caching end to end (policy.prefix_cache; README, "Prefix caching"): on the Mooncake conversation trace with
// a cache larger than the trace, every request's cached tokens equal the trace's own reuse computed from its
// hash_ids; the prefix-aware router beats round-robin there on hit rate and TTFT; the outputs carry the figures only
// when it is on; the loader's checks. Each case is a process of its own (one simulation per process).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"
#include "tests/helpers.hpp"

using namespace tf;
namespace fs = std::filesystem;

namespace {

const std::string kTrace = test::data_dir() + "/traces/mooncake-conversation.jsonl";

// One replica whose KV capacity (20 TB of HBM: about 1.5e8 tokens) holds every block of the trace (170,899 whole
// blocks of 512 tokens, 8.7e7 tokens) besides what runs.
std::string unbounded_scenario() {
  return R"(
name = "mooncake-prefix-unbounded"
warmup_s = 0
[model]
name = "llama-3.1-8b"
[hardware]
gpu = { name = "h100-sxm", hbm_gb = 20000 }
[fleet]
replicas = 1
[workload]
trace = { path = ")" + kTrace + R"(", format = "mooncake", speed = 0.5 }
[policy]
kv_cache = "paged"
kv_block_tokens = 512
prefix_cache = true
)";
}

// Eight H100s serving the trace as recorded, with prefix caching in their free KV capacity.
std::string fleet_scenario(const std::string& dir) {
  const std::string path = dir + "/fleet.toml";
  test::write_file(path, R"(
name = "mooncake-prefix-fleet"
warmup_s = 300
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[fleet]
replicas = 8
[workload]
trace = { path = ")" + kTrace + R"(", format = "mooncake" }
[policy]
kv_cache = "paged"
kv_block_tokens = 512
prefix_cache = true
)");
  return path;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("tf-prefix-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

nlohmann::json summary_of(const fs::path& out) {
  return nlohmann::json::parse(test::read_file((out / "summary.json").string()));
}

}  // namespace

TEST_CASE("prefix caching: with a cache larger than the Mooncake trace each request hits the trace's own reuse",
          "[prefix][mooncake][engine]") {
  const Scenario s = load_scenario_text(unbounded_scenario(), "unbounded.toml");
  const RunResult run = run_simulation(s);
  // The trace's reuse, from its hash_ids alone: a request's leading whole blocks that an earlier request had.
  std::ifstream in(kTrace);
  std::string line;
  std::set<std::int64_t> seen;
  std::vector<std::int64_t> expected;
  std::int64_t looked = 0, reused = 0, prompt = 0, reused_tokens = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    const auto ids = j["hash_ids"].get<std::vector<std::int64_t>>();
    const auto p = j["input_length"].get<std::int64_t>();
    const auto whole = std::min<std::size_t>(ids.size(), static_cast<std::size_t>(p / 512));
    std::size_t h = 0;
    while (h < whole && seen.count(ids[h])) ++h;
    seen.insert(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(whole));
    expected.push_back(std::min<std::int64_t>(static_cast<std::int64_t>(h) * 512, p - 1));
    looked += static_cast<std::int64_t>(whole);
    reused += static_cast<std::int64_t>(h);
    prompt += p;
    reused_tokens += expected.back();
  }
  REQUIRE(run.records.size() == expected.size());
  std::size_t differ = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) differ += run.records[i].cached_tokens != expected[i] ? 1 : 0;
  CHECK(differ == 0);
  const RunTotals& t = run.totals;
  CHECK(t.prefix_cache);
  CHECK(t.prefix_lookup_blocks == looked);
  CHECK(t.prefix_hit_blocks == reused);
  CHECK(t.prefix_prompt_tokens == prompt);
  CHECK(t.prefix_hit_tokens == reused_tokens);
  CHECK(t.prefix_saved_tokens == reused_tokens);  // nothing preempted: each request admitted once
  CHECK(t.preemptions == 0);
  // The figures README quotes.
  CHECK(static_cast<double>(reused) / static_cast<double>(looked) == Approx(0.3819).margin(1e-4));
  CHECK(static_cast<double>(reused_tokens) / static_cast<double>(prompt) == Approx(0.3734).margin(1e-4));
}

TEST_CASE("prefix caching: the prefix-aware router beats round-robin on hit rate and TTFT on the Mooncake trace",
          "[prefix][mooncake][router][cli]") {
  const fs::path dir = fresh_dir("routers");
  const std::string scenario = fleet_scenario(dir.string());
  nlohmann::json by_router[2];
  const char* routers[2] = {"round-robin", "prefix-aware"};
  for (int k = 0; k < 2; ++k) {
    const fs::path out = dir / routers[k];
    const auto r = test::run_command(test::binary() + " run " + scenario + " --set policy.router=" + routers[k] +
                                     " --out " + out.string());
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    by_router[k] = summary_of(out);
  }
  const auto& rr = by_router[0];
  const auto& pa = by_router[1];
  // Measured: 12.8 % of the prompt tokens against 6.0 % (each replica's cache holds what its running requests leave
  // of about 830 blocks: a tenth of what this trace needs for most of its reuse).
  CHECK(pa["prefix_cache"]["token_hit_rate"].get<double>() > 1.5 * rr["prefix_cache"]["token_hit_rate"].get<double>());
  CHECK(pa["prefix_cache"]["prefill_tokens_saved"].get<double>() > rr["prefix_cache"]["prefill_tokens_saved"].get<double>());
  CHECK(pa["latency_s"]["ttft"]["p50"].get<double>() < rr["latency_s"]["ttft"]["p50"].get<double>());
  CHECK(pa["latency_s"]["ttft"]["p99"].get<double>() < rr["latency_s"]["ttft"]["p99"].get<double>());
  CHECK(pa["latency_s"]["ttft"]["mean"].get<double>() < rr["latency_s"]["ttft"]["mean"].get<double>());
  // Round-robin spreads a conversation over the fleet: it finds about what one replica in eight holds of it, and
  // the first block, which every request of the trace shares, everywhere. Well under the trace's own 37 %.
  CHECK(rr["prefix_cache"]["token_hit_rate"].get<double>() < 0.2);
  fs::remove_all(dir);
}

TEST_CASE("prefix caching: requests.csv's cached_tokens add up to summary.json's figures, and only when it is on",
          "[prefix][cli]") {
  const fs::path dir = fresh_dir("outputs");
  // Sessions that carry the conversation, after a shared system prompt of 600 tokens.
  const std::string path = (dir / "sessions.toml").string();
  test::write_file(path, R"(
name = "sessions-prefix"
duration_s = 300
warmup_s = 0
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[fleet]
replicas = 2
[workload]
arrival = { process = "poisson", rate_per_s = 0.5 }
prompt_tokens = { dist = "uniform", low = 50, high = 300 }
output_tokens = { dist = "uniform", low = 20, high = 200 }
session = { questions = 4, think_time_s = 5 }
system_prompt_tokens = 600
[policy]
kv_cache = "paged"
router = "prefix-aware"
)");
  const fs::path on = dir / "on", off = dir / "off";
  auto r = test::run_command(test::binary() + " run " + path + " --set policy.prefix_cache=true --out " + on.string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  r = test::run_command(test::binary() + " run " + path + " --out " + off.string());
  REQUIRE(r.exit_code == 0);
  const auto s_on = summary_of(on), s_off = summary_of(off);
  CHECK_FALSE(s_off.contains("prefix_cache"));
  REQUIRE(s_on.contains("prefix_cache"));
  const std::string csv_on = test::read_file((on / "requests.csv").string());
  const std::string csv_off = test::read_file((off / "requests.csv").string());
  CHECK(csv_off.substr(0, csv_off.find('\n')).find("cached_tokens") == std::string::npos);
  REQUIRE(csv_on.substr(0, csv_on.find('\n')).size() > 14);
  CHECK(csv_on.substr(csv_on.find('\n') - 14, 14) == ",cached_tokens");
  // The last column summed, and the prompts: every request is measured (no warm-up) and admitted once here.
  std::int64_t cached = 0, prompts = 0, rows = 0;
  std::istringstream lines(csv_on);
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    cached += std::stoll(line.substr(line.rfind(',') + 1));
    prompts += std::stoll(line.substr(line.find(',', line.find(',') + 1) + 1));
    ++rows;
  }
  const auto& pc = s_on["prefix_cache"];
  CHECK(rows > 100);
  CHECK(pc["hit_tokens"].get<std::int64_t>() == cached);
  CHECK(pc["prompt_tokens"].get<std::int64_t>() == prompts);
  CHECK(pc["token_hit_rate"].get<double>() == Approx(static_cast<double>(cached) / static_cast<double>(prompts)));
  // Every question finds at least the system prompt (37 whole blocks of 16 tokens) after the first one; follow-ups
  // find the conversation too, so more than the system prompt's share of the tokens hits.
  CHECK(cached >= (rows - 2) * 592);
  CHECK(pc["token_hit_rate"].get<double>() > 0.6);
  // The cache only takes prefill work away: the same requests, each first token no later on average.
  CHECK(s_on["latency_s"]["ttft"]["mean"].get<double>() < s_off["latency_s"]["ttft"]["mean"].get<double>());
  fs::remove_all(dir);
}

TEST_CASE("prefix caching: the loader refuses it without a paged cache and the settings that cannot work",
          "[prefix][scenario]") {
  const std::string base = R"(
[model]
name = "llama-3.1-8b"
[workload]
trace = { path = ")" + kTrace + R"(", format = "mooncake" }
)";
  auto error_of = [&](const std::string& extra) {
    try {
      load_scenario_text(base + extra, "t.toml");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of("[policy]\nprefix_cache = true\n"),
             Catch::Contains("policy.prefix_cache") && Catch::Contains("needs policy.kv_cache = \"paged\""));
  CHECK_THAT(error_of("[policy]\nkv_cache = \"paged\"\nkv_block_tokens = 24\nprefix_cache = true\n"),
             Catch::Contains("policy.kv_block_tokens") && Catch::Contains("does not divide 512"));
  CHECK(error_of("[policy]\nkv_cache = \"paged\"\nkv_block_tokens = 32\nprefix_cache = true\n") == "no error");
  const std::string with_system = R"(
[model]
name = "llama-3.1-8b"
[workload]
system_prompt_tokens = 100
trace = { path = ")" + kTrace + R"(", format = "mooncake" }
)";
  try {
    load_scenario_text(with_system, "t.toml");
    FAIL("loaded");
  } catch (const std::exception& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("workload.system_prompt_tokens") && Catch::Contains("mooncake"));
  }
}
