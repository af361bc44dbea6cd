// Arrival processes and the request generator.
#include <catch2/catch.hpp>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "workloads/arrival.hpp"
#include "workloads/generator.hpp"
#include "workloads/random.hpp"

using Catch::Matchers::Contains;

namespace {

tf::WorkloadSpec basic_workload(double rate_per_s) {
  tf::WorkloadSpec w;
  w.arrival.process = "poisson";
  w.arrival.rate_per_s = rate_per_s;
  w.prompt_tokens.dist = "lognormal";
  w.prompt_tokens.mean = 1000;
  w.prompt_tokens.percentile = 99;
  w.prompt_tokens.percentile_value = 6000;
  w.output_tokens.dist = "exponential";
  w.output_tokens.mean = 200;
  return w;
}

std::vector<tf::Request> generate_all(const tf::WorkloadSpec& w, std::uint64_t seed,
                                      double duration_s) {
  tf::RequestGenerator gen(w, seed, duration_s);
  std::vector<tf::Request> out;
  while (auto r = gen.next()) out.push_back(*r);
  return out;
}

}  // namespace

TEST_CASE("poisson arrival count in a window matches the rate within 4 sigma",
          "[arrivals][poisson]") {
  const double rate = 50.0, window_s = 1000.0;
  auto p = tf::make_arrival_process({"poisson", rate});
  tf::Rng rng = tf::make_stream(17, 1);
  long long count = 0;
  for (double t = p->next_arrival_s(0.0, rng); t < window_s; t = p->next_arrival_s(t, rng)) ++count;
  const double expected = rate * window_s;
  CHECK(std::abs(double(count) - expected) < 4.0 * std::sqrt(expected));
}

TEST_CASE("poisson gaps have mean 1/rate and coefficient of variation near 1",
          "[arrivals][poisson]") {
  const double rate = 8.0;
  const int n = 100000;
  auto p = tf::make_arrival_process({"poisson", rate});
  tf::Rng rng = tf::make_stream(5, 1);
  double t = 0.0, sum = 0.0, sum_sq = 0.0;
  for (int i = 0; i < n; ++i) {
    const double next = p->next_arrival_s(t, rng);
    const double gap = next - t;
    sum += gap;
    sum_sq += gap * gap;
    t = next;
  }
  const double mean = sum / n;
  const double sd = std::sqrt(sum_sq / n - mean * mean);
  CHECK(std::abs(mean - 1.0 / rate) < 4.0 * (1.0 / rate) / std::sqrt(double(n)));
  CHECK(sd / mean == Approx(1.0).margin(0.03));
}

TEST_CASE("the next arrival is strictly after now", "[arrivals][poisson]") {
  auto p = tf::make_arrival_process({"poisson", 1e12});  // gaps far below a large clock's resolution
  tf::Rng rng = tf::make_stream(1, 1);
  double t = 1e9;
  for (int i = 0; i < 1000; ++i) {
    const double next = p->next_arrival_s(t, rng);
    REQUIRE(next > t);
    t = next;
  }
}

TEST_CASE("invalid arrival specs throw naming the field", "[arrivals][errors]") {
  CHECK_THROWS_AS(tf::make_arrival_process({"x", 1.0}), std::invalid_argument);
  CHECK_THROWS_WITH(tf::make_arrival_process({"x", 1.0}),
                    Contains("unknown arrival process 'x' (expected poisson, gamma, diurnal)"));
  CHECK_THROWS_WITH(tf::make_arrival_process({"poisson", 0.0}), Contains("rate_per_s (0)"));
  CHECK_THROWS_WITH(tf::make_arrival_process({"poisson", -2.0}), Contains("rate_per_s (-2)"));
  CHECK_THROWS_WITH(tf::make_arrival_process({"poisson", std::nan("")}), Contains("rate_per_s"));
}

TEST_CASE("generator stops before duration_s with consecutive ids in arrival order",
          "[arrivals][generator]") {
  const double duration_s = 200.0, rate = 5.0;
  tf::RequestGenerator gen(basic_workload(rate), 99, duration_s);
  std::vector<tf::Request> reqs;
  while (auto r = gen.next()) reqs.push_back(*r);
  // Once exhausted it stays exhausted.
  CHECK_FALSE(gen.next().has_value());
  CHECK_FALSE(gen.next().has_value());

  REQUIRE_FALSE(reqs.empty());
  const double expected = rate * duration_s;
  CHECK(std::abs(double(reqs.size()) - expected) < 4.0 * std::sqrt(expected));
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    CHECK(reqs[i].id == i);
    CHECK(reqs[i].arrival_s >= 0.0);
    CHECK(reqs[i].arrival_s < duration_s);
    if (i > 0) CHECK(reqs[i].arrival_s > reqs[i - 1].arrival_s);
    CHECK(reqs[i].prompt_tokens >= 1);
    CHECK(reqs[i].output_tokens >= 1);
  }
}

TEST_CASE("generator with zero duration gives nothing", "[arrivals][generator]") {
  tf::RequestGenerator gen(basic_workload(100.0), 1, 0.0);
  CHECK_FALSE(gen.next().has_value());
}

TEST_CASE("generator enforces at least one prompt and one output token", "[arrivals][generator]") {
  auto w = basic_workload(10.0);
  w.prompt_tokens = {};
  w.prompt_tokens.dist = "fixed";
  w.prompt_tokens.value = 0;
  w.prompt_tokens.min = 0;
  w.output_tokens = w.prompt_tokens;
  auto reqs = generate_all(w, 3, 10.0);
  REQUIRE_FALSE(reqs.empty());
  for (const auto& r : reqs) {
    CHECK(r.prompt_tokens == 1);
    CHECK(r.output_tokens == 1);
  }
}

TEST_CASE("generator: the same seed gives identical requests - another seed different ones",
          "[arrivals][generator][determinism]") {
  const auto w = basic_workload(20.0);
  const auto a = generate_all(w, 7, 50.0), b = generate_all(w, 7, 50.0), c = generate_all(w, 8, 50.0);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].arrival_s == b[i].arrival_s);
    CHECK(a[i].prompt_tokens == b[i].prompt_tokens);
    CHECK(a[i].output_tokens == b[i].output_tokens);
  }
  bool differs = a.size() != c.size();
  for (std::size_t i = 0; !differs && i < a.size(); ++i) differs = a[i].arrival_s != c[i].arrival_s;
  CHECK(differs);
}

TEST_CASE("generator streams are independent: changing one distribution leaves the others",
          "[arrivals][generator][streams]") {
  const auto base = basic_workload(20.0);
  auto other_output = base;
  other_output.output_tokens = {};
  other_output.output_tokens.dist = "uniform";
  other_output.output_tokens.low = 1;
  other_output.output_tokens.high = 4000;
  auto other_prompt = base;
  other_prompt.prompt_tokens = {};
  other_prompt.prompt_tokens.dist = "fixed";
  other_prompt.prompt_tokens.value = 128;

  const auto a = generate_all(base, 2024, 100.0);
  const auto b = generate_all(other_output, 2024, 100.0);
  const auto c = generate_all(other_prompt, 2024, 100.0);
  REQUIRE(a.size() == b.size());
  REQUIRE(a.size() == c.size());
  bool output_changed = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].arrival_s == b[i].arrival_s);
    CHECK(a[i].prompt_tokens == b[i].prompt_tokens);
    output_changed = output_changed || a[i].output_tokens != b[i].output_tokens;
    CHECK(a[i].arrival_s == c[i].arrival_s);
    CHECK(a[i].output_tokens == c[i].output_tokens);
    CHECK(c[i].prompt_tokens == 128);
  }
  CHECK(output_changed);
}

TEST_CASE("generator rejects invalid specs", "[arrivals][generator][errors]") {
  auto w = basic_workload(1.0);
  w.arrival.process = "gamma2";
  CHECK_THROWS_WITH(tf::RequestGenerator(w, 1, 10.0), Contains("unknown arrival process 'gamma2'"));
  w = basic_workload(1.0);
  w.output_tokens.dist = "foo";
  CHECK_THROWS_WITH(tf::RequestGenerator(w, 1, 10.0), Contains("unknown dist 'foo'"));
  CHECK_THROWS_WITH(tf::RequestGenerator(basic_workload(1.0), 1, -5.0), Contains("duration_s (-5)"));
}

TEST_CASE("priority shares give each class its share of the requests and leave the requests as they were",
          "[workload][priority]") {
  tf::WorkloadSpec plain = basic_workload(50.0);
  tf::WorkloadSpec classed = plain;
  classed.priority_shares = {0.2, 0.5, 0.3};
  const auto a = generate_all(plain, 9, 400.0);
  const auto b = generate_all(classed, 9, 400.0);
  REQUIRE(a.size() == b.size());
  REQUIRE(a.size() > 15000);
  std::vector<double> count(3, 0.0);
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].priority == 0);
    // The classes come from a stream of their own: arrivals and lengths are the same draws as without them.
    REQUIRE(b[i].arrival_s == a[i].arrival_s);
    REQUIRE(b[i].prompt_tokens == a[i].prompt_tokens);
    REQUIRE(b[i].output_tokens == a[i].output_tokens);
    REQUIRE(b[i].priority >= 0);
    REQUIRE(b[i].priority <= 2);
    count[static_cast<std::size_t>(b[i].priority)] += 1.0;
  }
  const double n = static_cast<double>(a.size());
  for (std::size_t c = 0; c < 3; ++c) {
    const double p = classed.priority_shares[c];
    const double sigma = std::sqrt(p * (1.0 - p) / n);
    INFO("class " << c << ": " << count[c] / n << " of the requests, share " << p);
    CHECK(std::abs(count[c] / n - p) < 4.0 * sigma);  // a binomial share within 4 sigma
  }
}
