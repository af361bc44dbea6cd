#pragma once
// `tokenfleet workload`: what a scenario's workload would send, without simulating it.
#include <cstdint>
#include <string>
#include <vector>

namespace tf {

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

}  // namespace tf
