// `tokenfleet workload`, the workload keys of a scenario, and bad traces through the binary.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "sim/scenario/scenario.hpp"

using namespace tf::test;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

std::string scenario(const std::string& name) { return source_dir() + "/scenarios/" + name; }

std::string write_scenario(const std::string& dir, const std::string& name, const std::string& workload) {
  const std::string path = dir + "/" + name;
  write_file(path, "name = \"" + name + "\"\nduration_s = 600\nwarmup_s = 60\n[fleet]\nreplicas = 2\n[workload]\n" +
                       workload + "\n");
  return path;
}

std::size_t lines(const std::string& text) {
  std::size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("tokenfleet workload prints a day of requests per hour and the ratios", "[cli][workload]") {
  const auto r = run_command(binary() + " workload " + scenario("chat-day.toml"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("requests per hour") && Contains("peak-to-mean") && Contains("tokens per day") &&
                           Contains("  23 ") && Contains("p99"));
}

TEST_CASE("export then replay of the export is the identity", "[cli][workload][export]") {
  const std::string dir = temp_dir("export");
  // A bursty, diurnal, session workload with random lengths.
  const std::string scen = write_scenario(
      dir, "gen.toml",
      "arrival = { process = \"diurnal\", rate_per_s = 3, peak_to_trough = 4, start_hour = 18, spikes = [ { start_s = 100, "
      "duration_s = 60, multiple = 5 } ] }\nprompt_tokens = { dist = \"lognormal\", mean = 800, p99 = 5000 }\n"
      "output_tokens = { dist = \"geometric\", mean = 200 }\nsession = { questions = { dist = \"geometric\", mean = 3 }, "
      "think_time_s = 5 }");
  REQUIRE(run_command(binary() + " workload " + scen + " --export " + dir + "/a.csv").exit_code == 0);
  const std::string a = read_file(dir + "/a.csv");
  REQUIRE(lines(a) > 1000);
  const std::string replay = write_scenario(dir, "replay.toml", "trace = { path = \"a.csv\" }");
  const auto r = run_command(binary() + " workload " + replay + " --export " + dir + "/b.csv");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(dir + "/b.csv") == a);
  // Same seed, same bytes; another seed, other requests.
  REQUIRE(run_command(binary() + " workload " + scen + " --export " + dir + "/c.csv").exit_code == 0);
  CHECK(read_file(dir + "/c.csv") == a);
  REQUIRE(run_command(binary() + " workload " + scen + " --set seed=2 --export " + dir + "/d.csv").exit_code == 0);
  CHECK(read_file(dir + "/d.csv") != a);
  fs::remove_all(dir);
}

TEST_CASE("export of a mooncake replay keeps hash_ids and reads back identically", "[cli][workload][export]") {
  const std::string dir = temp_dir("export-mc");
  const std::string scen =
      write_scenario(dir, "mc.toml", "trace = { path = \"" + data_dir() + "/traces/mooncake-synthetic.jsonl\" }");
  REQUIRE(run_command(binary() + " workload " + scen + " --set duration_s=100000 --export " + dir + "/a.csv").exit_code == 0);
  const std::string a = read_file(dir + "/a.csv");
  CHECK(lines(a) == 3993 + 1);
  CHECK(a.rfind("arrival_s,prompt_tokens,output_tokens,hash_ids\n", 0) == 0);
  const std::string replay = write_scenario(dir, "replay.toml", "trace = { path = \"a.csv\" }");
  REQUIRE(run_command(binary() + " workload " + replay + " --set duration_s=100000 --export " + dir + "/b.csv").exit_code == 0);
  CHECK(read_file(dir + "/b.csv") == a);
  fs::remove_all(dir);
}

TEST_CASE("a bad trace row stops a run with exit 2 and its line - skip_bad_rows counts it in summary.json",
          "[cli][workload][errors]") {
  const std::string dir = temp_dir("badtrace");
  const std::string bad = source_dir() + "/tests/data/traces/bad-negative.csv";
  const std::string scen = write_scenario(dir, "bad.toml", "trace = { path = \"" + bad + "\" }");
  fs::create_directories(dir + "/out");
  write_file(dir + "/out/summary.json", "{}");  // from an earlier run: must not survive a failed one
  const auto r = run_command(binary() + " run " + scen + " --out " + dir + "/out");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("bad-negative.csv:3: output_tokens: expected a positive integer, got -5"));
  CHECK_FALSE(fs::exists(dir + "/out/summary.json"));
  // The workload command: no export left behind.
  const auto w = run_command(binary() + " workload " + scen + " --export " + dir + "/x.csv");
  CHECK(w.exit_code == 2);
  CHECK_FALSE(fs::exists(dir + "/x.csv"));
  for (const auto& e : fs::directory_iterator(dir)) CHECK(e.path().filename().string().find("x.csv") == std::string::npos);

  const std::string skip = write_scenario(dir, "skip.toml", "trace = { path = \"" + bad + "\", skip_bad_rows = true }");
  const auto s = run_command(binary() + " run " + skip + " --out " + dir + "/out");
  INFO(s.output);
  REQUIRE(s.exit_code == 0);
  const auto j = nlohmann::json::parse(read_file(dir + "/out/summary.json"));
  CHECK(j["workload"]["skipped_bad_rows"].get<int>() == 2);
  CHECK(j["requests"]["arrived"].get<int>() == 3);
  const auto w2 = run_command(binary() + " workload " + skip);
  CHECK_THAT(w2.output, Contains("2 skipped"));
  fs::remove_all(dir);
}

TEST_CASE("demand in the analytic estimate's units becomes arrivals and lengths", "[scenario][workload][demand]") {
  const std::string base = "name = \"d\"\n[workload]\n";
  auto s = tf::load_scenario_text(
      base + "demand = { visits_per_day = 864000, qa_per_visit = 5, question_tokens = 30, answer_tokens = 1047 }\n",
      "d.toml");
  CHECK(s.workload.arrival.rate_per_s == Approx(864000.0 * 5 / 86400.0));  // 50 Q&A per second
  CHECK(s.workload.prompt_tokens.dist == "fixed");
  CHECK(s.workload.prompt_tokens.value == 30);
  CHECK(s.workload.output_tokens.value == 1047);
  CHECK_FALSE(s.workload.session.enabled);
  // Per year, with sessions: visits arrive, each asks qa_per_visit questions.
  s = tf::load_scenario_text(base + "demand = { visits_per_year = 18.0e9, qa_per_visit = 5, question_tokens = 30, "
                                    "tokens_per_qa = 1077 }\nsession = { think_time_s = 20 }\n",
                             "d.toml");
  CHECK(s.workload.arrival.rate_per_s == Approx(18.0e9 / 365.0 / 86400.0));
  CHECK(s.workload.session.enabled);
  CHECK(s.workload.session.questions.dist == "fixed");
  CHECK(s.workload.session.questions.value == 5);
  CHECK(s.workload.session.think_time_s.value == 20);
  CHECK(s.workload.output_tokens.value == 1047);
  s = tf::load_scenario_text(base + "demand = { visits_per_day = 1000, qa_per_visit = 2.5 }\nsession = {}\n", "d.toml");
  CHECK(s.workload.session.questions.dist == "geometric");
  CHECK(s.workload.session.questions.mean == 2.5);
  // Conflicts are errors naming the key.
  CHECK_THROWS_WITH(tf::load_scenario_text(base + "demand = { visits_per_day = 1000 }\narrival = { rate_per_s = 3 }\n", "d.toml"),
                    Contains("d.toml:4: workload.arrival.rate_per_s: the rate comes from workload.demand"));
  CHECK_THROWS_WITH(tf::load_scenario_text(base + "demand = { qa_per_visit = 3 }\n", "d.toml"),
                    Contains("workload.demand.visits_per_day: give exactly one"));
}

TEST_CASE("workload keys: examples load and errors name file line and key", "[scenario][workload][errors]") {
  for (const char* f : {"chat-day.toml", "servegen-day.toml", "azure-conv-replay.toml", "sessions-demand.toml",
                        "workload-10m.toml", "default.toml", "chat-hour.toml"})
    CHECK_NOTHROW(tf::load_scenario_file(scenario(f)));
  const std::string base = "name = \"w\"\n[workload]\n";
  struct Bad {
    std::string text, expected;
  };
  const std::vector<Bad> bad = {
      {"arrival = { process = \"diurnal\" }", "w.toml:3: workload.arrival.process: diurnal: needs a daily curve"},
      {"arrival = { process = \"diurnal\", hourly = [1, 2] }", "w.toml:3: workload.arrival.hourly: expected 24 weights"},
      {"arrival = { process = \"poisson\", peak_to_mean = 2 }", "workload.arrival.process: poisson: a daily curve needs"},
      {"arrival = { process = \"diurnal\", peak_to_mean = 1.5, rate_file = \"x.csv\" }", "give one daily curve"},
      {"arrival = { process = \"diurnal\", rate_file = \"missing.csv\" }", "workload.arrival.rate_file: missing.csv: cannot open"},
      {"arrival = { process = \"gamma\", rate_per_s = 2, cv = -1 }", "workload.arrival.cv: expected a number greater than 0"},
      {"arrival = { cv = 2 }", "workload.arrival.cv: only used by process = \"gamma\""},
      {"arrival = { spikes = [ { start_s = 1, duration_s = 2 } ] }", "workload.arrival.spikes: spikes: spike 1: missing multiple"},
      {"arrival = { burst = { multiple = 0.5 } }", "workload.arrival.burst.multiple: expected a number at least 1"},
      {"arrival = { peak_hours = 3 }", "unknown key 'peak_hours'; did you mean 'peak_hour'?"},
      {"prompt_tokens = { dist = \"normal\", mean = 100 }", "workload.prompt_tokens.stddev: missing"},
      {"prompt_tokens = { dist = \"empirical\" }", "workload.prompt_tokens.trace: missing"},
      {"prompt_tokens = { dist = \"empirical\", trace = \"nope.csv\" }", "workload.prompt_tokens.trace: empirical: trace: nope.csv: cannot open"},
      {"session = { questions = 0 }", "workload.session.questions: expected a number at least 1, got 0"},
      {"trace = { path = \"nope.csv\" }", "workload.trace.path: nope.csv: cannot open"},
      {"trace = { path = \"x.csv\" }\narrival = { rate_per_s = 2 }", "workload.arrival: not used with workload.trace"},
      {"trace = { path = \"x.csv\", speed = 0 }", "workload.trace.speed: expected a number in [1e-06, 1000000], got 0"},
  };
  for (const auto& b : bad) {
    INFO(b.text);
    CHECK_THROWS_WITH(tf::load_scenario_text(base + b.text + "\n", "w.toml"), Contains(b.expected));
  }
}
