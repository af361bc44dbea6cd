// tokenfleet: a discrete-event simulator of LLM inference on GPU fleets, built on SimGrid.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <sstream>

#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/limits.hpp"
#include "sim/study/compare.hpp"
#include "sim/study/mpi.hpp"

namespace {

int tokenfleet_main(int argc, char** argv) {
  CLI::App app{"tokenfleet: simulate LLM inference on a GPU fleet and report latency, throughput, utilization "
               "and energy"};
  app.require_subcommand(1);
  app.fallthrough();  // --log-level after the command as well: tokenfleet size my.toml --log-level debug
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  std::string context_factory;
  app.add_option("--context-factory", context_factory,
                 "SimGrid's context factory: raw (default), thread, ucontext, boost (also $TOKENFLEET_CONTEXT_FACTORY)");

  tf::RunCommand run;
  auto* run_cmd = app.add_subcommand("run", "simulate a scenario (the built-in default when no file is given)");
  run_cmd->add_option("scenario", run.scenario_path, "scenario file (TOML)")->check(CLI::ExistingFile);
  run_cmd->add_option("--out,-o", run.out_dir, "folder for requests.csv and summary.json");
  run_cmd->add_option("--set,-s", run.overrides, "override a scenario key: --set fleet.replicas=12")
      ->take_all();
  run_cmd->add_flag("--exact-iterations", run.exact_iterations,
                    "step every iteration instead of computing decode stretches in closed form (slower; for checks)");
  run_cmd->add_option("--window", run.timeseries_window_s, "seconds per row of timeseries.csv (default 60)")
      ->check(CLI::PositiveNumber);
  run_cmd->add_flag("--report", run.report, "also build report.html (plots by gnuplot) in the --out folder");
  run_cmd->add_flag("--quiet,-q", run.quiet, "no progress line on stderr");
  run_cmd->add_option("--jobs,-j", run.jobs, "with fleet.pods > 1: pods simulated at once (default: cores; under mpirun: per rank)")
      ->check(CLI::Range(1, 256));

  std::string report_dir;
  auto* report_cmd = app.add_subcommand(
      "report", "build report.html (self-contained, SVG plots by gnuplot) from a results folder of run, size or "
                "compare");
  report_cmd->add_option("results_dir", report_dir, "folder written by --out")->required();

  std::string validate_path;
  std::vector<std::string> validate_overrides;
  auto* validate_cmd = app.add_subcommand("validate", "check a scenario file; runs nothing");
  validate_cmd->add_option("scenario", validate_path, "scenario file (TOML)")->required();
  validate_cmd->add_option("--set,-s", validate_overrides, "override a scenario key")->take_all();

  bool catalog_json = false;
  auto* catalog_cmd = app.add_subcommand("catalog", "list the GPUs and models tokenfleet knows, with their figures");
  catalog_cmd->add_flag("--json", catalog_json, "print as JSON");

  bool policies_markdown = false;
  auto* policies_cmd = app.add_subcommand(
      "policies", "list the batching policies and routers by kind, with their parameters (type, default, range)");
  policies_cmd->add_flag("--markdown", policies_markdown,
                         "print the tables of scenarios/README.md's [policy] section (scripts/update-policy-docs.sh)");

  tf::EstimateCommand estimate;
  auto* estimate_cmd = app.add_subcommand(
      "estimate", "the analytic estimate GPUs = 2 x P x D x k / (F x u x T), for a scenario's demand or a preset");
  estimate_cmd->add_option("scenario", estimate.scenario_path, "scenario file (default: the built-in default)")
      ->check(CLI::ExistingFile);
  estimate_cmd->add_option("--preset", estimate.preset, "a built-in table: huafu-2024 (the report's 2023-2026 table)");
  estimate_cmd->add_flag("--simulate", estimate.simulate,
                         "with --preset: simulate each year's demand (sessions, daily curve, the GPU mix, latency "
                         "targets) as pods scaled to the whole, beside the report's k, u and GPUs");
  estimate_cmd->add_flag("--formula", estimate.formula,
                         "with --simulate: check the report's arithmetic by simulation: the cost model reduced to 2 x P "
                         "per token at the report's u, the curve's busiest hour the report's k times its mean, every "
                         "prompt token computed, loose latency targets");
  estimate_cmd->add_option("--out,-o", estimate.out_dir, "with --simulate: write estimate_sim.json, estimate_sim.csv, "
                           "report.html and each year's pod scenario here");
  estimate_cmd->add_option("--years", estimate.years, "with --simulate: which years (default 2024 2025 2026)");
  estimate_cmd->add_option("--jobs,-j", estimate.jobs, "with --simulate: pools simulated at once (default: the cores)")
      ->check(CLI::PositiveNumber);
  estimate_cmd->add_option("--set,-s", estimate.overrides,
                           "override a scenario key, or with --preset a year's input: --set 2025.peak_multiple=2.5")
      ->take_all();
  estimate_cmd->add_option("--peak-multiple,-k", estimate.peak_multiple, "k for a scenario (default 4, the report's 2024)")
      ->check(CLI::PositiveNumber);
  estimate_cmd->add_option("--utilization,-u", estimate.utilization, "u for a scenario (default 0.34, the report's 2024)")
      ->check(CLI::Range(1e-6, 1.0));

  tf::SizeCommand size;
  std::vector<std::string> gpu_prices;
  auto* size_cmd = app.add_subcommand(
      "size", "find the smallest fleet (with fleet.pods > 1: pods x the smallest pod) that meets the SLO targets");
  size_cmd->add_option("scenario", size.scenario_path, "scenario file (default: the built-in default)")
      ->check(CLI::ExistingFile);
  size_cmd->add_option("--set,-s", size.overrides, "override a scenario key")->take_all();
  size_cmd->add_option("--window", size.window, "evaluate the targets over the whole measurement window or its busiest hour")
      ->check(CLI::IsMember({"whole", "day", "busiest-hour"}));
  size_cmd->add_option("--jobs,-j", size.jobs, "simulations at once, each in a child process (default: cores; under mpirun: per rank)")
      ->check(CLI::Range(1, 256));
  size_cmd->add_option("--max-replicas", size.max_replicas, "search bound (default 4096; per pod with fleet.pods > 1; at most fleet.replicas' bound)")
      ->check(CLI::Range(std::int64_t{1}, tf::limits::kMaxReplicas));
  size_cmd->add_option("--seeds", size.seeds, "seeds per candidate (seed, seed+1, ...)")->check(CLI::Range(1, 100));
  size_cmd->add_option("--pass-share", size.pass_share, "share of seeds that must meet the targets (default 1)")
      ->check(CLI::Range(0.0, 1.0));
  size_cmd->add_option("--margin", size.margin,
                       "safe (default): a candidate passes only when its p99s' 95 % confidence intervals (over "
                       "--seeds, or batch means within the run) are below the targets; point: on its p99s alone")
      ->check(CLI::IsMember({"point", "safe"}));
  size_cmd->add_flag("--per-hour", size.per_hour, "also find the fleet each hour needs (an autoscaling schedule)");
  size_cmd->add_option("--hour-warmup", size.hour_warmup_s,
                       "with --per-hour: seconds of the demand before each hour simulated ahead of it (default 1800)");
  size_cmd->add_option("--gpus", size.gpus,
                       "size for each GPU type and rank them: --gpus h100-sxm,h200-sxm,b200; name:tp pins the tensor "
                       "parallelism (h200-sxm:2)")
      ->delimiter(',');
  size_cmd->add_option("--search", size.search,
                       "also try, per GPU type, the tensor-parallel degrees that fit (tp) and batch caps 64, 256, "
                       "1024 beside the scenario's (max_batch), and for disaggregated serving prefill shares of "
                       "12.5, 25, 37.5 and 50 % (split), and for a mixed fleet of two pools the first pool's share "
                       "of the GPUs at 25, 50 and 75 % (mix); ranks the configurations")
      ->delimiter(',')
      ->check(CLI::IsMember({"tp", "max_batch", "split", "mix"}));
  size_cmd->add_option("--gpu-hour-price", gpu_prices, "$ per GPU-hour: --gpu-hour-price h100-sxm=2.5,b200=5")
      ->delimiter(',');
  size_cmd->add_option("--kwh-price", size.kwh_price, "$ per kWh")->check(CLI::NonNegativeNumber);
  size_cmd->add_option("--peak-multiple,-k", size.peak_multiple, "k of the analytic estimate shown beside the answer")
      ->check(CLI::PositiveNumber);
  size_cmd->add_option("--utilization,-u", size.utilization, "u of the analytic estimate shown beside the answer")
      ->check(CLI::Range(1e-6, 1.0));
  size_cmd->add_option("--out,-o", size.out_dir, "folder for sizing.json and probes.csv");
  size_cmd->add_flag("--failures", size.failures,
                     "size under the failure process: the scenario's [failures], or its defaults");
  size_cmd->add_flag("--autoscaler", size.autoscaler,
                     "also run the scenario's [autoscaler] for max_replicas 1 .. answer + 1: the smallest that meets "
                     "the targets, its GPU-hours against the fixed fleet's");
  size_cmd->add_option("--spare", size.spare, "N + k: meet the targets with k replicas down through the arrival window")
      ->check(CLI::Range(0, 1000));
  size_cmd->add_flag("--report", size.report, "also build report.html (SLO figures against fleet size) in --out");
  size_cmd->add_option("--scale-check", size.scale_check,
                       "also the largest share of the arrivals a pod of 1, 2, 4, ... M replicas serves within the "
                       "targets, and the GPUs per unit of demand as it grows (M a power of two)");
  size_cmd->add_option("--scale-gain", size.scale_gain_pct,
                       "with --scale-check: a doubling that saves less than this % of the GPUs per unit of demand no "
                       "longer pays (default 5)");

  tf::CompareCommand compare;
  auto* compare_cmd = app.add_subcommand(
      "compare", "run the same requests under several batching policies and/or routers and compare them");
  compare_cmd->add_option("scenario", compare.scenario_path, "scenario file (default: the built-in default)")
      ->check(CLI::ExistingFile);
  compare_cmd->add_option("--set,-s", compare.overrides, "override a scenario key")->take_all();
  compare_cmd->add_option("--policies", compare.policies, "batching policies: --policies continuous,chunked-prefill,static; a disaggregated split: "
                           "disaggregated:P (P prefill replicas) or disaggregated:P:D")
      ->delimiter(',');
  compare_cmd->add_option("--routers", compare.routers, "routers: --routers round-robin,join-shortest-queue")
      ->delimiter(',');
  compare_cmd->add_option("--jobs,-j", compare.jobs, "simulations at once (default: cores; under mpirun: per rank)")->check(CLI::Range(1, 256));
  compare_cmd->add_option("--out,-o", compare.out_dir, "folder for compare.csv");
  compare_cmd->add_flag("--report", compare.report, "also build report.html in the --out folder");
  compare_cmd->add_flag("--size", compare.size,
                        "also size the fleet under each policy for the same demand and targets, with the formula's "
                        "k and u and the analytic estimate beside it (compare_size.csv)");
  compare_cmd->add_option("--peak-multiple,-k", compare.peak_multiple, "with --size: k of the analytic estimate (default 4)")
      ->check(CLI::PositiveNumber);
  compare_cmd->add_option("--utilization,-u", compare.utilization, "with --size: u of the analytic estimate (default 0.34)")
      ->check(CLI::Range(1e-9, 1.0));

  tf::SweepCommand sweep;
  auto* sweep_cmd = app.add_subcommand(
      "sweep", "run a scenario over the cross product of --grid overrides (one simulation per point, each in a child "
               "process) into sweep.csv and sweep.json");
  sweep_cmd->add_option("scenario", sweep.scenario_path, "scenario file (default: the built-in default)")
      ->check(CLI::ExistingFile);
  sweep_cmd->add_option("--grid,-g", sweep.grid,
                        "an axis: a scenario key (as --set takes it) and its values, --grid fleet.replicas=4,8,16; "
                        "repeat for more axes (the first varies slowest)")
      ->allow_extra_args(false)
      ->take_all();
  sweep_cmd->add_option("--set,-s", sweep.overrides, "override a scenario key at every point")
      ->allow_extra_args(false)
      ->take_all();
  sweep_cmd->add_option("--jobs,-j", sweep.jobs, "simulations at once, each in a child process (default: cores; under mpirun: per rank)")
      ->check(CLI::Range(1, 256));
  sweep_cmd->add_option("--out,-o", sweep.out_dir, "folder for sweep.csv, sweep.json and scenario.toml");
  sweep_cmd->add_flag("--report", sweep.report, "also build report.html (a table and bar charts) in --out");

  tf::CalibrateCommand calibrate;
  auto* calibrate_cmd = app.add_subcommand(
      "calibrate", "the cost model's engine profiles against published serving figures (training and validation)");
  calibrate_cmd->add_option("--engine", calibrate.engine, "only this engine's figures (trtllm, vllm, sglang)");
  calibrate_cmd->add_flag("--fit", calibrate.fit,
                          "fit each engine's profile to its training figures and print it, with the errors after");
  calibrate_cmd->add_option("--max-evaluations", calibrate.max_evaluations, "the fit's budget (default 600)")
      ->check(CLI::Range(10, 100000));
  calibrate_cmd->add_flag("--operators", calibrate.operators,
                          "also print each figure's time by operator (one decode iteration at its largest batch)");

  tf::BenchCommand bench;
  auto* bench_cmd = app.add_subcommand(
      "bench", "benchmark: simulated requests per wall-clock second and peak memory (default: 100 replicas, one "
               "simulated hour)");
  bench_cmd->add_option("scenario", bench.scenario_path, "scenario file (default: the built-in bench-100)");
  bench_cmd->add_option("--set,-s", bench.overrides, "override a scenario key")->take_all();
  bench_cmd->add_option("--repeats", bench.repeats, "runs, each in a fresh process; the median is reported")
      ->check(CLI::Range(1, 50));

  tf::WorkloadCommand workload;
  auto* workload_cmd = app.add_subcommand(
      "workload", "show what a scenario's workload sends (requests per hour, peak-to-mean, lengths) without "
                  "simulating; --export writes the requests as plain CSV");
  workload_cmd->add_option("scenario", workload.scenario_path, "scenario file (TOML)")->check(CLI::ExistingFile);
  workload_cmd->add_option("--set,-s", workload.overrides, "override a scenario key")->take_all();
  workload_cmd->add_option("--export", workload.export_path,
                           "write the requests to this CSV file (arrival_s,prompt_tokens,output_tokens)");
  workload_cmd->add_option("--service-s", workload.service_s,
                           "sessions: assumed seconds from a question to the end of its answer (default 0)")
      ->check(CLI::NonNegativeNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (!tf::mpi::is_worker()) return app.exit(e);
    // Another MPI rank: rank 0 prints its own (the same) message; this one's goes to rank 0 in case it differs.
    std::ostringstream out, err;
    const int code = app.exit(e, out, err);
    std::string text = err.str();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    if (!text.empty()) tf::print_error(text);
    return code;
  }
  // Logs go to stderr (stdout carries the results); the default level, warn, leaves a normal run's output as it is.
  auto logger = spdlog::stderr_color_mt("tokenfleet");
  logger->set_pattern("tokenfleet %H:%M:%S.%e [%l] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));
  if (tf::mpi::is_worker()) {
    // Under mpirun, rank 0 logs; another rank only when asked for debug or trace, its lines marked with its rank.
    logger->set_pattern(fmt::format("tokenfleet rank {} %H:%M:%S.%e [%l] %v", tf::mpi::rank()));
    if (spdlog::get_level() > spdlog::level::debug) spdlog::set_level(spdlog::level::off);
  }
  if (tf::mpi::active() && !(*run_cmd || *size_cmd || *compare_cmd || *sweep_cmd)) {
    // The other commands do not spread over ranks: rank 0 runs them as without mpirun, the others wait for it.
    if (tf::mpi::is_worker()) return 0;
    spdlog::info("MPI: {} runs on rank 0 alone (only run, size, compare and sweep spread over the ranks)",
                 app.get_subcommands().front()->get_name());
  }
  // The context factory is checked before any command runs (exit 2), from the option or else the environment;
  // the option goes into the environment, so child processes (size, compare, bench) run with it too.
  if (const int code = tf::guarded([&] {
        if (!context_factory.empty()) tf::set_context_factory(context_factory);
        spdlog::debug("SimGrid context factory: {}", tf::context_factory());
        return 0;
      });
      code != 0)
    return code;

  if (*run_cmd) return tf::command_run(run);
  if (*report_cmd) return tf::command_report(report_dir);
  if (*workload_cmd) return tf::command_workload(workload);
  if (*validate_cmd) return tf::command_validate(validate_path, validate_overrides);
  if (*catalog_cmd) return tf::command_catalog(catalog_json);
  if (*policies_cmd) return tf::command_policies(policies_markdown);
  if (*calibrate_cmd) return tf::command_calibrate(calibrate);
  if (*compare_cmd) return tf::command_compare(compare);
  if (*sweep_cmd) return tf::command_sweep(sweep);
  if (*estimate_cmd) {
    if (!estimate.preset.empty() && !estimate.scenario_path.empty()) {
      tf::print_error("estimate takes a scenario or --preset, not both");
      return 2;
    }
    return tf::command_estimate(estimate);
  }
  if (*size_cmd) {
    for (const auto& p : gpu_prices) {
      const auto eq = p.find('=');
      double price = -1.0;
      if (eq != std::string::npos) {
        try {
          price = std::stod(p.substr(eq + 1));
        } catch (const std::exception&) {
        }
      }
      if (eq == std::string::npos || !(price >= 0.0)) {
        tf::print_error("--gpu-hour-price: expected GPU=dollars, got '" + p + "'");
        return 2;
      }
      size.gpu_hour_price[p.substr(0, eq)] = price;
    }
    size.scale_check_set = size_cmd->count("--scale-check") > 0;
    size.scale_gain_set = size_cmd->count("--scale-gain") > 0;
    size.hour_warmup_set = size_cmd->count("--hour-warmup") > 0;
    size.margin_set = size_cmd->count("--margin") > 0;
    return tf::command_size(size);
  }
  if (*bench_cmd) return tf::command_bench(bench);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Under mpirun on several ranks: MPI, each rank running the command (sim/study/mpi.hpp); else nothing of MPI.
  tf::mpi::Session mpi(argc, argv);
  if (mpi.startup_error() != 0) return mpi.startup_error();
  int code = 0;
  try {
    code = tokenfleet_main(argc, argv);
  } catch (const tf::mpi::RunEnded&) {  // another rank, stopped by rank 0's end of the run
    code = 0;
  }
  return mpi.finish(code);
}
