// Target load: as Kubernetes' Horizontal Pod Autoscaler with a per-replica metric, desired = ceil(load / target),
// the load being the requests running and waiting in the whole fleet; within `tolerance` of the target (the ratio
// load / (current x target) within 1 ± tolerance) the fleet stays as it is (HPA's default tolerance is 0.1).
#include <cmath>

#include "policies/autoscaler.hpp"

namespace tf {

namespace {

class TargetLoad final : public Autoscaler {
 public:
  TargetLoad(double target, double tolerance) : target_(target), tolerance_(tolerance) {}
  std::string name() const override { return "target-load"; }
  int desired(const AutoscalerSnapshot& s) override {
    const double load = static_cast<double>(s.running + s.waiting);
    const int current = s.current();
    if (current > 0 && std::abs(load / (current * target_) - 1.0) <= tolerance_) return current;
    return static_cast<int>(std::ceil(load / target_));
  }

 private:
  double target_, tolerance_;
};

const RegisterPolicy<Autoscaler> registered{
    "target-load", "ceil(requests running and waiting / target_load) replicas (Kubernetes HPA's rule)",
    {ParamSpec::number("target_load", 16.0, "requests (running + waiting) per replica it aims at").greater_than(0),
     ParamSpec::number("tolerance", 0.1, "no change while load / (replicas x target_load) is within 1 ± this")
         .at_least(0)
         .less_than(1)},
    [](const PolicyParams& p) { return std::make_unique<TargetLoad>(p.number("target_load"), p.number("tolerance")); }};

}  // namespace

}  // namespace tf
