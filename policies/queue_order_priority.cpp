// Priority classes: a lower Request::priority first (0 is the most urgent), arrival order within a class (see
// policies/queue_order.hpp). The classes come from workload.priority_shares or a trace's priority column.
#include "policies/queue_order.hpp"

namespace tf {

namespace {

class PriorityOrder final : public QueueOrder {
 public:
  std::string name() const override { return "priority"; }
  bool before(const Request& a, const Request& b) const override { return a.priority < b.priority; }
};

const RegisterPolicy<QueueOrder> registered{
    "priority", "priority classes: class 0 first, then 1, 2, ...; arrival order within a class", {},
    [](const PolicyParams&) { return std::make_unique<PriorityOrder>(); }};

}  // namespace

}  // namespace tf
