// io/fixed.hpp: the fast "{:.9f}" text against fmt itself, on millions of random and edge values.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include <fmt/format.h>

#include "io/csv.hpp"
#include "io/fixed.hpp"

namespace {

std::size_t mismatches = 0;

void check(double x) {
  std::string got;
  tf::append_fixed9(got, x);
  const std::string want = fmt::format("{:.9f}", x);
  if (got != want) {
    ++mismatches;
    if (mismatches < 20) FAIL_CHECK(fmt::format("{:a}: got {} want {}", x, got, want));
  }
}

}  // namespace

TEST_CASE("fixed9 equals fmt's {:.9f} on edge values", "[fixed]") {
  mismatches = 0;
  const double inf = std::numeric_limits<double>::infinity();
  for (double x : {0.0, -0.0, 1.0, -1.0, 0.5e-9, 1.5e-9, 2.5e-9, 5e-10, 4.999999999e-10, 5.000000001e-10,
                   1.0 / 1024, 3.0 / 1024, 0.1, 0.2, 0.3, 1e-9, 1e-10, 1e-320, 4.9e-324, -4.9e-324, 999999999.9999999995,
                   8589934591.999999, 8589934592.0, 8589934593.5, 1e15, 1e300, -1e300, 1.7976931348623157e308, inf,
                   -inf, std::numeric_limits<double>::quiet_NaN(), 86400.0, 3600.000000000500,
                   0.0009765625, 123.4567890125, 1e-300})
    check(x);
  // Near every rounding boundary k/1e9 + 0.5e-9 for small and large k, and their neighbours.
  for (std::uint64_t k : {0ull, 1ull, 7ull, 123456789ull, 999999999ull, 1000000000ull, 3600000000000ull,
                          86400123456789ull, 8589934591000000000ull}) {
    const double b = (static_cast<double>(k) + 0.5) / 1e9;
    double x = b;
    for (int i = 0; i < 64; ++i) x = std::nextafter(x, 0.0);
    for (int i = 0; i < 128; ++i, x = std::nextafter(x, inf)) {
      check(x);
      check(-x);
    }
  }
  // Every odd multiple of 2^-10 up to 2^20 / 1024 (exact ties).
  for (int j = 1; j < (1 << 20); j += 2) check(j / 1024.0);
  CHECK(mismatches == 0);
}

TEST_CASE("fixed9 equals fmt's {:.9f} on 4 million random values", "[fixed]") {
  mismatches = 0;
  std::mt19937_64 rng(2026);
  std::uniform_real_distribution<double> times(0.0, 200000.0);
  std::uniform_real_distribution<double> small(0.0, 1e-3);
  std::uniform_int_distribution<std::uint64_t> ns(0, 100000000000000ull);
  std::size_t fast = 0;
  char buf[tf::kFixed9FastMax];
  for (int i = 0; i < 1000000; ++i) {
    std::uint64_t bits = rng();
    double any;
    std::memcpy(&any, &bits, sizeof any);
    check(any);  // any bit pattern: NaNs, infinities, huge and tiny values
    const double t = times(rng);
    check(t);
    check(small(rng));
    // Times that are whole nanoseconds and their differences, as a run's are.
    const double a = static_cast<double>(ns(rng)) / 1e9, b = static_cast<double>(ns(rng)) / 1e9;
    check(a - b);
    if (tf::fixed9_fast(t, buf) > 0) ++fast;
  }
  CHECK(mismatches == 0);
  CHECK(fast > 999000);  // the fast path takes (nearly) every time
}

TEST_CASE("CsvWriter::fixed9 writes the field fmt's {:.9f} does", "[fixed][csv]") {
  std::string a, b;
  tf::CsvWriter wa(a), wb(b);
  wa.fixed9(0.25).fixed9(-1.0 / 3).empty().end_row();
  wb.format("{:.9f}", 0.25).format("{:.9f}", -1.0 / 3).empty().end_row();
  CHECK(a == b);
  CHECK(a == "0.250000000,-0.333333333,\n");
}
