// The autoscaler's policies and controller (policies/autoscaler*.{hpp,cpp}), without SimGrid: each policy's answer
// against its rule worked by hand, the predictive one against a curve's known hourly means, the controller's bounds
// and scale-down delay over a sequence of evaluations, and the cold start's sum.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "policies/autoscaler.hpp"
#include "workloads/curve.hpp"

using namespace tf;

namespace {

AutoscalerSnapshot snap(int serving, int starting, std::size_t running, std::size_t waiting) {
  AutoscalerSnapshot s;
  s.serving = serving;
  s.starting = starting;
  s.running = running;
  s.waiting = waiting;
  s.min_replicas = 1;
  s.max_replicas = 100;
  return s;
}

}  // namespace

TEST_CASE("autoscaler: every policy is registered with its parameters", "[autoscaler]") {
  CHECK(policy_names<Autoscaler>() == std::vector<std::string>{"predictive", "queue-length", "target-load"});
  CHECK(PolicyKind<Autoscaler>::info().key == "autoscaler.policy");
  CHECK(make_autoscaler("no-such", {}) == nullptr);
  // The predictive policy needs the rate one replica serves: no default stands for it.
  CHECK_THROWS_AS(make_autoscaler("predictive", {}), std::invalid_argument);
  CHECK_THROWS_AS(make_autoscaler("queue-length", PolicyParams{}.set("scale_up_waiting", 1.0).set("scale_down_waiting", 2.0)),
                  std::invalid_argument);
}

TEST_CASE("autoscaler: target-load wants ceil(load / target), unless within the tolerance", "[autoscaler]") {
  auto p = make_autoscaler("target-load", PolicyParams{}.set("target_load", 10.0).set("tolerance", 0.1));
  // 4 replicas, 100 requests: ratio 100 / 40 = 2.5, so ceil(100 / 10) = 10.
  CHECK(p->desired(snap(4, 0, 70, 30)) == 10);
  // 4 replicas, 42 requests: ratio 1.05, within 1 ± 0.1: stays at 4 (not ceil(4.2) = 5).
  CHECK(p->desired(snap(4, 0, 42, 0)) == 4);
  // 45 requests: ratio 1.125, outside: ceil(4.5) = 5.
  CHECK(p->desired(snap(4, 0, 45, 0)) == 5);
  // Starting replicas count as the fleet's: 2 serving + 2 starting, 42 requests: within the tolerance of 4.
  CHECK(p->desired(snap(2, 2, 42, 0)) == 4);
  // Little load: down to ceil(3 / 10) = 1.
  CHECK(p->desired(snap(4, 0, 3, 0)) == 1);
}

TEST_CASE("autoscaler: queue-length adds while requests queue and removes one while queues are short",
          "[autoscaler]") {
  auto p = make_autoscaler("queue-length", PolicyParams{}.set("scale_up_waiting", 4.0).set("scale_down_waiting", 0.5));
  // 3 serving, 30 waiting (10 each > 4): ceil(30 / 4) = 8.
  CHECK(p->desired(snap(3, 0, 50, 30)) == 8);
  // ... and those already starting come on top of what the queue asks for.
  CHECK(p->desired(snap(3, 2, 50, 30)) == 10);
  // 3 serving, 6 waiting (2 each): between the thresholds, stays.
  CHECK(p->desired(snap(3, 0, 50, 6)) == 3);
  // 3 serving, 1 waiting (0.33 each < 0.5): one fewer; not while a replica is starting.
  CHECK(p->desired(snap(3, 0, 50, 1)) == 2);
  CHECK(p->desired(snap(3, 1, 50, 1)) == 4);
}

TEST_CASE("autoscaler: predictive follows the curve's means over the next interval and one cold start ahead",
          "[autoscaler]") {
  // An hourly curve of 24 weights: hour h's mean rate is exactly weight_h x mean / (the weights' mean).
  RateCurveSpec c;
  c.kind = "hourly";
  c.mean_rate_per_s = 10.0;
  for (int h = 0; h < 24; ++h) c.hourly.push_back(h < 6 ? 1.0 : (h < 12 ? 3.0 : 2.0));
  const double weights_mean = (6 * 1.0 + 6 * 3.0 + 12 * 2.0) / 24.0;  // 2
  const auto curve = make_rate_curve(c);
  auto p = make_autoscaler("predictive", PolicyParams{}.set("replica_rate_per_s", 2.2).set("headroom", 1.0));
  AutoscalerSnapshot s = snap(3, 0, 0, 0);
  s.expected_arrivals = [&](double a, double b) { return curve->integral(a, b); };
  s.interval_s = 3600.0;
  s.cold_start_s = 0.0;
  for (int h = 0; h < 24; ++h) {
    s.now_s = h * 3600.0;
    const double rate = c.hourly[static_cast<std::size_t>(h)] * 10.0 / weights_mean;  // 5, 15 or 10 per second
    INFO("hour " << h);
    CHECK(p->desired(s) == static_cast<int>(std::ceil(rate / 2.2)));  // 3, 7, 5
  }
  // With a cold start of an hour, at 05:00 it already wants hour 6's fleet (the busier of now and ahead).
  s.cold_start_s = 3600.0;
  s.now_s = 5 * 3600.0;
  CHECK(p->desired(s) == 7);
  // Headroom multiplies the rate: 5 x 1.5 / 2.2 = 3.4 -> 4.
  auto h = make_autoscaler("predictive", PolicyParams{}.set("replica_rate_per_s", 2.2).set("headroom", 1.5));
  s.cold_start_s = 0.0;
  s.now_s = 0.0;
  CHECK(h->desired(s) == 4);
  CHECK(h->predictive());
}

TEST_CASE("autoscaler: the controller clamps to the bounds and scales down only after the delay", "[autoscaler]") {
  AutoscalerController c(2, 8, 60.0);
  CHECK(c.decide(0.0, 4, 20) == 8);   // at most max_replicas
  CHECK(c.decide(15.0, 8, 0) == 8);   // down: the highest of the last 60 s (8 at t = 0)
  CHECK(c.decide(30.0, 8, 3) == 8);
  CHECK(c.decide(45.0, 8, 3) == 8);
  CHECK(c.decide(60.0, 8, 3) == 8);   // t = 0 is still within [0, 60]
  CHECK(c.decide(75.0, 8, 3) == 3);   // the recommendations of [15, 75]: 2 (clamped from 0), 3, 3, 3, 3
  CHECK(c.decide(90.0, 3, 1) == 3);   // 1 clamps to 2, but 3 was recommended within 60 s
  CHECK(c.decide(150.0, 3, 1) == 2);  // [90, 150]: 2, 2: at least min_replicas
  CHECK(c.decide(165.0, 2, 5) == 5);  // up at once
  // No delay: straight down.
  AutoscalerController now(1, 8, 0.0);
  CHECK(now.decide(0.0, 6, 6) == 6);
  CHECK(now.decide(15.0, 6, 2) == 2);
}

TEST_CASE("autoscaler: a cold start is provisioning plus the weights over the storage bandwidth plus start-up",
          "[autoscaler]") {
  AutoscalerSpec a;
  a.provision_s = 120.0;
  a.load_gbps = 2.0;
  a.startup_s = 60.0;
  // Llama-3.1-70B in FP8: 70.6e9 bytes at 2 GB/s is 35.3 s.
  CHECK(cold_start_s(a, 70.6e9) == Approx(120.0 + 35.3 + 60.0));
  a.provision_s = 0.0;
  a.startup_s = 0.0;
  CHECK(cold_start_s(a, 0.0) == 0.0);
}
