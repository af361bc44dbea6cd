#pragma once
// Admission control decides, when a request arrives and its queue is known, whether it is let in or turned away
// (counted, reported, an SLO miss). Plain data, no SimGrid; the engine asks it once per arrival.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "policies/registry.hpp"
#include "workloads/request.hpp"

namespace tf {

// What admission control sees of the fleet when a request arrives.
struct AdmissionView {
  std::size_t waiting_total = 0;  // requests waiting in every queue of the fleet (replica queues, central queue)
  std::size_t queue_length = 0;   // requests waiting in the queue it would join (its replica's, or the central one)
  std::size_t queue_replicas = 1; // replicas that queue feeds (1 for a replica's own queue)
};

class AdmissionPolicy {
 public:
  virtual ~AdmissionPolicy() = default;
  virtual std::string name() const = 0;
  virtual bool admit(const Request& request, const AdmissionView& fleet) const = 0;
};

// Queue bounds (policy.max_queued, policy.max_queued_per_replica; 0: no bound): a request that would make the
// fleet's waiting requests more than max_queued, or its queue longer than max_queued_per_replica per replica it
// feeds, is turned away. Both 0: every request is let in. policies/admission_queue_bound.cpp.
class QueueBoundAdmission final : public AdmissionPolicy {
 public:
  QueueBoundAdmission(std::int64_t max_queued, std::int64_t max_queued_per_replica)
      : max_queued_(max_queued), max_queued_per_replica_(max_queued_per_replica) {}
  std::string name() const override { return "queue-bound"; }
  bool admit(const Request& request, const AdmissionView& fleet) const override;

 private:
  std::int64_t max_queued_, max_queued_per_replica_;
};

// The kind "admission" in the registry: policy.admission chooses one.
template <>
struct PolicyKind<AdmissionPolicy> {
  static PolicyKindInfo info() {
    return {"admission", "admission", "admission policy", "queue-bound",
            "whether an arriving request is let in or turned away (counted, an SLO miss)"};
  }
  using Factory = std::function<std::unique_ptr<AdmissionPolicy>(const PolicyParams&)>;
};

}  // namespace tf
