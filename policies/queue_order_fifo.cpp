// First come, first served: the order of arrival (see policies/queue_order.hpp), and the ordered insertion that
// every other queue order uses.
#include <iterator>

#include "policies/queue_order.hpp"

namespace tf {

void QueueOrder::insert(std::deque<Request>& queue, Request r) const {
  auto at = queue.end();
  while (at != queue.begin() && before(r, *std::prev(at))) --at;
  queue.insert(at, std::move(r));
}

namespace {

class FifoOrder final : public QueueOrder {
 public:
  std::string name() const override { return "fifo"; }
  bool before(const Request&, const Request&) const override { return false; }
  void insert(std::deque<Request>& queue, Request r) const override { queue.push_back(std::move(r)); }
};

const RegisterPolicy<QueueOrder> registered{"fifo", "first come, first served: the order of arrival", {},
                                            [](const PolicyParams&) { return std::make_unique<FifoOrder>(); }};

}  // namespace

}  // namespace tf
