// `tokenfleet calibrate`: the cost model against published serving figures.
#include <iostream>

#include <fmt/format.h>

#include "cluster/cost_model.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"
#include "sim/study/calibration.hpp"

namespace tf {

namespace {

int calibrate_command() {
  std::cout << "The cost model's default parameters against published figures (docs/reference/calibration.md).\n"
               "throughput: output tokens/s of one replica offered 1024 identical requests at once (max_batch 256, "
               "max_batched_tokens 8192); ttft: one prefill iteration at batch 1.\n\n";
  std::cout << fmt::format("{:<42} {:<10} {:<14} {:<10} {:<5} {:>3} {:>11} {:>11} {:>11} {:>8} {}\n", "source", "kind",
                           "model", "gpu", "dtype", "TP", "in/out", "published", "simulated", "error", "tested");
  for (const auto& f : calibration_figures()) {
    const double sim = simulate_figure(f);
    const bool ttft = f.kind == "ttft";
    std::cout << fmt::format(
        "{:<42} {:<10} {:<14} {:<10} {:<5} {:>3} {:>11} {:>11} {:>11} {:>+7.1f}% {}\n", f.source, f.kind, f.model,
        f.gpu, to_string(f.dtype), f.tensor_parallel, fmt::format("{}/{}", f.input_tokens, f.output_tokens),
        ttft ? fmt::format("{:.1f} ms", f.published * 1e3) : fmt::format("{:.0f}", f.published),
        ttft ? fmt::format("{:.1f} ms", sim * 1e3) : fmt::format("{:.0f}", sim), 100.0 * (sim / f.published - 1.0),
        f.tested ? "yes (25 %)" : "no");
  }
  return exit_ok;
}

}  // namespace

int command_calibrate() {
  return guarded(calibrate_command);
}

}  // namespace tf
