#pragma once
// How far an answer's p99s are from their targets, with the noise of the simulation: a 95 % confidence interval of
// each p99 and a verdict.
//
// - Over seeds (--seeds N >= 2): the N runs are independent replications; the interval is Student's t over their
//   p99s, centred on their mean.
// - Within one run: batch means. The measurement window is cut into equal slices by arrival time, the p99 taken in
//   each, and the interval is the whole window's p99 +- t x the slices' standard deviation / sqrt(slices). Slices
//   of a day also differ by the daily curve, not only by noise, so there the interval is wider than the noise alone
//   (on the safe side).
// Plain arithmetic (results/ depends on nothing of ours but io/).
#include <string>
#include <vector>

#include "io/json.hpp"

namespace tf {

struct MarginInterval {
  double point = 0.0;  // the estimate (s)
  double lo = 0.0, hi = 0.0;
  int samples = 0;     // seeds or slices used (0: no interval)
};
TF_JSON_FIELDS(MarginInterval, point, lo, hi, samples)

struct Margin {
  std::string method;  // "seeds" | "batch means" | "none"
  std::string why_none;  // method "none": why
  MarginInterval ttft, tpot;
  double ttft_target_s = 0.0, tpot_target_s = 0.0;  // 0: no target
  // "clears the targets" (every interval below its target), "within noise" (a target inside an interval), or
  // "misses" (an interval above its target); "no interval" when none could be formed.
  std::string verdict;
  int seeds = 1, seeds_passing = 0;  // the point-estimate rule's count
};
TF_JSON_FIELDS(Margin, method, why_none, ttft, tpot, ttft_target_s, tpot_target_s, verdict, seeds, seeds_passing)

// The two-sided 95 % quantile of Student's t with `df` degrees of freedom (df >= 1).
double student_t95(int df);

// The interval of `point` from independent `values` (Student's t with values.size() - 1 degrees of freedom,
// centred on `point`); samples = 0 when fewer than 2 values.
MarginInterval margin_interval(const std::vector<double>& values, double point);

// The verdict of the two intervals against their targets (a target of 0 is no target).
std::string margin_verdict(const MarginInterval& ttft, double ttft_target_s, const MarginInterval& tpot,
                           double tpot_target_s);

// A line for the terminal: "TTFT p99 412.0 ms [398.1, 425.9], TPOT p99 ...: clears the targets (95 %, ...)".
std::string margin_text(const Margin& m);

}  // namespace tf
