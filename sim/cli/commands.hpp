#pragma once
// The sub-commands of the tokenfleet binary, one file each in sim/cli/ (run.cpp, validate.cpp, ...). Each returns
// the process exit code (sim/cli/common.hpp); sim/cli/main.cpp parses the command line into these structs.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tf {

struct RunCommand {
  std::string scenario_path;            // empty: the built-in default
  std::vector<std::string> overrides;   // --set key=value
  std::string out_dir;                  // empty: print only
  bool exact_iterations = false;
  double timeseries_window_s = 60.0;    // window of timeseries.csv
  bool report = false;                  // also build report.html in out_dir
  bool quiet = false;                   // no progress line
  int jobs = 0;                         // pods at once (fleet.pods > 1); 0: the number of cores
};
int command_run(const RunCommand& cmd);

int command_validate(const std::string& scenario_path, const std::vector<std::string>& overrides);
int command_catalog(bool json);
// `tokenfleet policies`: the registered policies by kind, with their parameters; markdown: scenarios/README.md's
// generated tables (sim/cli/policies.cpp).
int command_policies(bool markdown);
struct CalibrateCommand {
  std::string engine;
  bool fit = false;
  int max_evaluations = 600;
  bool operators = false;
};
int command_calibrate(const CalibrateCommand& cmd);

struct BenchCommand {
  std::string scenario_path;            // empty: scenarios/bench-100.toml's text (built in)
  std::vector<std::string> overrides;
  int repeats = 3;
};
int command_bench(const BenchCommand& cmd);

struct EstimateCommand {
  std::string scenario_path;              // a scenario (its demand, model and GPU), or
  std::string preset;                     // a built-in preset: "huafu-2024"
  std::vector<std::string> overrides;     // --set: scenario keys, or YEAR.field=value with a preset
  double peak_multiple = 4.0;             // k for a scenario (the report's 2024 value)
  double utilization = 0.34;              // u for a scenario (the report's 2024 value)
  bool simulate = false;                  // --simulate: the preset's demand simulated (sim/study/estimate_sim.hpp)
  bool formula = false;                   // --formula: with --simulate, the cost model reduced to the report's 2 x P at u
  std::string out_dir;                    // --out: estimate_sim.json, .csv and report.html
  std::vector<std::string> years;         // --years: which of the preset's (default all)
  int jobs = 0;                           // 0: the number of cores
};
int command_estimate(const EstimateCommand& cmd);

struct SizeCommand {
  std::string scenario_path;
  std::vector<std::string> overrides;
  std::string window = "whole";           // whole | busiest-hour
  int jobs = 0;                           // 0: the number of cores
  int max_replicas = 4096;
  int seeds = 1;
  double pass_share = 1.0;
  std::string margin = "safe";   // safe | point: whether a pass needs the p99s' 95 % intervals below the targets
  bool margin_set = false;       // --margin given (safe without an interval is then an error, not point)
  bool per_hour = false;
  double hour_warmup_s = 1800.0;          // --hour-warmup: each hour of --per-hour simulated after this much before it
  bool hour_warmup_set = false;
  std::vector<std::string> gpus;          // size for each of these GPU types (name, or name:tp to pin TP)
  std::vector<std::string> search;        // tp, max_batch: configurations tried per GPU type
  std::map<std::string, double> gpu_hour_price;  // $ per GPU-hour, by GPU name
  double kwh_price = 0.0;                 // $ per kWh
  double peak_multiple = 4.0;             // for the analytic estimate printed beside the answer
  double utilization = 0.34;
  std::string out_dir;
  bool report = false;                    // also build report.html in out_dir
  // --scale-check M: pods of 1, 2, 4, ... M replicas on their largest share of the arrivals (M a power of two).
  int scale_check = 0;
  bool scale_check_set = false;
  double scale_gain_pct = 5.0;            // --scale-gain: below this gain a doubling no longer pays
  bool scale_gain_set = false;
  bool failures = false;                  // --failures: sized under the failure process (sim/study/failures_sizing.hpp)
  bool autoscaler = false;                // --autoscaler: also the smallest autoscaler.max_replicas (sim/study/autoscaler_sizing.hpp)
  int spare = 0;                          // --spare k: k replicas down through the arrival window (N + k)
};
int command_size(const SizeCommand& cmd);

struct CompareCommand {
  std::string scenario_path;
  std::vector<std::string> overrides;
  std::vector<std::string> policies;
  std::vector<std::string> routers;
  int jobs = 0;
  std::string out_dir;
  bool report = false;  // also build report.html in out_dir
  bool size = false;    // also size the fleet under each policy (compare_size.csv)
  double peak_multiple = 4.0, utilization = 0.34;  // the analytic estimate beside each sized fleet
};
int command_compare(const CompareCommand& cmd);

struct SweepCommand {
  std::string scenario_path;            // empty: the built-in default
  std::vector<std::string> overrides;   // --set, applied to every point
  std::vector<std::string> grid;        // --grid key=v1,v2,...: the axes, the first varying slowest
  int jobs = 0;                         // 0: the number of cores
  std::string out_dir;
  bool report = false;
};
// `tokenfleet sweep` (sim/cli/sweep.cpp).
int command_sweep(const SweepCommand& cmd);
// report.html of a sweep folder (sweep.json): the table and one bar chart per telling figure; its path. Throws
// ReportError.
std::string build_sweep_report(const std::string& results_dir);

struct WorkloadCommand {
  std::string scenario_path;           // empty: the built-in default
  std::vector<std::string> overrides;  // --set key=value
  std::string export_path;             // --export: plain CSV arrival_s,prompt_tokens,output_tokens[,hash_ids]
  double service_s = 0.0;              // sessions: assumed time from a question to its answer's end
};

// Prints requests per hour (with a text chart), peak-to-mean ratios, length percentiles and tokens per day;
// writes the export if asked (atomically: a failed run leaves no file). Returns the exit code.
int command_workload(const WorkloadCommand& cmd);

// Percentile q (0..100) of the values whose counts are in `counts` (counts[v] = how many equal v), linear
// interpolation between closest ranks (as results/summary's percentile_sorted). 0 when empty.
double histogram_percentile(const std::vector<std::uint64_t>& counts, std::uint64_t total, double q);

// `tokenfleet report DIR`; make_report builds the page of a results folder for run, size and compare --report
// and prints where it is (exit_ok, or exit_io_error when it could not be built).
int make_report(const std::string& results_dir);
int command_report(const std::string& results_dir);

}  // namespace tf
