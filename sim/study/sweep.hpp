#pragma once
// `tokenfleet sweep`: a scenario over the cross product of --set-style overrides (--grid key=v1,v2 ...), each
// point one simulation in a job of a JobRunner (child processes today), gathered into one table.
#include <string>
#include <vector>

#include "results/summary.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/child_process.hpp"

namespace tf {

// One --grid: a scenario key and the values it takes, as given (each value is what --set key=value takes).
struct GridAxis {
  std::string key;
  std::vector<std::string> values;
};

// Parses "key=v1,v2,...". Throws UsageError-like std::invalid_argument naming the argument when it is not of that
// form (no '=', an empty key, an empty value).
GridAxis parse_grid_axis(const std::string& arg);

struct SweepPoint {
  std::vector<std::string> values;  // one per axis, in the axes' order
  Scenario scenario;                // the scenario with the base overrides and this point's
  bool ok = false;
  std::string error;
  std::string summary_json;         // the run's summary.json text (as `tokenfleet run` writes it), when ok
  Summary summary;
};

// Every point of the grid, the first axis varying slowest, each loaded and validated (the base overrides, then
// the point's as --set key=value). Throws ScenarioError naming the --grid argument, the key and the value for the
// first point that does not load, before anything runs; std::invalid_argument for a key given twice.
std::vector<SweepPoint> sweep_points(const std::string& scenario_path, const std::vector<std::string>& overrides,
                                     const std::vector<GridAxis>& axes);

// Runs every point as a job of `runner` (results in grid order, whatever the runner's parallelism).
void run_sweep(std::vector<SweepPoint>& points, JobRunner& runner);

// sweep.csv: the axes' keys as the first columns, then ok and the summary figures, one row per point.
std::string sweep_csv(const std::vector<GridAxis>& axes, const std::vector<SweepPoint>& points);
// sweep.json: the scenario, the axes and, per point, its values, ok, error and whole summary.
std::string sweep_json(const std::string& scenario_name, const std::vector<GridAxis>& axes,
                       const std::vector<SweepPoint>& points);
// The printed table.
std::string sweep_table(const std::vector<GridAxis>& axes, const std::vector<SweepPoint>& points);

}  // namespace tf
