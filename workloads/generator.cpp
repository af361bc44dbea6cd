// The request generator: an open-loop view of a workload source.
#include "workloads/generator.hpp"

namespace tf {

RequestGenerator::RequestGenerator(const WorkloadSpec& spec, std::uint64_t seed, double duration_s)
    : source_(make_workload_source(spec, seed, duration_s)) {}

std::optional<Request> RequestGenerator::next() {
  auto r = source_->next();
  if (r && source_->closed_loop()) source_->on_finished(r->id, r->arrival_s);
  return r;
}

}  // namespace tf
