// `tokenfleet report DIR`, and the report that run, size and compare build with --report.
#include <chrono>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "results/report.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"

namespace tf {

int make_report(const std::string& results_dir) {
  if (!gnuplot_available()) {
    std::cerr << "tokenfleet: error: the report needs gnuplot (Debian: apt-get install gnuplot-nox)\n";
    return exit_io_error;
  }
  return guarded([&] {
    const auto start = std::chrono::steady_clock::now();
    namespace fs = std::filesystem;
    if (fs::exists(fs::path(results_dir) / "sweep.json") && !fs::exists(fs::path(results_dir) / "summary.json") &&
        !fs::exists(fs::path(results_dir) / "sizing.json") && !fs::exists(fs::path(results_dir) / "compare.csv")) {
      const std::string page = build_sweep_report(results_dir);  // ReportError as below
      std::cout << fmt::format("report written to {} ({:.2f} s)\n", page,
                               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      return exit_ok;
    }
    const ReportResult r = build_report(results_dir);  // throws ReportError: "report: ...", exit_io_error
    const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << fmt::format("report written to {} ({} plots, {:.2f} s)\n", r.html_path, r.plots.size(), wall_s);
    for (const auto& n : r.notes) std::cout << "  note: " << n << "\n";
    return exit_ok;
  });
}

namespace {

int report_command(const std::string& results_dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(results_dir)) {
    std::cerr << "tokenfleet: error: report: " << results_dir << " is not a folder\n";
    return exit_bad_scenario;
  }
  if (!fs::exists(fs::path(results_dir) / "summary.json") && !fs::exists(fs::path(results_dir) / "sizing.json") &&
      !fs::exists(fs::path(results_dir) / "compare.csv") && !fs::exists(fs::path(results_dir) / "sweep.json")) {
    std::cerr << "tokenfleet: error: report: " << results_dir
              << " holds no results (summary.json from `run --out`, sizing.json from `size --out`, compare.csv or "
                 "sweep.json)\n";
    return exit_bad_scenario;
  }
  return make_report(results_dir);
}

}  // namespace

int command_report(const std::string& results_dir) {
  return guarded([&] { return report_command(results_dir); });
}

}  // namespace tf
