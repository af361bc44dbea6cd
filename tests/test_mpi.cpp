// Runs spread over MPI ranks (sim/study/mpi.hpp): `mpirun -n 2 tokenfleet size|compare|sweep|run` writes the bytes
// `tokenfleet ... --jobs 2` writes, rank 1 writes nothing (its --out and its temporary folder stay empty), and a rank
// that fails is named, with a non-zero exit and no hang. Built only with MPI (TF_MPI); mpirun runs as root in CI
// (--allow-run-as-root) on one machine (--oversubscribe).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <sstream>
#include <vector>

#include "helpers.hpp"

using namespace tf::test;
namespace fs = std::filesystem;

namespace {

const std::string kShort = " --set duration_s=200 --set warmup_s=20";

// mpirun on this machine, before its -n. Under AddressSanitizer the ranks run without LeakSanitizer: MPI_Init
// leaves allocations of Open MPI's components, some unloaded again by then, which it cannot attribute to a
// library to suppress (ASan's other checks and UBSan stay on; every other test keeps LeakSanitizer).
std::string launcher() { return std::string(TF_MPIEXEC) + " --allow-run-as-root --oversubscribe --bind-to none"; }
// What each of mpirun's program contexts (a : b) takes before its -n: the sanitizer's options.
std::string context() {
  if (!kUnderAddressSanitizer) return "";
  const char* asan = std::getenv("ASAN_OPTIONS");
  return " -x ASAN_OPTIONS=" + std::string(asan ? asan : "") + ":detect_leaks=0";
}

// mpirun with `ranks` ranks on this machine; `env` is passed to every rank (-x NAME=VALUE ...).
std::string mpirun(int ranks, const std::string& env = "") {
  return launcher() + context() + " " + env + " -n " + std::to_string(ranks) + " ";
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename().string());
  return out;
}

// The run's stdout alone (stderr to a file): what rank 0 prints, byte for byte.
CommandResult run_stdout(const std::string& cmd, const std::string& dir) {
  auto r = run_command("(" + cmd + " 2>" + dir + "/stderr)");
  r.output += "\n--- stderr:\n" + read_file(dir + "/stderr");
  return r;
}

// What rank 0 printed, its --out folder's name replaced by OUT and the wall-clock line of `run` left out.
std::string stdout_of(const CommandResult& r, const std::string& out_dir) {
  const std::string text = r.output.substr(0, r.output.rfind("\n--- stderr:\n"));
  std::string kept;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto nl = text.find('\n', start);
    std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl + 1 - start);
    start = nl == std::string::npos ? text.size() : nl + 1;
    if (line.rfind("wall-clock:", 0) == 0) continue;
    for (auto at = line.find(out_dir); at != std::string::npos; at = line.find(out_dir)) line.replace(at, out_dir.size(), "OUT");
    kept += line;
  }
  return kept;
}

// Runs `args` locally with --jobs 2 and under `mpirun -n 2` with --jobs 1 (two slots in all either way), each into
// a fresh --out, with the variable `env` (NAME=VALUE) set, and checks that every file of `files` and stdout are the
// same bytes; returns the local folder.
std::string same_as_local(const std::string& args, const std::vector<std::string>& files, const std::string& env = "",
                          int exit_code = 0) {
  const std::string local = temp_dir("mpi-local"), spread = temp_dir("mpi-spread");
  const auto a = run_stdout(env + " " + binary() + args + " --jobs 2 --out " + local, local);
  INFO(a.output);
  REQUIRE(a.exit_code == exit_code);
  const auto b = run_stdout(mpirun(2, env.empty() ? "" : "-x " + env) + binary() + args + " --jobs 1 --out " + spread,
                            spread);
  INFO(b.output);
  REQUIRE(b.exit_code == exit_code);
  for (const auto& f : files) {
    INFO(f);
    REQUIRE(fs::exists(local + "/" + f));
    CHECK(read_file(local + "/" + f) == read_file(spread + "/" + f));
  }
  CHECK(stdout_of(a, local) == stdout_of(b, spread));
  CHECK(stdout_of(a, local).size() > 100);
  fs::remove_all(spread);
  return local;
}

}  // namespace

TEST_CASE("mpirun -n 2 size: the bytes of size --jobs 2, the demand measured beside the probes too", "[mpi][sizing]") {
  const std::string args = " size --seeds 2" + kShort + " --set slo.ttft_p99_s=0.5 --set slo.tpot_p99_s=0.02";
  fs::remove_all(same_as_local(args, {"sizing.json", "probes.csv", "scenario.toml"}));
  // A preview shorter than the workload: the demand is measured in a job outside the slots while the first probes
  // run (on rank 0), and the environment variable reaches every rank through -x.
  const std::string local =
      same_as_local(args, {"sizing.json", "probes.csv"}, "TOKENFLEET_DEMAND_PREVIEW=300");
  CHECK(parse_csv(read_file(local + "/probes.csv")).size() > 5);
  fs::remove_all(local);
}

TEST_CASE("mpirun -n 2 compare and sweep: the bytes of --jobs 2", "[mpi][compare][sweep]") {
  fs::remove_all(same_as_local(" compare --policies continuous,static,chunked-prefill --routers round-robin,least-tokens" +
                                   kShort,
                               {"compare.csv"}));
  const std::string sweep =
      same_as_local(" sweep --grid fleet.replicas=2,3 --grid policy.router=round-robin,least-tokens" + kShort,
                    {"sweep.csv", "sweep.json", "scenario.toml"});
  CHECK(parse_csv(read_file(sweep + "/sweep.csv")).size() == 5);
  fs::remove_all(sweep);
  // A point that cannot be served (exit 3, its error in its row) is an outcome, not a failure of rank 1, which ran
  // it and ended first with that status.
  const std::string unservable =
      same_as_local(" sweep --grid model.name=llama-3.1-8b,llama-3.1-405b" + kShort, {"sweep.csv", "sweep.json"}, "", 3);
  CHECK(read_file(unservable + "/sweep.csv").find("810.0 GB of weights") != std::string::npos);
  fs::remove_all(unservable);
}

TEST_CASE("mpirun -n 2 run with pods: the bytes of run --jobs 2 - records as messages, rank 1 writes nothing",
          "[mpi][pods]") {
  const std::string args = " run --set fleet.pods=4 --set fleet.replicas=8 --quiet" + kShort;
  const std::vector<std::string> outputs = {"requests.csv", "timeseries.csv", "summary.json", "scenario.toml"};
  // Small messages (texts and record files in many pieces).
  fs::remove_all(same_as_local(args, outputs, "TOKENFLEET_MPI_CHUNK_BYTES=4096"));
  // Rank 1 with an --out and a temporary folder of its own (mpirun's a : b form): both stay empty, since rank 1
  // writes no output and sends its pods' records to rank 0 instead of leaving them in a file.
  const std::string local = temp_dir("mpi-pods-local"), dir = temp_dir("mpi-pods");
  const std::string out0 = dir + "/out0", out1 = dir + "/out1", tmp0 = dir + "/tmp0", tmp1 = dir + "/tmp1";
  fs::create_directories(tmp0);
  fs::create_directories(tmp1);
  const auto a = run_command(binary() + args + " --jobs 2 --out " + local);
  REQUIRE(a.exit_code == 0);
  const auto b = run_command(launcher() + context() + " -n 1 env TMPDIR=" + tmp0 + " " + binary() + args +
                             " --jobs 1 --out " + out0 + " :" + context() + " -n 1 env TMPDIR=" + tmp1 + " " + binary() + args + " --jobs 1 --out " + out1);
  INFO(b.output);
  REQUIRE(b.exit_code == 0);
  for (const auto& f : outputs) {
    INFO(f);
    CHECK(read_file(local + "/" + f) == read_file(out0 + "/" + f));
  }
  CHECK_FALSE(fs::exists(out1));
  CHECK(files_in(tmp0).empty());
  CHECK(files_in(tmp1).empty());
  // One pod: rank 0 simulates it alone, the same bytes as without mpirun.
  fs::remove_all(same_as_local(" run --quiet" + kShort, outputs));
  fs::remove_all(local);
  fs::remove_all(dir);
}

TEST_CASE("mpirun -n 2: a rank that fails is named, non-zero exit, nothing written, no hang", "[mpi][errors]") {
  const std::string dir = temp_dir("mpi-fail");
  const std::string size = " size --jobs 1 --seeds 2" + kShort + " --set slo.ttft_p99_s=0.5 --set slo.tpot_p99_s=0.02";
  auto timed = [&](const std::string& cmd) {
    const auto start = std::chrono::steady_clock::now();
    auto r = run_command(cmd);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return std::make_pair(r, s);
  };
  {
    // Rank 1's command throws when it starts its first job: rank 0 says so and stops, with that rank's status.
    const auto [r, s] = timed(mpirun(2, "-x TOKENFLEET_TEST_MPI_FAIL=1:throw") + binary() + size + " --out " + dir +
                              "/throw");
    INFO(r.output);
    CHECK(r.exit_code == 5);
    CHECK_THAT(r.output, Catch::Matchers::Contains("tokenfleet: error: rank 1 (") &&
                             Catch::Matchers::Contains("failed (exit status 5)") &&
                             Catch::Matchers::Contains("fails on purpose"));
    CHECK(files_in(dir + "/throw").empty());
    CHECK(s < 60);
  }
  {
    // Rank 1 dies (SIGKILL): mpirun stops rank 0 and names the rank.
    const auto [r, s] = timed(mpirun(2, "-x TOKENFLEET_TEST_MPI_FAIL=1:kill") + binary() + size + " --out " + dir +
                              "/kill");
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Catch::Matchers::Contains("rank 1"));
    CHECK(files_in(dir + "/kill").empty());
    CHECK(s < 60);
  }
  {
    // A job that throws on rank 1: a failed result, as in a local run (the point is not served), and rank 0 logs
    // where it ran.
    const auto [r, s] = timed(mpirun(2, "-x TOKENFLEET_TEST_MPI_FAIL=1:job") + binary() +
                              " sweep --jobs 1 --grid fleet.replicas=2,3" + kShort + " --out " + dir + "/job");
    INFO(r.output);
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.output, Catch::Matchers::Contains("failed on rank 1 (") &&
                             Catch::Matchers::Contains("a job fails on purpose"));
    const auto rows = parse_csv(read_file(dir + "/job/sweep.csv"));
    REQUIRE(rows.size() == 3);
    CHECK(rows[1][1] != rows[2][1]);  // one point served, the other not (ok = 1 and 0)
  }
  {
    // Ranks that do not build the same jobs (here a different grid on rank 1): refused, exit 2, naming the job.
    const auto [r, s] = timed(launcher() + context() + " -n 1 " + binary() + " sweep --jobs 1 --grid fleet.replicas=2,3" +
                              kShort + " --out " + dir + "/differ :" + context() + " -n 1 " + binary() + " sweep --jobs 1 --grid fleet.replicas=2,4" +
                              kShort);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Matchers::Contains("does not build the jobs rank 0 builds") &&
                             Catch::Matchers::Contains("sweep point 2 (3)") &&
                             Catch::Matchers::Contains("sweep point 2 (4)"));
    CHECK(files_in(dir + "/differ").empty());
  }
  {
    // A bad input fails every rank alike: one message (rank 0's), exit 2.
    const auto r = run_command(mpirun(2) + binary() + " size --jobs 1 --set fleet.replicaz=3");
    INFO(r.output);
    CHECK(r.exit_code == 2);
    const auto first = r.output.find("fleet.replicaz");
    REQUIRE(first != std::string::npos);
    CHECK(r.output.find("tokenfleet: error:", r.output.find("tokenfleet: error:") + 1) == std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("mpirun -n 2: Ctrl-C at mpirun stops both ranks and their children at once, nothing written",
          "[mpi][signals]") {
  // A day at 60 requests/s: its demand and first probes, or its simulations, take far longer than the test waits.
  const std::string day = source_dir() + "/scenarios/chat-day.toml --set workload.arrival.rate_per_s=60 --jobs 1 "
                          "--log-level debug";
  // size: the demand and a probe on rank 0, a probe on rank 1; compare: a policy on each rank.
  for (const auto& [command, least_children] : {std::make_pair(" size " + day + " --per-hour", 3),
                                                std::make_pair(" compare " + day + " --policies continuous,static", 2)}) {
    INFO(command);
    const std::string dir = temp_dir("mpi-stop");
    const std::string cmd = mpirun(2) + binary() + command + " --out " + dir + "/out";
    const std::string script = dir + "/run.sh";
    // The signal once rank 1 runs a simulation (its child forked), or after a minute.
    write_file(script, "#!/bin/bash\n" + cmd + " >" + dir + "/stdout 2>" + dir + "/stderr &\npid=$!\n"
                       "for i in $(seq 600); do grep -q 'rank 1 .*child process [0-9]*: forked' " + dir +
                           "/stderr && break; sleep 0.1; done\nsleep 1\n"
                           "kill -INT $pid\nstart=$(date +%s%N)\nwait $pid\nrc=$?\nend=$(date +%s%N)\necho \"$rc $(( (end - "
                           "start) / 1000000 ))\"\n");
    const auto r = run_command("bash " + script);
    std::istringstream in(r.output);
    int rc = -1;
    long ms = -1;
    in >> rc >> ms;
    const std::string err = read_file(dir + "/stderr");
    INFO(err);
    CHECK(rc != 0);
    CHECK(ms >= 0);
    CHECK(ms < 15000);  // mpirun's own teardown takes about 2 s
    CHECK_THAT(err, Catch::Matchers::Contains("interrupted (SIGTERM"));
    std::vector<int> children;
    const std::regex forked("child process ([0-9]+): forked");
    for (std::sregex_iterator it(err.begin(), err.end(), forked), end; it != end; ++it)
      children.push_back(std::stoi((*it)[1]));
    CHECK(static_cast<int>(children.size()) >= least_children);
    CHECK_THAT(err, Catch::Matchers::Contains("tokenfleet rank 1"));
    for (const int pid : children) {
      INFO("child " << pid);
      CHECK(read_file("/proc/" + std::to_string(pid) + "/cmdline").find("tokenfleet") == std::string::npos);
    }
    CHECK(files_in(dir + "/out").empty());
    fs::remove_all(dir);
  }
}
