#pragma once
// Queue-order policies: the order in which waiting requests are offered to a replica's batching policy (which admits
// from the head of its queue). They keep each queue (a replica's own, or the central one) in their order as requests
// join it. A request preempted by its replica goes back to the head of that replica's queue whatever the order (as
// vLLM does), so that preemption never costs it its place. Plain data, no SimGrid.
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "policies/registry.hpp"
#include "workloads/request.hpp"

namespace tf {

class QueueOrder {
 public:
  virtual ~QueueOrder() = default;
  virtual std::string name() const = 0;
  // Whether `a` is served before `b` (a strict weak order); requests neither before the other keep the order in
  // which they joined.
  virtual bool before(const Request& a, const Request& b) const = 0;
  // Puts a request into a queue kept in this order: behind every request it is not before. Costs the number of
  // requests it overtakes.
  virtual void insert(std::deque<Request>& queue, Request r) const;
};

// The orders, one file each: fifo (policies/queue_order_fifo.cpp: first come, first served, every engine's
// default), shortest-prompt-first (policies/queue_order_shortest_prompt.cpp: fewer prompt tokens first, ties in
// arrival order; lowers mean TTFT under load and can starve long prompts while shorter ones keep coming), priority
// (policies/queue_order_priority.cpp: a lower Request::priority first, 0 the most urgent, arrival order within a
// class, as vLLM's priority scheduling).

// The kind "queue-order" in the registry: policy.queue_order chooses one.
template <>
struct PolicyKind<QueueOrder> {
  static PolicyKindInfo info() {
    return {"queue-order", "queue_order", "queue order", "fifo",
            "the order in which waiting requests are offered to the batching policy"};
  }
  using Factory = std::function<std::unique_ptr<QueueOrder>(const PolicyParams&)>;
};

// The queue order of that name, or nullptr when unknown.
inline std::unique_ptr<QueueOrder> make_queue_order(const std::string& name, const PolicyParams& params = {}) {
  return make_policy<QueueOrder>(name, params);
}
// The registered queue orders, sorted.
inline std::vector<std::string> queue_order_names() { return policy_names<QueueOrder>(); }

}  // namespace tf
