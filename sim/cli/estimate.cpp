// `tokenfleet estimate`: the analytic estimate for a scenario, or the report's table (--preset).

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cluster/catalog.hpp"
#include "results/summary.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"
#include "sim/engine/engine.hpp"
#include "sim/study/estimate.hpp"
#include "sim/study/estimate_sim.hpp"
#include "sim/study/mpi.hpp"
#include "sim/cli/signals.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/sizing.hpp"

namespace tf {

namespace {

std::string big(double v) {
  if (v >= 1e6) return fmt::format("{:.3f} M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f} k", v / 1e3);
  return fmt::format("{:.2f}", v);
}

int estimate_simulated(const EstimateCommand& cmd) {
  auto years = cmd.formula ? huafu_2024_formula_preset() : huafu_2024_simulated_preset();
  if (cmd.formula)
    for (const std::string& o : cmd.overrides)
      for (const char* field : {".peak_to_mean=", ".think_time_s="})
        if (o.find(field) != std::string::npos)
          throw UsageError(fmt::format("--set {}: not with --formula, which takes the curve from the report's k (set "
                                       "YEAR.peak_multiple) and has no sessions (no think time)",
                                       o));
  try {
    apply_simulated_overrides(years, cmd.overrides);
    for (const auto& y : years)
      if (y.formula) peak_to_mean_for_busiest_hour(y.report.peak_multiple);  // a k no daily curve reaches: said now
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (!cmd.years.empty()) {
    std::vector<SimulatedYearInputs> kept;
    for (const auto& label : cmd.years) {
      auto it = std::find_if(years.begin(), years.end(), [&](const auto& y) { return y.report.label == label; });
      if (it == years.end()) throw UsageError(fmt::format("--years {}: the simulation has 2024, 2025 and 2026", label));
      kept.push_back(*it);
    }
    years = kept;
  }
  namespace fs = std::filesystem;
  if (!cmd.out_dir.empty()) {
    std::error_code ec;
    fs::create_directories(cmd.out_dir, ec);
    if (ec) {
      print_error(fmt::format("--out {}: cannot create the folder: {}", cmd.out_dir, ec.message()));
      return exit_io_error;
    }
  }
  install_interrupt_handlers();
  const int jobs = cmd.jobs > 0 ? cmd.jobs : mpi::default_jobs();
  std::cout << "The seed report (Huafu Securities, August 2024), simulated year by year: each year's demand as "
               "visits of 5 Q&A with think time and the conversation carried, on a daily curve; the report's GPU mix "
               "half and half as a mixed fleet; a pod sized for the busiest hour, at two shares of the demand, scaled "
               "to the whole (sim/study/estimate_sim.hpp)\n"
            << std::flush;
  if (cmd.formula)
    std::cout << "The check of the report's arithmetic (--formula): the cost model reduced to 2 x P per token at the "
                 "report's u of the mix's FP16 peak, the curve's busiest hour the report's k times the day's mean, "
                 "every prompt token computed (no prefix cache), latency targets that only a fleet falling behind "
                 "misses\n"
              << std::flush;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<SimulatedYear> done;
  for (const auto& in : years) {
    if (in.formula)
      std::cout << fmt::format("{}: {} visits a year, {:g} tokens per Q&A, {} + {}, u = {:g}, curve peak-to-mean {:.4g} "
                               "(its busiest hour k = {:g} times the mean); targets below\n",
                               in.report.label, in.report.visits_per_year, in.report.tokens_per_qa, in.current_gpu,
                               in.previous_gpu, in.report.utilization,
                               peak_to_mean_for_busiest_hour(in.report.peak_multiple), in.report.peak_multiple)
                << std::flush;
    else
      std::cout << fmt::format("{}: {} visits a year, {:g} tokens per Q&A, {} + {}, targets TTFT p99 {:g} s, TPOT p99 "
                               "{:g} ms, curve peak-to-mean {:g}\n",
                               in.report.label, in.report.visits_per_year, in.report.tokens_per_qa, in.current_gpu,
                               in.previous_gpu, in.ttft_p99_s, in.tpot_p99_s * 1e3, in.peak_to_mean)
                << std::flush;
    done.push_back(simulate_year(in, jobs, [t0](const std::string& line) {
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::cout << fmt::format("[{:>5.0f} s]", el) << line << "\n" << std::flush;
    }, interrupt_flag()));
    if (!done.back().error.empty()) std::cout << "  " << done.back().error << "\n";
  }
  std::cout << "\n" << simulated_table(done);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << fmt::format("\n{} year(s) in {:.0f} s of wall-clock\n", done.size(), wall);
  if (!cmd.out_dir.empty()) {
    const fs::path out(cmd.out_dir);
    write_file_atomically((out / "estimate_sim.csv").string(), simulated_csv(done));
    write_file_atomically((out / "report.html").string(), simulated_html(done));
    for (const auto& y : done)
      if (!y.scenario_toml.empty())
        write_file_atomically((out / ("pod-" + y.in.report.label + ".toml")).string(), y.scenario_toml);
    write_file_atomically((out / "estimate_sim.json").string(), simulated_json(done));  // last: complete
    std::cout << "results written to " << cmd.out_dir << "/ (estimate_sim.json, estimate_sim.csv, report.html, "
                                                         "pod-YEAR.toml)\n";
  }
  for (const auto& y : done)
    if (!y.error.empty()) return exit_unservable;
  return exit_ok;
}

int estimate_preset(const EstimateCommand& cmd) {
  if (cmd.preset != "huafu-2024") {
    print_error(fmt::format("unknown preset '{}' (expected huafu-2024)", cmd.preset));
    return exit_bad_scenario;
  }
  if (cmd.simulate) return estimate_simulated(cmd);
  auto years = huafu_2024_preset();
  try {
    apply_estimate_overrides(years, cmd.overrides);
  } catch (const std::invalid_argument& e) {  // a --set of the preset: a wrong command-line value, not a fleet
    throw UsageError(e.what());
  }
  std::cout << "Analytic estimate, preset huafu-2024 (Huafu Securities, August 2024; inputs as reconstructed in "
               "analytic-estimate.md)\n"
               "  GPUs = 2 x P x D x k / (F x u x T),  D = visits x Q&A per visit x tokens per Q&A\n\n";
  std::cout << fmt::format("{:<34}", "");
  for (const auto& y : years) std::cout << fmt::format("{:>16}", y.label);
  std::cout << "\n";
  auto row = [&](const std::string& name, auto get) {
    std::cout << fmt::format("{:<34}", name);
    for (const auto& y : years) std::cout << fmt::format("{:>16}", get(y, analytic_estimate(y)));
    std::cout << "\n";
  };
  row("P, parameters", [](const EstimateInputs& y, const EstimateResult&) { return fmt::format("{:.3g}", y.params); });
  row("visits per year", [](const EstimateInputs& y, const EstimateResult&) { return fmt::format("{:.4g}", y.visits_per_year); });
  row("Q&A per visit", [](const EstimateInputs& y, const EstimateResult&) { return fmt::format("{:g}", y.qa_per_visit); });
  row("tokens per Q&A", [](const EstimateInputs& y, const EstimateResult&) { return fmt::format("{:g}", y.tokens_per_qa); });
  row("D, tokens per year", [](const EstimateInputs&, const EstimateResult& r) { return fmt::format("{:.4g}", r.tokens); });
  row("2 x P, FLOPs per token", [](const EstimateInputs&, const EstimateResult& r) { return fmt::format("{:.3g}", r.flops_per_token); });
  row("k, peak multiple", [](const EstimateInputs& y, const EstimateResult&) { return fmt::format("{:g}", y.peak_multiple); });
  row("compute, FLOPs per year", [](const EstimateInputs&, const EstimateResult& r) { return fmt::format("{:.4g}", r.compute_flops); });
  row("F, FLOP/s per GPU", [](const EstimateInputs& y, const EstimateResult&) { return fmt::format("{:.4g}", y.gpu_flops); });
  row("u, utilization", [](const EstimateInputs& y, const EstimateResult&) { return fmt::format("{:g} %", y.utilization * 100); });
  row("T, seconds per year", [](const EstimateInputs& y, const EstimateResult&) { return fmt::format("{:.4g}", y.seconds); });
  row("FLOPs one GPU does per year", [](const EstimateInputs& y, const EstimateResult&) { return fmt::format("{:.4g}", y.gpu_flops * y.utilization * y.seconds); });
  row("GPUs (the report's formula)", [](const EstimateInputs&, const EstimateResult& r) { return big(r.gpus); });
  std::cout << "\nThe same with other assumptions about FLOPs per token:\n";
  row("2 x active params (MoE)", [](const EstimateInputs&, const EstimateResult& r) { return big(r.gpus_active); });
  row("  ratio to the report", [](const EstimateInputs&, const EstimateResult& r) { return fmt::format("{:.3f}", r.gpus_active / r.gpus); });
  row("2 x P + attention (Kaplan)", [](const EstimateInputs&, const EstimateResult& r) { return big(r.gpus_with_attention); });
  row("  attention FLOPs per token", [](const EstimateInputs&, const EstimateResult& r) { return fmt::format("{:.3g}", r.attention_flops_per_token); });
  row("  ratio to the report", [](const EstimateInputs&, const EstimateResult& r) { return fmt::format("{:.3f}", r.gpus_with_attention / r.gpus); });
  std::cout << fmt::format("\nactive parameters {:.4g} and the attention shape ({} layers, d_attn {:g}) are the "
                           "gpt4-class catalogue entry's (its shape after SemiAnalysis's public estimates, July 2023); ",
                           years.front().active_params, years.front().layers, years.front().d_attn)
            << "the attention term takes n_ctx = tokens per Q&A (override with "
               "--set YEAR.context_tokens=...). The report states 1.48 M / 5.59 M / 13.41 M GPUs for 2024 / 2025 / "
               "2026.\n";
  return exit_ok;
}

int estimate_command(const EstimateCommand& cmd) {
  if (cmd.formula && !cmd.simulate) throw UsageError("--formula checks the report's arithmetic by simulation: it takes --simulate");
  if (!cmd.preset.empty()) return estimate_preset(cmd);
  if (cmd.simulate) throw UsageError("--simulate takes --preset huafu-2024 (a scenario is simulated by tokenfleet size)");
  if (cmd.formula) throw UsageError("--formula takes --preset huafu-2024 --simulate");
  const Scenario s = load_scenario_or_default(cmd.scenario_path, cmd.overrides);
  if (!(cmd.peak_multiple > 0.0) || !(cmd.utilization > 0.0) || cmd.utilization > 1.0) {
    print_error("--peak-multiple must be positive and --utilization in (0, 1]");
    return exit_bad_scenario;
  }
  const Demand d = measure_demand(s);
  const double f = s.gpu.peak_flops(s.dtype);
  const RateEstimate r = analytic_estimate_rate(s.model.params, d.tokens_per_s(), cmd.peak_multiple, f, cmd.utilization);
  const RateEstimate active =
      analytic_estimate_rate(s.model.active_params, d.tokens_per_s(), cmd.peak_multiple, f, cmd.utilization);
  std::cout << fmt::format(
      "Analytic estimate for scenario '{}' ({})\n"
      "  demand: {:.0f} requests in the {:.0f} s measurement window = {:.3f} requests/s; {:.1f} prompt + {:.1f} "
      "output tokens per request = {:.1f} tokens/s\n"
      "  2 x P = 2 x {:.4g} = {:.4g} FLOPs per token -> {:.4g} FLOP/s on average\n"
      "  F = {:.4g} FLOP/s ({} {}), k = {:g}, u = {:g}\n"
      "  GPUs = 2 x P x tokens/s x k / (F x u) = {:.2f}  ({:.2f} replicas of {} GPUs)\n"
      "  with 2 x active parameters ({:.4g}): {:.2f} GPUs;  mean FLOPs at 100 % utilization and k = 1: {:.3f} GPUs\n",
      s.name, s.source, d.requests, d.window_s, d.requests_per_s(), d.requests > 0 ? d.prompt_tokens / d.requests : 0.0,
      d.requests > 0 ? d.output_tokens / d.requests : 0.0, d.tokens_per_s(), s.model.params, 2 * s.model.params,
      r.flops_per_s, f, s.gpu.name, to_string(s.dtype), cmd.peak_multiple, cmd.utilization, r.gpus,
      r.gpus / s.gpus_per_replica(), s.gpus_per_replica(), s.model.active_params, active.gpus, r.gpus_mean_at_full);
  std::cout << "  (k and u default to the report's 2024 values, 4 and 34 %; `tokenfleet size` derives both by "
               "simulation)\n";
  return exit_ok;
}

}  // namespace

int command_estimate(const EstimateCommand& cmd) {
  return guarded([&] { return estimate_command(cmd); });
}

}  // namespace tf
