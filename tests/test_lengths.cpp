// Token-length distributions added for workloads: truncated normal, geometric, empirical (joint pairs from a trace).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numbers>
#include <sstream>
#include <tuple>
#include <vector>

#include "helpers.hpp"
#include "workloads/distribution.hpp"
#include "workloads/source.hpp"

using Catch::Matchers::Contains;

namespace {

double phi_cdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mx += x[i] / n, my += y[i] / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxy / std::sqrt(sxx * syy);
}

}  // namespace

TEST_CASE("normal truncated at zero: mean and a CDF point match the closed form", "[distributions][normal]") {
  tf::DistributionSpec s;
  s.dist = "normal";
  s.mean = 100;
  s.stddev = 80;
  s.min = 0;
  auto d = tf::make_distribution(s);
  // Closed form: mean = mu + sd phi(a) / (1 - Phi(a)), a = -mu / sd.
  const double a = -100.0 / 80.0;
  const double expected_mean = 100.0 + 80.0 * std::exp(-0.5 * a * a) / std::sqrt(2 * std::numbers::pi) / (1 - phi_cdf(a));
  CHECK(d->mean() == Approx(expected_mean).epsilon(1e-12));
  tf::Rng rng = tf::make_stream(3, 2);
  const int n = 200000;
  double sum = 0, below = 0, negative = 0;
  for (int i = 0; i < n; ++i) {
    const double x = d->sample_real(rng);
    sum += x;
    below += x <= 100.0;
    negative += x < 0.0;
  }
  CHECK(negative == 0);
  CHECK(std::abs(sum / n - expected_mean) < 4.0 * 80.0 / std::sqrt(n));
  const double p = (phi_cdf(0.0) - phi_cdf(a)) / (1.0 - phi_cdf(a));  // P(X <= mu | X >= 0)
  CHECK(std::abs(below / n - p) < 4.0 * std::sqrt(p * (1 - p) / n));
}

TEST_CASE("geometric lengths: mean and P(1) = 1 / mean", "[distributions][geometric]") {
  tf::DistributionSpec s;
  s.dist = "geometric";
  s.mean = 5;
  auto d = tf::make_distribution(s);
  tf::Rng rng = tf::make_stream(8, 2);
  const int n = 200000;
  double sum = 0, ones = 0, below_one = 0;
  for (int i = 0; i < n; ++i) {
    const long long k = d->sample(rng);
    sum += static_cast<double>(k);
    ones += k == 1;
    below_one += k < 1;
  }
  CHECK(below_one == 0);
  CHECK(std::abs(sum / n - 5.0) < 4.0 * std::sqrt(0.8) / 0.2 / std::sqrt(n));
  CHECK(std::abs(ones / n - 0.2) < 4.0 * std::sqrt(0.2 * 0.8 / n));
  s.mean = 0.5;
  CHECK_THROWS_WITH(tf::make_distribution(s), Contains("geometric: mean (0.5) must be at least 1"));
}

TEST_CASE("empirical lengths reproduce the trace's percentiles and keep the prompt-output correlation",
          "[distributions][empirical]") {
  const std::string path = tf::test::data_dir() + "/traces/azure-llm-2023-conv.csv";
  // The trace's own pairs, read here.
  std::vector<double> tp, to;
  {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::istringstream l(line);
      std::string ts, p, o;
      std::getline(l, ts, ',');
      std::getline(l, p, ',');
      std::getline(l, o, ',');
      tp.push_back(std::stod(p));
      to.push_back(std::stod(o));
    }
  }
  const double trace_corr = pearson(tp, to);

  tf::WorkloadSpec w;
  w.arrival.rate_per_s = 1000.0;
  w.prompt_tokens.dist = "empirical";
  w.prompt_tokens.trace = path;
  w.prompt_tokens.column = "prompt";
  w.output_tokens = w.prompt_tokens;
  w.output_tokens.column = "output";
  auto src = tf::make_workload_source(w, 5, 200.0);
  std::vector<double> sp, so;
  while (auto r = src->next()) sp.push_back(static_cast<double>(r->prompt_tokens)), so.push_back(static_cast<double>(r->output_tokens));
  const double n = static_cast<double>(sp.size());
  REQUIRE(n > 190000);

  // Percentiles: by the DKW inequality, the sample's CDF is within eps = sqrt(ln(2 / 1e-6) / 2n) of the trace's
  // everywhere with probability 1 - 1e-6, so the sample's q-quantile lies between the trace's (q - eps) and
  // (q + eps) quantiles.
  const double eps = std::sqrt(std::log(2.0 / 1e-6) / (2.0 * n));
  auto quantile = [](std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    const auto i = static_cast<std::size_t>(std::clamp(q, 0.0, 1.0) * static_cast<double>(v.size() - 1));
    return v[i];
  };
  for (const auto& [sample, trace, name] : {std::tuple{&sp, &tp, "prompt"}, std::tuple{&so, &to, "output"}}) {
    for (double q : {0.5, 0.9, 0.99}) {
      const double got = quantile(*sample, q);
      INFO(name << " p" << q * 100 << ": sample " << got << ", trace " << quantile(*trace, q));
      CHECK(got >= quantile(*trace, q - eps));
      CHECK(got <= quantile(*trace, q + eps));
    }
  }
  // Correlation: the sample's Pearson r estimates the trace's; its standard error is about (1 - r^2) / sqrt(n)
  // for normal data; heavy tails widen it, hence the bound of 0.03.
  INFO("trace correlation " << trace_corr << ", sample " << pearson(sp, so));
  CHECK(std::abs(pearson(sp, so) - trace_corr) < 0.03);
  CHECK(std::abs(trace_corr) > 0.1);  // there is a correlation to keep (negative in this trace)

  // Drawn separately (output from another distribution), the correlation is gone.
  w.output_tokens = tf::DistributionSpec{};
  w.output_tokens.dist = "exponential";
  w.output_tokens.mean = 200;
  auto indep = tf::make_workload_source(w, 5, 200.0);
  std::vector<double> ip, io;
  while (auto r = indep->next()) ip.push_back(static_cast<double>(r->prompt_tokens)), io.push_back(static_cast<double>(r->output_tokens));
  CHECK(std::abs(pearson(ip, io)) < 4.0 / std::sqrt(static_cast<double>(ip.size())));
}

TEST_CASE("empirical without a readable trace is an error naming it", "[distributions][empirical][errors]") {
  tf::DistributionSpec s;
  s.dist = "empirical";
  CHECK_THROWS_WITH(tf::make_distribution(s), Contains("empirical: trace"));
  s.trace = "/nonexistent/trace.csv";
  CHECK_THROWS_WITH(tf::make_distribution(s), Contains("/nonexistent/trace.csv") && Contains("cannot open"));
}
