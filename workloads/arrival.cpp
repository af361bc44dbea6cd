// Arrival processes. Poisson: independent exponential gaps with mean 1 / rate.
#include "workloads/arrival.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace tf {

namespace {

class PoissonArrivals final : public ArrivalProcess {
 public:
  explicit PoissonArrivals(double rate_per_s) : rate_per_s_(rate_per_s) {}
  double next_arrival_s(double now_s, Rng& rng) override {
    const double gap_s = -std::log(uniform01(rng)) / rate_per_s_;
    double t = now_s + gap_s;
    // A gap too small to move a large clock still has to move it: arrivals are strictly later.
    if (!(t > now_s)) t = std::nextafter(now_s, std::numeric_limits<double>::infinity());
    return t;
  }

 private:
  double rate_per_s_;
};

}  // namespace

std::unique_ptr<ArrivalProcess> make_arrival_process(const ArrivalSpec& spec) {
  if (spec.process == "poisson") {
    if (!std::isfinite(spec.rate_per_s) || !(spec.rate_per_s > 0.0)) {
      throw std::invalid_argument(
          fmt::format("poisson: rate_per_s ({}) must be a positive number", spec.rate_per_s));
    }
    return std::make_unique<PoissonArrivals>(spec.rate_per_s);
  }
  throw std::invalid_argument(
      fmt::format("unknown arrival process '{}' (expected poisson)", spec.process));
}

}  // namespace tf
