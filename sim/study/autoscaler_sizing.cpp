// size --autoscaler (see sim/study/autoscaler_sizing.hpp).
#include "sim/study/autoscaler_sizing.hpp"

#include <algorithm>
#include <cmath>
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
                                             const SizingOptions& o, JobRunner& runner) {
  const int seeds = std::max(1, o.seeds);
  struct Job {
    int max_replicas;
    std::uint64_t seed;
    JobId id;
  };
  std::vector<Job> jobs;
  for (int m = 1; m <= answer + 1; ++m) {
    Scenario s = sized;
    s.autoscaler = spec;
    s.autoscaler.enabled = true;
    s.autoscaler.max_replicas = m;
    s.autoscaler.min_replicas = std::min(spec.min_replicas, m);
    s.autoscaler.initial_replicas = std::clamp(spec.initial_replicas, s.autoscaler.min_replicas, m);
    s.replicas = m;
    for (int k = 0; k < seeds; ++k) {
      const std::uint64_t seed = sized.seed + static_cast<std::uint64_t>(k);
      const JobId id = runner.submit(
          [s, m, seed]() {
            RunTotals t;
            const Probe p = simulate_probe(s, m, seed, -1, 1.0, -1, 0.0, &t);
            nlohmann::json j;
            j["probe"] = p;
            j["gpu_hours"] = t.gpu_hours;
            j["mean_replicas"] = t.window_s > 0.0
                                     ? (t.serving_replica_s + t.starting_replica_s + t.draining_replica_s) / t.window_s
                                     : 0.0;
            j["scale_ups"] = t.scale_ups;
            return j.dump();
          },
          fmt::format("autoscaler: max_replicas {} seed {}", m, seed));
      jobs.push_back(Job{m, seed, id});
    }
  }
  std::vector<AutoscalerRow> rows;
  std::vector<Probe> per_seed;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const ChildResult c = runner.wait(jobs[i].id);
    if (!c.ok)
      throw std::runtime_error(
          fmt::format("autoscaler run with max_replicas {} seed {}: {}", jobs[i].max_replicas, jobs[i].seed, c.error));
    const auto j = nlohmann::json::parse(c.output);
    const Probe p = j.at("probe").get<Probe>();
    if (per_seed.empty()) {
      rows.emplace_back();
      rows.back().max_replicas = jobs[i].max_replicas;
      rows.back().seeds = seeds;
      rows.back().scale_ups = j.at("scale_ups").get<std::int64_t>();
    }
    AutoscalerRow& row = rows.back();
    const WindowFigures& w = p.evaluated(o.window);
    row.gpu_hours += j.at("gpu_hours").get<double>() / seeds;
    row.mean_replicas += j.at("mean_replicas").get<double>() / seeds;
    row.attainment += w.attainment / seeds;
    row.energy_kwh += p.energy_kwh / seeds;
    row.ttft_p99_s = std::max(row.ttft_p99_s, w.ttft_p99_s);
    row.tpot_p99_s = std::max(row.tpot_p99_s, w.tpot_p99_s);
    per_seed.push_back(p);
    if (static_cast<int>(per_seed.size()) == seeds) {
      row.met = candidate_passes(per_seed, o, sized.slo);
      row.margin = answer_margin(per_seed, o.window, sized.slo).verdict;
      row.hours = comparison_row("autoscaler", "", row.gpu_hours, per_seed.front());
      row.hours.attainment = row.attainment;
      row.hours.energy_kwh = row.energy_kwh;
      per_seed.clear();
    }
  }
  return rows;
}

std::string autoscaler_search_text(const std::vector<AutoscalerRow>& rows, const Scenario& sized, int answer,
                                   const std::string& policy, const std::string& indent) {
  const double fixed = static_cast<double>(answer) * sized.gpus_per_replica() * (sized.duration_s - sized.warmup_s) / 3600.0;
  const int seeds = rows.empty() ? 1 : rows.front().seeds;
  std::string out = fmt::format("{}autoscaled ([autoscaler] policy {}, the scenario's settings, max_replicas searched; "
                                "{} seed(s) each, judged as the fixed fleet's candidates are):\n",
                                indent, policy, seeds);
  out += fmt::format("{}  max_replicas  GPU-hours  mean replicas  starts  attainment    TTFT p99    TPOT p99  hours met  "
                     "margin              targets\n",
                     indent);
  const AutoscalerRow* best = nullptr;
  for (const AutoscalerRow& r : rows) {
    out += fmt::format("{}  {:>12}  {:>9.1f}  {:>13.2f}  {:>6}  {:>9.2f} %  {:>8.1f} ms  {:>8.1f} ms  {:>9}  {:<18}  {}\n",
                       indent, r.max_replicas, r.gpu_hours, r.mean_replicas, r.scale_ups, r.attainment * 100.0,
                       r.ttft_p99_s * 1e3, r.tpot_p99_s * 1e3, fmt::format("{}/{}", r.hours.hours_met, r.hours.hours),
                       r.margin, r.met ? "met" : "missed");
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
         "met", "seeds", "margin", "hours", "hours_met", "worst_hour", "worst_hour_ttft_p99_s", "energy_kwh"});
  for (const AutoscalerRow& r : rows) {
    w.integer(r.max_replicas);
    w.format("{:.6f}", r.gpu_hours).format("{:.6f}", r.mean_replicas);
    w.integer(r.scale_ups);
    w.format("{:.6f}", r.attainment).format("{:.6f}", r.ttft_p99_s).format("{:.6f}", r.tpot_p99_s);
    w.integer(r.met ? 1 : 0);
    w.integer(r.seeds);
    w.field(r.margin);
    w.integer(r.hours.hours).integer(r.hours.hours_met).integer(r.hours.worst_hour);
    w.format("{:.6f}", r.hours.worst_hour_ttft_p99_s).format("{:.6f}", r.energy_kwh);
    w.end_row();
  }
  return out;
}

FleetComparisonRow comparison_row(const std::string& fleet, const std::string& label, double gpu_hours,
                                  const Probe& p) {
  FleetComparisonRow row;
  row.fleet = fleet;
  row.label = label;
  row.gpu_hours = gpu_hours;
  row.attainment = p.whole.attainment;
  row.energy_kwh = p.energy_kwh;
  for (const WindowFigures& h : p.hours) {
    if (h.requests == 0) continue;
    ++row.hours;
    row.hours_met += h.met ? 1 : 0;
    if (row.worst_hour < 0 || h.ttft_p99_s > row.worst_hour_ttft_p99_s) {
      row.worst_hour = static_cast<int>(std::floor(h.start_s / 3600.0));
      row.worst_hour_ttft_p99_s = h.ttft_p99_s;
      row.worst_hour_tpot_p99_s = h.tpot_p99_s;
    }
  }
  return row;
}

FleetComparisonRow schedule_row(const std::vector<SizingHour>& hours, const std::vector<HourSizing>& sized) {
  FleetComparisonRow row;
  row.fleet = "per-hour schedule";
  int lo = 0, hi = 0, missing = 0;
  double met_requests = 0.0, requests = 0.0;
  for (std::size_t i = 0; i < hours.size() && i < sized.size(); ++i) {
    const SizingHour& h = hours[i];
    if (h.requests == 0) continue;
    ++row.hours;
    row.gpu_hours += h.gpu_hours;
    row.energy_kwh += h.energy_kwh;
    if (h.replicas == 0) {
      ++missing;
      continue;
    }
    ++row.hours_met;
    lo = lo == 0 ? h.replicas : std::min(lo, h.replicas);
    hi = std::max(hi, h.replicas);
    const WindowFigures& w = sized[i].answer_probes.front().whole;
    met_requests += w.attainment * static_cast<double>(w.requests);
    requests += static_cast<double>(w.requests);
    if (row.worst_hour < 0 || h.ttft_p99_s > row.worst_hour_ttft_p99_s) {
      row.worst_hour = h.hour;
      row.worst_hour_ttft_p99_s = h.ttft_p99_s;
      row.worst_hour_tpot_p99_s = h.tpot_p99_s;
    }
  }
  row.attainment = requests > 0.0 ? met_requests / requests : 0.0;
  row.label = lo == hi ? fmt::format("{} replicas every hour", lo) : fmt::format("{}-{} replicas by hour", lo, hi);
  if (missing > 0) row.label += fmt::format(" ({} hour(s) without a fleet, not counted)", missing);
  return row;
}

std::string fleet_comparison_text(const std::vector<FleetComparisonRow>& rows, const std::string& indent) {
  std::size_t width = 5;
  for (const auto& r : rows) width = std::max(width, r.fleet.size() + 2 + r.label.size());
  std::string out = fmt::format("{}side by side (the same window; hours: those with requests, and those whose p99s meet "
                                "both targets; a schedule's hours are each judged on their own run):\n",
                                indent);
  out += fmt::format("{}  {:<{}}  {:>9}  {:>10}  {:>9}  {:>10}  {:>18}  {:>9}\n", indent, "fleet", width, "GPU-hours",
                     "attainment", "hours met", "worst hour", "its TTFT / TPOT p99", "kWh");
  for (const auto& r : rows)
    out += fmt::format("{}  {:<{}}  {:>9.1f}  {:>8.2f} %  {:>9}  {:>10}  {:>18}  {:>9.1f}\n", indent,
                       r.fleet + ": " + r.label, width, r.gpu_hours, r.attainment * 100.0,
                       fmt::format("{}/{}", r.hours_met, r.hours),
                       r.worst_hour >= 0 ? fmt::format("{:02d}h", r.worst_hour) : "-",
                       r.worst_hour >= 0 ? fmt::format("{:.0f} / {:.1f} ms", r.worst_hour_ttft_p99_s * 1e3,
                                                       r.worst_hour_tpot_p99_s * 1e3)
                                         : "-",
                       r.energy_kwh);
  return out;
}

}  // namespace tf
