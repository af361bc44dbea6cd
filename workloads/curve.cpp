// Daily rate curves: parametric (von Mises bumps), hourly table and rate file (periodic histosplines).
#include "workloads/curve.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <charconv>
#include <cmath>
#include <fstream>
#include <numbers>
#include <stdexcept>

#include "io/csv.hpp"

namespace tf {

namespace {

constexpr double kDay_s = 86400.0;

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument(message); }

double positive_fmod(double x, double period) {
  double r = std::fmod(x, period);
  if (r < 0.0) r += period;
  if (r >= period) r = 0.0;
  return r;
}

// ----- histospline ------------------------------------------------------------------------------
// Cumulative count: a monotone cubic Hermite through the window boundaries (Fritsch-Carlson with harmonic-mean
// tangents, which keeps it monotone); the rate, its derivative, is on window k with s in [0, 1):
//   rate = 6 s (1 - s) r_k + (3 s^2 - 4 s + 1) m_k + (3 s^2 - 2 s) m_{k+1}
// whose mean over the window is exactly r_k.
class Histospline final : public RateCurve {
 public:
  Histospline(std::vector<double> rates, double window_s, double offset_s)
      : r_(std::move(rates)), w_(window_s), off_(offset_s) {
    const std::size_t n = r_.size();
    m_.resize(n + 1);
    for (std::size_t k = 0; k < n; ++k) {
      const double a = r_[(k + n - 1) % n], b = r_[k];
      m_[k] = (a > 0.0 && b > 0.0) ? 2.0 * a * b / (a + b) : 0.0;
    }
    m_[n] = m_[0];
    cum_.resize(n + 1);
    cum_[0] = 0.0;
    for (std::size_t k = 0; k < n; ++k) cum_[k + 1] = cum_[k] + r_[k] * w_;
    period_ = w_ * static_cast<double>(n);
    wmax_.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      const double A = -6.0 * r_[k] + 3.0 * m_[k] + 3.0 * m_[k + 1];
      const double B = 6.0 * r_[k] - 4.0 * m_[k] - 2.0 * m_[k + 1];
      double mx = std::max(m_[k], m_[k + 1]);
      if (A != 0.0) {
        const double s = -B / (2.0 * A);
        if (s > 0.0 && s < 1.0) mx = std::max(mx, at(k, s));
      }
      wmax_[k] = mx * (1.0 + 1e-12) + 1e-300;
    }
    mean_ = cum_[n] / period_;
  }

  double rate(double t) const override {
    auto [k, s] = locate(t);
    return std::max(0.0, at(k, s));
  }
  double max_rate(double a, double b) const override {
    if (!(b > a)) return wmax_[locate(a).first];
    if (b - a >= period_) return *std::max_element(wmax_.begin(), wmax_.end());
    double mx = 0.0;
    double t = a;
    while (t < b) {
      const auto [k, s] = locate(t);
      mx = std::max(mx, wmax_[k]);
      t += (1.0 - s) * w_;
      if ((1.0 - s) * w_ <= 0.0) t = std::nextafter(t, INFINITY);
    }
    return mx;
  }
  double integral(double a, double b) const override { return cumulative(b) - cumulative(a); }
  double mean_rate() const override { return mean_; }
  double period_s() const override { return period_; }

 private:
  std::pair<std::size_t, double> locate(double t) const {
    const double u = positive_fmod(t + off_, period_);
    auto k = static_cast<std::size_t>(std::floor(u / w_));
    if (k >= r_.size()) k = r_.size() - 1;
    return {k, std::clamp((u - static_cast<double>(k) * w_) / w_, 0.0, 1.0)};
  }
  double at(std::size_t k, double s) const {
    return 6.0 * s * (1.0 - s) * r_[k] + (3.0 * s * s - 4.0 * s + 1.0) * m_[k] + (3.0 * s * s - 2.0 * s) * m_[k + 1];
  }
  // The count from the curve's own time 0 to curve time x = t + offset.
  double cumulative(double t) const {
    const double x = t + off_;
    const double cycles = std::floor(x / period_);
    const auto [k, s] = locate(t);
    const double within = cum_[k] + w_ * (r_[k] * (3 * s * s - 2 * s * s * s) + m_[k] * (s * s * s - 2 * s * s + s) +
                                          m_[k + 1] * (s * s * s - s * s));
    return cycles * cum_.back() + within;
  }

  std::vector<double> r_, m_, cum_, wmax_;
  double w_, off_, period_ = 0.0, mean_ = 0.0;
};

// ----- parametric --------------------------------------------------------------------------------
constexpr int kGrid = 2880;  // 30 s points over the day

struct Bumps {
  double kappa = 0.0, p1 = 0.0, p2 = -1.0, ratio2 = 0.0;
  double shape(double hour) const {
    const double w = 2.0 * std::numbers::pi / 24.0;
    double g = std::exp(kappa * (std::cos(w * (hour - p1)) - 1.0));
    if (p2 >= 0.0) g += ratio2 * std::exp(kappa * (std::cos(w * (hour - p2)) - 1.0));
    return g;
  }
  // d ln(shape) / d hour, analytically.
  double log_slope(double hour) const {
    const double w = 2.0 * std::numbers::pi / 24.0;
    const double e1 = std::exp(kappa * (std::cos(w * (hour - p1)) - 1.0));
    double g = e1, dg = -kappa * w * std::sin(w * (hour - p1)) * e1;
    if (p2 >= 0.0) {
      const double e2 = ratio2 * std::exp(kappa * (std::cos(w * (hour - p2)) - 1.0));
      g += e2;
      dg += -kappa * w * std::sin(w * (hour - p2)) * e2;
    }
    return dg / g;
  }
  // A bound of |d^2 ln(shape) / d hour^2|: each bump's own (kappa w^2), plus, for two, the variance of the bumps'
  // slopes under their weights (at most (kappa w)^2).
  double log_curvature_bound() const {
    const double w = 2.0 * std::numbers::pi / 24.0;
    return kappa * w * w + (p2 >= 0.0 ? kappa * kappa * w * w : 0.0);
  }
  // mean, max, min over a 30-s grid (the trapezoid rule is spectrally accurate for a smooth periodic function).
  void stats(double& mean, double& mx, double& mn) const {
    mean = 0.0;
    mx = 0.0;
    mn = INFINITY;
    for (int i = 0; i < kGrid; ++i) {
      const double g = shape(24.0 * i / kGrid);
      mean += g;
      mx = std::max(mx, g);
      mn = std::min(mn, g);
    }
    mean /= kGrid;
  }
};

Bumps bumps_for(const RateCurveSpec& s, double kappa) {
  Bumps b;
  b.kappa = kappa;
  b.p1 = s.peak_hour;
  b.p2 = s.second_peak_hour;
  b.ratio2 = s.second_peak_ratio;
  return b;
}

class ParametricCurve final : public RateCurve {
 public:
  ParametricCurve(Bumps b, double mean_rate, double start_hour) : b_(b), mean_rate_(mean_rate), start_(start_hour) {
    double mx, mn;
    b_.stats(gmean_, mx, mn);
    // Where the curve is monotone, minute by minute of the day: +1 rising, -1 falling throughout the minute, with
    // |d ln(rate)/d hour| at least 1e-6 (so the rate changes by far more than its rounding over the 15-30 s steps of
    // max_rate's grid), 0 where that is not certain (near a peak or a trough). The slope at the minute's middle,
    // less the most the curvature can take off it over half a minute, decides.
    const double margin = b_.log_curvature_bound() * (0.5 / kCellsPerHour) + 1e-6 + 1e-9 * (1.0 + b_.kappa);
    std::array<signed char, kCells> sign{};
    for (int i = 0; i < kCells; ++i) {
      const double d = b_.log_slope((i + 0.5) / kCellsPerHour);
      sign[static_cast<std::size_t>(i)] = d >= margin ? 1 : d <= -margin ? -1 : 0;
    }
    // run_[i]: how many minutes from i on (going round midnight, at most a day) share minute i's nonzero sign.
    for (int i = 0; i < kCells; ++i) {
      int k = 0;
      const signed char si = sign[static_cast<std::size_t>(i)];
      while (si != 0 && k < kCells && sign[static_cast<std::size_t>((i + k) % kCells)] == si) ++k;
      run_[static_cast<std::size_t>(i)] = static_cast<std::int16_t>(k);
    }
  }
  double rate(double t) const override { return mean_rate_ * b_.shape(hour(t)) / gmean_; }
  double max_rate(double a, double b) const override { return max_rate_from(a, rate(a), b); }
  double max_rate_from(double a, double rate_a, double b) const override {
    if (!(b > a)) return rate_a * (1.0 + 1e-12);
    const double len = std::min(b - a, kDay_s);
    const int n = std::max(2, static_cast<int>(std::ceil(len / 30.0)) + 1);
    const double h = len / (n - 1);
    double mx = 0.0;
    // Where the rate is monotone over [a, a + len] (every minute it touches, and one either side, of one sign), the
    // grid's largest point is an end: the same value as the loop below, to the bit, from two evaluations.
    if (monotone_over(a, len)) {
      mx = std::max(std::max(mx, rate_a), rate(a + h * (n - 1)));
    } else {
      mx = std::max(mx, rate_a);  // a + h x 0
      for (int i = 1; i < n; ++i) mx = std::max(mx, rate(a + h * i));
    }
    // |d ln(rate)/dt| <= kappa * 2 pi / 86400: between grid points the rate rises at most by this factor.
    return mx * std::exp(b_.kappa * 2.0 * std::numbers::pi / kDay_s * h * 0.5) * (1.0 + 1e-12);
  }
  double integral(double a, double b) const override {
    if (!(b > a)) return 0.0;
    const int n = 2 * std::max(1, static_cast<int>(std::ceil((b - a) / 600.0)));
    const double h = (b - a) / n;
    double sum = rate(a) + rate(b);
    for (int i = 1; i < n; ++i) sum += (i % 2 ? 4.0 : 2.0) * rate(a + h * i);
    return sum * h / 3.0;
  }
  double mean_rate() const override { return mean_rate_; }
  double period_s() const override { return kDay_s; }

 private:
  double hour(double t) const { return positive_fmod(t / 3600.0 + start_, 24.0); }
  // Whether the minutes [a, a + len] touches, and one more on each side, are all rising or all falling (never over
  // two hours).
  bool monotone_over(double a, double len) const {
    if (!(len <= 7200.0)) return false;
    const int first = static_cast<int>(std::floor(hour(a) * kCellsPerHour)) - 1 + kCells;  // >= kCells - 1
    const int cells = static_cast<int>(std::ceil(len / 3600.0 * kCellsPerHour)) + 3;        // first to last, padded
    return run_[static_cast<std::size_t>(first % kCells)] >= cells;
  }
  static constexpr int kCellsPerHour = 60;
  static constexpr int kCells = 24 * kCellsPerHour;
  Bumps b_;
  double mean_rate_, start_, gmean_ = 1.0;
  std::array<std::int16_t, kCells> run_{};
};

class ConstantCurve final : public RateCurve {
 public:
  explicit ConstantCurve(double r) : r_(r) {}
  double rate(double) const override { return r_; }
  double max_rate(double, double) const override { return r_; }
  double integral(double a, double b) const override { return b > a ? r_ * (b - a) : 0.0; }
  double mean_rate() const override { return r_; }
  double period_s() const override { return kDay_s; }

 private:
  double r_;
};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  std::size_t b = 0;
  while (b < s.size() && (s[b] == ' ' || s[b] == '\t')) ++b;
  return s.substr(b);
}

bool parse_double(const std::string& s, double& v) {
  const std::string t = trim(s);
  if (t.empty()) return false;
  const auto res = std::from_chars(t.data(), t.data() + t.size(), v);
  return res.ec == std::errc() && res.ptr == t.data() + t.size() && std::isfinite(v);
}

}  // namespace

double parametric_kappa(const RateCurveSpec& s) {
  const bool by_mean = s.peak_to_mean > 0.0;
  const double target = by_mean ? s.peak_to_mean : s.peak_to_trough;
  const char* name = by_mean ? "peak_to_mean" : "peak_to_trough";
  if (!(target >= 1.0) || !std::isfinite(target)) fail(fmt::format("{} ({}) must be at least 1", name, target));
  if (target == 1.0) return 0.0;
  auto ratio = [&](double kappa) {
    double mean, mx, mn;
    bumps_for(s, kappa).stats(mean, mx, mn);
    return by_mean ? mx / mean : mx / mn;
  };
  double lo = 0.0, hi = 60.0;
  if (ratio(hi) < target) {
    fail(fmt::format("{} ({}) is too large: a smooth daily curve reaches at most {:.3g}", name, target, ratio(hi)));
  }
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    (ratio(mid) < target ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

std::unique_ptr<RateCurve> make_histospline(std::vector<double> rates, double window_s, double time_offset_s) {
  return std::make_unique<Histospline>(std::move(rates), window_s, time_offset_s);
}

std::vector<RateFileRow> read_rate_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open rate file", path));
  std::vector<RateFileRow> rows;
  std::uint64_t lineno = 0;
  auto bad = [&](const std::string& what) {
    throw std::runtime_error(fmt::format("{}:{}: {}", path, lineno, what));
  };
  CsvReader csv(in);
  std::vector<std::string_view> fields;
  std::vector<std::string> cells;
  for (;;) {
    bool got = false;
    try {
      got = csv.next(fields);
    } catch (const CsvError& e) {
      lineno = e.line();
      bad(fmt::format("column {}: {}", e.column(), e.reason()));
    }
    if (!got) break;
    lineno = csv.line();
    const std::string line = trim(std::string(csv.text()));
    if (line.empty()) continue;
    // The fields, with the blanks around the record left out (those inside it are kept, as the messages show).
    cells.assign(fields.begin(), fields.end());
    cells.front().erase(0, std::min(cells.front().size(), cells.front().find_first_not_of(" \t")));
    while (!cells.back().empty() && (cells.back().back() == ' ' || cells.back().back() == '\t')) cells.back().pop_back();
    if (lineno == 1 || (rows.empty() && !cells.empty() && !std::isdigit(static_cast<unsigned char>(trim(cells[0])[0])))) {
      if (cells.size() < 2 || trim(cells[0]) != "window_start_s" || trim(cells[1]) != "total_rate_rps")
        bad(fmt::format("expected the header window_start_s,total_rate_rps[,...], got '{}'", line));
      continue;
    }
    if (cells.size() < 2) bad(fmt::format("expected at least 2 columns (window_start_s,total_rate_rps), got {}", cells.size()));
    RateFileRow r;
    if (!parse_double(cells[0], r.start_s) || r.start_s < 0.0)
      bad(fmt::format("window_start_s: expected a non-negative number, got '{}'", cells[0]));
    if (!parse_double(cells[1], r.rate_per_s) || r.rate_per_s < 0.0)
      bad(fmt::format("total_rate_rps: expected a non-negative number, got '{}'", cells[1]));
    if (rows.size() == 1 && !(r.start_s > rows[0].start_s))
      bad(fmt::format("window_start_s: expected windows in increasing time order, got {} after {}", r.start_s,
                      rows[0].start_s));
    if (rows.size() >= 2) {
      const double w = rows[1].start_s - rows[0].start_s;
      const double expected = rows.back().start_s + w;
      if (std::abs(r.start_s - expected) > 1e-6 * w)
        bad(fmt::format("window_start_s: expected evenly spaced windows ({} s apart), got {} after {}", w, r.start_s,
                        rows.back().start_s));
    }
    rows.push_back(r);
  }
  if (rows.size() < 2) throw std::runtime_error(fmt::format("{}: a rate file needs at least 2 windows", path));
  return rows;
}

std::unique_ptr<RateCurve> make_rate_curve(const RateCurveSpec& s) {
  if (!std::isfinite(s.start_hour) || s.start_hour < 0.0 || s.start_hour >= 24.0)
    fail(fmt::format("start_hour ({}) must be in [0, 24)", s.start_hour));
  if (s.kind == "none") {
    if (!(s.mean_rate_per_s > 0.0) || !std::isfinite(s.mean_rate_per_s))
      fail(fmt::format("rate_per_s ({}) must be a positive number", s.mean_rate_per_s));
    return std::make_unique<ConstantCurve>(s.mean_rate_per_s);
  }
  if (s.kind == "parametric") {
    if (!(s.mean_rate_per_s > 0.0)) fail(fmt::format("rate_per_s ({}) must be a positive number", s.mean_rate_per_s));
    if (s.peak_to_mean > 0.0 && s.peak_to_trough > 0.0) fail("peak_to_mean: give peak_to_mean or peak_to_trough, not both");
    if (!(s.peak_to_mean > 0.0) && !(s.peak_to_trough > 0.0)) fail("peak_to_mean: missing (or peak_to_trough)");
    if (!(s.peak_hour >= 0.0 && s.peak_hour < 24.0)) fail(fmt::format("peak_hour ({}) must be in [0, 24)", s.peak_hour));
    if (s.second_peak_hour >= 24.0) fail(fmt::format("second_peak_hour ({}) must be in [0, 24)", s.second_peak_hour));
    if (s.second_peak_hour >= 0.0 && !(s.second_peak_ratio > 0.0 && s.second_peak_ratio <= 1.0))
      fail(fmt::format("second_peak_ratio ({}) must be in (0, 1]", s.second_peak_ratio));
    const double kappa = parametric_kappa(s);
    return std::make_unique<ParametricCurve>(bumps_for(s, kappa), s.mean_rate_per_s, s.start_hour);
  }
  if (s.kind == "hourly") {
    if (s.hourly.size() != 24) fail(fmt::format("hourly: expected 24 weights (one per hour), got {}", s.hourly.size()));
    double total = 0.0;
    for (std::size_t i = 0; i < 24; ++i) {
      if (!std::isfinite(s.hourly[i]) || s.hourly[i] < 0.0)
        fail(fmt::format("hourly: weight {} (hour {}) must be a non-negative number, got {}", i + 1, i, s.hourly[i]));
      total += s.hourly[i];
    }
    if (!(total > 0.0)) fail("hourly: the weights must not all be zero");
    if (!(s.mean_rate_per_s > 0.0)) fail(fmt::format("rate_per_s ({}) must be a positive number", s.mean_rate_per_s));
    std::vector<double> rates(24);
    for (std::size_t i = 0; i < 24; ++i) rates[i] = s.hourly[i] / (total / 24.0) * s.mean_rate_per_s;
    return make_histospline(std::move(rates), 3600.0, s.start_hour * 3600.0);
  }
  if (s.kind == "file") {
    const auto rows = read_rate_file(s.path);
    const double w = rows[1].start_s - rows[0].start_s;
    const double per_day_d = kDay_s / w;
    if (std::abs(per_day_d - std::round(per_day_d)) > 1e-9)
      throw std::runtime_error(fmt::format("{}: windows of {} s do not divide a day", s.path, w));
    const auto per_day = static_cast<std::size_t>(std::llround(per_day_d));
    const std::size_t file_days = rows.size() / per_day;
    if (file_days == 0)
      throw std::runtime_error(fmt::format("{}: holds {} windows, less than one day ({})", s.path, rows.size(), per_day));
    if (s.first_day < 0 || static_cast<std::size_t>(s.first_day) >= file_days)
      fail(fmt::format("first_day ({}) must be from 0 to {} (the file holds {} whole day(s))", s.first_day,
                       file_days - 1, file_days));
    if (s.days < 1 || static_cast<std::size_t>(s.first_day + s.days) > file_days)
      fail(fmt::format("days ({}) must be from 1 to {} (first_day {} of {} whole day(s))", s.days,
                       file_days - static_cast<std::size_t>(s.first_day), s.first_day, file_days));
    if (s.gaps != "fill" && s.gaps != "zero") fail(fmt::format("gaps: expected \"fill\" or \"zero\", got \"{}\"", s.gaps));
    const std::size_t begin = static_cast<std::size_t>(s.first_day) * per_day;
    std::vector<double> rates(static_cast<std::size_t>(s.days) * per_day);
    for (std::size_t i = 0; i < rates.size(); ++i) {
      rates[i] = rows[begin + i].rate_per_s;
      if (rates[i] == 0.0 && s.gaps == "fill") {
        // A gap in the data: the mean of the same window of the day over the days of the file that have data.
        double sum = 0.0;
        int n = 0;
        for (std::size_t d = 0; d < file_days; ++d) {
          const double v = rows[d * per_day + (begin + i) % per_day].rate_per_s;
          if (v > 0.0) sum += v, ++n;
        }
        rates[i] = n ? sum / n : 0.0;
      }
    }
    double mean = 0.0;
    for (double r : rates) mean += r;
    mean /= static_cast<double>(rates.size());
    if (!(mean > 0.0)) fail(fmt::format("rate_file: the chosen day(s) of {} have no traffic", s.path));
    if (s.mean_rate_per_s > 0.0)
      for (double& r : rates) r *= s.mean_rate_per_s / mean;
    return make_histospline(std::move(rates), w, s.start_hour * 3600.0);
  }
  fail(fmt::format("unknown curve kind '{}'", s.kind));
}

}  // namespace tf
