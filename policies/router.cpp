// LoadView's reference queries (scans over its accessors) and the simple routers' path from a LoadView to a vector
// of loads (see policies/router.hpp).
#include "policies/router.hpp"

#include <utility>

namespace tf {

ReplicaLoad LoadView::load(std::size_t i) const {
  ReplicaLoad l;
  l.running_requests = running_requests(i);
  l.waiting_requests = waiting_requests(i);
  l.idle = idle(i);
  l.has_room = has_room(i);
  l.next_boundary_s = l.has_room ? next_boundary_s(i) : 0.0;
  l.outstanding_tokens = outstanding_tokens(i);
  l.kv_used_fraction = kv_used_fraction(i);
  return l;
}

int LoadView::fewest_requests() const {
  return argmin(*this, [](const LoadView& v, std::size_t i) {
    return static_cast<std::size_t>(v.running_requests(i)) + v.waiting_requests(i);
  });
}

int LoadView::fewest_waiting() const {
  return argmin(*this,
                [](const LoadView& v, std::size_t i) { return std::make_pair(v.waiting_requests(i), v.running_requests(i)); });
}

int LoadView::least_outstanding_tokens() const {
  return argmin(*this, [](const LoadView& v, std::size_t i) { return v.outstanding_tokens(i); });
}

int LoadView::least_kv() const {
  return argmin(*this,
                [](const LoadView& v, std::size_t i) { return std::make_pair(v.kv_used_fraction(i), v.waiting_requests(i)); });
}

int LoadView::first_idle() const {
  for (std::size_t i = 0; i < size(); ++i)
    if (idle(i)) return static_cast<int>(i);
  return -1;
}

int Router::pick(const Request& request, const LoadView& loads) {
  loads_.resize(loads.size());
  if (uses_loads())
    for (std::size_t i = 0; i < loads.size(); ++i) loads_[i] = loads.load(i);
  return route(request, loads_);
}

}  // namespace tf
