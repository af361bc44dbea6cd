// `tokenfleet run`: one simulation, its outputs (requests.csv, timeseries.csv, scenario.toml, summary.json).
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "results/streaming.hpp"
#include "results/summary.hpp"
#include "results/timeseries.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"
#include "sim/cli/signals.hpp"
#include "sim/engine/engine.hpp"
#include "sim/engine/preflight.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/mpi.hpp"
#include "sim/study/fleet_facts.hpp"
#include "sim/study/pods.hpp"

namespace tf {

namespace {

int run_command(const RunCommand& cmd) {
  const Scenario s = load_scenario_or_default(cmd.scenario_path, cmd.overrides);
  namespace fs = std::filesystem;
  const fs::path out = cmd.out_dir;
  if (!cmd.out_dir.empty()) {
    const int rc =
        prepare_output_dir(cmd.out_dir, {"summary.json", "requests.csv", "timeseries.csv", "scenario.toml", "report.html", "scaling.csv"});
    if (rc != exit_ok) return rc;
  }
  if (cmd.report && cmd.out_dir.empty()) {
    print_error("--report needs --out DIR (the report is built from the files written there)");
    return exit_bad_scenario;
  }
  // timeseries.csv holds at most kMaxTimeseriesRows rows: refused before simulating when the scenario's span needs
  // more (a run drains past duration_s, so this is checked again once it has ended).
  if (!cmd.out_dir.empty()) {
    const double window = cmd.timeseries_window_s;
    if (!(window > 0.0) || !std::isfinite(window)) {
      print_error(fmt::format("--window: expected a positive number of seconds, got {}", window));
      return exit_bad_scenario;
    }
    if (!(timeseries_rows(s.duration_s, window) <= kMaxTimeseriesRows)) {
      print_error(fmt::format("--window: duration_s = {} s in windows of {} s needs {:.3g} rows of timeseries.csv, "
                              "more than the 1,000,000 it holds; give --window {:.6g} or more (or a shorter duration_s)",
                              s.duration_s, window, timeseries_rows(s.duration_s, window),
                              s.duration_s / kMaxTimeseriesRows));
      return exit_bad_scenario;
    }
  }
  install_interrupt_handlers();
  std::cout << describe_scenario(s) << "\n" << std::flush;
  for (const auto& note : s.notes) print_note(note);
  const auto wall_start = std::chrono::steady_clock::now();
  RunOptions options;
  options.exact_iterations = cmd.exact_iterations;
  if (!cmd.out_dir.empty()) options.timeseries_window_s = cmd.timeseries_window_s;
  options.on_progress = progress_printer(cmd.quiet);
  options.progress_every_s = s.duration_s / 1000.0;
  options.interrupt_flag = interrupt_flag();
  options.on_engine_started = install_interrupt_handlers;
  const int jobs = cmd.jobs > 0 ? cmd.jobs : mpi::default_jobs();
  if (mpi::is_worker()) {
    // Another MPI rank than 0: it runs its share of the pods (rank 0 merges them and writes the results); a
    // fleet of one pod is rank 0's alone.
    if (s.pods > 1) run_fleet(s, options, jobs);
    return exit_ok;
  }
  if (mpi::active() && s.pods <= 1)
    spdlog::info("MPI: one pod: rank 0 simulates it alone (fleet.pods > 1 spreads the pods over the ranks)");
  // The records stream through the sink (results/streaming.hpp): requests.csv written as requests end into a
  // temporary file (renamed into place only once everything is checked), the summary and the time series
  // gathered as they come, in memory that does not grow with the number of requests.
  StreamingOptions so;
  so.warmup_s = s.warmup_s;
  so.slo = s.slo;
  so.priority_classes = static_cast<int>(s.workload.priority_shares.size());
  so.with_priority = !s.workload.priority_shares.empty();
  so.with_cached_tokens = s.prefix_cache;
  so.with_retries = s.failures.enabled;
  if (!cmd.out_dir.empty()) {
    so.requests_csv_path = (out / "requests.csv").string();
    so.timeseries_window_s = cmd.timeseries_window_s;
  }
  StreamingSink sink(so);  // destroyed without commit (an error, an interrupt): its temporary file goes too
  options.record_sink = &sink;
  // A fleet of pods: each pod in a child process (under mpirun: over the ranks), the records merged into the sink
  // (sim/study/pods.hpp).
  const RunResult result = run_fleet(s, options, jobs);  // interrupted: guarded() ends the progress line
  sink.finish(result.totals.simulated_s);
  end_progress_line();
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  spdlog::info("run: {} requests, {:.3f} s simulated in {:.3f} s wall-clock (at most {} requests held at once, {} "
               "through the spill file)",
               result.arrived, result.totals.simulated_s, wall_s, sink.max_window(), sink.spilled_requests());
  Summary summary = sink.summary().summary(s.name, s.seed, result.totals);
  summary.pools = pool_summaries(result);
  if (summary.requests_unfinished > 0) {
    print_error(fmt::format("{} of {} requests did not finish: this is a bug in tokenfleet, please report it",
                            summary.requests_unfinished, summary.requests_arrived));
    return exit_internal_error;
  }
  if (!cmd.out_dir.empty()) {
    const double last = sink.last_event_s();
    if (!(timeseries_rows(last, cmd.timeseries_window_s) <= kMaxTimeseriesRows)) {
      print_error(fmt::format("--window: the run drained until {} s, so timeseries.csv would need {:.3g} rows of {} s, "
                              "more than the 1,000,000 it holds; give --window {:.6g} or more; no results written",
                              last, timeseries_rows(last, cmd.timeseries_window_s), cmd.timeseries_window_s,
                              last / kMaxTimeseriesRows));
      return exit_bad_scenario;
    }
    auto timed = [&](const std::string& path, auto&& write) {
      const auto started = std::chrono::steady_clock::now();
      const std::uint64_t bytes = write();
      spdlog::info("run: wrote {} ({} bytes, {:.3f} s to write)", path, bytes,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    };
    auto write = [&](const char* name, const std::string& content) {
      const std::string path = (out / name).string();
      timed(path, [&] {
        write_file_atomically(path, content);
        return static_cast<std::uint64_t>(content.size());
      });
    };
    timed((out / "requests.csv").string(), [&] {
      sink.commit_requests_csv();
      return sink.requests_csv_bytes();
    });
    write("timeseries.csv",
          timeseries_csv(sink.timeseries()->rows(
              result.activity, fleet_facts(s, sink.arrived_count(), sink.prompt_tokens(), sink.output_tokens()),
              last), s.autoscaler.enabled));
    if (s.autoscaler.enabled) write("scaling.csv", scaling_csv(result.scaling));
    write("scenario.toml", scenario_text(cmd.scenario_path, cmd.overrides));
    if (*interrupt_flag()) {  // stopped while writing: leave no summary that looks complete
      print_error("interrupted while writing the results; no summary.json written");
      return 128 + interrupt_signal();
    }
    write("summary.json", to_json(summary).dump(2) + "\n");
  }
  std::cout << summary_table(summary);
  // A trace that ends well before duration_s: its rates are diluted over the empty tail (the first arrival taken as
  // 0 s, where a trace's times start).
  if (const std::string tail = short_trace_warning(s, 0.0, result.totals.last_arrival_s, result.arrived); !tail.empty())
    std::cerr << "tokenfleet: warning: " << tail << "\n";
  std::cout << fmt::format("wall-clock: {:.2f} s ({:.0f} simulated requests per wall-clock second)\n", wall_s,
                           static_cast<double>(summary.requests_arrived) / std::max(wall_s, 1e-9));
  if (!cmd.out_dir.empty())
    std::cout << "results written to " << cmd.out_dir
              << "/ (requests.csv, timeseries.csv, scenario.toml, summary.json)\n";
  if (cmd.report) return make_report(cmd.out_dir);
  return exit_ok;
}

}  // namespace

int command_run(const RunCommand& cmd) {
  return guarded([&] { return run_command(cmd); });
}

}  // namespace tf
