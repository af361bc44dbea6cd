// Token-length distributions: fixed, uniform, normal, exponential, geometric, lognormal, empirical.
// Only uniform01() is used for randomness; every transform is our own so one seed gives the same
// numbers with any standard library.
#include "workloads/distribution.hpp"

#include "workloads/trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numbers>
#include <stdexcept>
#include <utility>

namespace tf {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument(message); }

// "p99", "p99.9", "p95" for the percentile field's name.
std::string percentile_name(double q_percent) { return fmt::format("p{}", q_percent); }

class FixedDistribution final : public LengthDistribution {
 public:
  explicit FixedDistribution(double value) : value_(value) {}
  double sample_real(Rng&) const override { return value_; }
  double mean() const override { return value_; }
  int draws_per_sample() const override { return 0; }

 protected:
  double support_max() const override { return value_; }

 private:
  double value_;
};

// Integers low..high inclusive, each with the same probability.
class UniformDistribution final : public LengthDistribution {
 public:
  UniformDistribution(double low, double high) : low_(low), high_(high) {}
  double sample_real(Rng& rng) const override {
    const double count = high_ - low_ + 1.0;
    return std::min(high_, low_ + std::floor(uniform01(rng) * count));
  }
  double mean() const override { return 0.5 * (low_ + high_); }

 protected:
  double support_max() const override { return high_; }

 private:
  double low_, high_;
};

class ExponentialDistribution final : public LengthDistribution {
 public:
  explicit ExponentialDistribution(double mean) : mean_(mean) {}
  double sample_real(Rng& rng) const override { return -mean_ * std::log(uniform01(rng)); }
  double mean() const override { return mean_; }

 private:
  double mean_;
};

// exp(N(mu, sigma^2)); the normal draw comes from the inverse CDF of one uniform draw, so every
// sample consumes exactly one number from the stream.
class LognormalDistribution final : public LengthDistribution {
 public:
  LognormalDistribution(double mu, double sigma) : mu_(mu), sigma_(sigma) {}
  double sample_real(Rng& rng) const override {
    return std::exp(mu_ + sigma_ * normal_quantile(uniform01(rng)));
  }
  double mean() const override { return std::exp(mu_ + 0.5 * sigma_ * sigma_); }

 private:
  double mu_, sigma_;
};

// N(mean, stddev^2) truncated to [0, inf), by the inverse CDF of one uniform draw restricted to the kept part.
class TruncatedNormalDistribution final : public LengthDistribution {
 public:
  TruncatedNormalDistribution(double mean, double sd) : mu_(mean), sd_(sd) {
    lower_ = 0.5 * std::erfc(mu_ / sd_ / std::numbers::sqrt2);  // Phi(-mu / sd)
  }
  double sample_real(Rng& rng) const override {
    const double u = lower_ + uniform01(rng) * (1.0 - lower_);
    return std::max(0.0, mu_ + sd_ * normal_quantile(u));
  }
  double mean() const override {
    const double a = -mu_ / sd_;
    const double phi = std::exp(-0.5 * a * a) / std::sqrt(2.0 * std::numbers::pi);
    return mu_ + sd_ * phi / (1.0 - lower_);
  }

 private:
  double mu_, sd_, lower_;
};

// Lengths 1, 2, 3, ... with P(k) = p (1 - p)^(k - 1), p = 1 / mean.
class GeometricDistribution final : public LengthDistribution {
 public:
  explicit GeometricDistribution(double mean) : mean_(mean), p_(1.0 / mean) {}
  double sample_real(Rng& rng) const override {
    const double u = uniform01(rng);
    if (p_ >= 1.0) return 1.0;
    return 1.0 + std::floor(std::log(u) / std::log1p(-p_));
  }
  double mean() const override { return mean_; }

 private:
  double mean_, p_;
};

// One column of a trace's rows, each row equally likely.
class EmpiricalDistribution final : public LengthDistribution {
 public:
  EmpiricalDistribution(std::shared_ptr<const LengthPairs> pairs, bool prompt)
      : pairs_(std::move(pairs)), column_(prompt ? &pairs_->prompt : &pairs_->output) {
    double sum = 0.0;
    for (auto v : *column_) sum += v;
    mean_ = sum / static_cast<double>(column_->size());
  }
  double sample_real(Rng& rng) const override {
    const auto n = column_->size();
    auto i = static_cast<std::size_t>(uniform01(rng) * static_cast<double>(n));
    if (i >= n) i = n - 1;
    return (*column_)[i];
  }
  double mean() const override { return mean_; }
  const LengthPairs* pairs() const override { return pairs_.get(); }

 protected:
  double support_max() const override { return *std::max_element(column_->begin(), column_->end()); }

 private:
  std::shared_ptr<const LengthPairs> pairs_;
  const std::vector<std::int32_t>* column_;
  double mean_ = 0.0;
};

void require_finite(const std::string& dist, const char* field, double v) {
  if (!std::isfinite(v)) fail(fmt::format("{}: {} ({}) must be a finite number", dist, field, v));
}

void require_integer(const std::string& dist, const char* field, double v) {
  require_finite(dist, field, v);
  if (v != std::floor(v)) fail(fmt::format("{}: {} ({}) must be an integer", dist, field, v));
}

void require_positive(const std::string& dist, const char* field, double v) {
  require_finite(dist, field, v);
  if (!(v > 0.0)) fail(fmt::format("{}: {} ({}) must be positive", dist, field, v));
}

std::unique_ptr<LengthDistribution> make_lognormal(const DistributionSpec& spec) {
  const std::string d = "lognormal";
  if (spec.has_mu_sigma) {
    require_finite(d, "mu", spec.mu);
    require_positive(d, "sigma", spec.sigma);
    return std::make_unique<LognormalDistribution>(spec.mu, spec.sigma);
  }
  if (spec.percentile == 0.0) {
    fail("lognormal: needs mean and a percentile (e.g. mean = 1000, p99 = 6000) or mu and sigma");
  }
  require_positive(d, "mean", spec.mean);
  const double sigma =
      lognormal_sigma_from_mean_and_percentile(spec.mean, spec.percentile, spec.percentile_value);
  const double mu = std::log(spec.mean) - 0.5 * sigma * sigma;
  return std::make_unique<LognormalDistribution>(mu, sigma);
}

}  // namespace

std::shared_ptr<const LengthPairs> load_length_pairs(const std::string& path, const std::string& format) {
  // Loaded once per (file, format) in a process: the scenario check and the run share it.
  static std::map<std::string, std::shared_ptr<const LengthPairs>> cache;
  const std::string key = format + "\n" + path;
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto pairs = std::make_shared<LengthPairs>();
  TraceReader reader(path, format, false);
  TraceRow row;
  constexpr std::int64_t kMax = std::numeric_limits<std::int32_t>::max();
  while (reader.next(row)) {
    pairs->prompt.push_back(static_cast<std::int32_t>(std::min(row.prompt_tokens, kMax)));
    pairs->output.push_back(static_cast<std::int32_t>(std::min(row.output_tokens, kMax)));
  }
  if (pairs->prompt.empty()) throw TraceError(path, 0, "", "the trace has no rows");
  cache[key] = pairs;
  return pairs;
}

long long LengthDistribution::sample(Rng& rng) const { return clamp_length(sample_real(rng)); }

long long LengthDistribution::clamp_length(double x) const {
  // Clamp in double first so the conversion to an integer never overflows.
  constexpr double kLargest = 9.0e18;
  double lo = std::clamp(std::ceil(min), -kLargest, kLargest);
  double hi = std::clamp(std::floor(max), -kLargest, kLargest);
  if (lo > hi) lo = hi = std::clamp(std::round(min), -kLargest, kLargest);  // no integer in [min, max]
  if (std::isnan(x)) x = lo;
  x = std::clamp(std::round(x), lo, hi);
  return static_cast<long long>(x);
}

double normal_quantile(double p) {
  if (std::isnan(p)) return std::numeric_limits<double>::quiet_NaN();
  if (p <= 0.0) return -std::numeric_limits<double>::infinity();
  if (p >= 1.0) return std::numeric_limits<double>::infinity();

  // Acklam's rational approximation (relative error about 1.15e-9) ...
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  constexpr double p_low = 0.02425;
  constexpr double p_high = 1.0 - p_low;

  double x;
  if (p < p_low) {
    const double q = std::sqrt(-2.0 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  } else if (p <= p_high) {
    const double q = p - 0.5;
    const double r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
  } else {
    const double q = std::sqrt(-2.0 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  }

  // ... refined by one step of Halley's method on Phi(x) - p.
  const double e = 0.5 * std::erfc(-x / std::numbers::sqrt2) - p;
  const double u = e * std::sqrt(2.0 * std::numbers::pi) * std::exp(0.5 * x * x);
  x = x - u / (1.0 + 0.5 * x * u);
  return x;
}

double lognormal_sigma_from_mean_and_percentile(double mean, double q_percent, double value) {
  const std::string d = "lognormal";
  require_positive(d, "mean", mean);
  const std::string pname = percentile_name(q_percent);
  if (!std::isfinite(q_percent) || !(q_percent > 50.0 && q_percent < 100.0)) {
    fail(fmt::format("lognormal: percentile {} must lie strictly between 50 and 100", q_percent));
  }
  if (!std::isfinite(value)) fail(fmt::format("lognormal: {} ({}) must be a finite number", pname, value));
  if (!(value > mean)) {
    fail(fmt::format("lognormal: {} ({}) must be greater than mean ({})", pname, value, mean));
  }
  // mean = exp(mu + sigma^2/2) and value = exp(mu + z sigma) give
  // sigma^2/2 - z sigma + ln(value/mean) = 0; the smaller root is the one that reaches the mean.
  const double z = normal_quantile(q_percent / 100.0);
  const double log_ratio = std::log(value / mean);
  const double discriminant = z * z - 2.0 * log_ratio;
  if (discriminant < 0.0) {
    fail(fmt::format(
        "lognormal: {} ({}) is too far above mean ({}): no lognormal has both "
        "(the {} can be at most {:.6g})",
        pname, value, mean, pname, mean * std::exp(0.5 * z * z)));
  }
  return z - std::sqrt(discriminant);
}

std::unique_ptr<LengthDistribution> make_distribution(const DistributionSpec& spec) {
  const std::string& d = spec.dist;
  std::unique_ptr<LengthDistribution> dist;
  if (d == "fixed") {
    require_finite(d, "value", spec.value);
    if (spec.value < 0.0) fail(fmt::format("fixed: value ({}) must not be negative", spec.value));
    dist = std::make_unique<FixedDistribution>(spec.value);
  } else if (d == "uniform") {
    require_integer(d, "low", spec.low);
    require_integer(d, "high", spec.high);
    if (spec.low < 0.0) fail(fmt::format("uniform: low ({}) must not be negative", spec.low));
    if (spec.low > spec.high) {
      fail(fmt::format("uniform: low ({}) must not exceed high ({})", spec.low, spec.high));
    }
    dist = std::make_unique<UniformDistribution>(spec.low, spec.high);
  } else if (d == "exponential") {
    require_positive(d, "mean", spec.mean);
    dist = std::make_unique<ExponentialDistribution>(spec.mean);
  } else if (d == "lognormal") {
    dist = make_lognormal(spec);
  } else if (d == "normal") {
    require_positive(d, "mean", spec.mean);
    require_positive(d, "stddev", spec.stddev);
    dist = std::make_unique<TruncatedNormalDistribution>(spec.mean, spec.stddev);
  } else if (d == "geometric") {
    require_finite(d, "mean", spec.mean);
    if (!(spec.mean >= 1.0)) fail(fmt::format("geometric: mean ({}) must be at least 1", spec.mean));
    dist = std::make_unique<GeometricDistribution>(spec.mean);
  } else if (d == "empirical") {
    if (spec.trace.empty()) fail("empirical: trace (the file to draw lengths from) is missing");
    if (spec.column != "prompt" && spec.column != "output")
      fail(fmt::format("empirical: column ('{}') must be prompt or output", spec.column));
    try {
      dist = std::make_unique<EmpiricalDistribution>(load_length_pairs(spec.trace, spec.trace_format),
                                                     spec.column == "prompt");
    } catch (const std::runtime_error& e) {
      fail(fmt::format("empirical: trace: {}", e.what()));
    }
  } else {
    fail(fmt::format("unknown dist '{}' (expected fixed, uniform, normal, exponential, geometric, lognormal, "
                     "empirical)", d));
  }
  if (std::isnan(spec.min) || std::isnan(spec.max)) {
    fail(fmt::format("{}: min ({}) and max ({}) must be numbers", d, spec.min, spec.max));
  }
  if (spec.min > spec.max) {
    fail(fmt::format("{}: min ({}) must not exceed max ({})", d, spec.min, spec.max));
  }
  dist->min = spec.min;
  dist->max = spec.max;
  return dist;
}

}  // namespace tf
