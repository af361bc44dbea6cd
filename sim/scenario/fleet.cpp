// [fleet]: how many replicas, in how many pods.
#include "sim/scenario/loader.hpp"

#include <climits>

#include <fmt/format.h>

#include "sim/scenario/limits.hpp"

namespace tf::loader {

void read_fleet(const Section& top, Scenario& s) {
  const Section fleet = top.table("fleet");
  // Bounded (limits.hpp): each replica is a SimGrid actor with a stack of its own, each GPU a host.
  // Pods: fleet.pods, and the replicas in each (fleet.replicas_per_pod) or in all (fleet.replicas).
  const auto pods = fleet.integer_in("pods", 1, 1, limits::kMaxPods);
  s.pods = static_cast<int>(pods);
  if (fleet.has("replicas_per_pod")) {
    const auto per_pod = fleet.integer_in("replicas_per_pod", 1, 1, limits::kMaxReplicas);
    if (per_pod * pods > limits::kMaxReplicasInPods)
      fleet.fail("replicas_per_pod", fmt::format("{} pods of {} replicas are {} replicas, more than the {} a run of pods "
                                                 "simulates", pods, per_pod, per_pod * pods, limits::kMaxReplicasInPods));
    if (fleet.has("replicas") && fleet.integer_in("replicas", 1, 1, limits::kMaxReplicasInPods) != per_pod * pods)
      fleet.fail("replicas", fmt::format("expected fleet.pods x fleet.replicas_per_pod = {} x {} = {} replicas (or "
                                         "leave fleet.replicas out), got {}",
                                         pods, per_pod, per_pod * pods,
                                         fleet.integer_in("replicas", 1, 1, limits::kMaxReplicasInPods)));
    s.replicas = static_cast<int>(per_pod * pods);
  } else if (pods > 1) {
    s.replicas = static_cast<int>(fleet.integer_in("replicas", pods, 1, limits::kMaxReplicasInPods));
    if (s.replicas % s.pods != 0)
      fleet.fail("replicas", fmt::format("expected a multiple of fleet.pods = {} (pods are equal), got {}; or give "
                                         "fleet.replicas_per_pod", s.pods, s.replicas));
  } else {
    s.replicas = static_cast<int>(fleet.integer_in("replicas", 1, 1, limits::kMaxReplicas));
  }
  // One simulation holds one pod.
  const int per_pod = s.replicas / s.pods;
  if (per_pod > limits::kMaxReplicas)
    fleet.fail(s.pods > 1 ? "pods" : "replicas",
               fmt::format("{} replicas per pod are more than the {} one simulation holds; use more pods",
                           per_pod, limits::kMaxReplicas));
  const std::int64_t gpus = static_cast<std::int64_t>(per_pod) * s.gpus_per_replica();
  if (gpus > limits::kMaxGpus)
    fleet.fail("replicas", fmt::format("{} replicas of {} GPUs are {} GPUs, more than the {} one run simulates; use "
                                       "fewer replicas (at most {} with {} GPUs per replica), or more "
                                       "fleet.pods",
                                       per_pod, s.gpus_per_replica(), gpus, limits::kMaxGpus,
                                       limits::kMaxGpus / s.gpus_per_replica(), s.gpus_per_replica()));
}

}  // namespace tf::loader
