#pragma once
// Generates the requests of a scenario, one at a time and in arrival order, from the seed: an open-loop
// convenience over make_workload_source (workloads/source.hpp), kept for tests and tools.
#include <memory>
#include <optional>

#include "workloads/source.hpp"

namespace tf {

class RequestGenerator {
 public:
  // Requests arrive in [0, duration_s). Arrival times, prompt lengths and output lengths come from
  // independent streams derived from `seed`, so changing one distribution leaves the other draws unchanged.
  RequestGenerator(const WorkloadSpec& spec, std::uint64_t seed, double duration_s);
  // The next request, or nothing once the next arrival would fall at or after duration_s. A closed-loop
  // (session) workload is told that every answer finishes the moment its question arrives.
  std::optional<Request> next();
  std::uint64_t skipped_bad_rows() const { return source_->skipped_bad_rows(); }
  std::uint64_t clamped_rows() const { return source_->clamped_rows(); }
  std::uint64_t questions_cut() const { return source_->questions_cut(); }
  std::uint64_t over_context_cut() const { return source_->over_context_cut(); }
  std::uint64_t over_context_dropped() const { return source_->over_context_dropped(); }

 private:
  std::unique_ptr<WorkloadSource> source_;
};

}  // namespace tf
