#include "sim/study/sweep.hpp"

#include <set>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "io/csv.hpp"
#include "sim/engine/engine.hpp"

namespace tf {

GridAxis parse_grid_axis(const std::string& arg) {
  const auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0)
    throw std::invalid_argument(fmt::format("--grid {}: expected key=value1,value2,... (a scenario key as --set takes "
                                            "it, e.g. --grid fleet.replicas=4,8)",
                                            arg));
  GridAxis axis;
  axis.key = arg.substr(0, eq);
  const std::string values = arg.substr(eq + 1);
  std::size_t start = 0;
  for (;;) {
    const auto comma = values.find(',', start);
    const std::string v = values.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (v.empty())
      throw std::invalid_argument(
          fmt::format("--grid {}: an empty value (expected key=value1,value2,... with no empty value)", arg));
    axis.values.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return axis;
}

std::vector<SweepPoint> sweep_points(const std::string& scenario_path, const std::vector<std::string>& overrides,
                                     const std::vector<GridAxis>& axes) {
  std::set<std::string> keys;
  std::size_t count = 1;
  for (const auto& a : axes) {
    if (!keys.insert(a.key).second)
      throw std::invalid_argument(fmt::format("--grid {}: the key is given twice; give all its values in one --grid",
                                              a.key));
    count *= a.values.size();
    if (count > 100000) throw std::invalid_argument("--grid: more than 100,000 points");
  }
  std::vector<SweepPoint> points;
  for (std::size_t i = 0; i < count; ++i) {
    // Point i: the last axis varies fastest.
    SweepPoint p;
    std::vector<std::string> sets = overrides;
    std::size_t rest = i;
    p.values.resize(axes.size());
    for (std::size_t k = axes.size(); k-- > 0;) {
      p.values[k] = axes[k].values[rest % axes[k].values.size()];
      rest /= axes[k].values.size();
    }
    for (std::size_t k = 0; k < axes.size(); ++k) sets.push_back(axes[k].key + "=" + p.values[k]);
    try {
      p.scenario = scenario_path.empty() ? load_scenario_text(default_scenario_toml(), "<built-in default>", sets)
                                         : load_scenario_file(scenario_path, sets);
    } catch (const ScenarioError& e) {
      std::string point;
      for (std::size_t k = 0; k < axes.size(); ++k) point += fmt::format("{}{}={}", k ? ", " : "", axes[k].key, p.values[k]);
      throw ScenarioError("--grid", 0, "", fmt::format("the point {} does not load: {}", point, e.what()));
    }
    points.push_back(std::move(p));
  }
  return points;
}

void run_sweep(std::vector<SweepPoint>& points, JobRunner& runner) {
  std::vector<JobId> ids;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const Scenario* s = &points[i].scenario;
    ids.push_back(runner.submit(
        [s] {
          const RunResult r = run_simulation(*s);
          return to_json(summarize(s->name, s->seed, r.records, s->warmup_s, r.totals, s->slo,
                                   static_cast<int>(s->workload.priority_shares.size())))
              .dump();
        },
        fmt::format("sweep point {} ({})", i + 1, fmt::join(points[i].values, ", "))));
  }
  spdlog::info("sweep: {} point(s), {} at a time", points.size(), runner.slots());
  for (std::size_t i = 0; i < points.size(); ++i) {
    const ChildResult r = runner.wait(ids[i]);
    SweepPoint& p = points[i];
    p.ok = r.ok;
    p.error = r.error;
    if (p.ok) {
      try {
        p.summary = nlohmann::ordered_json::parse(r.output).get<Summary>();
        p.summary_json = r.output;
      } catch (const std::exception& e) {
        p.ok = false;
        p.error = std::string("unreadable result: ") + e.what();
      }
    }
    spdlog::info("sweep: point {} of {}: {}", i + 1, points.size(), p.ok ? "done" : "not served: " + p.error);
  }
}

namespace {

// The figures of a row, after the axes' values: name and value with its format.
void figures_row(CsvWriter& w, const SweepPoint& p) {
  const Summary& s = p.summary;
  w.integer(p.ok ? 1 : 0);
  w.format("{:.6f}", s.requests_per_s).format("{:.3f}", s.output_tokens_per_s);
  for (const double v : {s.ttft.p50, s.ttft.p99, s.tpot.p50, s.tpot.p99, s.e2e.p50, s.e2e.p99}) w.format("{:.9f}", v);
  w.format("{:.6f}", s.slo_attainment).integer(s.slo_met ? 1 : 0).format("{:.6f}", s.mfu);
  w.format("{:.6f}", s.busy_fraction).format("{:.6f}", s.energy_kwh).format("{:.6f}", s.energy_per_output_token_j);
  w.integer(s.requests_rejected).quoted(p.error).end_row();
}

}  // namespace

std::string sweep_csv(const std::vector<GridAxis>& axes, const std::vector<SweepPoint>& points) {
  std::string out;
  CsvWriter w(out);
  std::vector<std::string> header;
  for (const auto& a : axes) header.push_back(a.key);
  for (const char* h : {"ok", "requests_per_s", "output_tokens_per_s", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s",
                        "tpot_p99_s", "e2e_p50_s", "e2e_p99_s", "slo_attainment", "slo_met", "mfu", "busy_fraction",
                        "energy_kwh", "energy_j_per_output_token", "rejected", "error"})
    header.emplace_back(h);
  for (const auto& h : header) w.field(h);
  w.end_row();
  for (const auto& p : points) {
    for (const auto& v : p.values) w.field(v);
    figures_row(w, p);
  }
  return out;
}

std::string sweep_json(const std::string& scenario_name, const std::vector<GridAxis>& axes,
                       const std::vector<SweepPoint>& points) {
  nlohmann::ordered_json j;
  j["scenario"] = scenario_name;
  j["grid"] = nlohmann::ordered_json::array();
  for (const auto& a : axes) j["grid"].push_back({{"key", a.key}, {"values", a.values}});
  j["points"] = nlohmann::ordered_json::array();
  for (const auto& p : points) {
    nlohmann::ordered_json e;
    nlohmann::ordered_json set = nlohmann::ordered_json::object();
    for (std::size_t k = 0; k < axes.size(); ++k) set[axes[k].key] = p.values[k];
    e["set"] = set;
    e["ok"] = p.ok;
    e["error"] = p.error;
    e["summary"] = p.ok ? nlohmann::ordered_json::parse(p.summary_json) : nlohmann::ordered_json(nullptr);
    j["points"].push_back(e);
  }
  return j.dump(2) + "\n";
}

std::string sweep_table(const std::vector<GridAxis>& axes, const std::vector<SweepPoint>& points) {
  std::vector<std::size_t> widths;
  for (std::size_t k = 0; k < axes.size(); ++k) {
    std::size_t wdt = axes[k].key.size();
    for (const auto& p : points) wdt = std::max(wdt, p.values[k].size());
    widths.push_back(wdt);
  }
  std::string out;
  for (std::size_t k = 0; k < axes.size(); ++k) out += fmt::format("{:<{}}  ", axes[k].key, widths[k]);
  out += fmt::format("{:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8} {:>6} {:>10}\n", "req/s", "out tok/s", "TTFT p50",
                     "TTFT p99", "TPOT p50", "TPOT p99", "SLO %", "MFU %", "energy kWh");
  for (const auto& p : points) {
    for (std::size_t k = 0; k < axes.size(); ++k) out += fmt::format("{:<{}}  ", p.values[k], widths[k]);
    if (!p.ok) {
      out += "error: " + p.error + "\n";
      continue;
    }
    const Summary& s = p.summary;
    out += fmt::format("{:>9.2f} {:>10.0f} {:>7.0f}ms {:>7.0f}ms {:>7.1f}ms {:>7.1f}ms {:>8.2f} {:>6.1f} {:>10.3f}\n",
                       s.requests_per_s, s.output_tokens_per_s, s.ttft.p50 * 1e3, s.ttft.p99 * 1e3, s.tpot.p50 * 1e3,
                       s.tpot.p99 * 1e3, s.slo_attainment * 100.0, s.mfu * 100.0, s.energy_kwh);
  }
  return out;
}

}  // namespace tf
