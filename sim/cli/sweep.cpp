// `tokenfleet sweep`: a scenario over the cross product of --grid overrides, one simulation per point in a child
// process, into sweep.csv, sweep.json and (--report) report.html.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/csv.hpp"
#include "results/report.hpp"
#include "results/summary.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"
#include "sim/cli/signals.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/mpi.hpp"
#include "sim/study/child_process.hpp"
#include "sim/study/sweep.hpp"

namespace tf {

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ReportError(path + ": cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int sweep_command(const SweepCommand& cmd) {
  if (cmd.grid.empty()) {
    print_error("sweep needs at least one --grid key=value1,value2,...");
    return exit_bad_scenario;
  }
  if (cmd.report && cmd.out_dir.empty()) {
    print_error("--report needs --out DIR (the report is built from the files written there)");
    return exit_bad_scenario;
  }
  std::vector<GridAxis> axes;
  try {
    for (const auto& g : cmd.grid) axes.push_back(parse_grid_axis(g));
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  std::vector<SweepPoint> points;
  try {
    // Every point loaded and checked before anything runs.
    points = sweep_points(cmd.scenario_path, cmd.overrides, axes);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  namespace fs = std::filesystem;
  if (!cmd.out_dir.empty()) {
    const int rc = prepare_output_dir(cmd.out_dir, {"sweep.csv", "sweep.json", "scenario.toml", "report.html"});
    if (rc != exit_ok) return rc;
  }
  const int jobs = cmd.jobs > 0 ? cmd.jobs : mpi::default_jobs();
  install_interrupt_handlers();
  const auto runner = make_runner(jobs, interrupt_flag());  // under mpirun: `--jobs` in each rank
  std::cout << fmt::format("Sweeping '{}' ({}): {} point(s), {} at a time, seed {}\n\n", points.front().scenario.name,
                           points.front().scenario.source, points.size(), runner->slots(),
                           points.front().scenario.seed)
            << std::flush;
  run_sweep(points, *runner);
  if (*interrupt_flag() != 0) return interrupted_exit("");
  std::cout << sweep_table(axes, points);
  int status = exit_ok;
  for (const auto& p : points)
    if (!p.ok) status = exit_unservable;
  if (!cmd.out_dir.empty() && mpi::writes_outputs()) {
    const fs::path out = cmd.out_dir;
    write_file_atomically((out / "sweep.csv").string(), sweep_csv(axes, points));
    std::vector<std::string> sets = cmd.overrides;
    for (const auto& g : cmd.grid) sets.push_back("(grid) " + g);
    write_file_atomically((out / "scenario.toml").string(), scenario_text(cmd.scenario_path, sets));
    if (*interrupt_flag() != 0) {
      print_error("interrupted while writing the results; no sweep.json written");
      return 128 + interrupt_signal();
    }
    write_file_atomically((out / "sweep.json").string(), sweep_json(points.front().scenario.name, axes, points));
    std::cout << "results written to " << cmd.out_dir << "/ (sweep.csv, sweep.json, scenario.toml)\n";
    if (cmd.report) {
      const int rc = make_report(cmd.out_dir);
      if (rc != exit_ok) return rc;
    }
  }
  return status;
}

}  // namespace

std::string build_sweep_report(const std::string& results_dir) {
  namespace fs = std::filesystem;
  const fs::path dir = results_dir;
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(read_text((dir / "sweep.json").string()));
  } catch (const std::exception& e) {
    throw ReportError((dir / "sweep.json").string() + ": " + e.what());
  }
  std::vector<std::string> keys;
  for (const auto& a : j.at("grid")) keys.push_back(a.at("key").get<std::string>());
  // The telling figures, one bar chart each (compare_section), bars labelled by the point.
  std::string bars;
  CsvWriter w(bars);
  w.row({"point", "requests_per_s", "ttft_p99_s", "tpot_p99_s", "slo_attainment", "mfu", "energy_kwh"});
  std::string rows;
  for (const auto& p : j.at("points")) {
    std::string label;
    rows += "<tr>";
    for (const auto& k : keys) {
      const std::string v = p.at("set").at(k).get<std::string>();
      label += (label.empty() ? "" : " ") + k + "=" + v;
      rows += "<td>" + html_escape(v) + "</td>";
    }
    if (!p.at("ok").get<bool>()) {
      rows += fmt::format("<td colspan=\"7\">not served: {}</td></tr>\n", html_escape(p.at("error").get<std::string>()));
      continue;
    }
    const Summary s = p.at("summary").get<Summary>();
    rows += fmt::format(
        "<td>{:.2f}</td><td>{:.1f}</td><td>{:.1f}</td><td>{:.1f}</td><td>{:.2f}</td><td>{:.1f}</td><td>{:.3f}</td></tr>\n",
        s.requests_per_s, s.ttft.p99 * 1e3, s.tpot.p99 * 1e3, s.slo_attainment * 100.0, s.mfu * 100.0,
        s.busy_fraction * 100.0, s.energy_kwh);
    w.field(label).format("{:.6f}", s.requests_per_s).format("{:.9f}", s.ttft.p99).format("{:.9f}", s.tpot.p99);
    w.format("{:.6f}", s.slo_attainment).format("{:.6f}", s.mfu).format("{:.6f}", s.energy_kwh).end_row();
  }
  const fs::path plots = dir / "plots";
  std::error_code ec;
  fs::create_directories(plots, ec);
  if (ec) throw ReportError("cannot create " + plots.string() + ": " + ec.message());
  const std::string bars_path = (plots / "sweep-figures.csv").string();
  write_file_atomically(bars_path, bars);
  std::vector<std::string> svgs;
  const std::string section = compare_section(bars_path, plots.string(), svgs);
  const std::string title = "tokenfleet sweep: " + j.at("scenario").get<std::string>();
  std::string head;
  for (const auto& k : keys) head += "<th>" + html_escape(k) + "</th>";
  const std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0}</title>\n<style>body{{font-family:"
      "sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:"
      "0.2em 0.5em;text-align:right}}img{{max-width:100%}}</style></head>\n<body><h1>{0}</h1>\n<p>{1} point(s): "
      "the cross product of the grid, one simulation each (the same seed).</p>\n<table><tr>{2}<th>req/s</th><th>TTFT "
      "p99 (ms)</th><th>TPOT p99 (ms)</th><th>SLO attainment (%)</th><th>MFU (%)</th><th>busy (%)</th><th>energy "
      "(kWh)</th></tr>\n{3}</table>\n{4}\n<p>Files: <a href=\"sweep.csv\">sweep.csv</a>, <a href=\"sweep.json\">"
      "sweep.json</a>, <a href=\"scenario.toml\">scenario.toml</a>.</p>\n</body></html>\n",
      html_escape(title), j.at("points").size(), head, rows, section);
  const std::string html_path = (dir / "report.html").string();
  write_file_atomically(html_path, html);
  return html_path;
}

int command_sweep(const SweepCommand& cmd) {
  return guarded([&] { return sweep_command(cmd); });
}

}  // namespace tf
