#pragma once
// What every command shares: exit codes, the error line, loading the scenario, preparing --out, the interrupted
// exit, and the one-paragraph description of a scenario.
#include <functional>
#include <initializer_list>
#include <iostream>
#include <stdexcept>
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

// What every command shares: "tokenfleet: error: <what>" on stderr. Under mpirun only rank 0 prints; another rank
// keeps the line for rank 0 (sim/study/mpi.hpp), which prints it when it is not one of its own.
void print_error(const std::string& what);
// "tokenfleet: note: <what>" on stderr (rank 0 only, under mpirun).
void print_note(const std::string& what);

// A command-line value is wrong (exit code 2): what a command throws for a bad option it checks itself.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Runs a command's body and turns what it throws into the error line on stderr and the exit code; the one place
// that maps errors to exit codes (the body returns the code of a command that ran to its end):
//   ScenarioError, WorkloadInputError, TraceError, UsageError,  2    the scenario or an input is wrong
//   OverContextError (workload.over_context = "refuse"),
//   EngineSettingError (--context-factory)
//   SimulationError, std::invalid_argument (fleet layout)       3    the scenario cannot be served
//   WriteError; ReportError (as "report: ...")                  4    outputs not written
//   mpi::RanksDiffer (the MPI ranks do not build the same jobs)  2
//   mpi::RankFailed (another MPI rank's command failed)         its exit status
//   RunInterrupted                                              130  (143 for SIGTERM) via interrupted_exit
//   anything else                                               5    an internal error
int guarded(const std::function<int()>& body);

struct Scenario;
// The scenario file with its --set overrides, or the built-in default when no path is given. Throws
// ScenarioError.
Scenario load_scenario_or_default(const std::string& path, const std::vector<std::string>& overrides);

// Creates an --out folder, removes the outputs an earlier run left there (they must not pass for this run's if
// this one fails) and checks that a file can be written there, before any simulation. exit_ok, or exit_io_error
// after saying why. Under mpirun, on a rank other than 0, nothing (that rank writes no output).
int prepare_output_dir(const std::string& dir, std::initializer_list<const char*> outputs);
// Removes from `dir` the temporary files a killed tokenfleet left ("summary.json.tmp-<pid>" and the like, for
// every output name, and ".tokenfleet-write-check-<pid>") whose process no longer runs; no other file. Returns how
// many it removed. prepare_output_dir calls it.
int remove_stale_temp_files(const std::string& dir);

// After Ctrl-C or SIGTERM: says so (with `detail` when given) and returns the exit code, 128 + the signal.
int interrupted_exit(const std::string& detail);

// The scenario in a paragraph: model, fleet, KV capacity, policies (run, validate, bench print it first).
std::string describe_scenario(const Scenario& s);

// The text written as scenario.toml beside the results: the scenario file as given (or the built-in default)
// and, as comments, the --set overrides applied on top.
std::string scenario_text(const std::string& scenario_path, const std::vector<std::string>& overrides);

}  // namespace tf
