// `tokenfleet validate`: checks a scenario and that it can be served; runs nothing.
#include <iostream>

#include <fmt/format.h>

#include "cluster/cost_model.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"

namespace tf {

namespace {

int validate_command(const std::string& path, const std::vector<std::string>& overrides) {
  const Scenario s = load_scenario_or_default(path, overrides);
  try {
    check_servable(s);
  } catch (const std::invalid_argument& e) {  // the fleet cannot be laid out: cannot be served, said with the file
    throw SimulationError(path + ": " + e.what());
  } catch (const SimulationError& e) {
    throw SimulationError(path + ": " + e.what());
  }
  check_trace_fits(s);  // every row of a trace, as the run would take them: the same error and exit code
  std::cout << describe_scenario(s) << "\n";
  for (const auto& note : s.notes) std::cout << "note: " << note << "\n";
  const CostModel cost(s.model, s.gpu, s.dtype, s.tensor_parallel, s.cost);
  const double longest = s.workload.prompt_tokens.max + s.workload.output_tokens.max;
  if (longest > static_cast<double>(cost.kv_capacity_tokens())) {
    std::cout << fmt::format(
        "warning: the longest request the length distributions allow ({:.0f} tokens) exceeds a replica's KV "
        "capacity ({} tokens); a run stops with an error if one is drawn\n",
        longest, cost.kv_capacity_tokens());
  }
  std::cout << "ok\n";
  return exit_ok;
}

}  // namespace

int command_validate(const std::string& path, const std::vector<std::string>& overrides) {
  return guarded([&] { return validate_command(path, overrides); });
}

}  // namespace tf
