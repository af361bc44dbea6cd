// size --autoscaler (see sim/study/autoscaler_sizing.hpp).
#include "sim/study/autoscaler_sizing.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/csv.hpp"
#include "results/summary.hpp"
#include "sim/engine/engine.hpp"

namespace tf {

Scenario without_autoscaler(Scenario s, bool autoscaler, AutoscalerSpec& spec, std::string& note) {
  if (autoscaler && !s.autoscaler.enabled)
    throw std::invalid_argument("--autoscaler: the scenario has no [autoscaler] table (its policy and settings are "
                                "what is sized; scenarios/README.md, [autoscaler])");
  spec = s.autoscaler;
  if (!autoscaler && s.autoscaler.enabled)
    note = "the scenario's [autoscaler] is left out: size sizes a fixed fleet (--autoscaler sizes the autoscaler too)";
  s.autoscaler = AutoscalerSpec{};
  return s;
}

std::vector<AutoscalerRow> autoscaler_search(const Scenario& sized, const AutoscalerSpec& spec, int answer,
                                             JobRunner& runner) {
  std::vector<JobId> jobs;
  std::vector<int> maxes;
  for (int m = 1; m <= answer + 1; ++m) {
    Scenario s = sized;
    s.autoscaler = spec;
    s.autoscaler.enabled = true;
    s.autoscaler.max_replicas = m;
    s.autoscaler.min_replicas = std::min(spec.min_replicas, m);
    s.autoscaler.initial_replicas = std::clamp(spec.initial_replicas, s.autoscaler.min_replicas, m);
    s.replicas = m;
    maxes.push_back(m);
    jobs.push_back(runner.submit(
        [s]() {
          const RunResult r = run_simulation(s, RunOptions{});
          const Summary sum = summarize(s.name, s.seed, r.records, s.warmup_s, r.totals, s.slo);
          nlohmann::json j;
          j["gpu_hours"] = r.totals.gpu_hours;
          j["mean_replicas"] = r.totals.window_s > 0.0 ? (r.totals.serving_replica_s + r.totals.starting_replica_s +
                                                          r.totals.draining_replica_s) / r.totals.window_s
                                                       : 0.0;
          j["attainment"] = sum.slo_attainment;
          j["ttft_p99_s"] = sum.ttft.p99;
          j["tpot_p99_s"] = sum.tpot.p99;
          j["met"] = sum.slo_met;
          j["scale_ups"] = r.totals.scale_ups;
          return j.dump();
        },
        fmt::format("autoscaler: max_replicas {}", m)));
  }
  std::vector<AutoscalerRow> rows;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const ChildResult c = runner.wait(jobs[i]);
    if (!c.ok) throw std::runtime_error(fmt::format("autoscaler run with max_replicas {}: {}", maxes[i], c.error));
    const auto j = nlohmann::json::parse(c.output);
    AutoscalerRow row;
    row.max_replicas = maxes[i];
    j.at("gpu_hours").get_to(row.gpu_hours);
    j.at("mean_replicas").get_to(row.mean_replicas);
    j.at("attainment").get_to(row.attainment);
    j.at("ttft_p99_s").get_to(row.ttft_p99_s);
    j.at("tpot_p99_s").get_to(row.tpot_p99_s);
    j.at("met").get_to(row.met);
    j.at("scale_ups").get_to(row.scale_ups);
    rows.push_back(row);
  }
  return rows;
}

std::string autoscaler_search_text(const std::vector<AutoscalerRow>& rows, const Scenario& sized, int answer,
                                   const std::string& policy, const std::string& indent) {
  const double fixed = static_cast<double>(answer) * sized.gpus_per_replica() * (sized.duration_s - sized.warmup_s) / 3600.0;
  std::string out = fmt::format("{}autoscaled ([autoscaler] policy {}, the scenario's settings, max_replicas searched):\n",
                                indent, policy);
  out += fmt::format("{}  max_replicas  GPU-hours  mean replicas  starts  attainment    TTFT p99    TPOT p99  targets\n",
                     indent);
  const AutoscalerRow* best = nullptr;
  for (const AutoscalerRow& r : rows) {
    out += fmt::format("{}  {:>12}  {:>9.1f}  {:>13.2f}  {:>6}  {:>9.2f} %  {:>8.1f} ms  {:>8.1f} ms  {}\n", indent,
                       r.max_replicas, r.gpu_hours, r.mean_replicas, r.scale_ups, r.attainment * 100.0,
                       r.ttft_p99_s * 1e3, r.tpot_p99_s * 1e3, r.met ? "met" : "missed");
    if (r.met && !best) best = &r;
  }
  if (best)
    out += fmt::format("{}  the smallest max_replicas that meets the targets: {}, {:.1f} GPU-hours against {:.1f} for the "
                       "fixed fleet of {} ({:.1f} % saved)\n",
                       indent, best->max_replicas, best->gpu_hours, fixed, answer,
                       fixed > 0.0 ? (1.0 - best->gpu_hours / fixed) * 100.0 : 0.0);
  else
    out += fmt::format("{}  no max_replicas up to {} meets the targets with this policy and these settings\n", indent,
                       answer + 1);
  return out;
}

std::string autoscaler_search_csv(const std::vector<AutoscalerRow>& rows) {
  std::string out;
  CsvWriter w(out);
  w.row({"max_replicas", "gpu_hours", "mean_replicas", "scale_ups", "slo_attainment", "ttft_p99_s", "tpot_p99_s",
         "met"});
  for (const AutoscalerRow& r : rows) {
    w.integer(r.max_replicas);
    w.format("{:.6f}", r.gpu_hours).format("{:.6f}", r.mean_replicas);
    w.integer(r.scale_ups);
    w.format("{:.6f}", r.attainment).format("{:.6f}", r.ttft_p99_s).format("{:.6f}", r.tpot_p99_s);
    w.integer(r.met ? 1 : 0);
    w.end_row();
  }
  return out;
}

}  // namespace tf
