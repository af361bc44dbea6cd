// The top-down formula's decomposition of a simulated fleet (see decomposition.hpp).
#include "results/decomposition.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace tf {

namespace {

std::string clock_text(double s) {
  const long t = std::lround(s);
  return fmt::format("{:02d}:{:02d}", t / 3600, (t % 3600) / 60);
}

}  // namespace

Decomposition decompose(const DecompositionInputs& in) {
  const double span = in.span_end_s - in.span_start_s;
  if (!(in.gpus > 0) || !(span > 0.0) || !(in.span_tokens > 0.0) || !(in.peak_flops > 0.0) || !(in.params > 0.0))
    throw std::invalid_argument(fmt::format(
        "decomposition: needs a fleet, a span, tokens, a GPU peak and a parameter count (got {} GPUs, {} s, {} tokens, "
        "{} FLOP/s, {} parameters)",
        in.gpus, span, in.span_tokens, in.peak_flops, in.params));
  Decomposition d;
  d.params = in.params;
  d.active_params = in.active_params > 0.0 ? in.active_params : in.params;
  d.peak_flops = in.peak_flops;
  d.gpus = in.gpus;
  d.span_s = span;
  d.tokens = in.span_tokens;
  d.mean_tokens_per_s = in.span_tokens / span;

  // The window: the busiest clock hour by tokens/s, of those the span holds at least half of (the first, clipped by
  // the warm-up, counts: when the span starts in its busiest hour, that is the one the fleet must carry); the span
  // itself when it is an hour or less.
  const DecompositionHour* busiest = nullptr;
  auto rate = [](const DecompositionHour& h) { return h.tokens / (h.end_s - h.start_s); };
  for (const auto& h : in.hours) {
    if (h.end_s - h.start_s < 1800.0) continue;
    if (busiest == nullptr || rate(h) > rate(*busiest)) busiest = &h;
  }
  const bool one_window = busiest == nullptr || span <= 3600.0 + 1e-9;
  if (one_window) {
    d.window = "the whole span";
    d.window_start_s = in.span_start_s;
    d.window_end_s = in.span_end_s;
    d.window_tokens_per_s = d.mean_tokens_per_s;
  } else {
    d.window = "busiest hour";
    d.window_start_s = busiest->start_s;
    d.window_end_s = busiest->end_s;
    d.window_tokens_per_s = rate(*busiest);
  }
  d.peak_multiple = d.window_tokens_per_s / d.mean_tokens_per_s;
  if (one_window) {
    d.peak_multiple_meaningful = false;
    d.peak_multiple_note = fmt::format(
        "k = 1 by definition: the span ({:.0f} s) is a single window, so the day's peak multiple is not in this run; "
        "simulate the whole day (duration_s = 86400) for the k a planner quotes, or take it from the daily curve",
        span);
  } else if (in.constant_rate) {
    d.peak_multiple_meaningful = false;
    d.peak_multiple_note =
        "the arrival rate is constant: k is 1 by construction, and its departure from 1 is sampling noise";
  } else if (span < 23.0 * 3600.0) {
    d.peak_multiple_note = fmt::format(
        "k over a span of {:.1f} h, not a day: the formula's k is a day's busiest hour over the day's mean",
        span / 3600.0);
  }

  const double fleet_peak = static_cast<double>(in.gpus) * in.peak_flops;
  auto convention = [&](const char* name, std::string label, double f) {
    DecompositionConvention c;
    c.name = name;
    c.label = std::move(label);
    c.flops_per_token = f;
    c.utilization = f * d.window_tokens_per_s / fleet_peak;
    // The formula as written; equal to the fleet up to rounding.
    c.gpus = c.flops_per_token * d.tokens * d.peak_multiple / (d.peak_flops * c.utilization * d.span_s);
    d.conventions.push_back(std::move(c));
  };
  convention("2P", "2 x P per token (the formula's convention, P the parameters as reported)", 2.0 * d.params);
  convention("2P_active",
             d.active_params < d.params ? "2 x active parameters per token (the experts an MoE computes per token)"
                                        : "2 x active parameters per token (the same as P: a dense model)",
             2.0 * d.active_params);
  if (in.model_flops > 0.0) {
    convention("cost_model",
               "the FLOPs the cost model counts per token offered (attention, the LM head and recomputed prefill "
               "included)",
               in.model_flops / in.span_tokens);
    d.average_utilization = in.model_flops / (span * fleet_peak);
  }
  return d;
}

std::string decomposition_text(const Decomposition& d, const std::string& indent) {
  const DecompositionConvention& f = d.conventions.front();
  std::string out = fmt::format(
      "{0}the formula's decomposition of this fleet: GPUs = 2 x P x D x k / (F x u x T)\n"
      "{0}  = 2 x {1:.4g} x {2:.4g} tokens x {3:.4f} / ({4:.4g} FLOP/s x {5:.4f} x {6:.0f} s) = {7:.6f} GPUs\n",
      indent, d.params, d.tokens, d.peak_multiple, d.peak_flops, f.utilization, d.span_s, f.gpus);
  if (d.window == "busiest hour")
    out += fmt::format("{}  k = {:.4f}: the busiest hour ({} - {}, {:.1f} tokens/s) over the span's mean ({:.1f} "
                       "tokens/s)\n",
                       indent, d.peak_multiple, clock_text(d.window_start_s), clock_text(d.window_end_s),
                       d.window_tokens_per_s, d.mean_tokens_per_s);
  else
    out += fmt::format("{}  k = {:.4f}: the span is its own window\n", indent, d.peak_multiple);
  if (!d.peak_multiple_note.empty())
    out += fmt::format("{}  {}{}\n", indent, d.peak_multiple_meaningful ? "note: " : "k is not meaningful here: ",
                       d.peak_multiple_note);
  out += fmt::format("{}  u = {:.2f} %: that window's 2 x P FLOP/s over the fleet's peak ({} GPUs x {:.4g} FLOP/s)\n",
                     indent, f.utilization * 100.0, d.gpus, d.peak_flops);
  for (std::size_t i = 1; i < d.conventions.size(); ++i) {
    const auto& c = d.conventions[i];
    out += fmt::format("{}  u = {:.2f} % with {:.4g} FLOP per token, the same k: {}\n", indent,
                       c.utilization * 100.0, c.flops_per_token, c.label);
  }
  if (d.average_utilization > 0.0)
    out += fmt::format("{}  (the cost model's FLOPs over the whole span, trough included, are {:.2f} % of the "
                       "fleet's peak: an average, not the formula's u)\n",
                       indent, d.average_utilization * 100.0);
  return out;
}

}  // namespace tf
