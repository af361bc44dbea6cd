// The central queue: one FIFO at the router (see policies/router.hpp).
#include "policies/router.hpp"

namespace tf {

int CentralQueueRouter::pick(const Request&, const LoadView& loads) {
  // The lowest idle replica, wherever the replicas with room are; else the first boundary among those with room.
  if (const int idle = loads.first_idle(); idle >= 0) return idle;
  int best = -1;
  double best_s = 0.0;
  for (std::size_t i = 0; i < loads.size(); ++i) {
    if (!loads.has_room(i)) continue;
    const double t = loads.next_boundary_s(i);
    if (best < 0 || t < best_s) {
      best = static_cast<int>(i);
      best_s = t;
    }
  }
  return best;
}

namespace {
const RegisterPolicy<Router> registered{
    "central-queue", "one FIFO at the router; a replica takes work when it has room", {},
    [](const PolicyParams&, std::uint64_t) { return std::make_unique<CentralQueueRouter>(); }};
}  // namespace

}  // namespace tf
