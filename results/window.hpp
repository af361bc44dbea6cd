#pragma once
// SLO figures over the requests that arrived in a time window [start_s, end_s).
#include <cstddef>
#include <vector>

#include "io/json.hpp"
#include "results/records.hpp"

namespace tf {

struct WindowFigures {
  double start_s = 0.0, end_s = 0.0;
  std::size_t requests = 0;
  std::size_t unfinished = 0;
  double ttft_p99_s = 0.0;
  double tpot_p99_s = 0.0;
  double attainment = 1.0;       // share of requests meeting both per-request targets
  double prompt_tokens = 0.0;    // offered in the window
  double output_tokens = 0.0;
  bool ttft_met = true, tpot_met = true, met = true;  // p99 targets (unfinished requests count as misses)
};

TF_JSON_FIELDS(WindowFigures, start_s, end_s, requests, unfinished, ttft_p99_s, tpot_p99_s, attainment, prompt_tokens,
               output_tokens, ttft_met, tpot_met, met)

WindowFigures window_figures(const std::vector<RequestRecord>& records, double start_s, double end_s,
                             const SloTargets& slo);

}  // namespace tf
