// `tokenfleet bench`: simulated requests per wall-clock second and peak memory, each run in a fresh process.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include <fmt/format.h>

#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"

namespace tf {

namespace {

struct BenchSample {
  double wall_s = 0.0;
  double requests = 0.0;
  double simulated_s = 0.0;
  double peak_rss_mb = 0.0;
  int status = 0;
};

// One simulation in a child process (SimGrid: one engine per process); the figures come back through a pipe.
BenchSample bench_once(const Scenario& s) {
  BenchSample sample;
  int fds[2];
  if (pipe(fds) != 0) {
    sample.status = -1;
    return sample;
  }
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    BenchSample out;
    try {
      const auto start = std::chrono::steady_clock::now();
      const RunResult r = run_simulation(s);
      out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      out.requests = static_cast<double>(r.records.size());
      out.simulated_s = r.totals.simulated_s;
      struct rusage usage {};
      getrusage(RUSAGE_SELF, &usage);
      out.peak_rss_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "tokenfleet: error: %s\n", e.what());
      out.status = 1;
    }
    const ssize_t written = write(fds[1], &out, sizeof out);
    _exit(written == static_cast<ssize_t>(sizeof out) ? 0 : 1);
  }
  close(fds[1]);
  const ssize_t got = read(fds[0], &sample, sizeof sample);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (got != static_cast<ssize_t>(sizeof sample) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) sample.status = 1;
  return sample;
}

int bench_command(const BenchCommand& cmd) {
  const Scenario s = cmd.scenario_path.empty()
                         ? load_scenario_file(std::string(TF_DEFAULT_BENCH_SCENARIO), cmd.overrides)
                         : load_scenario_file(cmd.scenario_path, cmd.overrides);
  check_servable(s);
  std::cout << describe_scenario(s) << "\n";
  std::vector<BenchSample> samples;
  for (int i = 0; i < cmd.repeats; ++i) {
    const BenchSample b = bench_once(s);
    if (b.status != 0) {
      print_error("benchmark run failed");
      return exit_unservable;
    }
    std::cout << fmt::format("run {}: {:.0f} requests, {:.0f} s simulated, {:.2f} s wall-clock, {:.0f} requests/s, "
                             "peak RSS {:.0f} MB\n",
                             i + 1, b.requests, b.simulated_s, b.wall_s, b.requests / b.wall_s, b.peak_rss_mb);
    samples.push_back(b);
  }
  std::sort(samples.begin(), samples.end(), [](const auto& a, const auto& b) { return a.wall_s < b.wall_s; });
  const BenchSample& median = samples[samples.size() / 2];
  std::cout << fmt::format("median of {}: {:.2f} s wall-clock, {:.0f} simulated requests per wall-clock second, "
                           "{:.0f} simulated seconds per wall-clock second, peak RSS {:.0f} MB\n",
                           samples.size(), median.wall_s, median.requests / median.wall_s,
                           median.simulated_s / median.wall_s, median.peak_rss_mb);
  return exit_ok;
}

}  // namespace

int command_bench(const BenchCommand& cmd) {
  return guarded([&] { return bench_command(cmd); });
}

}  // namespace tf
