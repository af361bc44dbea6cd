#pragma once
// Running work in child processes: SimGrid allows one engine per process, so every simulation of a
// sweep (fleet sizes, policies) runs in a child forked for it, and its result comes back as text
// through a pipe. The parent never creates an engine.
#include <functional>
#include <string>
#include <vector>

namespace tf {

struct ChildResult {
  bool ok = false;
  std::string output;  // what the child's function returned
  std::string error;   // why not ok (the exception's message, a crash)
};

// Runs each task in a child process, at most `jobs` at once; results in the order of the tasks. A task
// that throws gives ok = false and the exception's message.
std::vector<ChildResult> run_in_children(const std::vector<std::function<std::string()>>& tasks, int jobs);

}  // namespace tf
