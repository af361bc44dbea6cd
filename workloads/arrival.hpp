#pragma once
// Arrival processes. Issue 2 needs Poisson; later issues add gamma, diurnal, bursts, traces.
#include <memory>
#include <string>

#include "workloads/random.hpp"

namespace tf {

struct ArrivalSpec {
  std::string process = "poisson";
  double rate_per_s = 1.0;
};

class ArrivalProcess {
 public:
  virtual ~ArrivalProcess() = default;
  // The time of the next arrival strictly after `now_s`.
  virtual double next_arrival_s(double now_s, Rng& rng) = 0;
};

// Throws std::invalid_argument naming the field when the spec is invalid.
std::unique_ptr<ArrivalProcess> make_arrival_process(const ArrivalSpec& spec);

}  // namespace tf
