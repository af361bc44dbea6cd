// [fleet]: how many replicas.
#include "sim/scenario/loader.hpp"

#include <climits>

#include <fmt/format.h>

#include "sim/scenario/limits.hpp"

namespace tf::loader {

void read_fleet(const Section& top, Scenario& s) {
  const Section fleet = top.table("fleet");
  // Bounded (limits.hpp): each replica is a SimGrid actor with a stack of its own, each GPU a host.
  s.replicas = static_cast<int>(fleet.integer_in("replicas", 1, 1, limits::kMaxReplicas));
  const std::int64_t gpus = static_cast<std::int64_t>(s.replicas) * s.tensor_parallel;
  if (gpus > limits::kMaxGpus)
    fleet.fail("replicas", fmt::format("{} replicas of {} GPUs are {} GPUs, more than the {} one run simulates; use "
                                       "fewer replicas (at most {} with hardware.tensor_parallel = {})",
                                       s.replicas, s.tensor_parallel, gpus, limits::kMaxGpus,
                                       limits::kMaxGpus / s.tensor_parallel, s.tensor_parallel));
}

}  // namespace tf::loader
