// `tokenfleet validate`: checks a scenario and that it can be served; runs nothing.
#include <iostream>

#include <fmt/format.h>

#include "cluster/cost_model.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"

namespace tf {

int command_validate(const std::string& path, const std::vector<std::string>& overrides) {
  Scenario s;
  try {
    s = load_scenario_or_default(path, overrides);
    check_servable(s);
  } catch (const ScenarioError& e) {
    print_error(e.what());
    return exit_bad_scenario;
  } catch (const SimulationError& e) {
    print_error(std::string(path) + ": " + e.what());
    return exit_unservable;
  } catch (const std::invalid_argument& e) {
    print_error(std::string(path) + ": " + e.what());
    return exit_unservable;
  }
  std::cout << describe_scenario(s) << "\n";
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

}  // namespace tf
