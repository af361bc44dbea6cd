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

}  // namespace tf
