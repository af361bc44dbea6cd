// Admission by queue bounds: see policies/admission.hpp.
#include "policies/admission.hpp"

namespace tf {

bool QueueBoundAdmission::admit(const Request& /*request*/, const AdmissionView& fleet) const {
  if (max_queued_ > 0 && fleet.waiting_total >= static_cast<std::size_t>(max_queued_)) return false;
  if (max_queued_per_replica_ > 0 &&
      fleet.queue_length >= static_cast<std::size_t>(max_queued_per_replica_) * fleet.queue_replicas)
    return false;
  return true;
}

namespace {

const RegisterPolicy<AdmissionPolicy> registered{
    "queue-bound", "turns away a request that would make a queue longer than its bound (0: no bound)",
    {ParamSpec::integer("max_queued_per_replica", 0,
                        "most requests waiting in a replica's queue (a central queue: this many per replica)")
         .at_least(0),
     ParamSpec::integer("max_queued", 0, "most requests waiting in the whole fleet").at_least(0)},
    [](const PolicyParams& p) {
      return std::make_unique<QueueBoundAdmission>(p.integer("max_queued"), p.integer("max_queued_per_replica"));
    }};

}  // namespace

}  // namespace tf
