#pragma once
// Arrival processes: Poisson, gamma (renewal, by rate and coefficient of variation), diurnal (a non-homogeneous
// Poisson process following a daily rate curve, by thinning), with optional spikes (a multiple of the rate in a
// time window) and Markov-modulated bursts (a two-state on/off modulation of the rate) on top.
#include <memory>
#include <string>
#include <vector>

#include "workloads/curve.hpp"
#include "workloads/random.hpp"

namespace tf {

// The rate is `multiple` times higher (or lower, below 1) during [start_s, start_s + duration_s).
struct Spike {
  double start_s = 0.0;
  double duration_s = 0.0;
  double multiple = 1.0;
  bool operator==(const Spike&) const = default;
};

// Markov-modulated bursts: the rate alternates between a normal state and a burst state in which it is
// `multiple` times the normal rate; the states last exponential times of means mean_normal_s and mean_burst_s.
// The long-run mean rate stays the process's rate. multiple = 0: no bursts.
struct MarkovBurst {
  double multiple = 0.0;
  double mean_burst_s = 60.0;
  double mean_normal_s = 600.0;
  bool operator==(const MarkovBurst&) const = default;
};

struct ArrivalSpec {
  std::string process = "poisson";  // poisson | gamma | diurnal
  double rate_per_s = 1.0;          // the mean rate (for diurnal: of the curve over its period)
  double cv = 1.0;                  // gamma: coefficient of variation of the gaps (> 1: bursty)
  RateCurveSpec curve{};            // diurnal (and optionally gamma): the daily curve; kind "none" otherwise
  std::vector<Spike> spikes{};
  MarkovBurst burst{};
  bool operator==(const ArrivalSpec&) const = default;
};

class ArrivalProcess {
 public:
  virtual ~ArrivalProcess() = default;
  // The time of the next arrival strictly after `now_s`.
  virtual double next_arrival_s(double now_s, Rng& rng) = 0;
  // A copy in the same state (the next arrivals drawn from the same stream are the same).
  virtual std::unique_ptr<ArrivalProcess> clone() const = 0;
};

// Throws std::invalid_argument naming the field when the spec is invalid.
std::unique_ptr<ArrivalProcess> make_arrival_process(const ArrivalSpec& spec);

// A gamma draw of the given shape and unit scale (Marsaglia and Tsang), from uniform01 only. Exposed for tests.
double gamma_draw(double shape, Rng& rng);

}  // namespace tf
