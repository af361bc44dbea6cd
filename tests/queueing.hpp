#pragma once
// Queueing formulas the tests check simulations against: Erlang C (M/M/c) and the tails of its waiting time.
#include <cmath>

namespace tf::test {

// Probability of waiting in M/M/c with offered load a = lambda / mu (Erlang C); a < c.
inline double erlang_c(int c, double a) {
  double sum = 0.0, term = 1.0;
  for (int k = 0; k < c; ++k) {
    if (k > 0) term *= a / k;
    sum += term;
  }
  const double last = term * a / c;  // a^c / c!
  const double rho = a / c;
  return last / (1.0 - rho) / (sum + last / (1.0 - rho));
}

// p99 of the waiting time in M/M/c: P(W > t) = C(c, a) exp(-(c mu - lambda) t); 1e300 when unstable.
inline double mmc_wait_p99(int c, double lambda, double mu) {
  const double a = lambda / mu;
  if (a >= c) return 1e300;
  const double pc = erlang_c(c, a);
  return pc <= 0.01 ? 0.0 : std::log(pc / 0.01) / (c * mu - lambda);
}

// The largest arrival rate at which M/M/c keeps the p99 wait within `wait_s` (bisection; the p99 grows with the rate).
inline double mmc_rate_for_wait_p99(int c, double mu, double wait_s) {
  double lo = 0.0, hi = c * mu;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (mmc_wait_p99(c, mid, mu) <= wait_s ? lo : hi) = mid;
  }
  return lo;
}

}  // namespace tf::test
