// `tokenfleet bench`: simulated requests per wall-clock second and peak memory, each run in a fresh process.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/json.hpp"
#include "results/streaming.hpp"
#include "results/summary.hpp"
#include "results/timeseries.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/child_process.hpp"
#include "sim/study/pods.hpp"
#include "sim/study/fleet_facts.hpp"

namespace tf {

namespace {

struct BenchSample {
  double wall_s = 0.0;
  double requests = 0.0;
  double simulated_s = 0.0;
  double peak_rss_mb = 0.0;
  double output_mb = 0.0;  // requests.csv, timeseries.csv and summary.json together
};
TF_JSON_FIELDS(BenchSample, wall_s, requests, simulated_s, peak_rss_mb, output_mb)

// One simulation in a child process of its own (SimGrid: one engine per process, and a fresh peak RSS); its
// figures come back as JSON text. It writes what `run --out` writes (requests.csv streamed as requests end,
// timeseries.csv in one-minute windows, summary.json) into a temporary folder, removed afterwards: the wall-clock
// time and the peak memory are those of a run with its outputs.
ChildResult bench_once(const Scenario& s) {
  const std::function<std::string()> task = [&s] {
    namespace fs = std::filesystem;
    BenchSample out;
    std::string tmpl = (fs::temp_directory_path() / "tokenfleet-bench-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw WriteError(fmt::format("cannot make a folder {}: {}", tmpl, std::strerror(errno)));
    const fs::path dir = tmpl;
    struct Remove {
      fs::path p;
      ~Remove() {
        std::error_code ec;
        fs::remove_all(p, ec);
      }
    } remove{dir};
    const double window_s = 60.0;
    const auto start = std::chrono::steady_clock::now();
    StreamingOptions so;
    so.warmup_s = s.warmup_s;
    so.slo = s.slo;
    so.priority_classes = static_cast<int>(s.workload.priority_shares.size());
    so.with_priority = !s.workload.priority_shares.empty();
    so.with_cached_tokens = s.prefix_cache;
    so.with_retries = s.failures.enabled;
    so.requests_csv_path = (dir / "requests.csv").string();
    so.timeseries_window_s = window_s;
    StreamingSink sink(so);
    RunOptions options;
    options.timeseries_window_s = window_s;
    options.record_sink = &sink;
    const RunResult r = run_fleet(s, options, 1);  // a fleet of pods: one after the other
    sink.finish(r.totals.simulated_s);
    sink.commit_requests_csv();
    const std::string ts = timeseries_csv(sink.timeseries()->rows(
        r.activity, fleet_facts(s, sink.arrived_count(), sink.prompt_tokens(), sink.output_tokens()),
        sink.last_event_s()));
    write_file_atomically((dir / "timeseries.csv").string(), ts);
    const std::string summary = to_json(sink.summary().summary(s.name, s.seed, r.totals)).dump(2) + "\n";
    write_file_atomically((dir / "summary.json").string(), summary);
    out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out.output_mb = static_cast<double>(sink.requests_csv_bytes() + ts.size() + summary.size()) / 1e6;
    out.requests = static_cast<double>(r.arrived);
    out.simulated_s = r.totals.simulated_s;
    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    out.peak_rss_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;
    return nlohmann::json(out).dump();
  };
  return run_in_children({task}, 1).front();
}

int bench_command(const BenchCommand& cmd) {
  const Scenario s = cmd.scenario_path.empty()
                         ? load_scenario_file(std::string(TF_DEFAULT_BENCH_SCENARIO), cmd.overrides)
                         : load_scenario_file(cmd.scenario_path, cmd.overrides);
  check_servable(s);
  std::cout << describe_scenario(s) << "\n";
  std::vector<BenchSample> samples;
  for (int i = 0; i < cmd.repeats; ++i) {
    const ChildResult run = bench_once(s);
    if (!run.ok) {
      print_error(run.error);
      print_error("benchmark run failed");
      return exit_unservable;
    }
    const auto b = nlohmann::json::parse(run.output).get<BenchSample>();
    std::cout << fmt::format("run {}: {:.0f} requests, {:.0f} s simulated, {:.2f} s wall-clock, {:.0f} requests/s, "
                             "peak RSS {:.0f} MB, {:.0f} MB of outputs written\n",
                             i + 1, b.requests, b.simulated_s, b.wall_s, b.requests / b.wall_s, b.peak_rss_mb,
                             b.output_mb);
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
