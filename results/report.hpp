#pragma once
// The offline report: a self-contained HTML page (report.html) with SVG plots made by gnuplot (plots/*.svg),
// built from the files a run, a sizing or a comparison wrote into its results folder. No scripts, no fonts or
// styles from the network: the folder opens from a USB stick. Plain C++ (gnuplot runs as a child process);
// results/ depends on nothing of ours but io/.
//
// What a folder holds decides what the page shows:
// - a run (summary.json, timeseries.csv, requests.csv, scenario.toml): the scenario, the summary table,
//   offered load against capacity with the peak marked, TTFT and TPOT percentiles over time against the
//   targets, latency CDFs, batch size, KV usage, busy fraction, queue length, SLO attainment and power over time;
// - a sizing (sizing.json, probes.csv): SLO figures against fleet size with the answer and the analytic
//   estimate marked, and the table of answers;
// - a comparison (compare.csv, one row per policy): the figures side by side (compare_section).
// Every plot is readable at a glance: legends below the plot (never beside it, where they took half the width),
// log axes labelled at 1, 2 and 5 per decade and only where values span a decade, tables with names and units
// rather than column names and values rounded to three or four digits (results/units.hpp).
#include <stdexcept>
#include <string>
#include <vector>

namespace tf {

class ReportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ReportResult {
  std::string html_path;
  std::vector<std::string> plots;     // SVG files written (paths)
  std::vector<std::string> notes;     // plots left out and why (no data)
};

// Whether gnuplot can be run (`gnuplot` on the PATH, or $TOKENFLEET_GNUPLOT).
bool gnuplot_available();

// Builds RESULTS_DIR/report.html and RESULTS_DIR/plots/. Throws ReportError (and nothing else) when the folder
// holds no results, a file cannot be read or written or gnuplot fails. Every file is written to a temporary name
// and renamed.
ReportResult build_report(const std::string& results_dir);

// The hook for `compare --report`: from a CSV whose first column names the policy (or variant; compare.csv's
// batching and router columns together) and whose other columns are figures (names with units, e.g. ttft_p99_s),
// returns the HTML section: a table with a row per figure and a column per policy (durations in ms, s, min or h,
// fractions in percent), the rows not served with their errors, and a bar chart per telling figure rendered into
// plots_dir (img paths relative to the report's folder, as "plots/<file>"), on a log axis where the values span
// a decade; a figure that is zero everywhere gets a note instead of a chart. Appends the SVG paths to `plots`.
// `s` with &, <, > and " as HTML entities, for text in a page or an attribute.
std::string html_escape(const std::string& s);

std::string compare_section(const std::string& compare_csv_path, const std::string& plots_dir,
                            std::vector<std::string>& plots);

}  // namespace tf
