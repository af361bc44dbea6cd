// Token-length distributions and the normal quantile.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <set>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "workloads/distribution.hpp"
#include "workloads/random.hpp"

using Catch::Matchers::Contains;
using tf::DistributionSpec;

namespace {

constexpr int kDraws = 100000;

struct Moments {
  double mean = 0.0;
  double stddev = 0.0;
};

Moments moments(const std::vector<double>& xs) {
  double sum = 0.0;
  for (double x : xs) sum += x;
  const double mean = sum / static_cast<double>(xs.size());
  double ss = 0.0;
  for (double x : xs) ss += (x - mean) * (x - mean);
  return {mean, std::sqrt(ss / static_cast<double>(xs.size() - 1))};
}

std::vector<double> draw_real(const tf::LengthDistribution& d, std::uint64_t seed, int n = kDraws) {
  tf::Rng rng = tf::make_stream(seed, 7);
  std::vector<double> xs(static_cast<std::size_t>(n));
  for (auto& x : xs) x = d.sample_real(rng);
  return xs;
}

std::vector<double> draw_int(const tf::LengthDistribution& d, std::uint64_t seed, int n = kDraws) {
  tf::Rng rng = tf::make_stream(seed, 7);
  std::vector<double> xs(static_cast<std::size_t>(n));
  for (auto& x : xs) x = static_cast<double>(d.sample(rng));
  return xs;
}

// The empirical q-quantile (q in (0,1)) of xs.
double empirical_quantile(std::vector<double> xs, double q) {
  const auto k = static_cast<std::size_t>(q * static_cast<double>(xs.size()));
  std::nth_element(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(k), xs.end());
  return xs[k];
}

DistributionSpec lognormal_mean_p99(double mean, double p99) {
  DistributionSpec s;
  s.dist = "lognormal";
  s.mean = mean;
  s.percentile = 99;
  s.percentile_value = p99;
  return s;
}

}  // namespace

TEST_CASE("normal_quantile matches known values", "[distributions][normal_quantile]") {
  CHECK(tf::normal_quantile(0.5) == Approx(0.0).margin(1e-12));
  CHECK(tf::normal_quantile(0.975) == Approx(1.959963985).margin(1e-9));
  CHECK(tf::normal_quantile(0.99) == Approx(2.326347874).margin(1e-9));
  CHECK(tf::normal_quantile(0.025) == Approx(-1.959963985).margin(1e-9));
  CHECK(tf::normal_quantile(0.8413447460685429) == Approx(1.0).margin(1e-9));
  CHECK(tf::normal_quantile(0.001) == Approx(-3.090232306167813).margin(1e-9));
  CHECK(tf::normal_quantile(1e-10) == Approx(-6.361340902404056).margin(1e-8));
  CHECK(tf::normal_quantile(1.0 - 1e-6) == Approx(4.753424308817087).margin(1e-7));
  // Symmetric around one half.
  for (double p : {0.01, 0.02425, 0.1, 0.3, 0.49}) {
    CHECK(tf::normal_quantile(p) == Approx(-tf::normal_quantile(1.0 - p)).margin(1e-9));
  }
}

TEST_CASE("fixed distribution always gives its value", "[distributions][fixed]") {
  DistributionSpec s;
  s.dist = "fixed";
  s.value = 512;
  auto d = tf::make_distribution(s);
  CHECK(d->mean() == 512.0);
  tf::Rng rng = tf::make_stream(1, 1);
  for (int i = 0; i < 100; ++i) CHECK(d->sample(rng) == 512);
}

TEST_CASE("uniform distribution covers low..high inclusive with the right mean",
          "[distributions][uniform]") {
  DistributionSpec s;
  s.dist = "uniform";
  s.low = 10;
  s.high = 20;
  auto d = tf::make_distribution(s);
  CHECK(d->mean() == Approx(15.0));

  auto xs = draw_int(*d, 42);
  std::set<double> seen(xs.begin(), xs.end());
  CHECK(seen.size() == 11);
  CHECK(*seen.begin() == 10.0);
  CHECK(*seen.rbegin() == 20.0);

  const double n = 11.0;
  const double sd = std::sqrt((n * n - 1.0) / 12.0);
  const auto m = moments(xs);
  CHECK(std::abs(m.mean - 15.0) < 4.0 * sd / std::sqrt(double(kDraws)));
  CHECK(m.stddev == Approx(sd).epsilon(0.02));
}

TEST_CASE("exponential distribution has the requested mean", "[distributions][exponential]") {
  DistributionSpec s;
  s.dist = "exponential";
  s.mean = 250;
  auto d = tf::make_distribution(s);
  CHECK(d->mean() == 250.0);
  const auto m = moments(draw_real(*d, 3));
  CHECK(std::abs(m.mean - 250.0) < 4.0 * 250.0 / std::sqrt(double(kDraws)));
  CHECK(m.stddev == Approx(250.0).epsilon(0.03));  // an exponential's sd equals its mean
}

TEST_CASE("lognormal by mean and p99 reproduces both empirically", "[distributions][lognormal]") {
  auto d = tf::make_distribution(lognormal_mean_p99(1000, 6000));
  CHECK(d->mean() == Approx(1000.0).epsilon(1e-12));

  auto xs = draw_real(*d, 11, 400000);
  const auto m = moments(xs);
  CHECK(m.mean == Approx(1000.0).epsilon(0.02));
  CHECK(empirical_quantile(xs, 0.99) == Approx(6000.0).epsilon(0.03));
}

TEST_CASE("lognormal sigma from mean and percentile solves both equations",
          "[distributions][lognormal]") {
  for (auto [mean, q, value] : {std::tuple{1000.0, 99.0, 6000.0}, std::tuple{200.0, 95.0, 500.0},
                                std::tuple{50.0, 99.9, 400.0}}) {
    const double sigma = tf::lognormal_sigma_from_mean_and_percentile(mean, q, value);
    REQUIRE(sigma > 0.0);
    const double mu = std::log(mean) - 0.5 * sigma * sigma;
    CHECK(std::exp(mu + tf::normal_quantile(q / 100.0) * sigma) == Approx(value).epsilon(1e-9));
  }
  // The smaller root: for mean=1000, p99=6000, sigma is about 0.974, not about 3.68.
  CHECK(tf::lognormal_sigma_from_mean_and_percentile(1000, 99, 6000) ==
        Approx(0.9738).epsilon(1e-3));
}

TEST_CASE("lognormal by mu and sigma has mean exp(mu + sigma^2/2)", "[distributions][lognormal]") {
  DistributionSpec s;
  s.dist = "lognormal";
  s.has_mu_sigma = true;
  s.mu = 5.0;
  s.sigma = 0.8;
  auto d = tf::make_distribution(s);
  const double expected = std::exp(5.0 + 0.5 * 0.8 * 0.8);
  CHECK(d->mean() == Approx(expected).epsilon(1e-12));

  const auto m = moments(draw_real(*d, 5));
  const double sd = expected * std::sqrt(std::exp(0.8 * 0.8) - 1.0);
  CHECK(std::abs(m.mean - expected) < 4.0 * sd / std::sqrt(double(kDraws)));
  // The median of a lognormal is exp(mu).
  CHECK(empirical_quantile(draw_real(*d, 6), 0.5) == Approx(std::exp(5.0)).epsilon(0.02));
}

TEST_CASE("samples are rounded to the nearest integer and clamped to min and max",
          "[distributions][clamp]") {
  tf::Rng rng = tf::make_stream(9, 1);

  DistributionSpec fixed;
  fixed.dist = "fixed";
  fixed.value = 2.4;
  CHECK(tf::make_distribution(fixed)->sample(rng) == 2);
  fixed.value = 2.6;
  CHECK(tf::make_distribution(fixed)->sample(rng) == 3);
  fixed.value = 0;  // below the default min of 1
  CHECK(tf::make_distribution(fixed)->sample(rng) == 1);
  fixed.value = 5000;
  fixed.max = 4096;
  CHECK(tf::make_distribution(fixed)->sample(rng) == 4096);

  DistributionSpec expo;
  expo.dist = "exponential";
  expo.mean = 100;
  expo.min = 20;
  expo.max = 150;
  auto d = tf::make_distribution(expo);
  CHECK(d->min == 20.0);
  CHECK(d->max == 150.0);
  bool hit_min = false, hit_max = false;
  for (int i = 0; i < 10000; ++i) {
    const long long x = d->sample(rng);
    REQUIRE(x >= 20);
    REQUIRE(x <= 150);
    hit_min = hit_min || x == 20;
    hit_max = hit_max || x == 150;
  }
  CHECK(hit_min);
  CHECK(hit_max);
}

TEST_CASE("invalid distribution specs throw naming the field", "[distributions][errors]") {
  DistributionSpec s;

  s = lognormal_mean_p99(1000, 800);
  CHECK_THROWS_AS(tf::make_distribution(s), std::invalid_argument);
  CHECK_THROWS_WITH(tf::make_distribution(s),
                    Contains("lognormal: p99 (800) must be greater than mean (1000)"));

  s = lognormal_mean_p99(1000, 1000);
  CHECK_THROWS_WITH(tf::make_distribution(s), Contains("p99 (1000) must be greater than mean"));

  s = lognormal_mean_p99(1000, 1e6);  // ln(1000) > z_99^2 / 2: no lognormal fits
  CHECK_THROWS_WITH(tf::make_distribution(s), Contains("p99 (1000000) is too far above mean (1000)"));

  s = lognormal_mean_p99(0, 6000);
  CHECK_THROWS_WITH(tf::make_distribution(s), Contains("lognormal: mean (0) must be positive"));

  s = lognormal_mean_p99(1000, 6000);
  s.percentile = 30;
  CHECK_THROWS_WITH(tf::make_distribution(s), Contains("percentile 30"));

  s = DistributionSpec{};
  s.dist = "lognormal";
  CHECK_THROWS_WITH(tf::make_distribution(s), Contains("mu and sigma"));

  s.has_mu_sigma = true;
  s.mu = 5;
  s.sigma = -1;
  CHECK_THROWS_WITH(tf::make_distribution(s), Contains("lognormal: sigma (-1) must be positive"));

  s = DistributionSpec{};
  s.dist = "uniform";
  s.low = 10;
  s.high = 5;
  CHECK_THROWS_WITH(tf::make_distribution(s), Contains("uniform: low (10) must not exceed high (5)"));

  s.low = 1.5;
  s.high = 5;
  CHECK_THROWS_WITH(tf::make_distribution(s), Contains("low (1.5) must be an integer"));

  s = DistributionSpec{};
  s.dist = "exponential";
  s.mean = -3;
  CHECK_THROWS_WITH(tf::make_distribution(s), Contains("exponential: mean (-3) must be positive"));

  s = DistributionSpec{};
  s.dist = "fixed";
  s.value = 100;
  s.min = 5;
  s.max = 2;
  CHECK_THROWS_WITH(tf::make_distribution(s), Contains("min (5) must not exceed max (2)"));

  s = DistributionSpec{};
  s.dist = "foo";
  CHECK_THROWS_WITH(tf::make_distribution(s),
                    Contains("unknown dist 'foo' (expected fixed, uniform, normal, exponential, geometric, lognormal, empirical)"));
}

TEST_CASE("the same seed gives the same sequence - another seed another",
          "[distributions][determinism]") {
  auto d = tf::make_distribution(lognormal_mean_p99(1000, 6000));
  auto draw = [&](std::uint64_t seed) {
    tf::Rng rng = tf::make_stream(seed, 2);
    std::vector<long long> xs;
    for (int i = 0; i < 1000; ++i) xs.push_back(d->sample(rng));
    return xs;
  };
  CHECK(draw(1234) == draw(1234));
  CHECK(draw(1234) != draw(1235));

  // Different stream numbers under one seed are different streams.
  tf::Rng a = tf::make_stream(1234, 1), b = tf::make_stream(1234, 2);
  CHECK(tf::uniform01(a) != tf::uniform01(b));
}
