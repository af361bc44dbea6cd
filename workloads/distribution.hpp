#pragma once
// Token-length distributions: fixed, uniform, normal (truncated at zero), exponential, geometric, lognormal,
// empirical (drawn from a trace's rows; two empirical distributions on the same trace are drawn jointly by the
// workload source, so the prompt/output correlation survives).
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "workloads/random.hpp"

namespace tf {

// What a scenario says about a distribution. Which fields matter depends on `dist`:
//   fixed:       value
//   uniform:     low, high (inclusive integers)
//   normal:      mean, stddev (of the normal before truncation at zero)
//   exponential: mean
//   geometric:   mean (>= 1; lengths 1, 2, 3, ...)
//   empirical:   trace (path), trace_format ("" = from the file), column ("prompt" or "output")
//   lognormal:   either mean + a percentile (percentile in (0,100), percentile_value),
//                e.g. { mean = 1000, p99 = 6000 }, or mu + sigma (of the underlying normal)
// Every draw is rounded to an integer and clamped to [min, max].
struct DistributionSpec {
  std::string dist = "fixed";
  double value = 0.0;
  double low = 0.0, high = 0.0;
  double mean = 0.0;
  double percentile = 0.0;        // e.g. 99 for p99; 0 when not given
  double percentile_value = 0.0;  // the length at that percentile
  double mu = 0.0, sigma = 0.0;
  bool has_mu_sigma = false;
  double stddev = 0.0;
  std::string trace{}, trace_format{}, column = "prompt";
  double min = 1.0;
  double max = 1e18;
};

// The (prompt, output) pairs of a trace, loaded once per file and shared.
struct LengthPairs {
  std::vector<std::int32_t> prompt, output;
};
std::shared_ptr<const LengthPairs> load_length_pairs(const std::string& path, const std::string& format);

class LengthDistribution {
 public:
  virtual ~LengthDistribution() = default;
  // A draw before rounding and clamping.
  virtual double sample_real(Rng& rng) const = 0;
  // The distribution's mean before rounding and clamping.
  virtual double mean() const = 0;
  // A draw rounded to the nearest integer and clamped to [min, max].
  long long sample(Rng& rng) const;
  // x rounded to the nearest integer and clamped to [min, max].
  long long clamp_length(double x) const;
  // The longest length a draw can give, clamped: max, or less for a distribution bounded below it (fixed, uniform,
  // empirical).
  long long longest() const { return clamp_length(support_max()); }
  // Empirical distributions: the trace's pairs (the same object for two distributions on the same trace).
  virtual const LengthPairs* pairs() const { return nullptr; }
  // How many numbers one sample_real takes from the stream (always the same: a run that skips requests discards
  // that many per request instead of drawing them).
  virtual int draws_per_sample() const { return 1; }
  double min = 1.0, max = 1e18;

 protected:
  // The largest value sample_real can return (+infinity when unbounded).
  virtual double support_max() const { return std::numeric_limits<double>::infinity(); }
};

// Throws std::invalid_argument with a message naming the offending field when the spec is invalid
// (unknown dist, missing or out-of-range parameter, p-value below the mean for a lognormal...).
std::unique_ptr<LengthDistribution> make_distribution(const DistributionSpec& spec);

// Lognormal helpers, exposed for tests: sigma from mean and a percentile value at percentile q
// (in (50,100)), mu from mean and sigma.
double lognormal_sigma_from_mean_and_percentile(double mean, double q_percent, double value);
// Standard normal quantile (inverse CDF), |error| < 1e-9.
double normal_quantile(double p);

}  // namespace tf
