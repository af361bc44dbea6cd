#include "sim/commands.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cluster/catalog.hpp"
#include "cluster/cost_model.hpp"
#include "results/summary.hpp"
#include "sim/calibration.hpp"
#include "sim/engine.hpp"
#include "sim/report_command.hpp"
#include "sim/scenario.hpp"

namespace tf {

Scenario load_scenario_or_default(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty()) return load_scenario_text(default_scenario_toml(), "<built-in default>", overrides);
  return load_scenario_file(path, overrides);
}

int prepare_output_dir(const std::string& dir, std::initializer_list<const char*> outputs) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    print_error(fmt::format("cannot create output folder {}: {}", dir, ec.message()));
    return exit_io_error;
  }
  for (const char* name : outputs) fs::remove(fs::path(dir) / name, ec);
  return exit_ok;
}

int interrupted_exit(const std::string& detail) {
  const char* what = interrupt_signal() == SIGTERM ? "SIGTERM" : "Ctrl-C";
  print_error(detail.empty() ? fmt::format("interrupted ({}); no results written", what)
                             : fmt::format("interrupted ({}): {}; no results written", what, detail));
  return 128 + (interrupt_signal() ? interrupt_signal() : SIGINT);
}

namespace {

std::string describe(const Scenario& s) {
  const CostModel cost(s.model, s.gpu, s.dtype, s.tensor_parallel, s.cost);
  const int prefill = prefill_pool_size(s);
  return fmt::format(
      "scenario '{}' ({}): {} on {} replica(s) of {} x {} ({}), {} GPUs; {:.0f} s simulated after {:.0f} s "
      "warm-up{}\n  KV capacity per replica: {} tokens; batching {} (max_batch {}, max_batched_tokens {}); router "
      "{}",
      s.name, s.source, s.model.name, s.replicas, s.tensor_parallel, s.gpu.name, to_string(s.dtype),
      s.replicas * s.tensor_parallel, s.duration_s - s.warmup_s, s.warmup_s,
      s.duration_from_trace ? " (duration_s left out: the whole trace)" : "", cost.kv_capacity_tokens(), s.batching,
      s.limits.max_batch, s.limits.max_batched_tokens, s.router) +
         (prefill > 0 ? fmt::format("\n  disaggregated: {} prefill replica(s) (replicas 0-{}), {} decode replica(s) "
                                    "picked by {}",
                                    prefill, prefill - 1, s.replicas - prefill, decode_router_of(s))
                      : std::string());
}

}  // namespace

int command_run(const RunCommand& cmd) {
  Scenario s;
  try {
    s = load_scenario_or_default(cmd.scenario_path, cmd.overrides);
  } catch (const ScenarioError& e) {
    print_error(e.what());
    return exit_bad_scenario;
  }
  namespace fs = std::filesystem;
  const fs::path out = cmd.out_dir;
  if (!cmd.out_dir.empty()) {
    const int rc =
        prepare_output_dir(cmd.out_dir, {"summary.json", "requests.csv", "timeseries.csv", "report.html"});
    if (rc != exit_ok) return rc;
  }
  if (cmd.report && cmd.out_dir.empty()) {
    print_error("--report needs --out DIR (the report is built from the files written there)");
    return exit_bad_scenario;
  }
  install_interrupt_handlers();
  std::cout << describe(s) << "\n" << std::flush;
  const auto wall_start = std::chrono::steady_clock::now();
  RunResult result;
  try {
    RunOptions options;
    options.exact_iterations = cmd.exact_iterations;
    if (!cmd.out_dir.empty()) options.timeseries_window_s = cmd.timeseries_window_s;
    options.on_progress = progress_printer(cmd.quiet);
    options.progress_every_s = s.duration_s / 1000.0;
    options.interrupt_flag = interrupt_flag();
    options.on_engine_started = install_interrupt_handlers;
    result = run_simulation(s, options);
    end_progress_line();
  } catch (const RunInterrupted& e) {
    end_progress_line();
    return interrupted_exit(e.what());
  } catch (const WorkloadInputError& e) {
    print_error(e.what());
    return exit_bad_scenario;
  } catch (const SimulationError& e) {
    print_error(e.what());
    return exit_unservable;
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  const Summary summary = summarize(s.name, s.seed, result.records, s.warmup_s, result.totals, s.slo);
  if (summary.requests_unfinished > 0) {
    print_error(fmt::format("{} of {} requests did not finish: this is a bug in tokenfleet, please report it",
                            summary.requests_unfinished, summary.requests_arrived));
    return exit_internal_error;
  }
  if (!cmd.out_dir.empty()) {
    try {
      write_file_atomically((out / "requests.csv").string(), requests_csv(result.records));
      write_file_atomically((out / "timeseries.csv").string(),
                            timeseries_csv(build_timeseries(result.records, result.activity,
                                                            fleet_facts(s, result.records), result.totals.simulated_s)));
      write_file_atomically((out / "scenario.toml").string(), scenario_text(cmd.scenario_path, cmd.overrides));
      if (*interrupt_flag()) {  // stopped while writing: leave no summary that looks complete
        print_error("interrupted while writing the results; no summary.json written");
        return 128 + interrupt_signal();
      }
      write_file_atomically((out / "summary.json").string(), to_json(summary).dump(2) + "\n");
    } catch (const std::exception& e) {
      print_error(e.what());
      return exit_io_error;
    }
  }
  std::cout << summary_table(summary);
  std::cout << fmt::format("wall-clock: {:.2f} s ({:.0f} simulated requests per wall-clock second)\n", wall_s,
                           static_cast<double>(summary.requests_arrived) / std::max(wall_s, 1e-9));
  if (!cmd.out_dir.empty())
    std::cout << "results written to " << cmd.out_dir
              << "/ (requests.csv, timeseries.csv, scenario.toml, summary.json)\n";
  if (cmd.report) return make_report(cmd.out_dir);
  return exit_ok;
}

int command_validate(const std::string& path, const std::vector<std::string>& overrides) {
  Scenario s;
  try {
    s = load_scenario_or_default(path, overrides);
    check_servable(s);
  } catch (const ScenarioError& e) {
    print_error(e.what());
    return exit_bad_scenario;
  } catch (const SimulationError& e) {
    print_error(std::string(path) + ": " + e.what());
    return exit_unservable;
  } catch (const std::invalid_argument& e) {
    print_error(std::string(path) + ": " + e.what());
    return exit_unservable;
  }
  std::cout << describe(s) << "\n";
  const CostModel cost(s.model, s.gpu, s.dtype, s.tensor_parallel, s.cost);
  const double longest = s.workload.prompt_tokens.max + s.workload.output_tokens.max;
  if (longest > static_cast<double>(cost.kv_capacity_tokens())) {
    std::cout << fmt::format(
        "warning: the longest request the length distributions allow ({:.0f} tokens) exceeds a replica's KV "
        "capacity ({} tokens); a run stops with an error if one is drawn\n",
        longest, cost.kv_capacity_tokens());
  }
  std::cout << "ok\n";
  return exit_ok;
}

int command_catalog(bool json) {
  if (json) {
    nlohmann::ordered_json j;
    for (const auto& g : gpu_catalog()) {
      j["gpus"].push_back({{"name", g.name},
                           {"fp16_tflops", g.fp16_flops / 1e12},
                           {"fp8_tflops", g.fp8_flops / 1e12},
                           {"hbm_gb", g.hbm_bytes / 1e9},
                           {"hbm_bandwidth_tbps", g.hbm_bandwidth_Bps / 1e12},
                           {"nvlink_gbps", g.nvlink_Bps / 1e9},
                           {"pcie_gbps", g.pcie_Bps / 1e9},
                           {"idle_watts", g.idle_watts},
                           {"busy_watts", g.busy_watts}});
    }
    for (const auto& m : model_catalog()) {
      j["models"].push_back({{"name", m.name},
                             {"params", m.params},
                             {"active_params", m.active_params},
                             {"layers", m.layers},
                             {"d_model", m.d_model},
                             {"heads", m.heads},
                             {"kv_heads", m.kv_heads},
                             {"head_dim", m.head_dim},
                             {"context_window", m.context_window}});
    }
    std::cout << j.dump(2) << "\n";
    return exit_ok;
  }
  std::cout << "GPUs (dense peak; power: idle / busy)\n";
  std::cout << fmt::format("  {:<12} {:>10} {:>10} {:>8} {:>10} {:>12} {:>11} {:>12}\n", "name", "FP16 TF/s",
                           "FP8 TF/s", "HBM GB", "HBM TB/s", "NVLink GB/s", "PCIe GB/s*", "power W");
  for (const auto& g : gpu_catalog()) {
    std::cout << fmt::format("  {:<12} {:>10.0f} {:>10} {:>8.0f} {:>10.3f} {:>12.0f} {:>11.0f} {:>12}\n", g.name,
                             g.fp16_flops / 1e12, g.fp8_flops > 0 ? fmt::format("{:.0f}", g.fp8_flops / 1e12) : "-",
                             g.hbm_bytes / 1e9, g.hbm_bandwidth_Bps / 1e12, g.nvlink_Bps / 1e9, g.pcie_Bps / 1e9,
                             fmt::format("{:.0f} / {:.0f}", g.idle_watts, g.busy_watts));
  }
  std::cout << "  * PCIe to the host, per direction (the link's nominal rate; swap-to-host preemption)\n";
  std::cout << "\nModels\n";
  std::cout << fmt::format("  {:<16} {:>10} {:>10} {:>7} {:>8} {:>6} {:>9} {:>9} {:>9} {:>12}\n", "name", "params",
                           "active", "layers", "d_model", "heads", "kv_heads", "head_dim", "context",
                           "KV B/token*");
  for (const auto& m : model_catalog()) {
    std::cout << fmt::format("  {:<16} {:>9.2f}B {:>9.2f}B {:>7} {:>8} {:>6} {:>9} {:>9} {:>9} {:>12.0f}\n", m.name,
                             m.params / 1e9, m.active_params / 1e9, m.layers, m.d_model, m.heads, m.kv_heads,
                             m.head_dim, m.context_window, m.kv_bytes_per_token(Dtype::fp16));
  }
  std::cout << "  * KV-cache bytes per token in FP16 (half in FP8)\n";
  return exit_ok;
}

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

}  // namespace

int command_bench(const BenchCommand& cmd) {
  Scenario s;
  try {
    s = cmd.scenario_path.empty() ? load_scenario_file(std::string(TF_DEFAULT_BENCH_SCENARIO), cmd.overrides)
                                  : load_scenario_file(cmd.scenario_path, cmd.overrides);
    check_servable(s);
  } catch (const ScenarioError& e) {
    print_error(e.what());
    return exit_bad_scenario;
  } catch (const std::exception& e) {
    print_error(e.what());
    return exit_unservable;
  }
  std::cout << describe(s) << "\n";
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

}  // namespace tf

namespace tf {

int command_calibrate() {
  std::cout << "The cost model's default parameters against published figures (docs/reference/calibration.md).\n"
               "throughput: output tokens/s of one replica offered 1024 identical requests at once (max_batch 256, "
               "max_batched_tokens 8192); ttft: one prefill iteration at batch 1.\n\n";
  std::cout << fmt::format("{:<42} {:<10} {:<14} {:<10} {:<5} {:>3} {:>11} {:>11} {:>11} {:>8} {}\n", "source", "kind",
                           "model", "gpu", "dtype", "TP", "in/out", "published", "simulated", "error", "tested");
  for (const auto& f : calibration_figures()) {
    const double sim = simulate_figure(f);
    const bool ttft = f.kind == "ttft";
    std::cout << fmt::format(
        "{:<42} {:<10} {:<14} {:<10} {:<5} {:>3} {:>11} {:>11} {:>11} {:>+7.1f}% {}\n", f.source, f.kind, f.model,
        f.gpu, to_string(f.dtype), f.tensor_parallel, fmt::format("{}/{}", f.input_tokens, f.output_tokens),
        ttft ? fmt::format("{:.1f} ms", f.published * 1e3) : fmt::format("{:.0f}", f.published),
        ttft ? fmt::format("{:.1f} ms", sim * 1e3) : fmt::format("{:.0f}", sim), 100.0 * (sim / f.published - 1.0),
        f.tested ? "yes (25 %)" : "no");
  }
  return exit_ok;
}

}  // namespace tf
