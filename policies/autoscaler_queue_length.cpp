// Queue length: adds replicas when more than scale_up_waiting requests wait per serving replica (as many as bring
// it back to that), removes one when fewer than scale_down_waiting wait per serving replica and none is starting.
// The queue is what TTFT waits on: this scales on the symptom rather than on the load.
#include <algorithm>
#include <cmath>

#include "policies/autoscaler.hpp"

namespace tf {

namespace {

class QueueLength final : public Autoscaler {
 public:
  QueueLength(double up, double down) : up_(up), down_(down) {}
  std::string name() const override { return "queue-length"; }
  int desired(const AutoscalerSnapshot& s) override {
    const double waiting = static_cast<double>(s.waiting);
    const double serving = std::max(1, s.serving);
    if (waiting > up_ * serving) return std::max(s.current(), static_cast<int>(std::ceil(waiting / up_)) + s.starting);
    if (waiting < down_ * serving && s.starting == 0) return s.current() - 1;
    return s.current();
  }

 private:
  double up_, down_;
};

const RegisterPolicy<Autoscaler> registered{
    "queue-length", "adds replicas while requests queue, removes one at a time while the queues are short",
    {ParamSpec::number("scale_up_waiting", 4.0, "waiting requests per serving replica above which it adds replicas")
         .greater_than(0),
     ParamSpec::number("scale_down_waiting", 0.5,
                       "waiting requests per serving replica below which it removes one")
         .at_least(0)},
    [](const PolicyParams& p) {
      if (p.number("scale_down_waiting") > p.number("scale_up_waiting"))
        throw std::invalid_argument("scale_down_waiting must not exceed scale_up_waiting");
      return std::make_unique<QueueLength>(p.number("scale_up_waiting"), p.number("scale_down_waiting"));
    }};

}  // namespace

}  // namespace tf
