#pragma once
// Autoscaling ([autoscaler]): every interval_s the engine shows the policy a snapshot of the fleet (replicas serving,
// starting and draining, requests waiting and running, the recent arrival rate, the workload's expected arrivals
// ahead) and the policy answers how many replicas it wants. The controller (AutoscalerController, below) keeps that
// within [min_replicas, max_replicas] and delays scale-downs (a scale-down goes only to the highest recommendation
// of the last scale_down_delay_s, as Kubernetes' HPA stabilization window); the engine starts replicas (they serve
// once their cold start is over: provisioning, weights over load_gbps, start-up) and drains others (out of their
// pool for new work, they finish what they hold, then go off).
//
// A policy is one file, policies/autoscaler_*.cpp, registered as a policy of kind "autoscaler" (chosen by
// autoscaler.policy; its parameters are keys of [autoscaler]). Plain C++, no SimGrid: tests drive it directly.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "policies/registry.hpp"

namespace tf {

// [autoscaler] (sim/scenario/autoscaler.cpp reads it; defaults and their sources in scenarios/README.md).
struct AutoscalerSpec {
  bool enabled = false;             // [autoscaler] present; off: nothing changes anywhere
  std::string policy = "target-load";
  PolicyParams params;              // the policy's parameters as given in [autoscaler]
  double interval_s = 15.0;         // evaluation period (Kubernetes HPA's sync period)
  int min_replicas = 1;
  int max_replicas = 1;             // the fleet provisioned in the platform (default fleet.replicas)
  int initial_replicas = 1;         // serving at time 0 (default fleet.replicas, within [min, max])
  double scale_down_delay_s = 300.0;  // stabilization window of scale-downs (HPA's default 5 min)
  // Cold start of a new replica: provision_s (a node to run it) + weight bytes / (load_gbps x 1e9) + startup_s
  // (the server's own start: CUDA graphs, KV-cache profiling).
  double provision_s = 120.0;
  double load_gbps = 2.0;           // gigabytes per second from storage to the replica's GPUs
  double startup_s = 60.0;
};

// The cold start of one replica holding `weight_bytes` of weights (all its GPUs together), in seconds.
double cold_start_s(const AutoscalerSpec& spec, double weight_bytes);

// What a policy sees at an evaluation.
struct AutoscalerSnapshot {
  double now_s = 0.0;
  double interval_s = 15.0;
  double cold_start_s = 0.0;          // how long a replica started now takes to serve
  int serving = 0, starting = 0, draining = 0;
  int min_replicas = 1, max_replicas = 1;
  std::size_t waiting = 0;            // requests waiting in every queue of the fleet
  std::size_t running = 0;            // requests in the batches of serving and draining replicas
  double arrival_rate_per_s = 0.0;    // arrivals over the last interval / its length
  // The workload's expected arrivals in [a, b) (its rate curve's integral; a constant rate without a curve); empty
  // when the workload has none (a trace).
  std::function<double(double a, double b)> expected_arrivals;
  int current() const { return serving + starting; }  // the replicas that are or will be serving
};

class Autoscaler {
 public:
  virtual ~Autoscaler() = default;
  virtual std::string name() const = 0;
  // The replicas it wants (the controller clamps and delays it).
  virtual int desired(const AutoscalerSnapshot& s) = 0;
  // Whether it reads AutoscalerSnapshot::expected_arrivals (the engine refuses a workload without them).
  virtual bool predictive() const { return false; }
};

// The kind "autoscaler" in the registry: autoscaler.policy chooses one (its key has a dot: it is not a key of
// [policy], and neither are its parameters; they are keys of [autoscaler]).
template <>
struct PolicyKind<Autoscaler> {
  static PolicyKindInfo info() {
    return {"autoscaler", "autoscaler.policy", "autoscaler policy", "target-load",
            "how many replicas the fleet wants, evaluated every autoscaler.interval_s ([autoscaler])"};
  }
  using Factory = std::function<std::unique_ptr<Autoscaler>(const PolicyParams&)>;
};

inline std::unique_ptr<Autoscaler> make_autoscaler(const std::string& name, const PolicyParams& params) {
  return make_policy<Autoscaler>(name, params);
}

// The policy's answer made a decision: within [min_replicas, max_replicas]; up at once, down only to the highest
// recommendation of the last scale_down_delay_s (so demand must have stayed low that long).
class AutoscalerController {
 public:
  AutoscalerController(int min_replicas, int max_replicas, double scale_down_delay_s)
      : min_(min_replicas), max_(max_replicas), delay_s_(scale_down_delay_s) {}
  // The replicas the fleet should have after the evaluation at now_s, from `current` and the policy's `wanted`.
  int decide(double now_s, int current, int wanted);

 private:
  int min_, max_;
  double delay_s_;
  std::deque<std::pair<double, int>> recent_;  // (time, clamped recommendation), the last delay_s_
};

}  // namespace tf
