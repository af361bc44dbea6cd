#include "results/report.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "io/csv.hpp"
#include "results/quantiles.hpp"
#include "results/sizing_report.hpp"
#include "results/summary.hpp"

namespace tf {

namespace fs = std::filesystem;

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string gnuplot_command() {
  const char* env = std::getenv("TOKENFLEET_GNUPLOT");
  return env && *env ? std::string(env) : std::string("gnuplot");
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw ReportError("cannot read " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Text inside a single-quoted gnuplot string.
std::string gp_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "''";
    else out += c;
  }
  return out + "'";
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

// A CSV file as columns by header name (numbers; empty or unreadable cells are NaN) and raw cells.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> cells;
  std::size_t rows() const { return cells.size(); }
  int col(const std::string& name) const {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return static_cast<int>(i);
    return -1;
  }
  std::string text(std::size_t row, const std::string& name) const {
    const int c = col(name);
    if (c < 0 || static_cast<std::size_t>(c) >= cells[row].size()) return {};
    return cells[row][static_cast<std::size_t>(c)];
  }
  double num(std::size_t row, const std::string& name) const {
    const std::string t = text(row, name);
    if (t.empty()) return kNaN;
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    return end && *end == '\0' ? v : kNaN;
  }
  std::vector<double> column(const std::string& name) const {
    std::vector<double> v(rows());
    for (std::size_t r = 0; r < rows(); ++r) v[r] = num(r, name);
    return v;
  }
};

// A CSV file (io/csv.hpp: quoted fields, doubled quotes, CRLF); blank lines are left out.
Table read_csv(const fs::path& p) {
  Table t;
  try {
    std::vector<std::vector<std::string>> rows = parse_csv(read_text(p));
    rows.erase(std::remove_if(rows.begin(), rows.end(),
                              [](const auto& r) { return r.size() == 1 && r.front().empty(); }),
               rows.end());
    if (rows.empty()) throw ReportError(p.string() + ": empty file");
    t.header = std::move(rows.front());
    t.cells.assign(std::make_move_iterator(rows.begin() + 1), std::make_move_iterator(rows.end()));
  } catch (const CsvError& e) {
    throw ReportError(fmt::format("{}:{}: column {}: {}", p.string(), e.line(), e.column(), e.reason()));
  }
  return t;
}

// ---- plots ---------------------------------------------------------------------------------------------------

struct Series {
  std::string title;
  std::vector<double> x, y;
  std::string style;  // gnuplot "with ..." clause
};

struct Plot {
  std::string name;  // file name without extension
  std::string title, xlabel, ylabel, caption;
  std::vector<Series> series;
  std::vector<std::string> extra;  // gnuplot commands before the plot command
  std::string y2label;             // set: series whose style contains "axes x1y2" use it
};

std::size_t finite_points(const Series& s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
    if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) ++n;
  return n;
}

void write_atomically(const fs::path& p, const std::string& content) { write_file_atomically(p.string(), content); }

class Plotter {
 public:
  Plotter(fs::path dir) : dir_(std::move(dir)) {}

  // Renders the plot when at least one series has a point; returns false (and notes why) otherwise.
  bool render(const Plot& p, std::vector<std::string>& notes) {
    std::vector<const Series*> with_data;
    for (const auto& s : p.series)
      if (finite_points(s) > 0) with_data.push_back(&s);
    if (with_data.empty()) {
      notes.push_back(fmt::format("{}: left out, no data", p.title));
      return false;
    }
    std::string gp;
    gp += "# tokenfleet report plot; run with gnuplot from the report's folder to redraw\n";
    gp += "set terminal svg size 960,460 noenhanced font 'Sans,13' background rgb 'white'\n";
    gp += "set output " + gp_quote((dir_ / (p.name + ".svg.tmp")).string()) + "\n";
    gp += "set title " + gp_quote(p.title) + "\n";
    gp += "set xlabel " + gp_quote(p.xlabel) + "\n";
    gp += "set ylabel " + gp_quote(p.ylabel) + "\n";
    if (!p.y2label.empty()) gp += "set y2label " + gp_quote(p.y2label) + "\nset y2tics\nset ytics nomirror\n";
    gp += "set key outside right top vertical box opaque\nset grid lc rgb '#dddddd'\nset border lc rgb '#444444'\n";
    for (const auto& e : p.extra) gp += e + "\n";
    std::string plot_cmd = "plot ";
    for (std::size_t i = 0; i < with_data.size(); ++i) {
      const Series& s = *with_data[i];
      gp += fmt::format("$d{} << EOD\n", i);
      for (std::size_t k = 0; k < s.x.size() && k < s.y.size(); ++k) {
        if (std::isfinite(s.x[k]) && std::isfinite(s.y[k]))
          gp += fmt::format("{:.9g} {:.9g}\n", s.x[k], s.y[k]);
        else
          gp += "\n";  // a gap in the line
      }
      gp += "EOD\n";
      plot_cmd += fmt::format("{}$d{} using 1:2 title {} {}", i ? ", " : "", i, gp_quote(s.title), s.style);
    }
    // Legend-only entries (a reference line drawn with `set arrow`): "NaN title '...' with lines ...".
    for (const auto& s : p.series)
      if (finite_points(s) == 0 && s.x.empty() && !s.title.empty())
        plot_cmd += fmt::format(", NaN title {} {}", gp_quote(s.title), s.style);
    gp += plot_cmd + "\nunset output\n";
    const fs::path script = dir_ / (p.name + ".gp");
    write_atomically(script, gp);
    const std::string cmd = gnuplot_command() + " " + shell_quote(script.string()) + " 2>&1";
    spdlog::debug("report: {}", cmd);
    const auto started = std::chrono::steady_clock::now();
    std::string output;
    FILE* pipe = popen(cmd.c_str(), "r");
    if (!pipe) throw ReportError("cannot run gnuplot");
    std::array<char, 4096> buf{};
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) output.append(buf.data(), n);
    const int status = pclose(pipe);
    spdlog::debug("report: gnuplot {}: exit status {}, {:.3f} s, {} series", script.filename().string(), status,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
                  with_data.size());
    const fs::path tmp = dir_ / (p.name + ".svg.tmp");
    if (status != 0 || !fs::exists(tmp) || fs::file_size(tmp) == 0) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw ReportError(fmt::format("gnuplot failed on {}: {}", script.string(),
                                    output.empty() ? std::string("no output (is gnuplot installed?)") : output));
    }
    fs::rename(tmp, dir_ / (p.name + ".svg"));
    written_.push_back((dir_ / (p.name + ".svg")).string());
    return true;
  }
  const std::vector<std::string>& written() const { return written_; }

 private:
  fs::path dir_;
  std::vector<std::string> written_;
};

std::string figure(const Plot& p) {
  return fmt::format("<figure><img src=\"plots/{}.svg\" alt=\"{}\" width=\"960\" height=\"460\">"
                     "<figcaption>{}</figcaption></figure>\n",
                     p.name, html_escape(p.title), html_escape(p.caption));
}

const char* kStyle = R"(body{font-family:sans-serif;margin:24px auto;max-width:1000px;color:#222;background:#fff}
h1{font-size:1.6em;margin-bottom:0.2em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
pre{background:#f7f7f7;border:1px solid #ddd;padding:8px;overflow-x:auto;font-size:0.85em}
figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:0.9em;color:#555}
.ok{color:#1a7f37;font-weight:bold}.bad{color:#c62828;font-weight:bold}.note{color:#666;font-size:0.9em})";

std::string page_head(const std::string& title) {
  return fmt::format("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n"
                     "<style>\n{}\n</style>\n</head>\n<body>\n<h1>{}</h1>\n",
                     html_escape(title), kStyle, html_escape(title));
}

std::string files_section(const fs::path& dir, const std::vector<std::string>& names) {
  std::string out = "<h2>Files</h2>\n<ul>\n";
  for (const auto& n : names)
    if (fs::exists(dir / n))
      out += fmt::format("<li><a href=\"{0}\">{0}</a></li>\n", html_escape(n));
  return out + "</ul>\n";
}

std::string fmt_ms(double s) { return std::isfinite(s) ? fmt::format("{:.1f} ms", s * 1e3) : "-"; }

// Time axis: minutes for runs up to three hours, hours beyond.
struct TimeAxis {
  double divisor = 60.0;
  std::string label = "simulated time (min)";
};
TimeAxis time_axis(double end_s) {
  if (end_s > 3 * 3600.0) return {3600.0, "simulated time (h)"};
  return {};
}

std::vector<double> scaled(const std::vector<double>& v, double k) {
  std::vector<double> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = v[i] * k;
  return out;
}

// Empirical CDF of the finite values of a column, at most `points` points (quantiles).
// `points` points of the cumulative distribution of the positive values the sketch holds (exact ones while it
// keeps them all; results/quantiles.hpp).
Series cdf_series(const QuantileSketch& v, const std::string& title, const std::string& style,
                  std::size_t points = 400) {
  Series s{title, {}, {}, style};
  if (v.count() == 0) return s;
  const std::size_t n = v.count();
  const std::size_t k = std::min(points, n);
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t idx = k == 1 ? n - 1 : i * (n - 1) / (k - 1);
    s.x.push_back(v.value_at_rank(idx));
    s.y.push_back(100.0 * static_cast<double>(idx + 1) / static_cast<double>(n));
  }
  return s;
}

// The latency columns of requests.csv's measured rows: their positive finite values (the log axis of the CDF
// leaves out zeros), in sketches.
struct RequestLatencies {
  std::map<std::string, QuantileSketch> column;
  bool has_kv_transfer = false;
};

RequestLatencies read_request_latencies(const fs::path& p, std::size_t arrived, std::size_t measured, bool counts) {
  const std::vector<std::string> names{"queue_s", "ttft_s", "tpot_s", "e2e_s", "kv_transfer_s"};
  RequestLatencies out;
  for (const auto& n : names) out.column[n];
  std::ifstream in(p, std::ios::binary);
  if (!in) throw ReportError("cannot read " + p.string());
  CsvReader reader(in);
  std::vector<std::string_view> fields;
  auto blank = [&] { return fields.size() == 1 && fields.front().empty(); };
  try {
    // First pass: the rows, to know how many the warm-up holds (the counts of summary.json must match them).
    std::vector<int> cols(names.size(), -1);
    bool header = false;
    std::size_t rows = 0;
    while (reader.next(fields)) {
      if (blank()) continue;
      if (!header) {
        header = true;
        for (std::size_t c = 0; c < fields.size(); ++c)
          for (std::size_t k = 0; k < names.size(); ++k)
            if (fields[c] == names[k]) cols[k] = static_cast<int>(c);
        continue;
      }
      ++rows;
    }
    if (!header) throw ReportError(p.string() + ": empty file");
    out.has_kv_transfer = cols.back() >= 0;
    const std::size_t warmup_rows = counts && arrived == rows && measured <= arrived ? arrived - measured : 0;
    reader.rewind();
    header = false;
    std::size_t row = 0;
    std::string cell;
    while (reader.next(fields)) {
      if (blank()) continue;
      if (!header) {
        header = true;
        continue;
      }
      if (row++ < warmup_rows) continue;
      for (std::size_t k = 0; k < names.size(); ++k) {
        if (cols[k] < 0 || static_cast<std::size_t>(cols[k]) >= fields.size()) continue;
        cell.assign(fields[static_cast<std::size_t>(cols[k])]);
        if (cell.empty()) continue;
        char* end = nullptr;
        const double v = std::strtod(cell.c_str(), &end);
        if (end && *end == '\0' && std::isfinite(v) && v > 0.0) out.column[names[k]].add(v);
      }
    }
  } catch (const CsvError& e) {
    throw ReportError(fmt::format("{}:{}: column {}: {}", p.string(), e.line(), e.column(), e.reason()));
  }
  return out;
}

double max_of(const std::vector<Series>& series) {
  double m = 0.0;
  for (const auto& s : series)
    for (double v : s.y)
      if (std::isfinite(v)) m = std::max(m, v);
  return m;
}

std::string target_arrow(double y, const std::string& color) {
  return fmt::format("set arrow from graph 0, first {0:.9g} to graph 1, first {0:.9g} nohead lw 2 dt 2 lc rgb '{1}' "
                     "front",
                     y, color);
}

// ---- a run ---------------------------------------------------------------------------------------------------

std::string summary_table_html(const nlohmann::ordered_json& j) {
  auto get = [&](std::initializer_list<const char*> path) -> const nlohmann::ordered_json* {
    const nlohmann::ordered_json* cur = &j;
    for (const char* k : path) {
      if (!cur->is_object() || !cur->contains(k)) return nullptr;
      cur = &(*cur)[k];
    }
    return cur;
  };
  std::string out = "<table>\n";
  auto row = [&](const std::string& k, const std::string& v) {
    out += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", html_escape(k), v);
  };
  // Generic: a flat rendering of the JSON's scalars, grouped by their section, and a latency table.
  std::string lat = "<table>\n<tr><th>latency</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th>"
                    "<th>max</th><th>count</th></tr>\n";
  bool have_lat = false;
  if (const auto* l = get({"latency_s"}); l && l->is_object()) {
    for (const auto& [name, st] : l->items()) {
      if (!st.is_object()) continue;
      have_lat = true;
      auto f = [&st = st](const char* k) {  // an init-capture: clang 14 cannot capture a structured binding
        return st.contains(k) && st[k].is_number() ? fmt_ms(st[k].get<double>()) : "-";
      };
      lat += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                         "</tr>\n",
                         html_escape(name), f("mean"), f("p50"), f("p90"), f("p99"), f("p99.9"), f("max"),
                         st.contains("count") ? st["count"].dump() : "-");
    }
  }
  lat += "</table>\n";
  std::function<void(const std::string&, const nlohmann::ordered_json&)> walk =
      [&](const std::string& prefix, const nlohmann::ordered_json& v) {
    if (v.is_object()) {
      for (const auto& [k, sub] : v.items()) {
        if (prefix.empty() && k == "latency_s") continue;
        walk(prefix.empty() ? k : prefix + "." + k, sub);
      }
    } else if (v.is_boolean()) {
      const bool b = v.get<bool>();
      row(prefix, fmt::format("<span class=\"{}\">{}</span>", b ? "ok" : "bad", b ? "yes" : "no"));
    } else if (v.is_number_float()) {
      row(prefix, fmt::format("{:.6g}", v.get<double>()));
    } else if (v.is_string()) {
      row(prefix, html_escape(v.get<std::string>()));
    } else if (!v.is_array()) {
      row(prefix, html_escape(v.dump()));
    }
  };
  walk("", j);
  out += "</table>\n";
  return (have_lat ? lat : std::string()) + out;
}

void run_plots(const fs::path& dir, Plotter& plotter, std::string& body, std::vector<std::string>& notes,
               const nlohmann::ordered_json& summary) {
  const double ttft_target = summary.contains("slo") && summary["slo"].contains("ttft_p99_s")
                                 ? summary["slo"]["ttft_p99_s"].get<double>()
                                 : 0.0;
  const double tpot_target = summary.contains("slo") && summary["slo"].contains("tpot_p99_s")
                                 ? summary["slo"]["tpot_p99_s"].get<double>()
                                 : 0.0;
  std::vector<Plot> plots;
  if (fs::exists(dir / "timeseries.csv")) {
    const Table ts = read_csv(dir / "timeseries.csv");
    if (ts.rows() == 0) throw ReportError((dir / "timeseries.csv").string() + ": no rows");
    const auto start = ts.column("start_s"), end = ts.column("end_s");
    std::vector<double> mid(ts.rows());
    for (std::size_t i = 0; i < ts.rows(); ++i) mid[i] = 0.5 * (start[i] + end[i]);
    const TimeAxis ax = time_axis(end.back());
    const auto x = scaled(mid, 1.0 / ax.divisor);
    const double window_s = end.front() - start.front();
    const std::string per = window_s >= 60.0 ? fmt::format("{:g} min", window_s / 60.0) : fmt::format("{:g} s", window_s);

    {  // load against capacity
      Plot p{"load", "Offered load against fleet capacity", ax.label, "tokens/s (prompt + output)",
             "", {}, {}, ""};
      const auto offered = ts.column("offered_tokens_per_s");
      p.series.push_back({"offered (arrivals)", x, offered, "with lines lw 5 lc rgb '#9ecae1'"});
      p.series.push_back({"served", x, ts.column("served_tokens_per_s"), "with lines lw 2 lc rgb '#2ca02c'"});
      p.series.push_back({"fleet capacity (saturated)", x, ts.column("capacity_tokens_per_s"),
                          "with lines lw 2 dt 2 lc rgb '#d62728'"});
      std::size_t peak = 0;
      for (std::size_t i = 0; i < offered.size(); ++i)
        if (std::isfinite(offered[i]) && (!std::isfinite(offered[peak]) || offered[i] > offered[peak])) peak = i;
      if (!offered.empty() && std::isfinite(offered[peak])) {
        p.series.push_back({fmt::format("peak: {:.0f} tokens/s", offered[peak]), {x[peak]}, {offered[peak]},
                            "with points pt 7 ps 2 lc rgb '#ff7f0e'"});
        p.extra.push_back(fmt::format("set label 1 'peak {:.0f} tokens/s' at first {:.9g}, first {:.9g} offset 1,1 "
                                      "front",
                                      offered[peak], x[peak], offered[peak]));
      }
      p.extra.push_back("set yrange [0:*]");
      p.caption = fmt::format("Per {} window: tokens of the requests that arrived (offered), tokens prefilled and "
                              "produced (served), and what the fleet serves when saturated at the run's mean "
                              "lengths (capacity). The busiest window is marked.",
                              per);
      plots.push_back(p);
    }
    {  // TTFT over time
      Plot p{"ttft", "Time to first token over time", ax.label, "TTFT (s)", "", {}, {}, ""};
      p.series.push_back({"TTFT p50", x, ts.column("ttft_p50_s"), "with lines lw 2 lc rgb '#1f77b4'"});
      p.series.push_back({"TTFT p99", x, ts.column("ttft_p99_s"), "with lines lw 2 lc rgb '#d62728'"});
      if (ttft_target > 0) {
        p.extra.push_back(target_arrow(ttft_target, "#555555"));
        p.series.push_back({fmt::format("target p99 {}", fmt_ms(ttft_target)), {}, {}, "with lines lw 2 dt 2 lc rgb '#555555'"});
        p.extra.push_back(fmt::format("set yrange [0:{:.9g}]", 1.1 * std::max(ttft_target, max_of(p.series))));
      }
      p.caption = fmt::format("Percentiles of the requests that arrived in each {} window, against the p99 target "
                              "(dashed).",
                              per);
      plots.push_back(p);
    }
    {  // TPOT over time
      Plot p{"tpot", "Time per output token over time", ax.label, "TPOT (ms)", "", {}, {}, ""};
      p.series.push_back({"TPOT p50", x, scaled(ts.column("tpot_p50_s"), 1e3), "with lines lw 2 lc rgb '#1f77b4'"});
      p.series.push_back({"TPOT p99", x, scaled(ts.column("tpot_p99_s"), 1e3), "with lines lw 2 lc rgb '#d62728'"});
      if (tpot_target > 0) {
        p.extra.push_back(target_arrow(tpot_target * 1e3, "#555555"));
        p.series.push_back({fmt::format("target p99 {}", fmt_ms(tpot_target)), {}, {}, "with lines lw 2 dt 2 lc rgb '#555555'"});
        p.extra.push_back(fmt::format("set yrange [0:{:.9g}]", 1.1 * std::max(tpot_target * 1e3, max_of(p.series))));
      }
      p.caption = fmt::format("Percentiles of the requests that arrived in each {} window, against the p99 target "
                              "(dashed).",
                              per);
      plots.push_back(p);
    }
    {  // batch size and running requests
      Plot p{"batch", "Batch size and requests in service over time", ax.label, "requests", "", {}, {}, ""};
      p.series.push_back({"mean batch size (per replica)", x, ts.column("mean_batch"),
                          "with lines lw 2 lc rgb '#9467bd'"});
      p.series.push_back({"running, whole fleet", x, ts.column("running_mean"),
                          "with lines lw 2 lc rgb '#2ca02c'"});
      p.extra.push_back("set yrange [0:*]");
      p.caption = "Mean batch size of the replicas' iterations and the requests admitted and not yet finished.";
      plots.push_back(p);
    }
    {  // KV usage and busy fraction
      Plot p{"kv", "KV cache in use and busy replicas over time", ax.label, "% of the fleet", "", {}, {}, ""};
      p.series.push_back({"KV cache reserved", x, scaled(ts.column("kv_used_fraction"), 100.0),
                          "with lines lw 2 lc rgb '#8c564b'"});
      p.series.push_back({"busy replica time", x, scaled(ts.column("busy_fraction"), 100.0),
                          "with lines lw 2 lc rgb '#17becf'"});
      p.extra.push_back("set yrange [0:105]");
      p.caption = "Time averages per window: the KV cache reserved over the fleet's KV capacity, and the share of "
                  "replica time with a batch running.";
      plots.push_back(p);
    }
    {  // queue
      Plot p{"queue", "Requests waiting over time", ax.label, "requests queued (time average)", "", {}, {}, ""};
      p.series.push_back({"queued", x, ts.column("queued_mean"),
                          "with lines lw 2 lc rgb '#ff7f0e'"});
      p.extra.push_back("set yrange [0:*]");
      p.caption = "Requests that have arrived and wait for a replica to admit them, time average per window.";
      plots.push_back(p);
    }
    {  // attainment and arrivals
      Plot p{"attainment", "SLO attainment over time", ax.label, "requests meeting both targets (%)", "", {}, {},
             "arrivals per window (requests)"};
      p.series.push_back({"SLO attainment (%)", x, scaled(ts.column("slo_attainment"), 100.0),
                          "with lines lw 2 lc rgb '#2ca02c'"});
      p.series.push_back({"arrivals (right axis)", x, ts.column("arrivals"), "axes x1y2 with steps lw 1 lc rgb '#7f7f7f'"});
      p.extra.push_back("set yrange [0:105]\nset y2range [0:*]");
      p.caption = "Share of the requests arriving in each window that met both per-request targets, with the "
                  "arrivals per window.";
      plots.push_back(p);
    }
    {  // power
      Plot p{"power", "Power of the fleet's GPUs over time", ax.label, "power (kW)", "", {}, {}, ""};
      p.series.push_back({"mean GPU power", x, scaled(ts.column("power_w"), 1e-3), "with lines lw 2 lc rgb '#e377c2'"});
      p.extra.push_back("set yrange [0:*]");
      p.caption = "Mean power per window: idle power for idle GPUs; GPUs running a step draw more with a larger batch, "
                  "near their maximum for long prefills (cluster/power.hpp).";
      plots.push_back(p);
    }
  } else {
    notes.push_back("timeseries.csv is missing: no plots over time (run with --out to write it)");
  }
  if (fs::exists(dir / "requests.csv")) {
    // The measured requests only, as in summary.json: requests.csv is in arrival order, and the first
    // (arrived - measured) rows arrived during the warm-up. Read row by row into bounded sketches (the file of a
    // long run does not fit in memory as text).
    std::size_t arrived = 0, measured = 0;
    bool counts = false;
    if (summary.contains("requests") && summary["requests"].contains("arrived") &&
        summary["requests"].contains("measured")) {
      arrived = summary["requests"]["arrived"].get<std::size_t>();
      measured = summary["requests"]["measured"].get<std::size_t>();
      counts = true;
    }
    const RequestLatencies req = read_request_latencies(dir / "requests.csv", arrived, measured, counts);
    auto measured_column = [&](const std::string& name) -> const QuantileSketch& { return req.column.at(name); };
    Plot p{"cdf", "Latency distributions (measured requests)", "latency (s, log scale)",
           "share of requests at or below (%)", "", {}, {}, ""};
    p.series.push_back(cdf_series(measured_column("tpot_s"), "TPOT", "with lines lw 2 lc rgb '#9467bd'"));
    p.series.push_back(cdf_series(measured_column("ttft_s"), "TTFT", "with lines lw 2 lc rgb '#1f77b4'"));
    p.series.push_back(cdf_series(measured_column("e2e_s"), "end to end", "with lines lw 2 lc rgb '#2ca02c'"));
    p.series.push_back(cdf_series(measured_column("queue_s"), "queueing delay", "with lines lw 2 lc rgb '#ff7f0e'"));
    if (req.has_kv_transfer) {  // disaggregated serving: the KV caches' moves
      Series kv = cdf_series(measured_column("kv_transfer_s"), "KV transfer", "with lines lw 2 lc rgb '#8c564b'");
      if (!kv.x.empty()) p.series.push_back(std::move(kv));
    }
    p.extra.push_back("set logscale x\nset yrange [0:100]\nset format x '%g'");
    if (ttft_target > 0) {
      p.extra.push_back(fmt::format("set arrow from first {0:.9g}, graph 0 to first {0:.9g}, graph 1 nohead dt 2 lw 2 "
                                    "lc rgb '#1f77b4'",
                                    ttft_target));
      p.series.push_back({fmt::format("TTFT target {}", fmt_ms(ttft_target)), {}, {}, "with lines lw 2 dt 2 lc rgb '#1f77b4'"});
    }
    if (tpot_target > 0) {
      p.extra.push_back(fmt::format("set arrow from first {0:.9g}, graph 0 to first {0:.9g}, graph 1 nohead dt 2 lw 2 "
                                    "lc rgb '#9467bd'",
                                    tpot_target));
      p.series.push_back({fmt::format("TPOT target {}", fmt_ms(tpot_target)), {}, {}, "with lines lw 2 dt 2 lc rgb '#9467bd'"});
    }
    p.caption = "Cumulative distributions over the measured requests (those arriving after the warm-up, as in the "
                "summary; zero values, such as no queueing, are left out of the log axis), with the p99 targets "
                "dashed; with disaggregated serving, the KV caches' moves between pools too.";
    // After the load and latency-over-time plots.
    plots.insert(plots.begin() + static_cast<long>(std::min<std::size_t>(plots.size(), 3)), p);
  }
  body += "<h2>Plots</h2>\n";
  for (const auto& p : plots)
    if (plotter.render(p, notes)) body += figure(p);
}

// ---- a sizing ------------------------------------------------------------------------------------------------

// sizing.json, read with the conversions that wrote it.
SizingReport read_sizing(const fs::path& p) {
  const auto j = nlohmann::ordered_json::parse(read_text(p), nullptr, false);
  if (j.is_discarded()) throw ReportError(p.string() + ": not valid JSON");
  try {
    return j.get<SizingReport>();
  } catch (const nlohmann::json::exception& e) {
    throw ReportError(fmt::format("{}: not what `tokenfleet size --out` writes: {}", p.string(), e.what()));
  }
}

void sizing_plots(const fs::path& dir, Plotter& plotter, std::string& body, std::vector<std::string>& notes) {
  const SizingReport sizing = read_sizing(dir / "sizing.json");
  const Table probes = read_csv(dir / "probes.csv");
  const double ttft_target = sizing.targets.ttft_p99_s;
  const double tpot_target = sizing.targets.tpot_p99_s;

  body += "<h2>Fleet size</h2>\n<table>\n<tr><th>GPU</th><th>answer (replicas)</th><th>GPUs</th><th>TTFT p99</th>"
          "<th>TPOT p99</th><th>one fewer</th><th>analytic estimate (replicas)</th><th>effective utilization</th>"
          "<th>effective peak multiple (mean-load fleet)</th></tr>\n";
  std::vector<std::string> gpus;
  std::map<std::string, std::pair<double, double>> marks;  // gpu -> answer, estimate (replicas)
  for (const auto& g : sizing.results) {
    gpus.push_back(g.gpu);
    if (!g.found) {
      body += fmt::format("<tr><td>{}</td><td colspan=\"8\" class=\"bad\">no answer: {}</td></tr>\n",
                          html_escape(g.gpu), html_escape(g.reason));
      continue;
    }
    // A fleet of pods: the probes are per pod, so the plots mark the answer and the estimate per pod.
    const int pods = g.pods ? g.pods->pods : 1;
    const double n = g.replicas;
    const double est = g.analytic_estimate.replicas;
    marks[g.gpu] = {n / pods, est / pods};
    const SizingSeedFigures* a = g.answer.empty() ? nullptr : &g.answer.front();
    const SizingEffective& eff = g.effective;
    body += fmt::format(
        "<tr><td>{}</td><td class=\"ok\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1f} (k = {:g}, "
        "u = {:g})</td><td>{:.1f} %</td><td>{}</td></tr>\n",
        html_escape(g.gpu),
        pods > 1 ? fmt::format("{} pods &times; {} = {}", pods, g.pods->replicas_per_pod, n) : fmt::format("{}", n),
        static_cast<int>(g.gpus), fmt_ms(a ? a->ttft_p99_s : kNaN),
        fmt_ms(a ? a->tpot_p99_s : kNaN), g.one_fewer ? fmt::format("{} fails", g.one_fewer->replicas) : "-", est,
        g.analytic_estimate.peak_multiple, g.analytic_estimate.utilization, eff.utilization * 100.0,
        eff.mean_load_fleet_replicas > 0 ? fmt::format("{:.2f}", eff.peak_multiple_vs_mean_load_fleet)
                                         : html_escape(eff.peak_multiple_vs_mean_load_fleet_note));
  }
  body += "</table>\n";
  bool any_pods = false;
  for (const auto& g : sizing.results)
    if (g.pods) {
      any_pods = true;
      body += fmt::format("<p class=\"note\">{}: {} pods of {} replicas ({} GPUs each); {}. With one replica fewer "
                          "per pod, {} of {} pods miss the targets. The p99s in the table are the worst pod's.</p>\n",
                          html_escape(g.gpu), g.pods->pods, g.pods->replicas_per_pod, g.pods->gpus_per_pod,
                          html_escape(g.pods->split), g.pods->one_fewer_pods_missing, g.pods->pods);
    }
  const std::array<const char*, 6> colors{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
  struct Fig {
    const char* name;
    const char* title;
    const char* column;
    const char* ylabel;
    double scale;
    double target;
  };
  const std::array<Fig, 3> figs{{{"size-ttft", "p99 time to first token against fleet size", "ttft_p99_s",
                                  "TTFT p99 (ms, log scale)", 1e3, ttft_target * 1e3},
                                 {"size-tpot", "p99 time per output token against fleet size", "tpot_p99_s",
                                  "TPOT p99 (ms, log scale)", 1e3, tpot_target * 1e3},
                                 {"size-attainment", "SLO attainment against fleet size", "attainment",
                                  "requests meeting both targets (%)", 100.0, 0.0}}};
  double xmin = kNaN, xmax = kNaN;
  for (std::size_t r = 0; r < probes.rows(); ++r) {
    const double v = probes.num(r, "replicas");
    if (std::isfinite(v)) {
      xmin = std::isfinite(xmin) ? std::min(xmin, v) : v;
      xmax = std::isfinite(xmax) ? std::max(xmax, v) : v;
    }
  }
  for (const auto& [gpu, m] : marks) {
    if (std::isfinite(m.second)) {
      xmin = std::min(xmin, m.second);
      xmax = std::max(xmax, m.second);
    }
  }
  body += "<h2>Plots</h2>\n";
  for (const auto& f : figs) {
    Plot p{f.name, f.title, any_pods ? "pod size (replicas per pod)" : "fleet size (replicas)", f.ylabel, "", {}, {}, ""};
    std::size_t gi = 0;
    for (const auto& gpu : gpus) {
      const std::string color = colors[gi++ % colors.size()];
      Series pass{fmt::format("{}: probe meets the targets", gpu), {}, {}, "with points pt 7 ps 1.5 lc rgb '" + color + "'"};
      Series fail{fmt::format("{}: probe misses", gpu), {}, {}, "with points pt 6 ps 1.5 lc rgb '" + color + "'"};
      std::vector<std::pair<double, double>> pts;
      for (std::size_t r = 0; r < probes.rows(); ++r) {
        if (probes.text(r, "gpu") != gpu) continue;
        const double n = probes.num(r, "replicas"), y = probes.num(r, f.column) * f.scale;
        if (!std::isfinite(n) || !std::isfinite(y)) continue;
        (probes.text(r, "met") == "1" ? pass : fail).x.push_back(n);
        (probes.text(r, "met") == "1" ? pass : fail).y.push_back(y);
        pts.emplace_back(n, y);
      }
      std::sort(pts.begin(), pts.end());
      Series line{"", {}, {}, "with lines lw 1 lc rgb '" + color + "' notitle"};
      for (const auto& [n, y] : pts) {
        line.x.push_back(n);
        line.y.push_back(y);
      }
      line.style = "with lines lw 1 lc rgb '" + color + "'";
      line.title = fmt::format("{}: probes in order of size", gpu);
      p.series.push_back(line);
      p.series.push_back(pass);
      p.series.push_back(fail);
      const auto m = marks.find(gpu);
      if (m != marks.end()) {
        p.extra.push_back(fmt::format("set arrow from first {0:g}, graph 0 to first {0:g}, graph 1 nohead lw 3 lc rgb "
                                      "'{1}' front",
                                      m->second.first, color));
        p.series.push_back({fmt::format("{}: answer {:g} replicas", gpu, m->second.first), {}, {},
                            "with lines lw 3 lc rgb '" + color + "'"});
        if (std::isfinite(m->second.second)) {
          p.extra.push_back(fmt::format("set arrow from first {0:.9g}, graph 0 to first {0:.9g}, graph 1 nohead lw 2 "
                                        "dt 3 lc rgb '{1}' front",
                                        m->second.second, color));
          p.series.push_back({fmt::format("{}: analytic estimate {:.1f} replicas", gpu, m->second.second), {}, {},
                              "with lines lw 2 dt 3 lc rgb '" + color + "'"});
        }
      }
    }
    if (f.target > 0) {
      p.extra.push_back(target_arrow(f.target, "#555555"));
      p.series.push_back({fmt::format("target {:g} ms", f.target), {}, {}, "with lines lw 2 dt 2 lc rgb '#555555'"});
      double lo = f.target, hi = f.target;
      for (const auto& s : p.series)
        for (double v : s.y)
          if (std::isfinite(v) && v > 0) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
          }
      p.extra.push_back(fmt::format("set logscale y\nset yrange [{:.9g}:{:.9g}]", lo / 1.5, hi * 1.5));
    } else {
      p.extra.push_back("set yrange [0:105]");
    }
    if (std::isfinite(xmin) && std::isfinite(xmax)) {
      const double pad = std::max(1.0, 0.08 * (xmax - xmin));
      p.extra.push_back(fmt::format("set xrange [{:g}:{:g}]", std::max(0.0, xmin - pad), xmax + pad));
    }
    p.caption = any_pods ? "Every simulated pod size, one point per pod of the split (filled: the pod meets the p99 "
                           "targets over its own requests; open: misses); the answer per pod is the solid vertical "
                           "line, the analytic estimate for the same demand over the pods the dotted one."
                         : "Every simulated fleet size (filled: meets the p99 targets; open: misses); the answer is the "
                           "solid vertical line, the analytic estimate for the same demand the dotted one.";
    if (plotter.render(p, notes)) body += figure(p);
  }
  // The per-hour schedule, when sized with --per-hour.
  for (const auto& g : sizing.results) {
    if (!g.per_hour || g.per_hour->empty()) continue;
    Plot p{"size-per-hour-" + g.gpu, "Fleet each hour needs (" + g.gpu + ")", "hour start (h)", "replicas", "", {}, {},
           ""};
    Series s{"replicas meeting the targets over the hour", {}, {}, "with steps lw 2 lc rgb '#1f77b4'"};
    for (const auto& h : *g.per_hour) {
      s.x.push_back(h.start_s / 3600.0);
      s.y.push_back(h.replicas);
    }
    s.x.push_back(g.per_hour->back().end_s / 3600.0);
    s.y.push_back(s.y.back());
    p.series.push_back(s);
    p.series.push_back({fmt::format("fixed fleet: {} replicas", g.replicas), {s.x.front(), s.x.back()},
                        {static_cast<double>(g.replicas), static_cast<double>(g.replicas)},
                        "with lines lw 2 dt 2 lc rgb '#d62728'"});
    p.extra.push_back("set yrange [0:*]");
    p.caption = "An autoscaling schedule: for each hour, the smallest fleet whose run meets the targets over that "
                "hour's requests, against the fixed fleet sized for the whole window.";
    if (plotter.render(p, notes)) body += figure(p);
  }
  // The scale check, when sized with --scale-check.
  if (fs::exists(dir / "scale_check.json")) {
    const auto j = nlohmann::ordered_json::parse(read_text(dir / "scale_check.json"), nullptr, false);
    if (j.is_discarded()) throw ReportError((dir / "scale_check.json").string() + ": not valid JSON");
    ScaleCheckReport check;
    try {
      check = j.get<ScaleCheckReport>();
    } catch (const nlohmann::json::exception& e) {
      throw ReportError(fmt::format("{}: not what `tokenfleet size --scale-check` writes: {}",
                                    (dir / "scale_check.json").string(), e.what()));
    }
    body += fmt::format("<h2>Scale check</h2>\n<p>A pod of m replicas offered a share of the arrivals (split as pods "
                        "are): the largest share meeting the targets (bisected to {:g} %), and the GPUs that costs per "
                        "unit of demand; a gain is the saving against the row before, and a doubling that saves less "
                        "than {:g} % no longer pays.</p>\n",
                        check.tolerance * 100.0, check.gain_threshold * 100.0);
    std::size_t gi = 0;
    Plot p{"scale-check", "GPUs per unit of demand as the pod grows", "pod size (replicas, log scale)",
           "GPUs per 1,000 requests/s", "", {}, {}, ""};
    for (const auto& g : check.results) {
      body += fmt::format("<h3>{}</h3>\n<table>\n<tr><th>replicas</th><th>GPUs</th><th>share</th><th>requests/s</th>"
                          "<th>tokens/s</th><th>GPUs per 1k requests/s</th><th>GPUs per M tokens/s</th><th>gain</th>"
                          "<th>pods for the demand</th></tr>\n",
                          html_escape(g.gpu));
      const std::string color = colors[gi++ % colors.size()];
      Series s{fmt::format("{}: a pod on its largest share", g.gpu), {}, {},
               "with linespoints lw 2 pt 7 lc rgb '" + color + "'"};
      for (const auto& r : g.rows) {
        const std::string label = r.kind == "answer"
                                      ? (r.pods > 1 ? fmt::format("{} pods &times; {} (the answer)", r.pods,
                                                                  r.replicas / std::max(1, r.pods))
                                                    : fmt::format("{} (the pooled answer)", r.replicas))
                                      : fmt::format("{}", r.replicas);
        if (!r.found) {
          body += fmt::format("<tr><td>{}</td><td>{}</td><td colspan=\"7\" class=\"bad\">{}</td></tr>\n", label,
                              r.gpus, html_escape(r.reason));
          continue;
        }
        body += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.3f}</td><td>{:.1f}</td><td>{:.2f}</td>"
                            "<td>{:.2f}</td><td>{}</td><td>{} ({} GPUs)</td></tr>\n",
                            label, r.gpus, r.whole ? "1 (all)" : fmt::format("{:.4f}", r.share), r.requests_per_s,
                            r.tokens_per_s, r.gpus_per_1k_requests_per_s, r.gpus_per_m_tokens_per_s,
                            r.has_gain ? fmt::format("{:+.1f} %", r.gain * 100.0) : "-", r.pods_for_demand,
                            r.fleet_gpus);
        if (r.kind == "pod") {
          s.x.push_back(r.replicas);
          s.y.push_back(r.gpus_per_1k_requests_per_s);
        } else {
          p.extra.push_back(target_arrow(r.gpus_per_1k_requests_per_s, color));
          p.series.push_back({fmt::format("{}: the answer, {} replicas", g.gpu, r.replicas), {}, {},
                              "with lines lw 2 dt 2 lc rgb '" + color + "'"});
        }
      }
      body += "</table>\n<p>" + html_escape(g.conclusion) + "</p>\n";
      if (!s.x.empty()) p.series.push_back(s);
    }
    p.extra.push_back("set logscale x 2\nset yrange [0:*]");
    p.caption = "GPUs per 1,000 requests/s of demand for a pod of each size on the largest share of the arrivals it "
                "serves within the targets; dashed, the sizing's answer for the whole demand.";
    if (plotter.render(p, notes)) body += figure(p);
  }
}

}  // namespace

bool gnuplot_available() {
  const std::string cmd = gnuplot_command() + " --version >/dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string compare_section(const std::string& compare_csv_path, const std::string& plots_dir,
                            std::vector<std::string>& plots) {
  const Table t = read_csv(compare_csv_path);
  if (t.header.size() < 2 || t.rows() == 0) throw ReportError(compare_csv_path + ": expected a label column and figures");
  Plotter plotter(plots_dir);
  std::vector<std::string> notes;
  std::string body = "<h2>Policies side by side</h2>\n<table>\n<tr>";
  for (const auto& h : t.header) body += "<th>" + html_escape(h) + "</th>";
  body += "</tr>\n";
  for (const auto& row : t.cells) {
    body += "<tr>";
    for (const auto& c : row) body += "<td>" + html_escape(c) + "</td>";
    body += "</tr>\n";
  }
  body += "</table>\n";
  // Bars are labelled "batching / router" when the file has both columns (tokenfleet compare's compare.csv).
  const bool two_labels = t.header.size() > 1 && t.header[0] == "batching" && t.header[1] == "router";
  // A disaggregated split (compare --policies disaggregated:P) joins the batching label: "disaggregated 3+1".
  auto label = [&](std::size_t r) {
    if (!two_labels) return t.cells[r][0];
    const std::string split = t.text(r, "prefill_decode");
    return t.cells[r][0] + (split.empty() ? "" : " " + split) + " / " + t.cells[r][1];
  };
  std::string xtics = "set xtics (";
  for (std::size_t r = 0; r < t.rows(); ++r)
    xtics += fmt::format("{}{} {}", r ? ", " : "", gp_quote(label(r)), r);
  xtics += ") rotate by -20";
  // The figures worth a plot, with their units; other columns (flags, less telling percentiles) stay in the table.
  static const std::vector<std::pair<std::string, std::string>> units = {
      {"requests_per_s", "requests per second"}, {"output_tokens_per_s", "output tokens per second"},
      {"ttft_p50_s", "TTFT p50 (s)"},           {"ttft_p99_s", "TTFT p99 (s)"},
      {"tpot_p50_s", "TPOT p50 (s)"},           {"tpot_p99_s", "TPOT p99 (s)"},
      {"e2e_p99_s", "end to end p99 (s)"},      {"slo_attainment", "SLO attainment (share of requests)"},
      {"mfu", "MFU (fraction of peak FLOP/s)"}, {"busy_fraction", "busy fraction"},
      {"preemptions", "preemptions (count)"},  {"swapped_out_tokens", "KV tokens swapped to host (count)"},
      {"rejected", "rejected requests (count)"}, {"kv_transfer_p99_s", "KV transfer p99 (s)"},
      {"goodput_per_s", "goodput (requests meeting the SLO per second)"},
      {"energy_j_per_output_token", "energy per output token (J)"}};
  const bool known_layout = two_labels;
  for (std::size_t c = 1; c < t.header.size(); ++c) {
    const std::string& name = t.header[c];
    std::string ylabel = name;
    if (known_layout) {
      const auto u = std::find_if(units.begin(), units.end(), [&](const auto& e) { return e.first == name; });
      if (u == units.end()) continue;
      ylabel = u->second;
    }
    Series s{name, {}, {}, "with boxes fs solid 0.6 lc rgb '#1f77b4'"};
    for (std::size_t r = 0; r < t.rows(); ++r) {
      s.x.push_back(static_cast<double>(r));
      s.y.push_back(t.num(r, name));
    }
    if (finite_points(s) == 0) continue;
    std::string safe;
    for (char ch : name) safe += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '-';
    Plot p{"compare-" + safe, name + (two_labels ? " by batching and router" : " by " + t.header[0]),
           two_labels ? "batching / router" : t.header[0], ylabel, "", {s}, {}, ""};
    p.extra.push_back(xtics);
    p.extra.push_back("set boxwidth 0.6\nset yrange [0:*]\nset xrange [-0.6:" + fmt::format("{}", t.rows() - 0.4) + "]");
    p.caption = name + " for each " + (two_labels ? std::string("policy") : t.header[0]) +
                " (same workload, same random numbers).";
    if (plotter.render(p, notes)) body += figure(p);
  }
  plots.insert(plots.end(), plotter.written().begin(), plotter.written().end());
  return body;
}

namespace {

ReportResult build_report_files(const std::string& results_dir) {
  const fs::path dir = results_dir;
  if (!fs::is_directory(dir)) throw ReportError(results_dir + ": not a folder");
  const bool run = fs::exists(dir / "summary.json");
  const bool sizing = fs::exists(dir / "sizing.json") && fs::exists(dir / "probes.csv");
  const bool compare = fs::exists(dir / "compare.csv");
  if (!run && !sizing && !compare)
    throw ReportError(results_dir + ": no results to report on (expected summary.json from `tokenfleet run --out`, "
                                    "sizing.json and probes.csv from `tokenfleet size --out`, or compare.csv)");
  const fs::path plots_dir = dir / "plots";
  std::error_code ec;
  fs::create_directories(plots_dir, ec);
  if (ec) throw ReportError("cannot create " + plots_dir.string() + ": " + ec.message());
  // Plots of an earlier report must not pass for this one's.
  for (const auto& e : fs::directory_iterator(plots_dir, ec))
    if (e.path().extension() == ".svg" || e.path().extension() == ".gp") fs::remove(e.path(), ec);

  ReportResult result;
  Plotter plotter(plots_dir);
  std::string body;
  std::string name = dir.filename().string();
  nlohmann::ordered_json summary;
  if (run) {
    summary = nlohmann::ordered_json::parse(read_text(dir / "summary.json"), nullptr, false);
    if (summary.is_discarded()) throw ReportError((dir / "summary.json").string() + ": not valid JSON");
    name = summary.value("scenario", name);
  } else if (sizing) {
    name = read_sizing(dir / "sizing.json").scenario;
  }
  const std::string kind = run ? "run" : sizing ? "fleet sizing" : "comparison";
  std::string html = page_head(fmt::format("tokenfleet {}: {}", kind, name));
  html += "<p class=\"note\">Made offline by <code>tokenfleet report</code> from the files in this folder; "
          "the plots are gnuplot SVGs in <code>plots/</code>, each with the gnuplot script that draws it.</p>\n";
  if (run) {
    body += "<h2>Summary</h2>\n" + summary_table_html(summary);
  }
  if (fs::exists(dir / "scenario.toml"))
    body += "<h2>Scenario</h2>\n<pre>" + html_escape(read_text(dir / "scenario.toml")) + "</pre>\n";
  if (run) run_plots(dir, plotter, body, result.notes, summary);
  if (sizing) sizing_plots(dir, plotter, body, result.notes);
  result.plots = plotter.written();
  if (compare) body += compare_section((dir / "compare.csv").string(), plots_dir.string(), result.plots);
  if (!result.notes.empty()) {
    body += "<h2>Notes</h2>\n<ul>\n";
    for (const auto& n : result.notes) body += "<li>" + html_escape(n) + "</li>\n";
    body += "</ul>\n";
  }
  body += files_section(dir, {"scenario.toml", "summary.json", "requests.csv", "timeseries.csv", "sizing.json",
                              "probes.csv", "scale_check.csv", "scale_check.json", "compare.csv"});
  html += body + "</body>\n</html>\n";
  result.html_path = (dir / "report.html").string();
  write_atomically(result.html_path, html);
  spdlog::info("report: wrote {} ({} bytes, {} plots, {} notes)", result.html_path, html.size(), result.plots.size(),
               result.notes.size());
  return result;
}

}  // namespace

ReportResult build_report(const std::string& results_dir) {
  try {
    return build_report_files(results_dir);
  } catch (const ReportError&) {
    throw;
  } catch (const std::exception& e) {  // a file not written, a folder not read: the report failed
    throw ReportError(e.what());
  }
}

}  // namespace tf
