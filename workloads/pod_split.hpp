#pragma once
// Pods: a very large fleet run as independent pods behind a splitting balancer, as datacenters run (a global balancer
// spreads traffic over clusters; each cluster routes to its own replicas). Arrivals are split over the pods by a
// seeded random split: a request goes to pod pod_of(...) of its id, a session's questions all to its session's pod.
// Each pod is simulated on its own (sim/study/pods.hpp) with the whole workload filtered down to its share, so every
// pod sees the same requests (ids, times, lengths) that one fleet would have been offered.
#include <cstdint>
#include <memory>

#include "workloads/source.hpp"

namespace tf {

// The pod (0 .. pods-1) of a request: uniform over the pods, independent from one request (or session) to the next,
// fixed by the seed. Sessions (turn > 0) go by their session, so that a visit stays in its pod.
int pod_of(const Request& r, std::uint64_t seed, int pods);

// Whether a request is in the share `share` (0 < share <= 1) of the workload that `size --scale-check` offers a pod:
// the requests (sessions by session) whose split hash, the one pod_of scales to the pods, falls in the first `share`
// of its range. So the shares are nested (a smaller share is a subset of a larger one) and the share 1/N is pod 0 of
// N pods, request for request.
bool in_share(const Request& r, std::uint64_t seed, double share);

// Whether a request is in a pool's range [lo, hi) of the balancer's split over the pools of a mixed fleet
// ([[fleet.pool]]): a hash of the request (its session's, for a session's questions) independent of pod_of's, as a
// fraction of its range. Pools with adjacent ranges covering [0, 1) take every request once.
bool in_pool(const Request& r, std::uint64_t seed, double lo, double hi);

// The requests of `inner` that belong to pod `pod` of `pods`, in order. A closed-loop source (sessions) plans every
// question; take_for_this_run() gives this pod's and tells the source that other pods' questions are answered at
// their arrival, so that their visits go on without being served here (they are not counted). Skipped rows and the
// like are the whole workload's.
// With share < 1, only the requests in_share(share) of those (the same closed-loop handling for the others); with a
// pool's range, only those in_pool(split_lo, split_hi).
std::unique_ptr<WorkloadSource> make_pod_source(std::unique_ptr<WorkloadSource> inner, std::uint64_t seed, int pods,
                                                int pod, double share = 1.0, double split_lo = 0.0,
                                                double split_hi = 1.0);

}  // namespace tf
