// [failures] end to end, through the binary: an injected failure at a known time retries exactly the requests then
// running on that replica (the truth: the same run without the failure, identical up to it), for every router,
// with the routers' indexes checked against a scan (TOKENFLEET_ROUTER_LOADS=check); the failed replica takes no work
// while down; every request that arrives ends, served or counted as failed; a whole fleet down parks its arrivals;
// a [failures] table that never fails changes nothing but the retries column.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.hpp"

using namespace tf;
using namespace tf::test;

namespace {

std::string scenario_text(int replicas, const std::string& failures) {
  return R"(
name = "failures"
seed = 3
duration_s = 150
warmup_s = 10
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
dtype = "fp16"
[fleet]
replicas = )" + std::to_string(replicas) + R"(
[workload]
arrival = { process = "poisson", rate_per_s = 12.0 }
prompt_tokens = { dist = "lognormal", mean = 800, p99 = 4000 }
output_tokens = { dist = "lognormal", mean = 300, p99 = 1500 }
[policy]
max_batch = 64
[slo]
ttft_p99_s = 2.0
tpot_p99_s = 0.2
)" + failures;
}

struct Row {
  std::uint64_t id = 0;
  double arrival = 0.0;
  int replica = -1;
  double admitted = -1.0, finished = -1.0;
  bool rejected = false;
  int retries = 0;
};

struct Run {
  std::map<std::uint64_t, Row> rows;
  nlohmann::json summary;
  std::string requests_csv;
};

Run run(const std::string& dir, const std::string& text, const std::string& sets, const std::string& env = "") {
  write_file(dir + "/s.toml", text);
  const auto r = run_command(env + " " + binary() + " run " + dir + "/s.toml --out " + dir + "/out " + sets);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  Run out;
  out.requests_csv = read_file(dir + "/out/requests.csv");
  out.summary = nlohmann::json::parse(read_file(dir + "/out/summary.json"));
  const auto cells = parse_csv(out.requests_csv);
  REQUIRE(cells.size() > 1);
  const auto& head = cells.front();
  auto col = [&](const std::string& name) {
    for (std::size_t i = 0; i < head.size(); ++i)
      if (head[i] == name) return static_cast<int>(i);
    return -1;
  };
  const int retries = col("retries");
  for (std::size_t i = 1; i < cells.size(); ++i) {
    const auto& c = cells[i];
    Row row;
    row.id = std::stoull(c[0]);
    row.arrival = std::stod(c[1]);
    row.replica = std::stoi(c[4]);
    if (!c[5].empty()) row.admitted = row.arrival + std::stod(c[5]);
    if (!c[8].empty()) row.finished = row.arrival + std::stod(c[8]);
    row.rejected = c[9] == "1";
    if (retries >= 0) row.retries = std::stoi(c[static_cast<std::size_t>(retries)]);
    out.rows[row.id] = row;
  }
  return out;
}

// Every registered router: the names in the router table of `tokenfleet policies --markdown` (its rows start
// with "| `name` |" under the heading "### Routers").
std::vector<std::string> routers() {
  const auto r = run_command(binary() + " policies --markdown");
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> names;
  const std::size_t from = r.output.find("### Routers");
  REQUIRE(from != std::string::npos);
  std::size_t pos = r.output.find('\n', from);
  bool in_table = false;
  while (pos != std::string::npos && pos + 1 < r.output.size()) {
    const std::size_t end = r.output.find('\n', pos + 1);
    const std::string line = r.output.substr(pos + 1, end - pos - 1);
    pos = end;
    if (line.rfind("| `", 0) == 0) {
      in_table = true;
      const std::size_t close = line.find('`', 3);
      names.push_back(line.substr(3, close - 3));
    } else if (in_table && line.rfind("|", 0) != 0) {
      break;
    }
  }
  return names;
}

}  // namespace

TEST_CASE("failures: an injected failure retries exactly the requests running on that replica, for every router",
          "[failures]") {
  const std::string dir = temp_dir("failures-inject");
  const double at = 40.0, down = 50.0;
  const int victim = 1;
  const std::string inject = "[failures]\ngpu_mtbf_h = 0\nnode_mtbf_h = 0\ninject = [{ replica = 1, at_s = 40, down_s = 50 }]\n";
  const auto names = routers();
  REQUIRE(names.size() >= 8);
  for (const std::string& router : names) {
    INFO("router " << router);
    const std::string set = "--set policy.router=" + router;
    const Run base = run(dir, scenario_text(4, ""), set);
    const Run fail = run(dir, scenario_text(4, inject), set, "TOKENFLEET_ROUTER_LOADS=check");
    // The truth: in the run without the failure, the requests on the victim admitted by `at` and not finished by it.
    std::set<std::uint64_t> running, retried;
    for (const auto& [id, r] : base.rows)
      if (r.replica == victim && r.admitted >= 0.0 && r.admitted <= at && r.finished > at) running.insert(id);
    for (const auto& [id, r] : fail.rows)
      if (r.retries > 0) retried.insert(id);
    CHECK(!running.empty());
    CHECK(retried == running);
    // Up to the failure both runs are the same.
    for (const auto& [id, r] : base.rows)
      if (r.finished >= 0.0 && r.finished < at) CHECK(fail.rows.at(id).finished == Approx(r.finished).epsilon(1e-12));
    // Every request that arrived ended, served; none was admitted on the victim while it was down; each retried one
    // retried once.
    CHECK(fail.rows.size() == base.rows.size());
    for (const auto& [id, r] : fail.rows) {
      CHECK(!r.rejected);
      CHECK(r.finished >= r.arrival);
      if (r.retries == 0) CHECK(!(r.replica == victim && r.admitted >= at && r.admitted < at + down));
      CHECK(r.retries <= 1);
    }
    const auto& f = fail.summary.at("failures");
    CHECK(f.at("injected").get<int>() == 1);
    CHECK(f.at("replica_outages").get<int>() == 1);
    CHECK(f.at("retried_requests").get<std::size_t>() == running.size());
    CHECK(f.at("retries").get<std::size_t>() == running.size());
    CHECK(f.at("failed_requests").get<int>() == 0);
    CHECK(f.at("replica_down_s").get<double>() == Approx(down));
    CHECK(f.at("replica_availability").get<double>() == Approx(1.0 - down / (4.0 * 140.0)));
    CHECK(fail.summary.at("requests").at("unfinished").get<int>() == 0);
    CHECK(!base.summary.contains("failures"));
  }
}

TEST_CASE("failures: past max_retries a request is given up, counted as failed and rejected, never lost",
          "[failures]") {
  const std::string dir = temp_dir("failures-give-up");
  const std::string inject =
      "[failures]\ngpu_mtbf_h = 0\nnode_mtbf_h = 0\nmax_retries = 0\ninject = [{ replica = 0, at_s = 40, down_s = 30 }]\n";
  const Run base = run(dir, scenario_text(2, ""), "");
  const Run fail = run(dir, scenario_text(2, inject), "");
  std::set<std::uint64_t> running, failed;
  for (const auto& [id, r] : base.rows)
    if (r.replica == 0 && r.admitted >= 0.0 && r.admitted <= 40.0 && r.finished > 40.0) running.insert(id);
  for (const auto& [id, r] : fail.rows)
    if (r.rejected) {
      CHECK(r.retries == 1);
      CHECK(r.finished < 0.0);
      failed.insert(id);
    }
  CHECK(!running.empty());
  CHECK(failed == running);
  CHECK(fail.rows.size() == base.rows.size());
  CHECK(fail.summary.at("failures").at("failed_requests").get<std::size_t>() == running.size());
  CHECK(fail.summary.at("requests").at("rejected").get<std::size_t>() == running.size());
  CHECK(fail.summary.at("requests").at("unfinished").get<int>() == 0);
}

TEST_CASE("failures: with every replica down, arrivals wait for the first one back", "[failures]") {
  const std::string dir = temp_dir("failures-all-down");
  const std::string inject = "[failures]\ngpu_mtbf_h = 0\nnode_mtbf_h = 0\n"
                             "inject = [{ replica = 0, at_s = 30, down_s = 20 }, { replica = 1, at_s = 30, down_s = 40 }]\n";
  for (const std::string router : {"round-robin", "central-queue", "least-tokens"}) {
    INFO("router " << router);
    const Run fail = run(dir, scenario_text(2, inject), "--set policy.router=" + std::string(router));
    std::size_t during = 0;
    for (const auto& [id, r] : fail.rows) {
      CHECK(r.finished >= r.arrival);
      if (r.arrival >= 30.0 && r.arrival < 50.0) {
        ++during;
        CHECK(r.admitted >= 50.0);  // nothing serves before replica 0 is back
        if (r.admitted < 70.0) CHECK(r.replica == 0);
      }
    }
    CHECK(during > 100);
    CHECK(fail.summary.at("failures").at("replica_down_s").get<double>() == Approx(60.0));
  }
}

TEST_CASE("failures: a [failures] table that never fails changes nothing but the retries column", "[failures]") {
  const std::string dir = temp_dir("failures-inert");
  const Run base = run(dir, scenario_text(3, ""), "--set policy.router=least-tokens");
  const Run none = run(dir, scenario_text(3, "[failures]\ngpu_mtbf_h = 0\nnode_mtbf_h = 0\n"),
                       "--set policy.router=least-tokens");
  // requests.csv without its last column is the same text.
  std::string stripped;
  std::size_t pos = 0;
  while (pos < none.requests_csv.size()) {
    const std::size_t end = none.requests_csv.find('\n', pos);
    const std::string line = none.requests_csv.substr(pos, end - pos);
    stripped += line.substr(0, line.rfind(',')) + "\n";
    pos = end + 1;
  }
  CHECK(stripped == base.requests_csv);
  CHECK(none.requests_csv.substr(0, none.requests_csv.find('\n')).ends_with(",retries"));
  auto without = none.summary;
  CHECK(without.at("failures").at("replica_outages").get<int>() == 0);
  without.erase("failures");
  CHECK(without == base.summary);
}

TEST_CASE("failures: after the arrivals, a failure on the last replica still running retries on one that had ended",
          "[failures]") {
  const std::string dir = temp_dir("failures-after-end");
  for (const std::string router : {"round-robin", "least-tokens", "central-queue"}) {
    INFO("router " << router);
    const std::string set = "--set policy.router=" + std::string(router);
    const Run base = run(dir, scenario_text(4, ""), set);
    // Each replica's last completion: the victim is the one that ends last, failed between the second-last end and
    // its own, so that every other replica has ended (nothing more could come to it) when it fails.
    std::map<int, double> last;
    for (const auto& [id, r] : base.rows) last[r.replica] = std::max(last[r.replica], r.finished);
    std::vector<std::pair<double, int>> ends;
    for (const auto& [replica, t] : last) ends.emplace_back(t, replica);
    std::sort(ends.begin(), ends.end());
    REQUIRE(ends.size() == 4);
    const int victim = ends[3].second;
    const double at = ends[2].first + 0.5 * (ends[3].first - ends[2].first);
    REQUIRE(at > 150.0);  // after the arrivals
    std::set<std::uint64_t> running;
    for (const auto& [id, r] : base.rows)
      if (r.replica == victim && r.admitted >= 0.0 && r.admitted <= at && r.finished > at) running.insert(id);
    REQUIRE(!running.empty());
    const std::string inject = "[failures]\ngpu_mtbf_h = 0\nnode_mtbf_h = 0\ninject = [{ replica = " +
                               std::to_string(victim) + ", at_s = " + std::to_string(at) + ", down_s = 500 }]\n";
    const Run fail = run(dir, scenario_text(4, inject), set);
    CHECK(fail.summary.at("requests").at("unfinished").get<int>() == 0);
    CHECK(fail.rows.size() == base.rows.size());
    std::set<std::uint64_t> retried;
    for (const auto& [id, r] : fail.rows) {
      CHECK(r.finished >= r.arrival);
      if (r.retries > 0) {
        retried.insert(id);
        CHECK(r.replica != victim);  // served by a replica that had ended, brought back
        CHECK(r.finished > at);
      }
    }
    CHECK(retried == running);
  }
}

TEST_CASE("failures: bad [failures] keys are refused with the key and what was expected", "[failures]") {
  const std::string dir = temp_dir("failures-bad");
  auto check = [&](const std::string& failures, const std::string& expect) {
    write_file(dir + "/s.toml", scenario_text(2, failures));
    const auto r = run_command(binary() + " validate " + dir + "/s.toml");
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find(expect) != std::string::npos);
  };
  check("[failures]\ninject = [{ replica = 2, at_s = 1, down_s = 1 }]\n", "failures.inject");
  check("[failures]\ninject = [{ replica = 0, at_s = 1 }]\n", "missing down_s");
  check("[failures]\ngpu_mtbf_h = -1\n", "failures.gpu_mtbf_h");
  check("[failures]\ngpu_repair_s = { dist = \"nope\" }\n", "failures.gpu_repair_s");
  check("[failures]\nmtbf = 3\n", "unknown key");
}

TEST_CASE("failures with prefix caching: a failed replica loses its cache and every request still ends",
          "[failures][prefix]") {
  const std::string dir = temp_dir("failures-prefix");
  // A shared system prompt of 2,048 tokens (128 blocks of 16): after the failure at 40 s the replica comes back
  // with an empty cache; no block stays pinned by the requests it was running, so hits resume after it.
  const std::string inject = "[failures]\ngpu_mtbf_h = 0\nnode_mtbf_h = 0\ninject = [{ replica = 1, at_s = 40, down_s = 20 }]\n";
  const std::string sets = " --set policy.kv_cache=paged --set policy.prefix_cache=true "
                           "--set workload.system_prompt_tokens=2048 --set policy.router=round-robin";
  const Run with = run(dir, scenario_text(3, inject), sets);
  const Run without = run(dir, scenario_text(3, ""), sets);
  REQUIRE(with.rows.size() == without.rows.size());
  int retried = 0;
  for (const auto& [id, row] : with.rows) {
    INFO("request " << id);
    CHECK((row.finished >= 0.0 || row.rejected));  // none lost
    retried += row.retries > 0 ? 1 : 0;
  }
  CHECK(retried > 0);
  CHECK(with.summary["failures"]["retried_requests"].get<int>() == retried);
  // The cache works before and after the failure: the shared prompt is found by most requests in both runs.
  const double hit = with.summary["prefix_cache"]["token_hit_rate"].get<double>();
  const double base = without.summary["prefix_cache"]["token_hit_rate"].get<double>();
  CHECK(base > 0.3);
  CHECK(hit > 0.8 * base);
  // The requests.csv carries both columns, cached_tokens then retries.
  const std::string head = with.requests_csv.substr(0, with.requests_csv.find('\n'));
  CHECK(head.size() > 20);
  CHECK(head.substr(head.size() - 21) == "cached_tokens,retries");
  std::filesystem::remove_all(dir);
}

TEST_CASE("size --spare 1: with one replica held down through the window the answer is the plain answer plus one",
          "[failures][sizing]") {
  const std::string dir = temp_dir("failures-spare");
  // No failure process: the spare held down is the only outage, so N + 1 replicas with one down serve as N do
  // (identical replicas, the down one outside the pool), and the answer is exactly one more than without it.
  std::string text = scenario_text(4, "");
  text.replace(text.find("rate_per_s = 12.0"), 17, "rate_per_s = 45.0");  // more than one replica serves
  write_file(dir + "/s.toml", text);
  auto answer = [&](const std::string& flags, const std::string& out) {
    const auto r = run_command(binary() + " size " + dir + "/s.toml --jobs 2 --margin point " + flags + " --out " + out);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(read_file(out + "/sizing.json")).at("results").at(0).at("replicas").get<int>();
  };
  const int plain = answer("", dir + "/plain");
  const int spared = answer("--spare 1", dir + "/spare");
  CHECK(plain >= 2);
  CHECK(spared == plain + 1);
  // What the spare buys, under the default failure rates: the fleets of N and N + 1 replicas.
  const auto rows = parse_csv(read_file(dir + "/spare/spares.csv"));
  REQUIRE(rows.size() == 3);
  CHECK(rows[1][0] == "0");
  CHECK(rows[2][0] == "1");
  CHECK(std::stoi(rows[1][1]) == plain);
  CHECK(std::stoi(rows[2][1]) == plain + 1);
}
