#pragma once
// The sub-commands of the tokenfleet binary. Each returns the process exit code.
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
