// First come, first served (see policies/queue_order.hpp), the generic ordered insertion, and the lookup by name.
#include "policies/queue_order.hpp"

namespace tf {

void QueueOrder::insert(std::deque<Request>& queue, Request r) const {
  auto at = queue.end();
  while (at != queue.begin() && before(r, *std::prev(at))) --at;
  queue.insert(at, std::move(r));
}

std::unique_ptr<QueueOrder> make_queue_order(const std::string& name) {
  if (name == "fifo") return std::make_unique<FifoOrder>();
  if (name == "shortest-prompt-first") return std::make_unique<ShortestPromptFirstOrder>();
  if (name == "priority") return std::make_unique<PriorityOrder>();
  return nullptr;
}

std::vector<std::string> queue_order_names() { return {"fifo", "shortest-prompt-first", "priority"}; }

}  // namespace tf
