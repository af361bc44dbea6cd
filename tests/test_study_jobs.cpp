// size and sweep through the binary: the demand measured as a stream (the same sizing outputs as before it was),
// probes started while a large workload is measured, Ctrl-C and SIGTERM stopping the child processes at once,
// and `tokenfleet sweep` (its rows against separate runs, --jobs not changing a byte, bad grids refused).
#include <catch2/catch.hpp>

#include <filesystem>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "helpers.hpp"

using namespace tf::test;
namespace fs = std::filesystem;

namespace {

const std::string kChat2h = " --per-hour --set duration_s=7200 --set workload.arrival.rate_per_s=6"
                            " --set slo.ttft_p99_s=0.5 --set slo.tpot_p99_s=0.03";
const std::string kShort = " --set duration_s=200 --set warmup_s=20";

std::string chat_day() { return source_dir() + "/scenarios/chat-day.toml"; }

// The files of an --out folder that are results or their temporary names.
std::vector<std::string> result_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename().string());
  return out;
}

struct Interrupted {
  int exit_code = -1;
  long ms_to_exit = -1;  // from the signal to the exit
  std::vector<int> children;
  std::string stdout_text, stderr_text;
};

// Starts `command` (stdout and stderr to files in dir), sends `signal` after `after_s` seconds, and waits for it.
Interrupted interrupt_after(const std::string& command, const std::string& dir, const char* signal, int after_s) {
  const std::string script = dir + "/run.sh";
  write_file(script, "#!/bin/bash\n" + command + " >" + dir + "/stdout 2>" + dir + "/stderr &\npid=$!\nsleep " +
                         std::to_string(after_s) + "\nkill -" + signal +
                         " $pid\nstart=$(date +%s%N)\nwait $pid\nrc=$?\nend=$(date +%s%N)\necho \"$rc $(( (end - start) / "
                         "1000000 ))\"\n");
  const auto r = run_command("bash " + script);
  Interrupted out;
  std::istringstream in(r.output);
  in >> out.exit_code >> out.ms_to_exit;
  out.stdout_text = read_file(dir + "/stdout");
  out.stderr_text = read_file(dir + "/stderr");
  const std::regex forked("child process ([0-9]+): forked");
  for (std::sregex_iterator it(out.stderr_text.begin(), out.stderr_text.end(), forked), end; it != end; ++it)
    out.children.push_back(std::stoi((*it)[1]));
  return out;
}

// A process that still exists and is not a zombie of another program (a reused pid runs something else).
bool still_running_tokenfleet(int pid) {
  const std::string cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  return cmdline.find("tokenfleet") != std::string::npos;
}

}  // namespace

TEST_CASE("size: the streamed demand gives the sizing outputs of before, also when probes start early",
          "[cli][sizing][demand]") {
  const std::string ref = source_dir() + "/tests/data/sizing/chat-2h-per-hour";
  // The reference files were written by the build before the demand was streamed (the same command).
  auto size = [&](const std::string& prefix, const char* jobs, const std::string& out) {
    const auto r = run_command(prefix + binary() + " size " + chat_day() + " --jobs " + jobs + " --out " + out + kChat2h);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    // With a preview shorter than the workload, the first round starts before the demand is known.
    CHECK((r.output.find("started early") != std::string::npos) == !prefix.empty());
  };
  const std::string early = "TOKENFLEET_DEMAND_PREVIEW=5000 ";
  for (const std::string& prefix : {std::string(), early}) {
    INFO(prefix);
    const std::string out = temp_dir("size-stream");
    size(prefix, "2", out);
    CHECK(read_file(out + "/sizing.json") == read_file(ref + "/sizing.json"));
    CHECK(read_file(out + "/probes.csv") == read_file(ref + "/probes.csv"));
    fs::remove_all(out);
  }
  // --jobs 1 searches otherwise (one candidate a round): the same files with and without probes started early.
  const std::string one = temp_dir("size-stream-1"), one_early = temp_dir("size-stream-1e");
  size("", "1", one);
  size(early, "1", one_early);
  CHECK(read_file(one + "/sizing.json") == read_file(one_early + "/sizing.json"));
  CHECK(read_file(one + "/probes.csv") == read_file(one_early + "/probes.csv"));
  fs::remove_all(one);
  fs::remove_all(one_early);
  const std::string small = source_dir() + "/tests/data/sizing/default-short";
  const std::string out = temp_dir("size-stream-small");
  const auto r = run_command("TOKENFLEET_DEMAND_PREVIEW=300 " + binary() + " size --jobs 2 --out " + out + kShort +
                             " --set slo.ttft_p99_s=0.5 --set slo.tpot_p99_s=0.02");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(out + "/sizing.json") == read_file(small + "/sizing.json"));
  CHECK(read_file(out + "/probes.csv") == read_file(small + "/probes.csv"));
  fs::remove_all(out);
  const auto bad = run_command("TOKENFLEET_DEMAND_PREVIEW=lots " + binary() + " size" + kShort);
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.output, Catch::Matchers::Contains("TOKENFLEET_DEMAND_PREVIEW"));
}

TEST_CASE("size: Ctrl-C on a 50 M-request day stops the running probes at once - exit 130, no child left, nothing written",
          "[cli][sizing][signals]") {
  for (const char* signal : {"INT", "TERM"}) {
    INFO(signal);
    const std::string dir = temp_dir("size-stop");
    // 600 requests/s for a day: 51.8 M requests; the first 20,000 are measured before probing starts, the rest in a
    // child beside the first probes, so the signal finds three children running.
    const auto r = interrupt_after("TOKENFLEET_DEMAND_PREVIEW=20000 " + binary() + " size " + chat_day() +
                                       " --per-hour --set workload.arrival.rate_per_s=600 --jobs 2 --log-level debug "
                                       "--out " + dir + "/out",
                                   dir, signal, kUnderAddressSanitizer ? 20 : 4);
    INFO(r.stdout_text << r.stderr_text);
    CHECK(r.exit_code == (std::string(signal) == "INT" ? 130 : 143));
    CHECK(r.ms_to_exit >= 0);
    CHECK(r.ms_to_exit < (kUnderAddressSanitizer ? 5000 : 2000));  // a liveness bound, not a benchmark
    CHECK_THAT(r.stderr_text, Catch::Matchers::Contains("interrupted") && Catch::Matchers::Contains("no results written"));
    CHECK_THAT(r.stdout_text, Catch::Matchers::Contains("started early"));
    REQUIRE(r.children.size() >= 2);  // the demand and at least one probe
    for (const int pid : r.children) {
      INFO("child " << pid);
      CHECK_FALSE(still_running_tokenfleet(pid));
    }
    CHECK(result_files(dir + "/out").empty());  // no sizing.json, probes.csv, scenario.toml or temporary file
    fs::remove_all(dir);
  }
}

TEST_CASE("sweep: a 2 x 2 grid gives 4 rows equal to separate runs - the same bytes with --jobs 1 and 2",
          "[cli][sweep]") {
  const std::string a = temp_dir("sweep-a"), b = temp_dir("sweep-b");
  const std::string grid = " --grid fleet.replicas=2,3 --grid policy.router=round-robin,least-tokens" + kShort;
  const auto ra = run_command(binary() + " sweep --jobs 1 --out " + a + grid);
  INFO(ra.output);
  REQUIRE(ra.exit_code == 0);
  const auto rb = run_command(binary() + " sweep --jobs 2 --out " + b + grid);
  REQUIRE(rb.exit_code == 0);
  CHECK(read_file(a + "/sweep.csv") == read_file(b + "/sweep.csv"));
  CHECK(read_file(a + "/sweep.json") == read_file(b + "/sweep.json"));
  const auto rows = parse_csv(read_file(a + "/sweep.csv"));
  REQUIRE(rows.size() == 5);
  CHECK(rows[0][0] == "fleet.replicas");
  CHECK(rows[0][1] == "policy.router");
  CHECK(rows[0][2] == "ok");
  const auto j = nlohmann::json::parse(read_file(a + "/sweep.json"));
  REQUIRE(j["points"].size() == 4);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"2", "round-robin"}, {"2", "least-tokens"}, {"3", "round-robin"}, {"3", "least-tokens"}};
  std::set<double> distinct;
  for (std::size_t i = 0; i < 4; ++i) {
    INFO("point " << i);
    CHECK(rows[i + 1][0] == expected[i].first);
    CHECK(rows[i + 1][1] == expected[i].second);
    CHECK(rows[i + 1][2] == "1");
    const std::string run_dir = temp_dir("sweep-run");
    const auto run = run_command(binary() + " run --out " + run_dir + kShort + " --set fleet.replicas=" +
                                 expected[i].first + " --set policy.router=" + expected[i].second);
    REQUIRE(run.exit_code == 0);
    const auto summary = nlohmann::json::parse(read_file(run_dir + "/summary.json"));
    CHECK(j["points"][i]["summary"] == summary);
    CHECK(j["points"][i]["set"]["fleet.replicas"] == expected[i].first);
    // The CSV's figures are the summary's, as printed.
    CHECK(std::stod(rows[i + 1][3]) == Approx(summary["throughput"]["requests_per_s"].get<double>()).epsilon(1e-6));
    distinct.insert(summary["latency_s"]["ttft"]["p99"].get<double>());
    fs::remove_all(run_dir);
  }
  CHECK(distinct.size() == 4);  // the points differ (the grid reached the runs)
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_CASE("sweep: a bad grid key or value fails before running anything, exit 2, naming it", "[cli][sweep][errors]") {
  const std::string out = temp_dir("sweep-bad");
  const auto key = run_command(binary() + " sweep --out " + out + " --grid fleet.replicas=2,3 --grid fleet.replicaz=1,2" + kShort);
  CHECK(key.exit_code == 2);
  CHECK_THAT(key.output, Catch::Matchers::Contains("fleet.replicaz") && Catch::Matchers::Contains("--grid"));
  CHECK_THAT(key.output, !Catch::Matchers::Contains("Sweeping"));  // nothing ran
  const auto value = run_command(binary() + " sweep --out " + out + " --grid fleet.replicas=2,many" + kShort);
  CHECK(value.exit_code == 2);
  CHECK_THAT(value.output, Catch::Matchers::Contains("many") && Catch::Matchers::Contains("fleet.replicas"));
  const auto form = run_command(binary() + " sweep --grid fleet.replicas" + kShort);
  CHECK(form.exit_code == 2);
  CHECK_THAT(form.output, Catch::Matchers::Contains("expected key=value1,value2"));
  const auto empty = run_command(binary() + " sweep --grid fleet.replicas=2,,3" + kShort);
  CHECK(empty.exit_code == 2);
  const auto twice = run_command(binary() + " sweep --grid fleet.replicas=2 --grid fleet.replicas=3" + kShort);
  CHECK(twice.exit_code == 2);
  CHECK_THAT(twice.output, Catch::Matchers::Contains("twice"));
  const auto none = run_command(binary() + " sweep" + kShort);
  CHECK(none.exit_code == 2);
  CHECK(result_files(out).empty());
  fs::remove_all(out);
}

TEST_CASE("sweep --report builds a page whose plots exist - Ctrl-C stops a sweep at once", "[cli][sweep][signals]") {
  const std::string out = temp_dir("sweep-report");
  const auto r = run_command(binary() + " sweep --jobs 2 --report --out " + out + " --grid fleet.replicas=2,4" + kShort);
  INFO(r.output);
  if (r.output.find("needs gnuplot") == std::string::npos) {
    REQUIRE(r.exit_code == 0);
    const std::string html = read_file(out + "/report.html");
    REQUIRE(!html.empty());
    CHECK(html.find("<script") == std::string::npos);
    std::size_t pos = 0, referenced = 0;
    while ((pos = html.find("\"plots/", pos)) != std::string::npos) {
      ++pos;
      const auto end = html.find_first_of("\"'", pos);
      CHECK(fs::exists(out + "/" + html.substr(pos, end - pos)));
      ++referenced;
      pos = end;
    }
    CHECK(referenced >= 1);
    // `tokenfleet report` rebuilds the same page.
    const auto again = run_command(binary() + " report " + out);
    REQUIRE(again.exit_code == 0);
    CHECK(read_file(out + "/report.html") == html);
  } else {
    WARN("skipped: gnuplot is not installed");
  }
  fs::remove_all(out);
  const std::string dir = temp_dir("sweep-stop");
  const auto stopped = interrupt_after(binary() + " sweep " + chat_day() + " --jobs 2 --log-level debug --out " + dir +
                                           "/out --grid workload.arrival.rate_per_s=300,400",
                                       dir, "INT", kUnderAddressSanitizer ? 20 : 3);
  INFO(stopped.stderr_text);
  CHECK(stopped.exit_code == 130);
  CHECK(stopped.ms_to_exit < (kUnderAddressSanitizer ? 5000 : 2000));
  REQUIRE(stopped.children.size() == 2);
  for (const int pid : stopped.children) CHECK_FALSE(still_running_tokenfleet(pid));
  CHECK(result_files(dir + "/out").empty());
  fs::remove_all(dir);
}
