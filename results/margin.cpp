// Confidence intervals of an answer's p99s and the verdict against the targets (see margin.hpp).
#include "results/margin.hpp"

#include <array>
#include <cmath>

#include <fmt/format.h>

namespace tf {

double student_t95(int df) {
  // t_{0.975, df}, df = 1 .. 30 (standard tables).
  static constexpr std::array<double, 30> table{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                                2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                                2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                                2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  if (df < 1) return INFINITY;
  if (df <= 30) return table[static_cast<std::size_t>(df - 1)];
  // Beyond the table: the normal quantile with the first correction term of the expansion in 1/df.
  const double z = 1.959964;
  return z + (z * z * z + z) / (4.0 * df);
}

MarginInterval margin_interval(const std::vector<double>& values, double point) {
  MarginInterval m;
  m.point = point;
  m.lo = m.hi = point;
  const std::size_t n = values.size();
  if (n < 2) return m;
  double mean = 0.0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(n);
  double ss = 0.0;
  for (double v : values) ss += (v - mean) * (v - mean);
  const double sd = std::sqrt(ss / static_cast<double>(n - 1));
  const double half = student_t95(static_cast<int>(n) - 1) * sd / std::sqrt(static_cast<double>(n));
  m.lo = point - half;
  m.hi = point + half;
  m.samples = static_cast<int>(n);
  return m;
}

std::string margin_verdict(const MarginInterval& ttft, double ttft_target_s, const MarginInterval& tpot,
                           double tpot_target_s) {
  if (ttft.samples == 0 && tpot.samples == 0) return "no interval";
  bool misses = false, within = false;
  auto judge = [&](const MarginInterval& m, double target) {
    if (!(target > 0.0)) return;
    if (m.lo > target) misses = true;
    else if (m.hi > target) within = true;
  };
  judge(ttft, ttft_target_s);
  judge(tpot, tpot_target_s);
  return misses ? "misses" : within ? "within noise" : "clears the targets";
}

std::string margin_text(const Margin& m) {
  if (m.method == "none") return "no confidence interval: " + m.why_none;
  auto one = [](const char* name, const MarginInterval& i, double target) {
    return fmt::format("{} p99 {:.1f} ms [{:.1f}, {:.1f}]{}", name, i.point * 1e3, i.lo * 1e3, i.hi * 1e3,
                       target > 0.0 ? fmt::format(" (target {:.0f})", target * 1e3) : "");
  };
  std::string how = m.method == "seeds" ? fmt::format("over {} seeds, {} of which pass", m.seeds, m.seeds_passing)
                                        : fmt::format("batch means over {} slices of the window", m.ttft.samples);
  return fmt::format("{}, {}: {} (95 %, {})", one("TTFT", m.ttft, m.ttft_target_s),
                     one("TPOT", m.tpot, m.tpot_target_s), m.verdict, how);
}

}  // namespace tf
