// Daily curves, diurnal arrivals, gamma, spikes and Markov-modulated bursts, against independent truths:
// the curve's own closed form (von Mises bumps with std::cyl_bessel_i), the hourly table's weights and the
// ServeGen rate files read here with a parser of the test's own.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "workloads/arrival.hpp"
#include "workloads/curve.hpp"
#include "workloads/random.hpp"

using Catch::Matchers::Contains;

namespace {

// Arrival counts per hour over [0, hours * 3600).
std::vector<double> hourly_counts(const tf::ArrivalSpec& spec, int hours, std::uint64_t seed) {
  auto p = tf::make_arrival_process(spec);
  tf::Rng rng = tf::make_stream(seed, 1);
  std::vector<double> counts(static_cast<std::size_t>(hours), 0.0);
  const double end = hours * 3600.0;
  for (double t = p->next_arrival_s(0.0, rng); t < end; t = p->next_arrival_s(t, rng))
    counts[static_cast<std::size_t>(t / 3600.0)] += 1.0;
  return counts;
}

// Every hour within 4 standard deviations of its Poisson expectation, and the chi-square statistic over all
// hours below the 99.99th percentile of its distribution (normal approximation: df + 3.72 sqrt(2 df)).
void check_against(const std::vector<double>& observed, const std::vector<double>& expected) {
  REQUIRE(observed.size() == expected.size());
  double chi2 = 0.0;
  for (std::size_t h = 0; h < observed.size(); ++h) {
    INFO("hour " << h << ": observed " << observed[h] << ", expected " << expected[h]);
    CHECK(std::abs(observed[h] - expected[h]) < 4.0 * std::sqrt(expected[h]));
    chi2 += (observed[h] - expected[h]) * (observed[h] - expected[h]) / expected[h];
  }
  const double df = static_cast<double>(observed.size());
  INFO("chi-square " << chi2 << " with " << df << " bins");
  CHECK(chi2 < df + 3.72 * std::sqrt(2.0 * df));
}

struct RateRow {
  double start_s, rate;
};
std::vector<RateRow> read_rates(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  std::vector<RateRow> rows;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string a, b;
    std::getline(l, a, ',');
    std::getline(l, b, ',');
    rows.push_back({std::stod(a), std::stod(b)});
  }
  return rows;
}

}  // namespace

TEST_CASE("parametric curve: per-hour counts follow exp(kappa cos) with kappa from the peak-to-trough ratio",
          "[diurnal][parametric]") {
  tf::ArrivalSpec spec;
  spec.process = "diurnal";
  spec.rate_per_s = 20.0;
  spec.curve.kind = "parametric";
  spec.curve.peak_to_trough = 3.0;
  spec.curve.peak_hour = 20.0;
  // By hand: peak/trough = exp(2 kappa), mean of exp(kappa cos) over a period = I0(kappa).
  const double kappa = std::log(3.0) / 2.0;
  CHECK(tf::parametric_kappa(spec.curve) == Approx(kappa).epsilon(1e-6));
  auto rate = [&](double t) {
    return 20.0 * std::exp(kappa * std::cos(2.0 * std::numbers::pi * (t / 3600.0 - 20.0) / 24.0)) /
           std::cyl_bessel_i(0.0, kappa);
  };
  std::vector<double> expected(24);
  for (int h = 0; h < 24; ++h) {  // Simpson's rule, 1-second steps
    double sum = 0.0;
    const int n = 3600;
    for (int i = 0; i <= n; ++i) sum += (i == 0 || i == n ? 1.0 : (i % 2 ? 4.0 : 2.0)) * rate(h * 3600.0 + i);
    expected[static_cast<std::size_t>(h)] = sum / 3.0;
  }
  check_against(hourly_counts(spec, 24, 11), expected);
}

TEST_CASE("parametric curve: peak-to-mean and a second peak", "[diurnal][parametric]") {
  tf::RateCurveSpec c;
  c.kind = "parametric";
  c.mean_rate_per_s = 5.0;
  c.peak_to_mean = 1.8;
  c.peak_hour = 14.0;
  c.second_peak_hour = 2.0;
  c.second_peak_ratio = 0.5;
  const auto curve = tf::make_rate_curve(c);
  double mx = 0.0, sum = 0.0, at_peak = curve->rate(14 * 3600.0), at_second = curve->rate(2 * 3600.0);
  const int n = 86400;
  for (int i = 0; i < n; ++i) {
    mx = std::max(mx, curve->rate(i));
    sum += curve->rate(i);
  }
  CHECK(sum / n == Approx(5.0).epsilon(1e-6));
  CHECK(mx / (sum / n) == Approx(1.8).epsilon(1e-4));
  CHECK(at_peak == Approx(mx).epsilon(1e-3));
  CHECK(at_second > curve->rate(8 * 3600.0));  // a local peak at 02:00 above the trough between the peaks
  CHECK(at_second < at_peak);
  // The thinning bound is an upper bound everywhere.
  for (int i = 0; i < n; i += 7) CHECK(curve->max_rate(i, i + 900.0) >= curve->rate(i + 450.0));
}

TEST_CASE("hourly table: per-hour counts follow the weights", "[diurnal][hourly]") {
  const std::vector<double> w = {3, 2, 1.5, 1, 1, 1, 2, 4, 6, 8, 9, 9.5, 10, 9, 8, 8, 9, 10, 12, 14, 13, 10, 7, 5};
  tf::ArrivalSpec spec;
  spec.process = "diurnal";
  spec.rate_per_s = 10.0;
  spec.curve.kind = "hourly";
  spec.curve.hourly = w;
  double total = 0.0;
  for (double x : w) total += x;
  std::vector<double> expected(24);
  for (std::size_t h = 0; h < 24; ++h) expected[h] = 10.0 * 3600.0 * w[h] / (total / 24.0);
  check_against(hourly_counts(spec, 24, 3), expected);
}

TEST_CASE("histospline: non-negative, continuous and each window's mean exact", "[diurnal][hourly]") {
  // Zeros next to large values: the interpolation must not undershoot.
  const std::vector<double> r = {0, 0, 5, 50, 1, 0, 20, 20, 3, 0, 0, 100};
  const auto c = tf::make_histospline(r, 600.0, 0.0);
  for (std::size_t k = 0; k < r.size(); ++k) {
    CHECK(c->integral(k * 600.0, (k + 1) * 600.0) == Approx(r[k] * 600.0).margin(1e-9));
    const double left = c->rate(k * 600.0 - 1e-7), right = c->rate(k * 600.0 + 1e-7);
    CHECK(std::abs(left - right) < 1e-4);
  }
  for (double t = 0; t < 7200.0; t += 0.5) {
    CHECK(c->rate(t) >= 0.0);
    CHECK(c->max_rate(t, t + 1.0) >= c->rate(t + 0.5));
  }
  CHECK(c->integral(0.0, 3 * 7200.0) == Approx(3 * 600.0 * 199.0));
}

TEST_CASE("rate file: per-hour counts follow a ServeGen day, scaled to a mean rate", "[diurnal][ratefile]") {
  for (const auto& [file, day] : {std::pair<std::string, int>{"servegen-deepseek-r1-rate.csv", 0},
                                  std::pair<std::string, int>{"servegen-m-large-rate.csv", 2}}) {
    const std::string path = tf::test::data_dir() + "/diurnal/" + file;
    INFO(path);
    const auto rows = read_rates(path);
    REQUIRE(rows.size() >= static_cast<std::size_t>(144 * (day + 1)));
    double mean = 0.0;
    for (int i = 0; i < 144; ++i) mean += rows[static_cast<std::size_t>(day * 144 + i)].rate / 144.0;
    const double target = 15.0;
    std::vector<double> expected(24, 0.0);
    for (int i = 0; i < 144; ++i)
      expected[static_cast<std::size_t>(i / 6)] += rows[static_cast<std::size_t>(day * 144 + i)].rate * target / mean * 600.0;
    tf::ArrivalSpec spec;
    spec.process = "diurnal";
    spec.rate_per_s = target;
    spec.curve.kind = "file";
    spec.curve.path = path;
    spec.curve.first_day = day;
    check_against(hourly_counts(spec, 24, 5), expected);
  }
}

TEST_CASE("rate file: zero-rate gap windows are filled from the same window of the other days", "[diurnal][ratefile]") {
  const std::string path = tf::test::data_dir() + "/diurnal/servegen-m-mid-rate.csv";
  const auto rows = read_rates(path);
  const int day = 3;
  tf::RateCurveSpec c;
  c.kind = "file";
  c.path = path;
  c.first_day = day;
  c.mean_rate_per_s = 0.0;  // the file's own rates
  const auto curve = tf::make_rate_curve(c);
  const auto zero = tf::make_rate_curve([&] { auto z = c; z.gaps = "zero"; return z; }());
  int gaps = 0;
  for (int i = 0; i < 144; ++i) {
    const double own = rows[static_cast<std::size_t>(day * 144 + i)].rate;
    double expected = own;
    if (own == 0.0) {
      ++gaps;
      double sum = 0.0;
      int n = 0;
      for (std::size_t d = 0; d < rows.size() / 144; ++d)
        if (rows[d * 144 + static_cast<std::size_t>(i)].rate > 0) sum += rows[d * 144 + static_cast<std::size_t>(i)].rate, ++n;
      expected = sum / n;
      CHECK(zero->integral(i * 600.0, (i + 1) * 600.0) == Approx(0.0).margin(1e-9));
    }
    CHECK(curve->integral(i * 600.0, (i + 1) * 600.0) == Approx(expected * 600.0).epsilon(1e-9));
  }
  CHECK(gaps > 10);  // the file's known gap near day 3.6
}

TEST_CASE("rate file errors name the file and line", "[diurnal][ratefile][errors]") {
  const std::string dir = tf::test::temp_dir("ratefile");
  tf::test::write_file(dir + "/bad.csv", "window_start_s,total_rate_rps\n0,1\n600,x\n");
  CHECK_THROWS_WITH(tf::read_rate_file(dir + "/bad.csv"), Contains("bad.csv:3: total_rate_rps") && Contains("'x'"));
  tf::test::write_file(dir + "/uneven.csv", "window_start_s,total_rate_rps\n0,1\n600,1\n1300,1\n");
  CHECK_THROWS_WITH(tf::read_rate_file(dir + "/uneven.csv"), Contains("uneven.csv:4: window_start_s"));
  CHECK_THROWS_WITH(tf::read_rate_file(dir + "/none.csv"), Contains("cannot open"));
  // Read as CSV: CRLF line ends and quoted fields are fine; a broken quote names its line and column.
  tf::test::write_file(dir + "/crlf.csv", "\"window_start_s\",total_rate_rps,\"note, with a comma\"\r\n0,1.5,\"a\"\r\n"
                                          "600,\"2.5\",\"b \"\"c\"\"\"\r\n");
  const auto rows = tf::read_rate_file(dir + "/crlf.csv");
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].start_s == 600.0);
  CHECK(rows[1].rate_per_s == 2.5);
  tf::test::write_file(dir + "/quote.csv", "window_start_s,total_rate_rps\n0,1\n600,\"2\"x\n");
  CHECK_THROWS_WITH(tf::read_rate_file(dir + "/quote.csv"), Contains("quote.csv:3: column 8: "));
  tf::RateCurveSpec c;
  c.kind = "file";
  c.path = tf::test::data_dir() + "/diurnal/servegen-deepseek-r1-rate.csv";
  c.first_day = 1;
  CHECK_THROWS_WITH(tf::make_rate_curve(c), Contains("first_day (1)"));
}

TEST_CASE("gamma arrivals: mean gap 1/rate and the requested coefficient of variation", "[arrivals][gamma]") {
  for (double cv : {0.5, 1.0, 2.0, 4.0}) {
    tf::ArrivalSpec spec;
    spec.process = "gamma";
    spec.rate_per_s = 4.0;
    spec.cv = cv;
    auto p = tf::make_arrival_process(spec);
    tf::Rng rng = tf::make_stream(9, 1);
    const int n = 400000;
    double t = 0.0, sum = 0.0, sum2 = 0.0;
    for (int i = 0; i < n; ++i) {
      const double next = p->next_arrival_s(t, rng);
      const double g = next - t;
      sum += g;
      sum2 += g * g;
      t = next;
    }
    const double mean = sum / n, sd = std::sqrt(sum2 / n - mean * mean);
    INFO("cv " << cv << ": mean gap " << mean << ", cv " << sd / mean);
    // Standard error of the mean gap: cv / rate / sqrt(n); of the sample cv, about cv sqrt((2 + 6 cv^2) / 4n).
    CHECK(std::abs(mean - 0.25) < 4.0 * cv * 0.25 / std::sqrt(n));
    CHECK(std::abs(sd / mean - cv) < 4.0 * cv * std::sqrt((2.0 + 6.0 * cv * cv) / (4.0 * n)) + 1e-3);
  }
}

TEST_CASE("gamma arrivals ride a daily curve: per-hour counts follow it", "[arrivals][gamma][diurnal]") {
  const std::vector<double> w = {1, 1, 1, 1, 1, 1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 2, 2, 1, 1};
  tf::ArrivalSpec spec;
  spec.process = "gamma";
  spec.cv = 0.5;  // smoother than Poisson: the counts vary less, so the Poisson bound holds
  spec.rate_per_s = 5.0;
  spec.curve.kind = "hourly";
  spec.curve.hourly = w;
  double total = 0.0;
  for (double x : w) total += x;
  std::vector<double> expected(24);
  for (std::size_t h = 0; h < 24; ++h) expected[h] = 5.0 * 3600.0 * w[h] / (total / 24.0);
  check_against(hourly_counts(spec, 24, 21), expected);
}

TEST_CASE("a spike multiplies the rate in its window and nowhere else", "[arrivals][spike]") {
  tf::ArrivalSpec spec;
  spec.process = "poisson";
  spec.rate_per_s = 10.0;
  spec.spikes = {{1000.0, 500.0, 4.0}};
  auto p = tf::make_arrival_process(spec);
  tf::Rng rng = tf::make_stream(2, 1);
  double before = 0, during = 0, after = 0;
  for (double t = p->next_arrival_s(0.0, rng); t < 3000.0; t = p->next_arrival_s(t, rng))
    (t < 1000.0 ? before : t < 1500.0 ? during : after) += 1.0;
  CHECK(std::abs(before - 10000.0) < 4.0 * std::sqrt(10000.0));
  CHECK(std::abs(during - 20000.0) < 4.0 * std::sqrt(20000.0));
  CHECK(std::abs(after - 15000.0) < 4.0 * std::sqrt(15000.0));
}

TEST_CASE("Markov-modulated bursts keep the mean rate and make counts overdispersed", "[arrivals][burst]") {
  tf::ArrivalSpec spec;
  spec.process = "poisson";
  spec.rate_per_s = 10.0;
  spec.burst = {4.0, 30.0, 300.0};
  auto p = tf::make_arrival_process(spec);
  tf::Rng rng = tf::make_stream(4, 1);
  const double T = 200000.0;
  std::vector<double> per_minute(static_cast<std::size_t>(T / 60.0) + 1, 0.0);
  double n = 0;
  for (double t = p->next_arrival_s(0.0, rng); t < T; t = p->next_arrival_s(t, rng)) {
    n += 1;
    per_minute[static_cast<std::size_t>(t / 60.0)] += 1;
  }
  // Normal rate c * 10 and burst rate 4 c * 10 with c = 330 / 420; in burst 30/330 of the time. The count's
  // variance over T is about T (mean + 2 (dl)^2 p0 p1 / (1/30 + 1/300)) for a two-state MMPP.
  const double c = 330.0 / 420.0, dl = 10.0 * c * 3.0, p1 = 30.0 / 330.0, p0 = 1.0 - p1;
  const double var = T * (10.0 + 2.0 * dl * dl * p0 * p1 / (1.0 / 30.0 + 1.0 / 300.0));
  CHECK(std::abs(n - 10.0 * T) < 4.0 * std::sqrt(var));
  per_minute.pop_back();
  double m = 0, m2 = 0;
  for (double x : per_minute) m += x, m2 += x * x;
  m /= per_minute.size();
  const double dispersion = (m2 / per_minute.size() - m * m) / m;
  CHECK(dispersion > 5.0);  // a Poisson process gives 1
}

TEST_CASE("invalid curves and processes throw naming the field", "[arrivals][diurnal][errors]") {
  tf::ArrivalSpec spec;
  spec.process = "diurnal";
  CHECK_THROWS_WITH(tf::make_arrival_process(spec), Contains("needs a daily curve"));
  spec.curve.kind = "hourly";
  spec.curve.hourly = std::vector<double>(23, 1.0);
  CHECK_THROWS_WITH(tf::make_arrival_process(spec), Contains("expected 24 weights"));
  spec.curve.hourly = std::vector<double>(24, 0.0);
  CHECK_THROWS_WITH(tf::make_arrival_process(spec), Contains("must not all be zero"));
  spec.curve.kind = "parametric";
  spec.curve.peak_to_mean = 40;
  CHECK_THROWS_WITH(tf::make_arrival_process(spec), Contains("peak_to_mean (40) is too large"));
  tf::ArrivalSpec g;
  g.process = "gamma";
  g.cv = 0;
  CHECK_THROWS_WITH(tf::make_arrival_process(g), Contains("cv (0)"));
  tf::ArrivalSpec s;
  s.spikes = {{10, -1, 2}};
  CHECK_THROWS_WITH(tf::make_arrival_process(s), Contains("duration_s of spike 1"));
}

// max_rate's shortcut where the curve is monotone (two evaluations instead of a 30-s grid) must give the grid's
// value to the bit, or every diurnal run's arrivals would change: checked against the grid computed here, on
// segments everywhere on the day (peaks, troughs, midnight), of every length the thinning uses and longer.
TEST_CASE("parametric curve: max_rate equals the 30-s grid's bound to the bit", "[diurnal][curve]") {
  struct Shape {
    double ratio, peak, second, second_ratio, start;
  };
  for (const Shape& sh : {Shape{1.6, 20.0, 12.5, 0.6, 0.0}, Shape{1.001, 14.0, -1.0, 0.0, 0.0},
                          Shape{8.0, 3.0, 15.0, 0.95, 5.5}, Shape{2.5, 23.9, -1.0, 0.0, 0.0},
                          Shape{1.8, 14.0, 2.0, 0.5, 0.0}}) {
    tf::RateCurveSpec c;
    c.kind = "parametric";
    c.mean_rate_per_s = 578.7;
    c.peak_to_mean = sh.ratio;
    c.peak_hour = sh.peak;
    c.second_peak_hour = sh.second;
    c.second_peak_ratio = sh.second_ratio;
    c.start_hour = sh.start;
    const auto curve = tf::make_rate_curve(c);
    const double kappa = tf::parametric_kappa(c);
    tf::Rng rng(7);
    int checked = 0;
    for (int k = 0; k < 40000; ++k) {
      const double a = tf::uniform01(rng) * 3.0 * 86400.0;
      const double u = tf::uniform01(rng);
      const double len = u < 0.1 ? u * 10.0 : u < 0.8 ? 900.0 * tf::uniform01(rng) : u < 0.95 ? 900.0 : 7200.0 * u;
      const double b = a + len;
      const double l = std::min(b - a, 86400.0);
      const int n = std::max(2, static_cast<int>(std::ceil(l / 30.0)) + 1);
      const double h = l / (n - 1);
      double mx = 0.0;
      for (int i = 0; i < n; ++i) mx = std::max(mx, curve->rate(a + h * i));
      const double expected = mx * std::exp(kappa * 2.0 * std::numbers::pi / 86400.0 * h * 0.5) * (1.0 + 1e-12);
      if (!(b > a)) continue;
      CHECK(curve->max_rate(a, b) == expected);
      ++checked;
    }
    CHECK(checked > 39000);
  }
}
