// Predictive: follows the workload's expected rate (its daily curve) ahead of time. At each evaluation it wants
// enough replicas, at replica_rate_per_s requests per second each (what one replica serves within the SLO:
// tokenfleet size's answer, its rate over its replicas) times headroom, for the busier of the next interval and the
// interval that begins one cold start from now (a replica started now serves then).
#include <algorithm>
#include <cmath>

#include "policies/autoscaler.hpp"

namespace tf {

namespace {

class Predictive final : public Autoscaler {
 public:
  Predictive(double per_replica, double headroom) : per_replica_(per_replica), headroom_(headroom) {}
  std::string name() const override { return "predictive"; }
  bool predictive() const override { return true; }
  int desired(const AutoscalerSnapshot& s) override {
    if (!s.expected_arrivals) return s.current();
    const double t = s.now_s, i = s.interval_s, lead = s.cold_start_s;
    const double now_rate = s.expected_arrivals(t, t + i) / i;
    const double ahead_rate = s.expected_arrivals(t + lead, t + lead + i) / i;
    // A relative margin for the rounding of the integral: a rate of exactly k replicas' worth asks for k.
    const double need = headroom_ * std::max(now_rate, ahead_rate) / per_replica_;
    return static_cast<int>(std::ceil(need * (1.0 - 1e-9)));
  }

 private:
  double per_replica_, headroom_;
};

const RegisterPolicy<Autoscaler> registered{
    "predictive", "replicas for the expected rate of the next interval and of one cold start ahead (the curve)",
    {ParamSpec::number("replica_rate_per_s", 0.0,
                       "requests per second one replica serves within the SLO (from tokenfleet size); required")
         .at_least(0),
     ParamSpec::number("headroom", 1.0, "multiplies the expected rate").greater_than(0)},
    [](const PolicyParams& p) {
      if (!(p.number("replica_rate_per_s") > 0.0))
        throw std::invalid_argument("replica_rate_per_s: give the requests per second one replica serves within the "
                                    "SLO (tokenfleet size: the rate over the replicas it finds)");
      return std::make_unique<Predictive>(p.number("replica_rate_per_s"), p.number("headroom"));
    }};

}  // namespace

}  // namespace tf
