#pragma once
// The sub-commands of the tokenfleet binary. Each returns the process exit code.
#include <initializer_list>
#include <iostream>
#include <string>
#include <vector>

namespace tf {

enum ExitCode : int {
  exit_ok = 0,
  exit_bad_scenario = 2,    // the scenario file or an override is wrong
  exit_unservable = 3,      // the scenario is valid but cannot be served (model does not fit, ...)
  exit_io_error = 4,        // outputs could not be written
  exit_internal_error = 5,  // a bug: requests left unfinished, ...
};

// What every command shares.
inline void print_error(const std::string& what) { std::cerr << "tokenfleet: error: " << what << "\n"; }

struct Scenario;
// The scenario file with its --set overrides, or the built-in default when no path is given. Throws
// ScenarioError.
Scenario load_scenario_or_default(const std::string& path, const std::vector<std::string>& overrides);

// Creates an --out folder and removes the outputs an earlier run left there (they must not pass for this
// run's if this one fails). exit_ok, or exit_io_error after saying why.
int prepare_output_dir(const std::string& dir, std::initializer_list<const char*> outputs);

// After Ctrl-C or SIGTERM: says so (with `detail` when given) and returns the exit code, 128 + the signal.
int interrupted_exit(const std::string& detail);

struct RunCommand {
  std::string scenario_path;            // empty: the built-in default
  std::vector<std::string> overrides;   // --set key=value
  std::string out_dir;                  // empty: print only
  bool exact_iterations = false;
  double timeseries_window_s = 60.0;    // window of timeseries.csv
  bool report = false;                  // also build report.html in out_dir
  bool quiet = false;                   // no progress line
};
int command_run(const RunCommand& cmd);

int command_validate(const std::string& scenario_path, const std::vector<std::string>& overrides);
int command_catalog(bool json);
int command_calibrate();

struct BenchCommand {
  std::string scenario_path;            // empty: scenarios/bench-100.toml's text (built in)
  std::vector<std::string> overrides;
  int repeats = 3;
};
int command_bench(const BenchCommand& cmd);

}  // namespace tf
