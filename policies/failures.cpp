// The failure process of a fleet (see policies/failures.hpp).
#include "policies/failures.hpp"
#include "workloads/random.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include <fmt/format.h>

namespace tf {

namespace {


constexpr double kHour = 3600.0;

}  // namespace

double FailureProcess::uniform(std::uint64_t seed, std::uint64_t unit, std::uint64_t k, std::uint64_t purpose) {
  std::uint64_t h = mix64(seed ^ 0x6661696c75726573ULL);  // "failures"
  h = mix64(h ^ unit);
  h = mix64(h ^ (k * 2 + purpose));
  return (static_cast<double>(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

FailureProcess::FailureProcess(const FailureSpec& spec, const std::vector<std::vector<int>>& replica_gpus,
                               int gpus_per_node, std::uint64_t seed)
    : seed_(seed), down_count_(replica_gpus.size(), 0) {
  if (gpus_per_node <= 0) throw std::invalid_argument("failures: gpus_per_node must be positive");
  if (spec.gpu_mtbf_h > 0.0) gpu_repair_ = make_distribution(spec.gpu_repair_s);
  if (spec.node_mtbf_h > 0.0) node_repair_ = make_distribution(spec.node_repair_s);
  // Units: each GPU that holds a replica (by GPU index), then each node that does (by node index), then the
  // injected failures. Their draws are numbered by the GPU's index, or 2^32 + the node's: not by the fleet's size.
  std::map<int, std::vector<int>> gpu_replicas, node_replicas;
  for (std::size_t r = 0; r < replica_gpus.size(); ++r)
    for (int g : replica_gpus[r]) {
      gpu_replicas[g].push_back(static_cast<int>(r));
      auto& on_node = node_replicas[g / gpus_per_node];
      if (on_node.empty() || on_node.back() != static_cast<int>(r)) on_node.push_back(static_cast<int>(r));
    }
  if (spec.gpu_mtbf_h > 0.0)
    for (auto& [g, reps] : gpu_replicas) {
      units_.push_back(Unit{reps, spec.gpu_mtbf_h * kHour, gpu_repair_.get(), 0, 0, 0.0});
      draw_unit_.push_back(static_cast<std::uint64_t>(g));
    }
  if (spec.node_mtbf_h > 0.0)
    for (auto& [n, reps] : node_replicas) {
      units_.push_back(Unit{reps, spec.node_mtbf_h * kHour, node_repair_.get(), 0, 1, 0.0});
      draw_unit_.push_back((std::uint64_t{1} << 32) + static_cast<std::uint64_t>(n));
    }
  for (std::size_t i = 0; i < units_.size(); ++i) schedule_failure(static_cast<std::uint32_t>(i), 0.0);
  for (std::size_t i = 0; i < spec.inject.size(); ++i) {
    const InjectedFailure& f = spec.inject[i];
    if (f.replica < 0 || f.replica >= static_cast<int>(replica_gpus.size()))
      throw std::invalid_argument(fmt::format("failures.inject: failure {}: replica {} is not in the fleet (replicas "
                                              "0 to {})", i + 1, f.replica, static_cast<int>(replica_gpus.size()) - 1));
    units_.push_back(Unit{{f.replica}, 0.0, nullptr, 0, 2, f.down_s});
    draw_unit_.push_back((std::uint64_t{2} << 32) + i);
    push(f.at_s, static_cast<std::uint32_t>(units_.size() - 1), true);
  }
  for (int r = 0; r < spec.spare_down && r < static_cast<int>(replica_gpus.size()); ++r) {
    units_.push_back(Unit{{r}, 0.0, nullptr, 0, 2, spec.spare_down_s});
    draw_unit_.push_back((std::uint64_t{3} << 32) + static_cast<std::uint64_t>(r));
    push(0.0, static_cast<std::uint32_t>(units_.size() - 1), true);
  }
}

void FailureProcess::push(double t, std::uint32_t u, bool fail) { events_.push(Event{t, seq_++, u, fail}); }

void FailureProcess::schedule_failure(std::uint32_t u, double from_s) {
  Unit& unit = units_[u];
  if (!(unit.mtbf_s > 0.0)) return;
  const double x = uniform(seed_, draw_unit_[u], unit.draws, 0);
  push(from_s - unit.mtbf_s * std::log(x), u, true);
}

double FailureProcess::next_time() const {
  return events_.empty() ? std::numeric_limits<double>::infinity() : events_.top().t;
}

void FailureProcess::advance(std::vector<ReplicaTransition>& out) {
  if (events_.empty()) return;
  const double t = events_.top().t;
  while (!events_.empty() && events_.top().t == t) {
    const Event e = events_.top();
    events_.pop();
    Unit& unit = units_[e.unit];
    if (e.fail) {
      (unit.kind == 0 ? counts_.gpu_failures : unit.kind == 1 ? counts_.node_failures : counts_.injected) += 1;
      for (int r : unit.replicas)
        if (down_count_[static_cast<std::size_t>(r)]++ == 0) {
          ++counts_.outages;
          out.push_back(ReplicaTransition{t, r, true});
        }
      double repair_s = unit.injected_down_s;
      if (unit.repair) {
        // The repair's draw: a generator seeded from the unit's counter, so that distributions that take more than
        // one uniform (the lognormal) draw from a stream of their own.
        Rng rng(static_cast<std::uint64_t>(uniform(seed_, draw_unit_[e.unit], unit.draws, 1) * 9007199254740992.0));
        repair_s = std::max(0.0, unit.repair->sample_real(rng));
      }
      ++unit.draws;
      push(t + repair_s, e.unit, false);
    } else {
      for (int r : unit.replicas)
        if (--down_count_[static_cast<std::size_t>(r)] == 0) out.push_back(ReplicaTransition{t, r, false});
      schedule_failure(e.unit, t);
    }
  }
}

double replica_availability(const FailureSpec& spec, int gpus, double gpu_mean_repair_s, double node_mean_repair_s) {
  double a = 1.0;
  if (spec.gpu_mtbf_h > 0.0) {
    const double m = spec.gpu_mtbf_h * kHour;
    a *= std::pow(m / (m + gpu_mean_repair_s), gpus);
  }
  if (spec.node_mtbf_h > 0.0) {
    const double m = spec.node_mtbf_h * kHour;
    a *= m / (m + node_mean_repair_s);
  }
  return a;
}

}  // namespace tf
