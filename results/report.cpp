#include "results/report.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
#include "results/units.hpp"

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

// Text inside a double-quoted gnuplot string, where \n is a line break.
std::string gp_dquote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
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
  // The legend: below the plot area, across, so that it never narrows the plot or runs past the picture's edge
  // (a legend at the right of a 960-pixel picture took half of it with a dozen entries).
  std::string key = "set key below center horizontal box opaque spacing 1.1 samplen 3 width 1";
};

// The picture's size, in the SVG and in the page.
constexpr int kPlotWidth = 960, kPlotHeight = 500;

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
    gp += fmt::format("set terminal svg size {},{} noenhanced font 'Sans,13' background rgb 'white'\n", kPlotWidth,
                      kPlotHeight);
    gp += "set output " + gp_quote((dir_ / (p.name + ".svg.tmp")).string()) + "\n";
    gp += "set title " + gp_quote(p.title) + "\n";
    // A legend below the plot sits right under the x axis' label: an empty line after the label keeps them apart.
    const bool key_below = p.key.find(" below") != std::string::npos;
    gp += "set xlabel " + (key_below ? gp_dquote(p.xlabel + "\n") : gp_quote(p.xlabel)) + "\n";
    gp += "set ylabel " + gp_quote(p.ylabel) + "\n";
    if (!p.y2label.empty()) gp += "set y2label " + gp_quote(p.y2label) + "\nset y2tics\nset ytics nomirror\n";
    gp += p.key + "\nset grid lc rgb '#dddddd'\nset border lc rgb '#444444'\n";
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
  return fmt::format("<figure><img src=\"plots/{}.svg\" alt=\"{}\" width=\"{}\" height=\"{}\">"
                     "<figcaption>{}</figcaption></figure>\n",
                     p.name, html_escape(p.title), kPlotWidth, kPlotHeight, html_escape(p.caption));
}

const char* kStyle = R"(body{font-family:sans-serif;margin:24px auto;max-width:1200px;color:#222;background:#fff}
h1{font-size:1.6em;margin-bottom:0.2em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
pre{background:#f7f7f7;border:1px solid #ddd;padding:8px;overflow-x:auto;font-size:0.85em}
figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:0.9em;color:#555}
.wide{overflow-x:auto;max-width:100%}.wide td{white-space:nowrap}.wide td:first-child{white-space:normal}
.wide th{white-space:normal;min-width:5em}
td.name{white-space:nowrap;text-align:left}.ok{color:#1a7f37;font-weight:bold}.bad{color:#c62828;font-weight:bold}.note{color:#666;font-size:0.9em})";

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

// A value axis over the positive range [lo, hi]: logarithmic when it spans a decade or more, with labelled ticks at
// 1, 2 and 5 in each decade (gnuplot's own log ticks label the decades alone, so a range of 11 to 300 showed one
// label); linear from zero below a decade, where a log axis shows little and reads badly.
struct ValueAxis {
  std::vector<std::string> commands;
  bool log = false;
};
ValueAxis value_axis(char axis, double lo, double hi, double headroom = 1.5,
                     const std::function<std::string(double)>& label = {}) {
  ValueAxis a;
  if (!(lo > 0) || !std::isfinite(hi) || hi < lo) return a;
  if (hi / lo < 10.0) {
    a.commands.push_back(fmt::format("set {}range [0:{:.9g}]", axis, hi * 1.08));
    return a;
  }
  a.log = true;
  const double from = lo / 1.5, to = hi * headroom;
  std::vector<double> ticks;
  const int d0 = static_cast<int>(std::floor(std::log10(from))), d1 = static_cast<int>(std::ceil(std::log10(to)));
  const bool dense = d1 - d0 <= 3;  // 1-2-5 up to three decades; decades alone beyond (still four or more labels)
  for (int d = d0; d <= d1; ++d)
    for (const double m : dense ? std::vector<double>{1, 2, 5} : std::vector<double>{1}) {
      const double v = m * std::pow(10.0, d);
      if (v >= from * 0.999 && v <= to * 1.001) ticks.push_back(v);
    }
  std::string tics = fmt::format("set {}tics (", axis);
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    const double v = ticks[i];
    const std::string text = label ? label(v) : v >= 1000 ? human_count(v) : fmt::format("{:g}", v);
    tics += fmt::format("{}{} {:.9g}", i ? ", " : "", gp_quote(text), v);
  }
  tics += ")";
  a.commands.push_back(fmt::format("set logscale {}", axis));
  a.commands.push_back(tics);
  a.commands.push_back(fmt::format("set m{}tics 10", axis));
  a.commands.push_back(fmt::format("set {}range [{:.9g}:{:.9g}]", axis, from, to));
  return a;
}

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

// A key of summary.json as a planner reads it: "throughput.output_tokens_per_s" -> "throughput: output tokens/s",
// "energy.window_kwh" -> "energy: window (kWh)", "slo.ttft_p99_s" -> "SLO: TTFT p99" (the value shows its unit).
std::string summary_row_name(const std::string& path) {
  std::string out, word;
  auto flush = [&](char sep) {
    static const std::map<std::string, std::string> words = {
        {"slo", "SLO"},  {"ttft", "TTFT"}, {"tpot", "TPOT"}, {"mfu", "MFU"}, {"kv", "KV"},   {"e2e", "end to end"},
        {"kwh", "(kWh)"}, {"w", "(W)"},     {"j", "J"},       {"s", ""},     {"per", "per"}};
    const auto it = words.find(word);
    std::string w = it != words.end() ? it->second : word;
    if (!w.empty()) {
      if (!out.empty() && out.back() != ' ') out += ' ';
      out += w;
    }
    if (sep == '.') out += ':';
    word.clear();
  };
  std::string p = path;  // "_per_s" reads as "/s"
  for (std::size_t at; (at = p.find("_per_s")) != std::string::npos;) p.replace(at, 6, "/s");
  for (char c : p) {
    if (c == '_' || c == '.') flush(c);
    else word += c;
  }
  flush(0);
  return out;
}

// A value of summary.json in its unit: durations (keys ending in _s), fractions as percentages, rounded numbers.
std::string summary_value(const std::string& path, double v) {
  auto ends = [&](const char* suffix) {
    const std::size_t n = std::strlen(suffix);
    return path.size() >= n && path.compare(path.size() - n, n, suffix) == 0;
  };
  if (ends("_s") && !ends("_per_s")) return human_duration(v);
  if (ends("attainment") || ends("_fraction") || ends("mfu") || ends("hit_rate")) return human_percent(v);
  if (v == std::floor(v) && std::fabs(v) < 1e15) return human_count(v);
  return human_number(v);
}

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
    out += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", html_escape(summary_row_name(k)), v);
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
        return st.contains(k) && st[k].is_number() ? human_duration(st[k].get<double>()) : "-";
      };
      lat += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                         "</tr>\n",
                         html_escape(summary_row_name(name)), f("mean"), f("p50"), f("p90"), f("p99"), f("p99.9"),
                         f("max"), st.contains("count") && st["count"].is_number()
                                       ? human_count(st["count"].get<double>())
                                       : "-");
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
    } else if (v.is_number()) {
      row(prefix, summary_value(prefix, v.get<double>()));
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
    if (ts.col("replicas_serving") >= 0) {  // [autoscaler]: the fleet over time (only then written)
      Plot p{"replicas", "Replicas over time (autoscaler)", ax.label, "replicas (time average)", "", {}, {}, ""};
      p.series.push_back({"serving", x, ts.column("replicas_serving"), "with steps lw 2 lc rgb '#1f77b4'"});
      p.series.push_back({"starting", x, ts.column("replicas_starting"), "with steps lw 2 lc rgb '#ff7f0e'"});
      p.series.push_back({"draining", x, ts.column("replicas_draining"), "with steps lw 2 lc rgb '#7f7f7f'"});
      p.extra.push_back("set yrange [0:*]");
      p.caption = "Replicas serving, starting (their cold start) and draining (finishing their batch), time average per "
                  "window; scaling.csv has every change.";
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
    Plot p{"cdf", "Latency distributions (measured requests)", "latency (log scale)",
           "share of requests at or below (%)", "", {}, {}, ""};
    p.series.push_back(cdf_series(measured_column("tpot_s"), "TPOT", "with lines lw 2 lc rgb '#9467bd'"));
    p.series.push_back(cdf_series(measured_column("ttft_s"), "TTFT", "with lines lw 2 lc rgb '#1f77b4'"));
    p.series.push_back(cdf_series(measured_column("e2e_s"), "end to end", "with lines lw 2 lc rgb '#2ca02c'"));
    p.series.push_back(cdf_series(measured_column("queue_s"), "queueing delay", "with lines lw 2 lc rgb '#ff7f0e'"));
    if (req.has_kv_transfer) {  // disaggregated serving: the KV caches' moves
      Series kv = cdf_series(measured_column("kv_transfer_s"), "KV transfer", "with lines lw 2 lc rgb '#8c564b'");
      if (!kv.x.empty()) p.series.push_back(std::move(kv));
    }
    bool clipped_low = false;
    {  // a log axis with labels across the decades (value_axis), linear when the latencies span less than one
      double lo = kNaN, hi = kNaN;
      for (const auto& s : p.series)
        for (double v : s.x)
          if (std::isfinite(v) && v > 0) {
            lo = std::isfinite(lo) ? std::min(lo, v) : v;
            hi = std::isfinite(hi) ? std::max(hi, v) : v;
          }
      for (const double t : {ttft_target, tpot_target})
        if (t > 0 && std::isfinite(lo)) {
          lo = std::min(lo, t);
          hi = std::max(hi, t);
        }
      // Below 0.1 ms (a request admitted at once queues for nanoseconds) a planner sees nothing: such values sit
      // at the left edge rather than stretch the axis over decades of nothing.
      if (std::isfinite(lo) && lo < 1e-4 && hi > 1e-4) {
        lo = 1e-4 * 1.5;
        clipped_low = true;
      }
      const ValueAxis ax = value_axis('x', lo, hi, 1.5, [](double v) {
        return v < 1.0 ? fmt::format("{:g} ms", v * 1e3) : fmt::format("{:g} s", v);
      });
      if (ax.commands.empty()) p.extra.push_back("set logscale x\nset format x '%g'");
      for (const auto& c : ax.commands) p.extra.push_back(c);
      if (!ax.log && !ax.commands.empty()) p.xlabel = "latency (s)";
      p.extra.push_back("set yrange [0:100]");
    }
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
    if (clipped_low) p.caption += " Latencies under 0.1 ms are at the left edge.";
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
  // The search's probes span the whole measurement window; --per-hour adds probes of one hour each (narrower
  // windows), which are not points of the fleet-size curves.
  double widest = 0.0;
  for (std::size_t r = 0; r < probes.rows(); ++r)
    widest = std::max(widest, probes.num(r, "window_end_s") - probes.num(r, "window_start_s"));
  auto search_row = [&](std::size_t r) {
    return !(probes.num(r, "window_end_s") - probes.num(r, "window_start_s") < widest - 1e-6);
  };
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
        "<tr><td class=\"name\">{}</td><td class=\"ok\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1f} (k = {:g}, "
        "u = {:g})</td><td>{:.1f} %</td><td>{}</td></tr>\n",
        html_escape(g.gpu),
        pods > 1 ? fmt::format("{} pods &times; {} = {}", pods, g.pods->replicas_per_pod, n) : fmt::format("{}", n),
        static_cast<int>(g.gpus), human_duration(a ? a->ttft_p99_s : kNaN),
        human_duration(a ? a->tpot_p99_s : kNaN), g.one_fewer ? fmt::format("{} fails", g.one_fewer->replicas) : "-", est,
        g.analytic_estimate.peak_multiple, g.analytic_estimate.utilization, eff.utilization * 100.0,
        eff.mean_load_fleet_replicas > 0 ? fmt::format("{:.2f}", eff.peak_multiple_vs_mean_load_fleet)
                                         : html_escape(eff.peak_multiple_vs_mean_load_fleet_note));
  }
  body += "</table>\n";
  // The formula's k and u for each answer, its margin and binding limit, and what it costs.
  // Ranked as `size` ranks them: by cost (GPUs, then energy, without prices), ties in the order sized.
  std::vector<const SizingGpuResult*> ranked;
  for (const auto& g : sizing.results)
    if (g.found) ranked.push_back(&g);
  std::stable_sort(ranked.begin(), ranked.end(), [](const SizingGpuResult* a, const SizingGpuResult* b) {
    const double ca = a->cost.value_or(-1.0), cb = b->cost.value_or(-1.0);
    if (ca >= 0.0 && cb >= 0.0 && ca != cb) return ca < cb;
    if (a->gpus != b->gpus) return a->gpus < b->gpus;
    return a->energy_kwh < b->energy_kwh;
  });
  const bool by_cost = !ranked.empty() && ranked.front()->cost.has_value();
  body += fmt::format("<h2>The formula, the margin and the money</h2>\n<table>\n<tr><th>rank "
                      "({})</th><th>configuration</th><th>GPUs</th><th>k</th>"
                      "<th>u (2 &times; P)</th><th>u (cost-model FLOPs)</th><th>margin (95 %)</th><th>binding "
                      "limit</th><th>GPU-hours per day</th><th>kWh per day</th><th>$ per day</th><th>$ per month</th>"
                      "<th>$ per M tokens</th><th>per-hour schedule</th></tr>\n",
                      by_cost ? "by cost" : "by GPUs, then energy");
  int rank = 0;
  for (const SizingGpuResult* gp : ranked) {
    const SizingGpuResult& g = *gp;
    ++rank;
    auto u = [&](const char* name) {
      if (!g.decomposition) return std::string("-");
      for (const auto& c : g.decomposition->conventions)
        if (c.name == name) return fmt::format("{:.1f} %", c.utilization * 100.0);
      return std::string("-");
    };
    const Economics* e = g.economics ? &*g.economics : nullptr;
    std::string schedule = "-";
    if (g.per_hour && g.gpu_hours_fixed_fleet > 0.0)
      schedule = fmt::format("{:.1f} GPU-hours against {:.1f} fixed ({:+.1f} %)", g.gpu_hours_per_hour_schedule,
                             g.gpu_hours_fixed_fleet,
                             100.0 * (g.gpu_hours_per_hour_schedule / g.gpu_hours_fixed_fleet - 1.0));
    body += fmt::format(
        "<tr><td>{}</td><td class=\"name\">{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        rank, html_escape(g.gpu), g.best_of_type ? " <span class=\"ok\">(best of its type)</span>" : "",
        human_count(g.gpus),
        g.decomposition ? fmt::format("{:.2f}{}", g.decomposition->peak_multiple,
                                      g.decomposition->peak_multiple_meaningful ? "" : " (not meaningful)")
                        : "-",
        u("2P"), u("cost_model"), g.margin ? html_escape(g.margin->verdict) : "-", html_escape(g.binding_limit),
        e ? human_number(e->per_day.gpu_hours) : "-", e ? human_number(e->per_day.kwh) : "-",
        e ? "$" + human_count(e->per_day.usd) : "-", e ? "$" + human_count(e->per_month.usd) : "-",
        e ? "$" + human_number(e->usd_per_million_tokens) : "-", html_escape(schedule));
  }
  body += "</table>\n<p class=\"note\">k and u make the formula GPUs = 2 &times; P &times; D &times; k / (F &times; u "
          "&times; T) give each simulated fleet exactly (k: the busiest hour's tokens/s over the span's mean). Prices: "
          "as given, else the stated defaults (sizing.json, economics.price_source); a window shorter than a day is "
          "taken as the demand all day long.</p>\n";
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
                                  "TTFT p99", 1e3, ttft_target * 1e3},
                                 {"size-tpot", "p99 time per output token against fleet size", "tpot_p99_s",
                                  "TPOT p99", 1e3, tpot_target * 1e3},
                                 {"size-attainment", "SLO attainment against fleet size", "attainment",
                                  "requests meeting both targets", 100.0, 0.0}}};
  // The x axis shows the probes and the answers. An analytic estimate far outside them (243 replicas beside answers
  // of 20 to 40) would squash them into a sliver: such an estimate is an arrow at the plot's edge with its value.
  double xmin = kNaN, xmax = kNaN;
  auto widen = [&](double v) {
    if (!std::isfinite(v)) return;
    xmin = std::isfinite(xmin) ? std::min(xmin, v) : v;
    xmax = std::isfinite(xmax) ? std::max(xmax, v) : v;
  };
  for (std::size_t r = 0; r < probes.rows(); ++r)
    if (search_row(r)) widen(probes.num(r, "replicas"));
  for (const auto& [gpu, m] : marks) widen(m.first);
  const double span = std::isfinite(xmin) ? std::max(2.0, xmax - xmin) : 0.0;
  auto in_view = [&](double e) { return std::isfinite(xmin) && e >= xmin - 0.5 * span && e <= xmax + 0.5 * span; };
  std::vector<std::string> off_scale;  // "h100-sxm 96.3 replicas"
  for (const auto& [gpu, m] : marks) {
    if (!std::isfinite(m.second)) continue;
    if (in_view(m.second)) widen(m.second);
    else off_scale.push_back(fmt::format("{} {:.1f}", gpu, m.second));
  }
  bool any_estimate = false;  // drawn as a dotted line (in view)
  for (const auto& [gpu, m] : marks) any_estimate = any_estimate || (std::isfinite(m.second) && in_view(m.second));
  body += "<h2>Plots</h2>\n";
  const std::string grey = "#444444";
  for (const auto& f : figs) {
    Plot p{f.name, f.title, any_pods ? "pod size (replicas per pod)" : "fleet size (replicas)", f.ylabel, "", {}, {}, ""};
    // One legend entry per GPU type (its colour); what the marks mean, once, in grey.
    std::size_t gi = 0, edge = 0;
    for (const auto& gpu : gpus) {
      const std::string color = colors[gi++ % colors.size()];
      Series pass{"", {}, {}, "with points pt 7 ps 1.5 lc rgb '" + color + "'"};
      Series fail{"", {}, {}, "with points pt 6 ps 1.5 lc rgb '" + color + "'"};
      std::vector<std::pair<double, double>> pts;
      for (std::size_t r = 0; r < probes.rows(); ++r) {
        if (probes.text(r, "gpu") != gpu || !search_row(r)) continue;
        const double n = probes.num(r, "replicas"), y = probes.num(r, f.column) * f.scale;
        if (!std::isfinite(n) || !std::isfinite(y)) continue;
        (probes.text(r, "met") == "1" ? pass : fail).x.push_back(n);
        (probes.text(r, "met") == "1" ? pass : fail).y.push_back(y);
        pts.emplace_back(n, y);
      }
      std::sort(pts.begin(), pts.end());
      Series line{gpu, {}, {}, "with lines lw 2 lc rgb '" + color + "'"};
      for (const auto& [n, y] : pts) {
        line.x.push_back(n);
        line.y.push_back(y);
      }
      p.series.push_back(line);
      p.series.push_back(pass);
      p.series.push_back(fail);
      const auto m = marks.find(gpu);
      if (m == marks.end()) continue;
      p.extra.push_back(fmt::format("set arrow from first {0:g}, graph 0 to first {0:g}, graph 1 nohead lw 3 lc rgb "
                                    "'{1}' front",
                                    m->second.first, color));
      const double est = m->second.second;
      if (!std::isfinite(est)) continue;
      if (in_view(est)) {
        p.extra.push_back(fmt::format("set arrow from first {0:.9g}, graph 0 to first {0:.9g}, graph 1 nohead lw 2 "
                                      "dt 3 lc rgb '{1}' front",
                                      est, color));
        continue;
      }
      // Off the scale: its value above the plot's frame, at the edge it lies beyond, with an arrow pointing there.
      const bool right = est > xmax;
      p.extra.push_back(fmt::format("set label {} {} at graph {}, graph 1 {} offset 0,{:.1f} tc rgb '{}' front",
                                    100 + edge,
                                    gp_quote(right ? fmt::format("{} estimate: {:.1f} \u2192", gpu, est)
                                                   : fmt::format("\u2190 {} estimate: {:.1f}", gpu, est)),
                                    right ? 1 : 0, right ? "right" : "left", 0.8 + 1.2 * static_cast<double>(edge),
                                    color));
      ++edge;
    }
    if (edge > 0) p.extra.push_back(fmt::format("set encoding utf8\nset tmargin {:.1f}", 3.5 + 1.3 * edge));
    p.series.push_back({"filled: meets the targets", {}, {}, "with points pt 7 ps 1.5 lc rgb '" + grey + "'"});
    p.series.push_back({"open: misses", {}, {}, "with points pt 6 ps 1.5 lc rgb '" + grey + "'"});
    if (!marks.empty()) p.series.push_back({"answer", {}, {}, "with lines lw 3 lc rgb '" + grey + "'"});
    if (any_estimate)
      p.series.push_back({"analytic estimate", {}, {}, "with lines lw 2 dt 3 lc rgb '" + grey + "'"});
    std::string ylabel = f.ylabel;
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
      const ValueAxis ax = value_axis('y', lo, hi);
      for (const auto& c : ax.commands) p.extra.push_back(c);
      ylabel += ax.log ? " (ms, log scale)" : " (ms)";
    } else {
      p.extra.push_back("set yrange [0:105]");
      ylabel += " (%)";
    }
    p.ylabel = ylabel;
    if (std::isfinite(xmin) && std::isfinite(xmax)) {
      const double pad = std::max(1.0, 0.08 * (xmax - xmin));
      p.extra.push_back(fmt::format("set xrange [{:g}:{:g}]", std::max(0.0, xmin - pad), xmax + pad));
      if (xmax - xmin <= 12) p.extra.push_back("set xtics 1");  // whole replicas, not 0.5
    }
    p.caption = any_pods ? "Every simulated pod size, one point per pod of the split (filled: the pod meets the p99 "
                           "targets over its own requests; open: misses); the answer per pod is the solid vertical "
                           "line, the analytic estimate for the same demand over the pods the dotted one."
                         : "Every simulated fleet size (filled: meets the p99 targets; open: misses); the answer is the "
                           "solid vertical line, the analytic estimate for the same demand the dotted one.";
    if (!off_scale.empty())
      p.caption += fmt::format(" Off the scale, drawn as an arrow at the edge: the analytic estimate of {} replicas.",
                               fmt::join(off_scale, ", "));
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
    // Whole replicas, with room above the highest so the fixed fleet's line does not run along the frame.
    const double top = std::max(static_cast<double>(g.replicas), max_of(p.series));
    p.extra.push_back(fmt::format("set yrange [0:{:g}]", std::ceil(top * 1.15 + 0.5)));
    if (top <= 12) p.extra.push_back("set ytics 1");
    p.ylabel = "replicas (count)";
    p.caption = "An autoscaling schedule: for each hour, the smallest fleet whose run meets the targets over that "
                "hour's requests, against the fixed fleet sized for the whole window.";
    if (plotter.render(p, notes)) body += figure(p);
  }
  // size --autoscaler: the fixed fleet, the schedule and the autoscaler side by side.
  for (const auto& g : sizing.results) {
    if (!g.fleet_comparison || g.fleet_comparison->empty()) continue;
    body += fmt::format("<h2>Fixed, per-hour schedule and autoscaler ({})</h2>\n<p>The same window: GPU-hours, the "
                        "share of requests meeting both targets, the hours (with requests) whose p99s meet both "
                        "targets, and the worst hour by TTFT p99. A schedule's hours are each judged on their own "
                        "run from steady state; the fixed fleet and the autoscaler run the whole window once (first "
                        "seed's hours).</p>\n<table>\n<tr><th>fleet</th><th>GPU-hours</th><th>attainment</th>"
                        "<th>hours meeting the targets</th><th>worst hour</th><th>its TTFT p99</th><th>its TPOT p99</th>"
                        "<th>kWh</th></tr>\n",
                        html_escape(g.gpu));
    for (const auto& r : *g.fleet_comparison)
      body += fmt::format("<tr><td class=\"name\">{}: {}</td><td>{:.1f}</td><td>{:.2f} %</td><td>{} of {}</td>"
                          "<td>{}</td><td>{}</td><td>{}</td><td>{:.1f}</td></tr>\n",
                          html_escape(r.fleet), html_escape(r.label), r.gpu_hours, r.attainment * 100.0, r.hours_met,
                          r.hours, r.worst_hour >= 0 ? fmt::format("{:02d}h", r.worst_hour) : "-",
                          r.worst_hour >= 0 ? human_duration(r.worst_hour_ttft_p99_s) : "-",
                          r.worst_hour >= 0 ? human_duration(r.worst_hour_tpot_p99_s) : "-", r.energy_kwh);
    body += "</table>\n";
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
    // Labelled at every pod size (powers of two), not at gnuplot's own few.
    double most = 1;
    for (const auto& s : p.series)
      for (double v : s.x)
        if (std::isfinite(v)) most = std::max(most, v);
    std::string tics;
    for (double m = 1; m <= most * 1.001; m *= 2) tics += fmt::format("{}{:g}", tics.empty() ? "" : ", ", m);
    p.extra.push_back(fmt::format("set logscale x 2\nset xtics ({})\nset xrange [0.7:{:g}]\nset yrange [0:*]", tics,
                                  most * 1.4));
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

namespace {

// How a column of compare.csv reads in the page: a name a planner knows, and how its values show.
enum class ColumnKind { duration, percent, count, number, flag, hidden };
struct ColumnView {
  std::string column, name, unit;  // unit: of the table's row and the chart's axis (durations: chosen per chart)
  ColumnKind kind = ColumnKind::number;
  bool plot = false;  // worth a bar chart (flags and less telling percentiles stay in the table)
  std::string row_name() const {
    return unit.empty() || kind == ColumnKind::duration || kind == ColumnKind::percent ? name
                                                                                      : name + " (" + unit + ")";
  }
};

ColumnView column_view(const std::string& column) {
  using K = ColumnKind;
  static const std::vector<ColumnView> known = {
      {"ok", "served", "", K::flag, false},
      {"requests_per_s", "requests served", "requests/s", K::number, true},
      {"output_tokens_per_s", "output tokens", "tokens/s", K::number, true},
      {"ttft_p50_s", "TTFT p50", "", K::duration, true},
      {"ttft_p90_s", "TTFT p90", "", K::duration, false},
      {"ttft_p99_s", "TTFT p99", "", K::duration, true},
      {"tpot_p50_s", "TPOT p50", "", K::duration, true},
      {"tpot_p90_s", "TPOT p90", "", K::duration, false},
      {"tpot_p99_s", "TPOT p99", "", K::duration, true},
      {"e2e_p50_s", "end to end p50", "", K::duration, false},
      {"e2e_p99_s", "end to end p99", "", K::duration, true},
      {"slo_attainment", "SLO attainment", "% of requests meeting both targets", K::percent, true},
      {"slo_met", "meets the SLO", "", K::flag, false},
      {"mean_batch_size", "mean batch size", "requests", K::number, false},
      {"mfu", "MFU", "% of peak FLOP/s", K::percent, true},
      {"busy_fraction", "busy replica time", "%", K::percent, true},
      {"energy_kwh", "energy", "kWh", K::number, false},
      {"preemptions", "preemptions", "count", K::count, true},
      {"swapped_out_tokens", "KV swapped to host", "tokens", K::count, true},
      {"rejected", "rejected requests", "count", K::count, true},
      {"kv_transfer_p99_s", "KV transfer p99", "", K::duration, true},
      {"goodput_per_s", "goodput", "requests/s meeting the SLO", K::number, true},
      {"energy_j_per_output_token", "energy per output token", "J", K::number, true},
      {"prefix_block_hit_rate", "prefix cache hits, blocks", "% of whole prompt blocks", K::percent, false},
      {"prefix_token_hit_rate", "prefix cache hits", "% of prompt tokens", K::percent, true},
      {"prefill_tokens_saved", "prefill tokens saved", "tokens", K::count, true},
      {"prefill_decode", "prefill + decode replicas", "", K::hidden, false},  // in the policy's label
      {"error", "error", "", K::hidden, false}};                                // listed under the table
  for (const auto& v : known)
    if (v.column == column) return v;
  // Another file's columns: the name with spaces, its kind from its suffix.
  ColumnView v{column, column, "", K::number, true};
  auto ends = [&](const std::string& suffix) {
    return column.size() > suffix.size() && column.compare(column.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  std::string base = column;
  if (ends("_per_s")) {
    base = column.substr(0, column.size() - 6);
    v.unit = "per s";
  } else if (ends("_s")) {
    base = column.substr(0, column.size() - 2);
    v.kind = K::duration;
  } else if (ends("attainment") || ends("_fraction") || ends("_share")) {
    v.kind = K::percent;
    v.unit = "%";
  }
  std::replace(base.begin(), base.end(), '_', ' ');
  v.name = base;
  return v;
}

std::string cell_text(const ColumnView& v, const std::string& raw, double num) {
  switch (v.kind) {
    case ColumnKind::duration: return std::isfinite(num) ? human_duration(num) : html_escape(raw);
    case ColumnKind::percent: return std::isfinite(num) ? human_percent(num) : html_escape(raw);
    case ColumnKind::count: return std::isfinite(num) ? human_count(num) : html_escape(raw);
    case ColumnKind::flag:
      return raw == "1" ? "<span class=\"ok\">yes</span>" : raw == "0" ? "<span class=\"bad\">no</span>" : html_escape(raw);
    case ColumnKind::number: return std::isfinite(num) ? human_number(num) : html_escape(raw);
    case ColumnKind::hidden: break;
  }
  return html_escape(raw);
}

// A unit for a chart of durations: the one that suits its largest value.
struct DurationUnit {
  double per_s;
  const char* name;
};
DurationUnit duration_unit(double max_s) {
  if (max_s < 10.0) return {1e3, "ms"};
  if (max_s < 600.0) return {1.0, "s"};
  if (max_s < 7200.0) return {1.0 / 60.0, "min"};
  return {1.0 / 3600.0, "h"};
}

// The value over a bar, `v` in the chart's unit (k of them per second or per one, for durations and fractions).
std::string bar_label(ColumnKind kind, double v, double k) {
  switch (kind) {
    case ColumnKind::duration: return human_duration(v / k);
    case ColumnKind::percent: return human_percent(v / k);
    case ColumnKind::count: return human_count(v);
    default: return human_number(v);
  }
}

}  // namespace

std::string compare_section(const std::string& compare_csv_path, const std::string& plots_dir,
                            std::vector<std::string>& plots) {
  const Table t = read_csv(compare_csv_path);
  if (t.header.size() < 2 || t.rows() == 0) throw ReportError(compare_csv_path + ": expected a label column and figures");
  Plotter plotter(plots_dir);
  std::vector<std::string> notes;
  // Bars are labelled "batching / router" when the file has both columns (tokenfleet compare's compare.csv).
  const bool two_labels = t.header.size() > 1 && t.header[0] == "batching" && t.header[1] == "router";
  // A disaggregated split (compare --policies disaggregated:P) joins the batching label: "disaggregated 3+1".
  auto label = [&](std::size_t r) {
    if (!two_labels) return t.cells[r][0];
    const std::string split = t.text(r, "prefill_decode");
    return t.cells[r][0] + (split.empty() ? "" : " " + split) + " / " + t.cells[r][1];
  };
  const std::size_t first_figure = two_labels ? 2 : 1;
  // The table: one row per figure, one column per policy (27 columns across did not fit a page), rounded values in
  // units, fractions as percentages; figures no policy has are left out, and errors are listed below it.
  std::string body = "<h2>Policies side by side</h2>\n<div class=\"wide\"><table>\n<tr><th>figure</th>";
  for (std::size_t r = 0; r < t.rows(); ++r) body += "<th>" + html_escape(label(r)) + "</th>";
  body += "</tr>\n";
  for (std::size_t c = first_figure; c < t.header.size(); ++c) {
    const ColumnView v = column_view(t.header[c]);
    if (v.kind == ColumnKind::hidden) continue;
    bool any = false;
    for (std::size_t r = 0; r < t.rows(); ++r) any = any || !t.text(r, v.column).empty();
    if (!any) continue;
    body += "<tr><td>" + html_escape(v.row_name()) + "</td>";
    for (std::size_t r = 0; r < t.rows(); ++r) {
      const std::string raw = t.text(r, v.column);
      body += "<td>" + (raw.empty() ? std::string("-") : cell_text(v, raw, t.num(r, v.column))) + "</td>";
    }
    body += "</tr>\n";
  }
  body += "</table></div>\n";
  if (t.col("error") >= 0) {
    std::string errors;
    for (std::size_t r = 0; r < t.rows(); ++r)
      if (!t.text(r, "error").empty())
        errors += "<li>" + html_escape(label(r)) + ": " + html_escape(t.text(r, "error")) + "</li>\n";
    if (!errors.empty()) body += "<p class=\"bad\">Not served:</p>\n<ul class=\"errors\">\n" + errors + "</ul>\n";
  }
  // Up to eight bars: each label level under its bar, batching over router (labels rotated to the right widened the
  // right margin and squeezed the bars into half the picture); more: rotated, hanging to the left of their bar.
  const bool level = t.rows() <= 8;
  std::string xtics = "set xtics (";
  for (std::size_t r = 0; r < t.rows(); ++r) {
    std::string text = label(r);
    if (level)
      if (const auto at = text.find(" / "); at != std::string::npos) text.replace(at, 3, "\n");
    xtics += fmt::format("{}{} {}", r ? ", " : "", gp_dquote(text), r);
  }
  xtics += level ? ") nomirror" : ") rotate by 30 right nomirror";
  const std::string per = two_labels ? std::string("policy") : t.header[0];
  for (std::size_t c = first_figure; c < t.header.size(); ++c) {
    const ColumnView v = column_view(t.header[c]);
    if (!v.plot) continue;
    std::vector<double> y = t.column(v.column);
    // Rows not served carry zeros: no bar for them.
    if (t.col("ok") >= 0)
      for (std::size_t r = 0; r < t.rows(); ++r)
        if (t.text(r, "ok") == "0") y[r] = kNaN;
    double lo = kNaN, hi = kNaN;
    std::size_t finite = 0;
    for (double e : y)
      if (std::isfinite(e)) {
        ++finite;
        if (e > 0) {
          lo = std::isfinite(lo) ? std::min(lo, e) : e;
          hi = std::isfinite(hi) ? std::max(hi, e) : e;
        }
      }
    if (finite == 0) continue;  // a figure no policy has (no disaggregation: no KV transfers)
    if (!std::isfinite(hi)) {   // nothing but zeros: a chart of nothing
      notes.push_back(fmt::format("{}: 0 under every {}", v.name, per));
      continue;
    }
    std::string unit = v.unit;
    double k = 1.0;
    if (v.kind == ColumnKind::duration) {
      const DurationUnit u = duration_unit(hi);
      k = u.per_s;
      unit = u.name;
    } else if (v.kind == ColumnKind::percent) {
      k = 100.0;
    }
    lo *= k;
    hi *= k;
    Series s{"", {}, {}, "with boxes fs solid 0.6 lc rgb '#1f77b4'"};
    for (std::size_t r = 0; r < t.rows(); ++r) {
      s.x.push_back(static_cast<double>(r));
      s.y.push_back(y[r] * k);
    }
    std::string safe;
    for (char ch : v.column) safe += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '-';
    Plot p{"compare-" + safe, v.name + (two_labels ? " by batching and router" : " by " + t.header[0]),
           two_labels ? "batching / router (policy)" : t.header[0] + " (label)", "", "", {s}, {}, ""};
    p.key = "unset key";
    p.extra.push_back(xtics);
    p.extra.push_back(fmt::format("set boxwidth 0.6\nset xrange [-0.6:{}]\n{}", t.rows() - 0.4,
                                  level ? "set xlabel offset 0,-1" : "set bmargin 9"));
    // A log axis where the values span a decade or more (one policy's 23,000 s flattened the others' bars to
    // nothing); percentages on 0 to 100.
    bool log = false;
    if (v.kind == ColumnKind::percent) {  // on 0 to 100 % when one reaches half of it; a small share, to its size
      p.extra.push_back(hi >= 50.0 ? std::string("set yrange [0:112]") : fmt::format("set yrange [0:{:.9g}]", hi * 1.2));
    } else if (hi / lo >= 10.0) {
      const ValueAxis ax = value_axis('y', lo, hi, 4.0);  // room for the value over the highest bar
      for (const auto& cmd : ax.commands) p.extra.push_back(cmd);
      log = ax.log;
    } else {
      p.extra.push_back(fmt::format("set yrange [0:{:.9g}]", hi * 1.15));
    }
    p.ylabel = v.name + (unit.empty() ? (log ? " (log scale)" : "") : " (" + unit + (log ? ", log scale)" : ")"));
    // The value over each bar.
    for (std::size_t r = 0; r < t.rows(); ++r) {
      if (!std::isfinite(s.y[r])) continue;
      const double at = log ? std::max(s.y[r], lo / 1.5) : s.y[r];
      p.extra.push_back(fmt::format("set label {} {} at first {}, first {:.9g} center offset 0,0.8 front", r + 1,
                                    gp_quote(bar_label(v.kind, s.y[r], k)), r, at));
    }
    p.caption = v.name + " for each " + per + " (same workload, same random numbers)" +
                (log ? "; a log scale: the values span more than a decade." : ".");
    if (plotter.render(p, notes)) body += figure(p);
  }
  if (!notes.empty()) {
    body += "<p class=\"note\">Not plotted:</p>\n<ul class=\"note\">\n";
    for (const auto& n : notes) body += "<li>" + html_escape(n) + "</li>\n";
    body += "</ul>\n";
  }
  plots.insert(plots.end(), plotter.written().begin(), plotter.written().end());
  return body;
}

namespace {

// `compare --size`'s compare_size.csv: each policy's fleet for the same demand, the formula's k and u that give it,
// and the analytic estimate beside it; a chart of the simulated GPUs against the estimate's.
std::string sized_policies_section(const fs::path& csv_path, Plotter& plotter, std::vector<std::string>& notes) {
  const Table t = read_csv(csv_path);
  for (const char* c : {"batching", "router", "found", "gpus", "peak_multiple_k", "utilization_2p",
                        "utilization_cost_model", "estimate_gpus", "estimate_over_simulated", "binding_limit"})
    if (t.col(c) < 0) throw ReportError(csv_path.string() + ": no column " + c + " (expected compare --size's file)");
  if (t.rows() == 0) throw ReportError(csv_path.string() + ": no policy sized");
  auto label = [&](std::size_t r) { return t.text(r, "batching") + " / " + t.text(r, "router"); };
  std::string body =
      "<h2>Each policy sized against the estimate</h2>\n"
      "<p>Each policy's smallest fleet for the same demand, targets and random numbers (<code>compare --size</code>), "
      "with the peak multiple k and utilization u that give it through GPUs = 2 &times; P &times; D &times; k / (F "
      "&times; u &times; T), and the analytic estimate at the k and u of the command line. A policy that moves u "
      "moves the fleet; the last column is how far the formula's answer is off for it.</p>\n"
      "<div class=\"wide\"><table>\n<tr><th>policy</th><th>GPUs</th><th>replicas</th><th>k</th><th>u (2P)</th>"
      "<th>u (cost model FLOPs)</th><th>estimate GPUs</th><th>estimate / simulated</th><th>binding limit</th></tr>\n";
  std::vector<std::string> unsized;
  for (std::size_t r = 0; r < t.rows(); ++r) {
    if (t.text(r, "found") != "1") {
      unsized.push_back(label(r) + (t.col("reason") >= 0 && !t.text(r, "reason").empty() ? ": " + t.text(r, "reason")
                                                                                          : ""));
      continue;
    }
    body += "<tr><td class=\"name\">" + html_escape(label(r)) + "</td><td>" + human_count(t.num(r, "gpus")) + "</td><td>" +
            (t.col("replicas") >= 0 ? human_count(t.num(r, "replicas")) : std::string("-")) + "</td><td>" +
            human_number(t.num(r, "peak_multiple_k")) + "</td><td>" + human_percent(t.num(r, "utilization_2p")) +
            "</td><td>" + human_percent(t.num(r, "utilization_cost_model")) + "</td><td>" +
            human_number(t.num(r, "estimate_gpus")) + "</td><td>" + human_number(t.num(r, "estimate_over_simulated")) +
            " ×</td><td>" + html_escape(t.text(r, "binding_limit")) + "</td></tr>\n";
  }
  body += "</table></div>\n";
  if (!unsized.empty()) {
    body += "<p class=\"bad\">Not sized:</p>\n<ul class=\"errors\">\n";
    for (const auto& u : unsized) body += "<li>" + html_escape(u) + "</li>\n";
    body += "</ul>\n";
  }
  // Simulated GPUs and the estimate, side by side per policy.
  Series sim{"simulated fleet", {}, {}, "with boxes fs solid 0.6 lc rgb '#1f77b4'"};
  Series est{"analytic estimate", {}, {}, "with boxes fs pattern 4 lc rgb '#ff7f0e'"};
  double lo = kNaN, hi = kNaN;
  std::string xtics = "set xtics (";
  for (std::size_t r = 0; r < t.rows(); ++r) {
    std::string text = label(r);
    if (const auto at = text.find(" / "); at != std::string::npos) text.replace(at, 3, "\n");
    xtics += fmt::format("{}{} {}", r ? ", " : "", gp_dquote(text), r);
    const bool found = t.text(r, "found") == "1";
    const double g = found ? t.num(r, "gpus") : kNaN, e = t.num(r, "estimate_gpus");
    sim.x.push_back(static_cast<double>(r) - 0.17);
    sim.y.push_back(g);
    est.x.push_back(static_cast<double>(r) + 0.17);
    est.y.push_back(e);
    for (double v : {g, e})
      if (std::isfinite(v) && v > 0) {
        lo = std::isfinite(lo) ? std::min(lo, v) : v;
        hi = std::isfinite(hi) ? std::max(hi, v) : v;
      }
  }
  xtics += t.rows() <= 8 ? ") nomirror" : ") rotate by 30 right nomirror";
  if (!std::isfinite(hi)) {
    notes.push_back("GPUs per policy: no policy was sized");
    return body;
  }
  Plot p{"compare-size-gpus", "GPUs needed by each policy, simulated and estimated", "batching / router (policy)",
         "GPUs", "", {sim, est}, {}, ""};
  p.extra.push_back(xtics);
  p.extra.push_back(fmt::format("set boxwidth 0.32\nset xrange [-0.6:{}]\n{}", t.rows() - 0.4,
                                t.rows() <= 8 ? "set xlabel offset 0,-1" : "set bmargin 9"));
  bool log = false;
  if (hi / lo >= 10.0) {
    const ValueAxis ax = value_axis('y', lo, hi, 4.0);
    for (const auto& cmd : ax.commands) p.extra.push_back(cmd);
    log = ax.log;
  } else {
    p.extra.push_back(fmt::format("set yrange [0:{:.9g}]", hi * 1.15));
  }
  if (log) p.ylabel = "GPUs (log scale)";
  int n = 0;
  for (const Series* s : {&sim, &est})
    for (std::size_t r = 0; r < s->y.size(); ++r) {
      if (!std::isfinite(s->y[r])) continue;
      p.extra.push_back(fmt::format("set label {} {} at first {:.9g}, first {:.9g} center offset 0,0.8 front", ++n,
                                    gp_quote(s == &sim ? human_count(s->y[r]) : human_number(s->y[r])), s->x[r],
                                    log ? std::max(s->y[r], lo / 1.5) : s->y[r]));
    }
  p.caption = "The smallest fleet each policy needs for the same demand and targets (blue) against the analytic "
              "estimate at the command line's k and u (hatched)" +
              std::string(log ? "; a log scale: the values span more than a decade." : ".");
  if (plotter.render(p, notes)) body += figure(p);
  return body;
}

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
  if (compare && fs::exists(dir / "compare_size.csv")) {
    Plotter sized_plotter(plots_dir);
    body += sized_policies_section(dir / "compare_size.csv", sized_plotter, result.notes);
    result.plots.insert(result.plots.end(), sized_plotter.written().begin(), sized_plotter.written().end());
  }
  if (!result.notes.empty()) {
    body += "<h2>Notes</h2>\n<ul>\n";
    for (const auto& n : result.notes) body += "<li>" + html_escape(n) + "</li>\n";
    body += "</ul>\n";
  }
  body += files_section(dir, {"scenario.toml", "summary.json", "requests.csv", "timeseries.csv", "sizing.json",
                              "probes.csv", "scale_check.csv", "scale_check.json", "compare.csv",
                              "compare_size.csv", "scaling.csv", "autoscaler.csv", "spares.csv"});
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
