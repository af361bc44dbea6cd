#include "results/window.hpp"

#include <algorithm>
#include <limits>

namespace {
// Stands for the latency of a request that never finished: beyond any target, still finite for interpolation.
constexpr double kNeverS = 1e300;
}  // namespace

#include "results/summary.hpp"

namespace tf {

WindowFigures window_figures(const std::vector<RequestRecord>& records, double start_s, double end_s,
                             const SloTargets& slo) {
  WindowFigures w;
  w.start_s = start_s;
  w.end_s = end_s;
  std::vector<double> ttft, tpot;
  std::size_t meeting = 0;
  for (const auto& r : records) {
    if (r.arrival_s < start_s || r.arrival_s >= end_s) continue;
    ++w.requests;
    w.prompt_tokens += static_cast<double>(r.prompt_tokens);
    w.output_tokens += static_cast<double>(r.output_tokens);
    if (!r.finished()) {
      if (!r.rejected) ++w.unfinished;
      ttft.push_back(kNeverS);
      tpot.push_back(kNeverS);
      continue;
    }
    ttft.push_back(r.ttft_s());
    if (r.output_tokens > 1) tpot.push_back(r.tpot_s());
    if (meets_slo(r, slo)) ++meeting;
  }
  if (w.requests == 0) return w;
  std::sort(ttft.begin(), ttft.end());
  std::sort(tpot.begin(), tpot.end());
  w.ttft_p99_s = percentile_sorted(ttft, 99.0);
  w.tpot_p99_s = tpot.empty() ? 0.0 : percentile_sorted(tpot, 99.0);
  w.attainment = static_cast<double>(meeting) / static_cast<double>(w.requests);
  w.ttft_met = slo.ttft_p99_s <= 0.0 || w.ttft_p99_s <= slo.ttft_p99_s;
  w.tpot_met = slo.tpot_p99_s <= 0.0 || w.tpot_p99_s <= slo.tpot_p99_s;
  w.met = w.ttft_met && w.tpot_met;
  return w;
}

}  // namespace tf
