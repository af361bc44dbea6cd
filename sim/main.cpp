// tokenfleet: a discrete-event simulator of LLM inference on GPU fleets, built on SimGrid.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "sim/commands.hpp"
#include "sim/workload_command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"tokenfleet: simulate LLM inference on a GPU fleet and report latency, throughput, utilization "
               "and energy"};
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

  tf::RunCommand run;
  auto* run_cmd = app.add_subcommand("run", "simulate a scenario (the built-in default when no file is given)");
  run_cmd->add_option("scenario", run.scenario_path, "scenario file (TOML)")->check(CLI::ExistingFile);
  run_cmd->add_option("--out,-o", run.out_dir, "folder for requests.csv and summary.json");
  run_cmd->add_option("--set,-s", run.overrides, "override a scenario key: --set fleet.replicas=12")
      ->take_all();
  run_cmd->add_flag("--exact-iterations", run.exact_iterations,
                    "step every iteration instead of computing decode stretches in closed form (slower; for checks)");

  std::string validate_path;
  std::vector<std::string> validate_overrides;
  auto* validate_cmd = app.add_subcommand("validate", "check a scenario file; runs nothing");
  validate_cmd->add_option("scenario", validate_path, "scenario file (TOML)")->required();
  validate_cmd->add_option("--set,-s", validate_overrides, "override a scenario key")->take_all();

  bool catalog_json = false;
  auto* catalog_cmd = app.add_subcommand("catalog", "list the GPUs and models tokenfleet knows, with their figures");
  catalog_cmd->add_flag("--json", catalog_json, "print as JSON");

  auto* calibrate_cmd = app.add_subcommand(
      "calibrate", "compare the cost model's defaults with published serving figures (throughput, TTFT)");

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

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));

  if (*run_cmd) return tf::command_run(run);
  if (*workload_cmd) return tf::command_workload(workload);
  if (*validate_cmd) return tf::command_validate(validate_path, validate_overrides);
  if (*catalog_cmd) return tf::command_catalog(catalog_json);
  if (*calibrate_cmd) return tf::command_calibrate();
  if (*bench_cmd) return tf::command_bench(bench);
  return 1;
}
