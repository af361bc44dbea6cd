// `compare --size`: each policy's fleet for the same demand, with the formula's k and u (see compare_size.hpp).
#include "sim/study/compare_size.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "io/csv.hpp"
#include "sim/study/compare.hpp"
#include "sim/study/estimate.hpp"

namespace tf {

std::vector<SizedPolicy> size_policies(const Scenario& base, const std::vector<std::string>& batchings,
                                       const std::vector<std::string>& routers, const SizingOptions& options,
                                       DemandMeasurement& demand, double peak_multiple, double utilization) {
  const std::vector<std::string> bs = batchings.empty() ? std::vector<std::string>{base.batching} : batchings;
  const std::vector<std::string> rs = routers.empty() ? std::vector<std::string>{base.router} : routers;
  std::vector<SizedPolicy> out;
  for (const auto& b : bs) {
    const BatchingChoice choice = parse_batching_choice(b, base);
    for (const auto& r : rs) {
      const Scenario s = compare_variant(base, choice, r);
      SizedPolicy row;
      row.batching = b;
      row.router = r;
      const SizingResult sizing = size_fleet(s, options, demand);
      const Demand& d = demand.exact();
      row.estimate_gpus =
          analytic_estimate_rate(s.model.params, d.tokens_per_s(), peak_multiple, s.gpu.peak_flops(s.dtype), utilization)
              .gpus;
      row.found = sizing.found;
      if (!sizing.found) {
        row.reason = sizing.reason;
        out.push_back(row);
        continue;
      }
      row.replicas = sizing.replicas * sizing.pods;
      row.gpus = row.replicas * s.gpus_per_replica();
      const std::vector<Probe> at = fleet_probes(sizing.answer_probes, sizing.pods);
      const DecompositionInputs di = decomposition_inputs(s, at.front(), row.gpus);
      if (di.span_tokens > 0.0 && di.span_end_s > di.span_start_s) row.decomposition = decompose(di);
      if (!sizing.below_probes.empty() || row.replicas == sizing.pods) {
        const std::vector<Probe> below = fleet_probes(sizing.below_probes, sizing.pods);
        row.binding_limit = answer_binding_limit(s, sizing.replicas, at, below, options.window, d).limit;
      }
      out.push_back(row);
    }
  }
  return out;
}

namespace {

double u_of(const SizedPolicy& r, const char* name) {
  if (!r.decomposition) return 0.0;
  for (const auto& c : r.decomposition->conventions)
    if (c.name == name) return c.utilization;
  return 0.0;
}

}  // namespace

std::string size_policies_table(const std::vector<SizedPolicy>& rows, double peak_multiple, double utilization) {
  std::size_t wb = 8, wr = 6;
  for (const auto& r : rows) {
    wb = std::max(wb, r.batching.size());
    wr = std::max(wr, r.router.size());
  }
  std::string out = fmt::format(
      "Each policy sized for the same demand and targets (k and u: the formula's decomposition of each fleet, "
      "2 x P per token; the estimate at k = {:g}, u = {:g}):\n"
      "  {:<{}}  {:<{}}  {:>8}  {:>6}  {:>7}  {:>8}  {:>12}  {:>13}  {:>13}  {}\n",
      peak_multiple, utilization, "batching", wb, "router", wr, "replicas", "GPUs", "k", "u (2P)", "u (cost FLOPs)",
      "estimate GPUs", "estimate/sim.", "binding limit");
  for (const auto& r : rows) {
    if (!r.found) {
      out += fmt::format("  {:<{}}  {:<{}}  no fleet meets the targets: {}\n", r.batching, wb, r.router, wr, r.reason);
      continue;
    }
    out += fmt::format("  {:<{}}  {:<{}}  {:>8}  {:>6}  {:>7.3f}  {:>7.2f} %  {:>10.2f} %  {:>13.1f}  {:>13.2f}  {}\n",
                       r.batching, wb, r.router, wr, r.replicas, r.gpus,
                       r.decomposition ? r.decomposition->peak_multiple : 0.0, u_of(r, "2P") * 100.0,
                       u_of(r, "cost_model") * 100.0, r.estimate_gpus,
                       r.gpus > 0 ? r.estimate_gpus / r.gpus : 0.0, r.binding_limit);
  }
  if (!rows.empty() && rows.front().decomposition && !rows.front().decomposition->peak_multiple_meaningful)
    out += "  note: " + rows.front().decomposition->peak_multiple_note + "\n";
  return out;
}

std::string size_policies_csv(const std::vector<SizedPolicy>& rows) {
  std::string text;
  CsvWriter csv(text);
  csv.row({"batching", "router", "found", "replicas", "gpus", "peak_multiple_k", "utilization_2p",
           "utilization_active", "utilization_cost_model", "estimate_gpus", "estimate_over_simulated", "binding_limit",
           "reason"});
  for (const auto& r : rows) {
    csv.field(r.batching).field(r.router).integer(r.found ? 1 : 0).integer(r.replicas).integer(r.gpus);
    csv.format("{:.9g}", r.decomposition ? r.decomposition->peak_multiple : 0.0)
        .format("{:.9g}", u_of(r, "2P"))
        .format("{:.9g}", u_of(r, "2P_active"))
        .format("{:.9g}", u_of(r, "cost_model"))
        .format("{:.9g}", r.estimate_gpus)
        .format("{:.9g}", r.gpus > 0 ? r.estimate_gpus / r.gpus : 0.0)
        .field(r.binding_limit)
        .field(r.reason)
        .end_row();
  }
  return text;
}

}  // namespace tf
