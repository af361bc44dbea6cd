// Issue 11 (reliability), through the binary: bad and extreme input gives a clear error (exit 2 or 3, naming the
// key or file:line, the bound and what to change) or a correct result, never a crash, a hang or a quiet wrong answer.
// Unit-level checks of the same fixes: test_scenario.cpp ([utf8], [limits]), test_traces.cpp ([bom], [overflow],
// [span], [epoch]), test_timeseries.cpp ([limits]).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "helpers.hpp"

using namespace tf::test;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// A scenario replaying `trace` (a path) on the default fleet, written in `dir`.
std::string trace_scenario(const std::string& dir, const std::string& trace, const std::string& extra = "") {
  const std::string path = dir + "/trace.toml";
  write_file(path, "duration_s = 600\n[model]\nname = \"llama-3.1-8b\"\n[fleet]\nreplicas = 2\n[workload.trace]\npath = \"" +
                       trace + "\"\n" + extra);
  return path;
}

// The line of `text` that holds `what` (without its line end), or "".
std::string line_with(const std::string& text, const std::string& what) {
  const auto at = text.find(what);
  if (at == std::string::npos) return {};
  const auto begin = text.rfind('\n', at);
  const auto end = text.find('\n', at);
  return text.substr(begin == std::string::npos ? 0 : begin + 1, end == std::string::npos ? std::string::npos
                                                                                            : end - begin - 1);
}

}  // namespace

TEST_CASE("reliability: a span or window the time series cannot hold is refused before simulating", "[reliability][timeseries]") {
  const std::string out = temp_dir("rel-ts");
  auto r = run_command(binary() + " run --out " + out + " --window 1e-9 --quiet");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("--window") && Contains("more than the 1,000,000") && Contains("give --window 0.0006"));
  r = run_command(binary() + " run --set duration_s=1e300 --set workload.arrival.rate_per_s=1e-299 --quiet");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("duration_s") && Contains("1e9"));
  // A Mooncake row at timestamp 1e300: refused at load, naming the file and line.
  write_file(out + "/far.jsonl", "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 6}\n"
                                 "{\"timestamp\": 1e300, \"input_length\": 5, \"output_length\": 6}\n");
  write_file(out + "/far.toml", "[fleet]\nreplicas = 2\n[workload.trace]\npath = \"" + out + "/far.jsonl\"\n");
  r = run_command(binary() + " validate " + out + "/far.toml");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("far.jsonl:2: timestamp") && Contains("1e9 s"));
  fs::remove_all(out);
}

TEST_CASE("reliability: a plain csv trace of unix epoch seconds is rebased to its first row with a note", "[reliability][epoch]") {
  const std::string dir = temp_dir("rel-epoch");
  write_file(dir + "/epoch.csv", "arrival_s,prompt_tokens,output_tokens\n1699999942,100,20\n1699999943.5,200,30\n"
                                 "1699999950,50,10\n");
  write_file(dir + "/epoch.toml", "[fleet]\nreplicas = 1\n[workload.trace]\npath = \"" + dir + "/epoch.csv\"\n");
  const auto r = run_command(binary() + " run " + dir + "/epoch.toml --out " + dir + "/out --quiet");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("note: ") && Contains("Unix epoch seconds"));
  const std::string requests = read_file(dir + "/out/requests.csv");
  CHECK_THAT(requests, Contains("\n0,0.000000000,100,20,") && Contains("\n1,1.500000000,200,30,"));
  // One window of 60 s: the run is 8 s long, not 1.7e9.
  const std::string ts = read_file(dir + "/out/timeseries.csv");
  CHECK(std::count(ts.begin(), ts.end(), '\n') == 2);
  fs::remove_all(dir);
}

TEST_CASE("reliability: fleets beyond what one run simulates are refused by validate, with the bound", "[reliability][fleet]") {
  auto r = run_command(binary() + " validate " + source_dir() + "/scenarios/default.toml --set fleet.replicas=2147483647");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("fleet.replicas: expected an integer from 1 to 20000"));
  r = run_command(binary() + " validate " + source_dir() + "/scenarios/default.toml --set fleet.replicas=50000");
  CHECK(r.exit_code == 2);
}

TEST_CASE("reliability: 3000 replicas run under a 4 GB address-space limit (small actor stacks)", "[reliability][fleet]") {
  // SimGrid's default 8 MiB per actor stack reserved 24 GB for this fleet: "Failed to allocate stack".
  if (kUnderAddressSanitizer) {
    WARN("skipped under AddressSanitizer: its shadow memory alone is more address space than the limit");
    return;
  }
  const auto r = run_command("ulimit -v 4000000; " + binary() +
                             " run --set fleet.replicas=3000 --set duration_s=20 --set warmup_s=1 --quiet");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("3000 replica(s)"));
}

TEST_CASE("reliability: SIGTERM stops a run whose every simulated second is heavy, within a bounded wait", "[reliability][signals]") {
  // 2000 replicas behind a load-aware router at 1e5 requests/s: each arrival reads every replica's load, so one
  // thousandth of the span (where the interrupt used to be polled) takes many seconds of wall-clock time.
  const auto r = run_command(
      "timeout -s KILL 120 timeout --preserve-status -s TERM " + std::string(kUnderAddressSanitizer ? "20 " : "3 ") +
      binary() +
      " run --set fleet.replicas=2000 --set policy.router=least-tokens --set workload.arrival.rate_per_s=1e5"
      " --set duration_s=1000 --set warmup_s=1 --quiet");
  INFO(r.output);
  CHECK(r.exit_code == 143);
  CHECK_THAT(r.output, Contains("interrupted (SIGTERM)"));
}

TEST_CASE("reliability: validate reads a trace's rows as the run would: the same error and exit code", "[reliability][validate]") {
  const std::string dir = temp_dir("rel-validate");
  // Served with a context of a million tokens, a request of 600,000 is longer than a replica's KV cache (about
  // 427,000 tokens of llama-3.1-8b on one H100).
  write_file(dir + "/long.csv", "0,599990,10\n1,100,10\n");
  const std::string toml = trace_scenario(dir, dir + "/long.csv") + " --set model.context_window=1000000";
  const auto v = run_command(binary() + " validate " + toml);
  const auto r = run_command(binary() + " run " + toml + " --quiet");
  INFO(v.output);
  INFO(r.output);
  CHECK(v.exit_code == 3);
  CHECK(r.exit_code == 3);
  const std::string error = line_with(r.output, "error:");
  CHECK_THAT(error, Contains("needs 600000 tokens of KV cache"));
  CHECK(line_with(v.output, "error:") == error);
  CHECK_THAT(v.output, !Contains("\nok"));
  // Within the model's own context (131,072 tokens) the same row is cut to it (workload.over_context = "cut"), and
  // then fits.
  const auto cut = run_command(binary() + " validate " + trace_scenario(dir, dir + "/long.csv"));
  INFO(cut.output);
  CHECK(cut.exit_code == 0);
  CHECK_THAT(cut.output, Contains("1 request(s) exceed the model's context window (131072 tokens) and are cut to it"));
  fs::remove_all(dir);
}

TEST_CASE("reliability: byte-order marks, bad UTF-8 and absurd GPU figures give clear errors", "[reliability][input]") {
  const std::string dir = temp_dir("rel-input");
  // An Azure trace and a scenario file, each saved with a BOM, load as without.
  write_file(dir + "/azure.csv", "\xEF\xBB\xBFTIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n"
                                 "2023-11-16 18:15:50.9951690,396,109\n");
  write_file(dir + "/bom.toml", "\xEF\xBB\xBF[fleet]\nreplicas = 1\n[workload.trace]\npath = \"azure.csv\"\n");
  auto r = run_command(binary() + " validate " + dir + "/bom.toml");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  write_file(dir + "/cbbe.toml", "seed = 1\n\xCB\xBE\n");
  r = run_command(binary() + " validate " + dir + "/cbbe.toml");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("cbbe.toml:2: byte offset 9: a non-ASCII character (bytes CB BE)"));
  r = run_command(binary() + " validate " + source_dir() + "/scenarios/default.toml --set 'hardware.gpu={ name = \"h100-sxm\", hbm_gb = 1e300 }'");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("hardware.gpu.hbm_gb: expected a number in (0, 100000") && !Contains("inf"));
  r = run_command(binary() + " validate " + source_dir() + "/scenarios/default.toml --set workload.arrival.rate_per_s=1e9");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("workload.arrival.rate_per_s") && Contains("1e6 requests/s"));
  fs::remove_all(dir);
}

TEST_CASE("reliability: a run removes the temp files a killed run left, and only those", "[reliability][kill]") {
  const std::string out = temp_dir("rel-tmp");
  // The pid of a process that has ended, and of one that runs (this test).
  const std::string dead = run_command("sh -c 'echo $$'").output;
  const std::string dead_pid = dead.substr(0, dead.find('\n'));
  const std::string live_pid = std::to_string(static_cast<long>(getpid()));
  for (const std::string name : {"requests.csv.tmp-" + dead_pid, "summary.json.tmp-" + dead_pid,
                                 ".tokenfleet-write-check-" + dead_pid, "requests.csv.tmp-" + live_pid,
                                 "notes.txt.tmp-" + dead_pid, std::string("requests.csv.tmp-x1")})
    write_file(out + "/" + name, "stale");
  const auto r = run_command(binary() + " run --set duration_s=30 --set warmup_s=1 --out " + out + " --quiet");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(fs::exists(out + "/requests.csv.tmp-" + dead_pid));
  CHECK_FALSE(fs::exists(out + "/summary.json.tmp-" + dead_pid));
  CHECK_FALSE(fs::exists(out + "/.tokenfleet-write-check-" + dead_pid));
  CHECK(fs::exists(out + "/requests.csv.tmp-" + live_pid));  // a live process's: maybe another run's
  CHECK(fs::exists(out + "/notes.txt.tmp-" + dead_pid));      // not a name tokenfleet writes
  CHECK(fs::exists(out + "/requests.csv.tmp-x1"));
  fs::remove_all(out);
}

TEST_CASE("reliability: the child probes of size die when size is killed with SIGKILL", "[reliability][kill]") {
  // Start a long search, wait (bounded) until it has forked its probes, kill -9 it, then wait (bounded) until the
  // probes are gone (a zombie counts as gone). The script prints what it saw; no timing is asserted.
  const std::string script =
      "bin='" + binary() + "'; src='" + source_dir() + "'\n"
      "\"$bin\" size \"$src/scenarios/chat-day.toml\" --set slo.ttft_p99_s=1 --set slo.tpot_p99_s=0.05 --jobs 2 "
      ">/dev/null 2>&1 &\n"
      "parent=$!; kids=''\n"
      "for i in $(seq 1 300); do kids=$(pgrep -P $parent); [ -n \"$kids\" ] && break; sleep 0.1; done\n"
      "[ -z \"$kids\" ] && { echo 'no child started'; kill -9 $parent; exit 1; }\n"
      "kill -9 $parent\n"
      "for i in $(seq 1 300); do alive=''; for k in $kids; do\n"
      "  s=$(awk '{print $3}' /proc/$k/stat 2>/dev/null); [ -n \"$s\" ] && [ \"$s\" != Z ] && alive=\"$alive $k\"; done\n"
      "  [ -z \"$alive\" ] && { echo children-gone; exit 0; }; sleep 0.1; done\n"
      "echo \"still running:$alive\"; kill -9 $alive; exit 1\n";
  const std::string path = temp_dir("rel-size") + "/kill.sh";
  write_file(path, script);
  const auto r = run_command("bash " + path);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("children-gone"));
  fs::remove_all(fs::path(path).parent_path());
}
