// `tokenfleet validate`: checks a scenario and that it can be served; runs nothing. A trace's rows are read as the
// run would read them (streamed, one pass), and every bad row, request beyond the context window and request longer
// than a replica's KV cache counted, where the run stops at the first.
#include <iostream>

#include <fmt/format.h>

#include "cluster/cost_model.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"
#include "sim/engine/engine.hpp"
#include "sim/engine/preflight.hpp"
#include "sim/study/pods.hpp"
#include "sim/scenario/scenario.hpp"
#include "workloads/distribution.hpp"

namespace tf {

namespace {

// Requests whose lengths validate draws for a synthetic workload (a few tens of milliseconds).
constexpr std::uint64_t kLengthSample = 200000;

// ":\n    line\n    line" after "the first N" or "they are" (when all are shown).
std::string examples(std::uint64_t count, const std::vector<std::string>& lines) {
  std::string out = lines.size() < count ? fmt::format("the first {}:", lines.size()) : std::string("they are:");
  for (const auto& l : lines) out += "\n    " + l;
  return out;
}

// The run would stop: its error, then what the whole trace holds.
[[noreturn]] void refuse(const Scenario& s, const TraceScan& scan) {
  std::string what = scan.error;
  switch (scan.failure) {
    case TraceScan::Failure::bad_row:
      what += fmt::format(
          "\n  {} bad row(s) in all among the rows the run reads; {}\n  workload.trace.skip_bad_rows = true skips them "
          "(counted in summary.json)",
          scan.bad_rows, examples(scan.bad_rows, scan.bad_examples));
      if (scan.over_context > 0 && s.workload.over_context == OverContext::refuse)
        what += fmt::format("\n  and {} request(s) exceed the model's context window (workload.over_context = "
                            "\"refuse\" stops the run at the first)",
                            scan.over_context);
      if (scan.kv_short > 0)
        what += fmt::format("\n  and {} request(s) need more KV cache than a replica holds; the first: {}", scan.kv_short,
                            scan.first_kv_short);
      throw WorkloadInputError(what);
    case TraceScan::Failure::over_context:
      what += fmt::format("\n  {} request(s) in all exceed the context window", scan.over_context);
      if (scan.kv_short > 0)
        what += fmt::format("\n  and {} request(s) need more KV cache than a replica holds", scan.kv_short);
      throw WorkloadInputError(what);
    case TraceScan::Failure::kv_cache:
      what += fmt::format("\n  {} request(s) in all need more KV cache than a replica holds", scan.kv_short);
      throw SimulationError(what);
    case TraceScan::Failure::none: break;
  }
  throw SimulationError(what);
}

int validate_command(const std::string& path, const std::vector<std::string>& overrides) {
  const Scenario s = load_scenario_or_default(path, overrides);
  // Every pool of a mixed fleet, named (one GPU type: the scenario itself).
  const int units = s.mixed() ? static_cast<int>(s.fleet_pools.size()) : 1;
  for (int k = 0; k < units; ++k) {
    const std::string where =
        s.mixed() ? fmt::format("{}: pool '{}'", path, s.fleet_pools[static_cast<std::size_t>(k)].name) : path;
    try {
      check_servable(s.mixed() ? pool_scenario(s, k) : s);
    } catch (const std::invalid_argument& e) {  // the fleet cannot be laid out: cannot be served, said with the file
      throw SimulationError(where + ": " + e.what());
    } catch (const SimulationError& e) {
      throw SimulationError(where + ": " + e.what());
    }
  }
  // Every row of a trace, as the run would take them: the run's error and exit code, with the counts.
  const TraceScan scan = scan_trace(s);
  if (scan.failure != TraceScan::Failure::none) refuse(s, scan);
  std::cout << describe_scenario(s) << "\n";
  for (const auto& note : s.notes) std::cout << "note: " << note << "\n";
  const CostModel cost(s.model, s.gpu, s.dtype, s.layout(), s.cost);
  const WorkloadSpec& w = s.workload;
  const std::int64_t window = w.context_window;
  if (w.trace.enabled) {
    std::cout << fmt::format("trace: {} request(s) replayed", scan.requests);
    if (scan.requests > 0)
      std::cout << fmt::format(", arriving from {:.3f} s to {:.3f} s; the longest {} tokens (prompt {} + answer {})",
                               scan.first_arrival_s, scan.last_arrival_s, scan.longest_tokens, scan.longest_prompt,
                               scan.longest_output);
    std::cout << "\n";
    if (scan.bad_rows > 0)
      std::cout << fmt::format("warning: {} bad trace row(s) will be skipped (workload.trace.skip_bad_rows; counted in "
                               "summary.json); {}\n",
                               scan.bad_rows, examples(scan.bad_rows, scan.bad_examples));
    if (scan.over_context > 0)
      std::cout << fmt::format(
          "{}: {} request(s) exceed the model's context window ({} tokens) and {} (workload.over_context = \"{}\"; "
          "counted in summary.json)\n",
          w.over_context == OverContext::cut ? "note" : "warning", scan.over_context, window,
          w.over_context == OverContext::cut ? "are cut to it" : "are turned away on arrival, as SLO misses",
          to_string(w.over_context));
    if (const std::string tail = short_trace_warning(s, scan.first_arrival_s, scan.last_arrival_s, scan.requests);
        !tail.empty())
      std::cout << "warning: " << tail << "\n";
  } else {
    // The bound of the lengths (the distributions' longest draws, the context window enforced over them), and the
    // first requests' lengths drawn as the run draws them: how often either bound is reached.
    const std::int64_t longest = longest_request_bound(s);
    long long prompt_max = 0, output_max = 0;
    try {
      prompt_max = make_distribution(w.prompt_tokens)->longest();
      output_max = make_distribution(w.output_tokens)->longest();
    } catch (const std::exception&) {
    }
    const bool may_exceed =
        window > 0 && static_cast<double>(prompt_max) + static_cast<double>(output_max) > static_cast<double>(window);
    const bool may_not_fit = longest > cost.kv_capacity_tokens();
    LengthSample drawn;
    if (may_exceed || may_not_fit) drawn = sample_lengths(s, kLengthSample);
    const std::string of_drawn = fmt::format("of the first {} requests' lengths as the run draws them{}", drawn.drawn,
                                             w.session.enabled ? " (first questions)" : "");
    if (may_exceed && (drawn.over_context > 0 || w.over_context == OverContext::refuse)) {
      const char* what = w.over_context == OverContext::cut    ? "cut to it"
                         : w.over_context == OverContext::drop ? "turned away on arrival, as SLO misses"
                                                               : "refused: a run stops with an error at the first";
      std::cout << fmt::format(
          "{}: prompt_tokens (up to {}) and output_tokens (up to {}) can together exceed the model's context window "
          "({} tokens): {} {} ({:.3g} %) do; such requests are {} (workload.over_context = \"{}\"; counted in "
          "summary.json)\n",
          w.over_context == OverContext::refuse ? "warning" : "note", prompt_max, output_max, window,
          drawn.over_context, of_drawn, 100.0 * static_cast<double>(drawn.over_context) / static_cast<double>(drawn.drawn),
          what, to_string(w.over_context));
    }
    if (may_not_fit) {
      const auto remedies = fit_remedies(s, kv_tokens_needed(s, longest), 3);
      std::cout << fmt::format(
          "warning: the longest request the length distributions allow ({} tokens) exceeds a replica's KV capacity "
          "({} tokens): {} {} do not fit; a run stops with an error at the first one drawn{}\n",
          longest, cost.kv_capacity_tokens(), drawn.kv_short, of_drawn,
          remedies.empty() ? "" : "; " + remedies_text(remedies));
    }
  }
  std::cout << "ok\n";
  return exit_ok;
}

}  // namespace

int command_validate(const std::string& path, const std::vector<std::string>& overrides) {
  return guarded([&] { return validate_command(path, overrides); });
}

}  // namespace tf
