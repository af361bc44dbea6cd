#pragma once
// Daily rate curves: how the arrival rate changes over the day. Plain C++, no randomness.
//
//   - parametric: one or two smooth peaks (von Mises bumps, exp(kappa cos(...))), scaled to a mean rate and
//     a peak-to-mean or peak-to-trough ratio;
//   - hourly:     24 relative weights, one per hour of the day; each is the hour's mean rate;
//   - file:       a rate file (ServeGen: window_start_s,total_rate_rps,...), chosen day(s).
//
// The hourly table and the rate file are interpolated by a "histospline": the cumulative count is a monotone
// (Fritsch-Carlson) cubic through the window boundaries, and the rate is its derivative. The rate is then
// continuous, never negative, and every window's (hour's) mean rate is exactly the table's value.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tf {

struct RateCurveSpec {
  std::string kind = "none";  // none | parametric | hourly | file
  // The curve's mean rate, requests per second. For a rate file, 0 keeps the file's own rates.
  double mean_rate_per_s = 1.0;
  // Simulation time 0 is this hour of the curve's day (0 = midnight); for a rate file, of first_day.
  double start_hour = 0.0;

  // parametric: exactly one of peak_to_mean, peak_to_trough (> 1)
  double peak_to_mean = 0.0;
  double peak_to_trough = 0.0;
  double peak_hour = 20.0;
  double second_peak_hour = -1.0;   // < 0: none
  double second_peak_ratio = 0.5;   // height of the second peak over the first's, (0, 1]

  // hourly: 24 non-negative weights, not all zero
  std::vector<double> hourly{};

  // file
  std::string path{};
  int first_day = 0;   // day of the file that simulation day 0 follows
  int days = 1;        // days used; the curve repeats after them
  std::string gaps = "fill";  // zero-rate windows: "fill" (a gap in the data) or "zero" (no traffic)
  bool operator==(const RateCurveSpec&) const = default;
};

class RateCurve {
 public:
  virtual ~RateCurve() = default;
  // Requests per second at simulation time t (t >= 0).
  virtual double rate(double t) const = 0;
  // An upper bound of rate(t) on [a, b) (used for thinning); never below the true maximum.
  virtual double max_rate(double a, double b) const = 0;
  // max_rate(a, b), given rate(a) (the thinning knows it from its last arrival): the same value.
  virtual double max_rate_from(double a, double rate_a, double b) const {
    (void)rate_a;
    return max_rate(a, b);
  }
  // The expected count on [a, b): the integral of rate.
  virtual double integral(double a, double b) const = 0;
  // Mean rate over a period, and the period in seconds (the curve repeats).
  virtual double mean_rate() const = 0;
  virtual double period_s() const = 0;
};

// Throws std::invalid_argument (file errors: std::runtime_error naming the file and line) when the spec is wrong.
std::unique_ptr<RateCurve> make_rate_curve(const RateCurveSpec& spec);

// A rate file's rows (window start in seconds, rate in requests per second), read and checked. Exposed for tests.
struct RateFileRow {
  double start_s = 0.0;
  double rate_per_s = 0.0;
};
std::vector<RateFileRow> read_rate_file(const std::string& path);

// The parametric curve's kappa for a target ratio (exposed for tests).
double parametric_kappa(const RateCurveSpec& spec);

// The periodic histospline: window averages `rates` of windows `window_s` long, starting at time 0.
std::unique_ptr<RateCurve> make_histospline(std::vector<double> rates, double window_s, double time_offset_s);

}  // namespace tf
