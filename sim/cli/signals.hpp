#pragma once
// Stopping cleanly on Ctrl-C or SIGTERM, and the progress line on stderr.
#include <csignal>
#include <functional>

#include "sim/engine/engine.hpp"

namespace tf {

// SIGINT and SIGTERM raise a flag (RunOptions::interrupt_flag, SizingOptions::interrupt_flag) instead of killing the
// process; a second one kills it as usual. The same signal again within 0.3 s of the first is taken as the first
// delivered twice (GNU timeout signals the command and then its process group), not as a second one.
void install_interrupt_handlers();
const volatile std::sig_atomic_t* interrupt_flag();
int interrupt_signal();  // the signal that raised the flag (0: none)

// A progress line on stderr (simulated time done, requests done, wall-clock time left), shown once the run has
// taken two seconds, redrawn at most every quarter second, only when stderr is a terminal. Empty when it would
// not show (not a terminal, or quiet).
std::function<void(const RunProgress&)> progress_printer(bool quiet);
void end_progress_line();  // clears the line, when one was drawn

}  // namespace tf
