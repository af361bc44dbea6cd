#pragma once
// `tokenfleet report RESULTS_DIR`, `run --report`, `size --report`, and what runs share with them: the time
// series written beside a run's results, the progress line, and stopping cleanly on Ctrl-C or SIGTERM.
#include <csignal>
#include <functional>
#include <string>
#include <vector>

#include "results/records.hpp"
#include "results/timeseries.hpp"
#include "sim/engine.hpp"
#include "sim/scenario.hpp"

namespace tf {

// SIGINT and SIGTERM raise a flag (RunOptions::interrupt_flag) instead of killing the process; a second one
// kills it as usual.
void install_interrupt_handlers();
const volatile std::sig_atomic_t* interrupt_flag();
int interrupt_signal();  // the signal that raised the flag (0: none)

// A progress line on stderr (simulated time done, requests done, wall-clock time left), shown once the run has
// taken two seconds, redrawn at most every quarter second, only when stderr is a terminal. Empty when it would
// not show (not a terminal, or quiet).
std::function<void(const RunProgress&)> progress_printer(bool quiet);
void end_progress_line();  // clears the line, when one was drawn

// The time series of a finished run, in the fleet's terms.
FleetFacts fleet_facts(const Scenario& s, const std::vector<RequestRecord>& records);

// The text written as scenario.toml beside the results: the scenario file as given (or the built-in default)
// and, as comments, the --set overrides applied on top.
std::string scenario_text(const std::string& scenario_path, const std::vector<std::string>& overrides);

// Builds the report of a results folder and prints where it is; returns an exit code (0, or 4 when it could not
// be built).
int make_report(const std::string& results_dir);

int command_report(const std::string& results_dir);

}  // namespace tf
