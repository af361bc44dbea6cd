#include "sim/report_command.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "cluster/cost_model.hpp"
#include "policies/batching.hpp"
#include "results/report.hpp"
#include "sim/commands.hpp"
#include "sim/replica_model.hpp"

namespace tf {

namespace {

volatile std::sig_atomic_t g_interrupted = 0;
volatile std::sig_atomic_t g_signal = 0;
bool g_progress_drawn = false;

extern "C" void on_interrupt(int sig) {
  if (g_interrupted) {  // the second one: stop now, as without a handler
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_interrupted = 1;
  g_signal = sig;
}

std::string duration_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 90) return fmt::format("{:.0f} s", s);
  if (s < 5400) return fmt::format("{:.0f} min", s / 60);
  return fmt::format("{:.1f} h", s / 3600);
}

}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

const volatile std::sig_atomic_t* interrupt_flag() { return &g_interrupted; }
int interrupt_signal() { return g_signal; }

std::function<void(const RunProgress&)> progress_printer(bool quiet) {
  if (quiet || !isatty(STDERR_FILENO)) return {};
  using clock = std::chrono::steady_clock;
  struct State {
    clock::time_point start = clock::now();
    clock::time_point last{};
  };
  auto st = std::make_shared<State>();
  return [st](const RunProgress& p) {
    const auto now = clock::now();
    const double elapsed = std::chrono::duration<double>(now - st->start).count();
    if (elapsed < 2.0 || std::chrono::duration<double>(now - st->last).count() < 0.25) return;
    st->last = now;
    std::string left;
    if (p.simulated_s < p.duration_s && p.simulated_s > 0) {
      left = duration_text(elapsed * (p.duration_s - p.simulated_s) / p.simulated_s) + " left";
    } else {
      left = fmt::format("draining, {} requests in the system", p.arrived - p.finished);
    }
    const double share = p.duration_s > 0 ? std::min(1.0, p.simulated_s / p.duration_s) : 1.0;
    std::fprintf(stderr, "\r\033[Ksimulated %s of %s (%.0f %%), %zu requests done of %zu arrived, %s",
                 duration_text(p.simulated_s).c_str(), duration_text(p.duration_s).c_str(), share * 100.0, p.finished,
                 p.arrived, left.c_str());
    std::fflush(stderr);
    g_progress_drawn = true;
  };
}

void end_progress_line() {
  if (!g_progress_drawn) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  g_progress_drawn = false;
}

FleetFacts fleet_facts(const Scenario& s, const std::vector<RequestRecord>& records) {
  const CostModel cost(s.model, s.gpu, s.dtype, s.tensor_parallel, s.cost);
  FleetFacts f;
  f.replicas = s.replicas;
  f.gpus_per_replica = s.tensor_parallel;
  f.kv_capacity_tokens_per_replica = static_cast<double>(cost.kv_capacity_tokens());
  f.idle_watts_per_gpu = s.gpu.idle_watts;
  f.busy_watts_per_gpu = s.gpu.busy_watts;
  f.slo = s.slo;
  // Capacity: one saturated replica at the run's mean lengths, times the replicas (prompt + output tokens/s).
  double prompt = 0, output = 0;
  for (const auto& r : records) {
    prompt += static_cast<double>(r.prompt_tokens);
    output += static_cast<double>(r.output_tokens);
  }
  if (!records.empty() && output > 0) {
    const auto n = static_cast<double>(records.size());
    const auto p = std::max<std::int64_t>(1, std::llround(prompt / n));
    const auto o = std::max<std::int64_t>(1, std::llround(output / n));
    const auto policy = make_batching_policy(s.batching, s.limits);
    if (policy && p + o <= cost.kv_capacity_tokens()) {
      const double out_per_s =
          saturated_output_tokens_per_s(cost, *policy, p, o, 4 * std::max(1, s.limits.max_batch));
      f.capacity_tokens_per_s = out_per_s * static_cast<double>(p + o) / static_cast<double>(o) * s.replicas;
    }
  }
  return f;
}

std::string scenario_text(const std::string& scenario_path, const std::vector<std::string>& overrides) {
  std::string text;
  if (scenario_path.empty()) {
    text = default_scenario_toml();
  } else {
    std::ifstream in(scenario_path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  std::string head = fmt::format("# scenario: {}\n", scenario_path.empty() ? "<built-in default>" : scenario_path);
  for (const auto& o : overrides) head += "# --set " + o + "\n";
  if (!overrides.empty()) head += "# (the overrides above apply on top of the text below)\n";
  return head + "\n" + text;
}

int make_report(const std::string& results_dir) {
  if (!gnuplot_available()) {
    std::cerr << "tokenfleet: error: the report needs gnuplot (Debian: apt-get install gnuplot-nox)\n";
    return exit_io_error;
  }
  try {
    const auto start = std::chrono::steady_clock::now();
    const ReportResult r = build_report(results_dir);
    const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << fmt::format("report written to {} ({} plots, {:.2f} s)\n", r.html_path, r.plots.size(), wall_s);
    for (const auto& n : r.notes) std::cout << "  note: " << n << "\n";
  } catch (const std::exception& e) {
    std::cerr << "tokenfleet: error: report: " << e.what() << "\n";
    return exit_io_error;
  }
  return exit_ok;
}

int command_report(const std::string& results_dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(results_dir)) {
    std::cerr << "tokenfleet: error: report: " << results_dir << " is not a folder\n";
    return exit_bad_scenario;
  }
  if (!fs::exists(fs::path(results_dir) / "summary.json") && !fs::exists(fs::path(results_dir) / "sizing.json") &&
      !fs::exists(fs::path(results_dir) / "compare.csv")) {
    std::cerr << "tokenfleet: error: report: " << results_dir
              << " holds no results (summary.json from `run --out`, sizing.json from `size --out`, or compare.csv)\n";
    return exit_bad_scenario;
  }
  return make_report(results_dir);
}

}  // namespace tf
