// `tokenfleet compare`: the same requests under several policies, side by side.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "results/summary.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"
#include "sim/cli/signals.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/mpi.hpp"
#include "sim/study/compare.hpp"
#include "sim/study/compare_size.hpp"
#include "sim/study/child_process.hpp"
#include "sim/study/sizing.hpp"

namespace tf {

namespace {

// Sizes each policy of the comparison, the probes quiet (one line per policy instead).
std::vector<SizedPolicy> compare_sizes(const Scenario& s, const CompareCommand& cmd, int jobs) {
  if (s.slo.ttft_p99_s <= 0.0 && s.slo.tpot_p99_s <= 0.0)
    throw ScenarioError(s.source, 0, "slo", "compare --size needs at least one latency target: set slo.ttft_p99_s or "
                                            "slo.tpot_p99_s");
  const auto runner = make_runner(jobs, interrupt_flag());
  SizingOptions o;
  o.interrupt_flag = interrupt_flag();
  o.runner = runner.get();
  o.jobs = runner->slots();
  o.verbose = false;
  DemandMeasurement demand(s, *runner, o.interrupt_flag);
  std::cout << "Sizing each policy (the same demand, targets and random numbers)...\n" << std::flush;
  return size_policies(s, cmd.policies, cmd.routers, o, demand, cmd.peak_multiple, cmd.utilization);
}

int compare_command(const CompareCommand& cmd) {
  const Scenario s = load_scenario_or_default(cmd.scenario_path, cmd.overrides);
  check_servable(s);
  if (cmd.report && cmd.out_dir.empty()) {
    print_error("--report needs --out DIR");
    return exit_bad_scenario;
  }
  if (cmd.policies.empty() && cmd.routers.empty()) {
    print_error("compare needs --policies a,b,... and/or --routers a,b,...");
    return exit_bad_scenario;
  }
  namespace fs = std::filesystem;
  if (!cmd.out_dir.empty()) {
    const int rc = prepare_output_dir(cmd.out_dir, {"compare.csv", "compare_size.csv"});
    if (rc != exit_ok) return rc;
  }
  const int jobs = cmd.jobs > 0 ? cmd.jobs : mpi::default_jobs();
  install_interrupt_handlers();
  const std::vector<CompareRow> rows = run_compare(s, cmd.policies, cmd.routers, jobs);
  if (*interrupt_flag() != 0) return interrupted_exit("");
  std::cout << fmt::format("Comparing on scenario '{}' ({}): the same requests under each policy, seed {}\n\n", s.name,
                           s.source, s.seed)
            << compare_table(rows);
  int status = exit_ok;
  for (const auto& r : rows)
    if (!r.ok) status = exit_unservable;
  // --size: each policy's fleet for the same demand (sim/study/compare_size.hpp).
  std::vector<SizedPolicy> sized;
  if (cmd.size) {
    std::cout << "\n";
    sized = compare_sizes(s, cmd, jobs);
    std::cout << "\n" << size_policies_table(sized, cmd.peak_multiple, cmd.utilization);
  }
  if (!cmd.out_dir.empty() && mpi::writes_outputs()) {
    write_file_atomically((fs::path(cmd.out_dir) / "compare.csv").string(), compare_csv(rows));
    if (cmd.size)
      write_file_atomically((fs::path(cmd.out_dir) / "compare_size.csv").string(), size_policies_csv(sized));
    std::cout << "results written to " << cmd.out_dir << (cmd.size ? "/ (compare.csv, compare_size.csv)\n" : "/compare.csv\n");
    if (cmd.report) {
      const int rc = make_report(cmd.out_dir);
      if (rc != exit_ok) return rc;
    }
  }
  return status;
}

}  // namespace

int command_compare(const CompareCommand& cmd) {
  return guarded([&] { return compare_command(cmd); });
}

}  // namespace tf
