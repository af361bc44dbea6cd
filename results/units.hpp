#pragma once
// Figures as a planner reads them: durations in a unit that suits their size (ms below 1 s, s up to 10 min,
// min up to 2 h, h beyond), rounded to three or four significant digits; counts with thousands separators;
// fractions as percentages. Used by the report's tables (results/report.cpp) and compare's terminal table.
#include <cmath>
#include <string>

#include <fmt/format.h>

namespace tf {

// "0.42 ms", "14.2 ms", "206 ms", "2.01 s", "12.4 s", "409 s", "16.5 min", "3.6 h" (12966 s). A value that would
// round to 1000 ms is written in seconds ("1.00 s"), so the unit never reads four digits of ms.
// `space` false drops the space before the unit ("206ms"), for narrow terminal columns. "-" when not finite.
inline std::string human_duration(double s, bool space = true) {
  if (!std::isfinite(s)) return "-";
  const char* sp = space ? " " : "";
  const double a = std::fabs(s);
  if (a < 0.9995) {
    const double ms = s * 1e3;
    const double am = std::fabs(ms);
    if (am >= 100.0 || am == 0.0) return fmt::format("{:.0f}{}ms", ms, sp);
    if (am >= 10.0) return fmt::format("{:.1f}{}ms", ms, sp);
    return fmt::format("{:.2f}{}ms", ms, sp);
  }
  if (a < 9.995) return fmt::format("{:.2f}{}s", s, sp);
  if (a < 99.95) return fmt::format("{:.1f}{}s", s, sp);
  if (a < 600.0) return fmt::format("{:.0f}{}s", s, sp);
  if (a < 7200.0) return fmt::format("{:.1f}{}min", s / 60.0, sp);
  if (a < 100.0 * 3600.0) return fmt::format("{:.1f}{}h", s / 3600.0, sp);
  return fmt::format("{:.0f}{}h", s / 3600.0, sp);
}

// A whole number with thousands separators: 12966 -> "12,966".
inline std::string human_count(double v) {
  if (!std::isfinite(v)) return "-";
  std::string digits = fmt::format("{:.0f}", std::fabs(v));
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (v < 0 && digits != "0" ? "-" : "") + out;
}

// A figure rounded to at most four significant digits, large ones as whole numbers with separators:
// 4980.561 -> "4,981", 20.018182 -> "20.02", 0.362657 -> "0.363".
inline std::string human_number(double v) {
  if (!std::isfinite(v)) return "-";
  const double a = std::fabs(v);
  if (a >= 1000.0) return human_count(v);
  if (a >= 100.0) return fmt::format("{:.0f}", v);
  if (a >= 10.0) return fmt::format("{:.1f}", v);
  if (a >= 1.0) return fmt::format("{:.2f}", v);
  if (a == 0.0) return "0";
  return fmt::format("{:.3g}", v);
}

// A fraction as a percentage: 0.97 -> "97.0 %", 1 -> "100 %".
inline std::string human_percent(double fraction) {
  if (!std::isfinite(fraction)) return "-";
  const double p = fraction * 100.0;
  if (p == 100.0 || p == 0.0) return fmt::format("{:.0f} %", p);
  if (std::fabs(p) < 0.1) return fmt::format("{:.2g} %", p);
  return fmt::format("{:.1f} %", p);
}

}  // namespace tf
