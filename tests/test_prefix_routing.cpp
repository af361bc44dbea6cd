// Prefix caching end to end (policy.prefix_cache; README, "Prefix caching"): on the Mooncake conversation trace with
// a cache larger than the trace, every request's cached tokens equal the trace's own reuse computed from its
// hash_ids; the prefix-aware router beats round-robin there on hit rate and TTFT; the outputs carry the figures only
// when it is on; the loader's checks. Each case is a process of its own (one simulation per process).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "sim/engine/engine.hpp"
#include "workloads/source.hpp"
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

// Sessions that carry the conversation, after a shared system prompt of 600 tokens, on two replicas.
std::string sessions_scenario() {
  return R"(
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
)";
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
  const std::string path = (dir / "sessions.toml").string();
  test::write_file(path, sessions_scenario());
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

TEST_CASE("prefix caching: closed-form decode stretches and --exact-iterations give the same requests",
          "[prefix][cli]") {
  const fs::path dir = fresh_dir("exact");
  const std::string path = (dir / "sessions.toml").string();
  test::write_file(path, sessions_scenario());
  std::vector<std::vector<std::string>> rows[2];
  for (int k = 0; k < 2; ++k) {
    const fs::path out = dir / (k == 0 ? "event" : "exact");
    const auto r = test::run_command(test::binary() + " run " + path + (k == 1 ? " --exact-iterations" : "") +
                                     " --set policy.prefix_cache=true --out " + out.string());
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    std::istringstream lines(test::read_file((out / "requests.csv").string()));
    std::string line;
    while (std::getline(lines, line)) {
      std::vector<std::string> cells;
      std::istringstream cs(line);
      for (std::string c; std::getline(cs, c, ',');) cells.push_back(c);
      rows[k].push_back(cells);
    }
  }
  REQUIRE(rows[0].size() == rows[1].size());
  REQUIRE(rows[0].size() > 100);
  std::int64_t cached = 0;
  double worst = 0.0;
  for (std::size_t i = 1; i < rows[0].size(); ++i) {
    INFO("row " << i);
    REQUIRE(rows[0][i].size() == rows[1][i].size());
    CHECK(rows[0][i].back() == rows[1][i].back());  // cached_tokens
    CHECK(rows[0][i][4] == rows[1][i][4]);          // replica
    cached += std::stoll(rows[0][i].back());
    worst = std::max(worst, std::abs(std::stod(rows[0][i][6]) - std::stod(rows[1][i][6])));  // ttft_s
  }
  CHECK(cached > 0);
  CHECK(worst < 1e-6);
  fs::remove_all(dir);
}

TEST_CASE("prefix caching: a session's questions carry the turn their conversation begins at", "[prefix][sessions]") {
  WorkloadSpec w;
  w.arrival.process = "poisson";
  w.arrival.rate_per_s = 0.2;
  w.session.enabled = true;
  w.session.questions.dist = "fixed";
  w.session.questions.value = 6;
  w.session.think_time_s.dist = "fixed";
  w.session.think_time_s.value = 1;
  w.prompt_tokens.dist = "fixed";
  w.prompt_tokens.value = 300;
  w.prompt_tokens.max = 1e6;
  w.output_tokens.dist = "fixed";
  w.output_tokens.value = 200;
  w.output_tokens.max = 1e6;
  w.context_window = 2000;  // turn 3 carries 500 + 500 + 300 = 1300 tokens; turn 4 would carry 1800 + 200: cut
  w.system_prompt_tokens = 100;
  auto src = make_workload_source(w, 5, 200.0);
  std::map<std::uint64_t, std::vector<Request>> by_session;
  drain_source(*src, 2.0, [&](const Request& r) { by_session[r.session].push_back(r); });
  REQUIRE(by_session.size() > 5);
  std::size_t whole = 0;  // visits not cut at the end of the arrivals
  for (const auto& [session, qs] : by_session) {
    INFO("session " << session);
    whole += qs.size() == 6 ? 1 : 0;
    if (qs.size() < 2) continue;
    for (const Request& q : qs) {
      CHECK(q.prompt_tokens <= 2000 - q.output_tokens);
      // The system prompt in front, once; the conversation so far until it no longer fits, then each question's
      // conversation begins at itself (cut to the window) and finds nothing of the one before.
      if (q.turn == 1) CHECK(q.prompt_tokens == 400);
      if (q.turn <= 3) CHECK(q.context_turn == 1);
      else CHECK(q.context_turn == q.turn);
    }
    CHECK(qs[1].prompt_tokens == 400 + 200 + 300);
  }
  CHECK(whole > 5);
  w.session.carry_context = false;
  auto plain = make_workload_source(w, 5, 200.0);
  drain_source(*plain, 2.0, [&](const Request& r) {
    CHECK(r.context_turn == 0);
    CHECK(r.prompt_tokens == 400);
  });
}
