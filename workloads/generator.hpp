#pragma once
// Generates the requests of a scenario, one at a time and in arrival order, from the seed.
#include <memory>
#include <optional>

#include "workloads/arrival.hpp"
#include "workloads/distribution.hpp"
#include "workloads/request.hpp"

namespace tf {

struct WorkloadSpec {
  ArrivalSpec arrival;
  DistributionSpec prompt_tokens;
  DistributionSpec output_tokens;
};

class RequestGenerator {
 public:
  // Requests arrive in [0, duration_s). Arrival times, prompt lengths and output lengths come from
  // three independent streams derived from `seed`, so changing one distribution leaves the other
  // draws unchanged.
  RequestGenerator(const WorkloadSpec& spec, std::uint64_t seed, double duration_s);
  // The next request, or nothing once the next arrival would fall at or after duration_s.
  std::optional<Request> next();

 private:
  std::unique_ptr<ArrivalProcess> arrivals_;
  std::unique_ptr<LengthDistribution> prompt_, output_;
  Rng arrival_rng_, prompt_rng_, output_rng_;
  double duration_s_;
  double now_s_ = 0.0;
  std::uint64_t next_id_ = 0;
};

}  // namespace tf
