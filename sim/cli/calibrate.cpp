// `tokenfleet calibrate`: the cost model's engine profiles against published serving figures, training and
// validation figures apart; `--fit` fits each profile to its training figures.
#include <algorithm>
#include <cmath>
#include <iostream>

#include <fmt/format.h>

#include "cluster/cost_model.hpp"
#include "results/summary.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"
#include "sim/study/calibration.hpp"

namespace tf {

namespace {

std::string value_text(const CalibrationFigure& f, double v) {
  return f.kind == "throughput" ? fmt::format("{:.0f}", v) : fmt::format("{:.1f} ms", v * 1e3);
}

std::string setting_text(const CalibrationFigure& f, const CostParams& p) {
  const FigureSettings s = figure_settings(f, p);
  if (f.kind != "throughput") return fmt::format("batch {}", s.batch);
  return fmt::format("{} b{} t{} n{}", s.policy == "continuous" ? "cont" : s.policy, s.max_batch, s.max_tokens,
                     s.requests);
}

void print_profile(const CostParams& p) {
  std::cout << fmt::format(
      "  {}: mfu {:.4f}, gemm_half_m {:.1f}, fp8_efficiency {:.4f}, mbu {:.4f}, attention_prefill_efficiency {:.4f}, "
      "attention_decode_efficiency {:.4f}, allreduce_bus_efficiency {:.4f}, allreduce_latency_us {:.2f}, "
      "overhead_ms {:.3f}, per_request_overhead_us {:.3f}, per_prefill_overhead_us {:.3f}\n",
      p.engine, p.mfu, p.gemm_half_m, p.fp8_efficiency, p.mbu, p.attention_prefill_efficiency,
      p.attention_decode_efficiency, p.allreduce_bus_efficiency, p.allreduce_latency_s * 1e6, p.overhead_s * 1e3,
      p.per_request_overhead_s * 1e6, p.per_prefill_overhead_s * 1e6);
  std::cout << fmt::format(
      "  as engine_profiles.cpp writes it: profile(\"{}\", {:.4f}, {:.1f}, {:.4f}, {:.4f}, {:.4f}, {:.4f}, {:.4f}, {:.2f}, "
      "{:.3f}, {:.3f}, {:.3f}, {:.2f})\n",
      p.engine, p.mfu, p.gemm_half_m, p.fp8_efficiency, p.mbu, p.attention_prefill_efficiency,
      p.attention_decode_efficiency, p.allreduce_bus_efficiency, p.allreduce_latency_s * 1e6, p.overhead_s * 1e3,
      p.per_request_overhead_s * 1e6, p.per_prefill_overhead_s * 1e6, p.kv_reserve_fraction);
}

void print_operators(const CalibrationFigure& f, const CostParams& p) {
  if (f.kind != "throughput") return;
  const FigureSettings s = figure_settings(f, p);
  const CostModel cost(*find_model(f.model), *find_gpu(f.gpu), f.dtype, f.tensor_parallel, p);
  IterationShape shape;
  shape.decode_tokens = s.max_batch;
  shape.decode_context_tokens = s.max_batch * (f.input_tokens + f.output_tokens / 2);
  const OperatorTimes o = cost.operator_times(shape);
  std::cout << fmt::format(
      "      one decode iteration at batch {} (context {}): {:.2f} ms = qkv {:.2f} + out {:.2f} + mlp {:.2f} + "
      "attention {:.2f} + lm_head {:.2f} + all-reduce {:.2f} + overhead {:.2f} (+ router {:.2f})\n",
      s.max_batch, f.input_tokens + f.output_tokens / 2, o.total() * 1e3, o.qkv * 1e3, o.attn_out * 1e3,
      o.mlp * 1e3, o.attention_decode * 1e3, o.lm_head * 1e3, o.allreduce * 1e3, o.overhead * 1e3, o.router * 1e3);
}

// Prints an engine's figures with the given parameters; returns nothing.
void print_table(const std::string& engine, const CostParams& p, bool operators) {
  for (const char* split : {"train", "validation"}) {
    std::vector<double> errors;
    std::cout << fmt::format("\n  {} figures ({}):\n", split, engine);
    std::cout << fmt::format("    {:<30} {:<10} {:<14} {:<10} {:<5} {:>2} {:>10} {:<24} {:>10} {:>10} {:>8}\n", "id",
                             "kind", "model", "gpu", "dtype", "TP", "in/out", "setting", "published", "simulated",
                             "error");
    for (const auto& f : calibration_figures()) {
      if (f.engine != engine || f.split != split) continue;
      const double sim = simulate_figure(f, p);
      const double err = sim / f.published - 1.0;
      errors.push_back(std::abs(err));
      std::cout << fmt::format("    {:<30} {:<10} {:<14} {:<10} {:<5} {:>2} {:>10} {:<24} {:>10} {:>10} {:>+7.1f}%\n",
                               f.id, f.kind, f.model, f.gpu, to_string(f.dtype), f.tensor_parallel,
                               fmt::format("{}/{}", f.input_tokens, f.output_tokens), setting_text(f, p),
                               value_text(f, f.published), value_text(f, sim), 100.0 * err);
      if (operators) print_operators(f, p);
    }
    if (errors.empty()) {
      std::cout << "    (none)\n";
      continue;
    }
    std::sort(errors.begin(), errors.end());
    std::cout << fmt::format("    {} figures: median |error| {:.1f} %, largest {:.1f} %\n", errors.size(),
                             100.0 * percentile_sorted(errors, 50.0), 100.0 * errors.back());
  }
}

int calibrate_command(const CalibrateCommand& cmd) {
  std::vector<std::string> engines = engine_names();
  if (!cmd.engine.empty()) {
    if (!engine_profile(cmd.engine)) {
      std::cerr << fmt::format("tokenfleet: error: --engine: unknown engine '{}'; known engines: {}\n", cmd.engine,
                               fmt::join(engine_names(), ", "));
      return exit_bad_scenario;
    }
    engines = {cmd.engine};
  }
  std::cout << "The cost model's engine profiles against published figures (cluster/calibration/figures.csv: each\n"
               "figure's source, setup and split). throughput: output tokens/s of one replica offered identical\n"
               "requests at once, at the figure's engine settings (setting: batching, max batch b, token budget t,\n"
               "requests n); ttft: one prefill iteration; tpot: one decode iteration at light load.\n";
  for (const std::string& e : engines) {
    CostParams p = *engine_profile(e);
    std::cout << fmt::format("\nengine {}:\n", e);
    if (cmd.fit) {
      bool any = false;
      for (const auto& f : calibration_figures()) any = any || (f.engine == e && f.split == "train");
      if (!any) {
        std::cout << "  no training figures: the profile is not fitted\n";
      } else {
        const FitResult r = fit_engine_profile(e, cmd.max_evaluations);
        std::cout << fmt::format("  fitted in {} evaluations, training rms log error {:.4f}\n", r.evaluations,
                                 r.training_rms_log_error);
        p = r.params;
      }
    }
    print_profile(p);
    print_table(e, p, cmd.operators);
  }
  return exit_ok;
}

}  // namespace

int command_calibrate(const CalibrateCommand& cmd) {
  return guarded([&] { return calibrate_command(cmd); });
}

}  // namespace tf
