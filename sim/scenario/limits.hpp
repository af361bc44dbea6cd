#pragma once
// What one run on one machine can hold, checked where each key is read (scenarios/README.md states each bound
// beside its key). A value beyond a bound is refused at load (exit 2) with the bound and what to change, instead of
// a run that exhausts memory or time, or overflows, later.
#include <cstdint>

namespace tf::limits {

// Simulated span: duration_s (and a trace's span when duration_s is left out), about 31.7 years.
inline constexpr double kMaxDurationS = 1e9;
// Replicas and GPUs of one simulation (a fleet, or one pod of it): each GPU is a SimGrid host; beyond these set-up
// alone takes minutes and gigabytes.
inline constexpr std::int64_t kMaxReplicas = 20000;
inline constexpr std::int64_t kMaxGpus = 160000;
// Pods ([fleet] pods): each pod is one simulation (a process of its own) within the bounds above; the fleet of pods
// at most this many pods and replicas in all.
inline constexpr std::int64_t kMaxPods = 100000;
inline constexpr std::int64_t kMaxReplicasInPods = 10000000;
// Arrivals: the mean rate, and the requests it brings over duration_s (the run keeps one ~90-byte row per request,
// so 1e8 requests take about 9 GB before anything else).
inline constexpr double kMaxRatePerS = 1e6;
inline constexpr double kMaxExpectedRequests = 1e8;

}  // namespace tf::limits
