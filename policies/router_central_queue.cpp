// The central queue: one FIFO at the router (see policies/router.hpp).
#include "policies/router.hpp"

namespace tf {

int CentralQueueRouter::route(const Request&, const std::vector<ReplicaLoad>& replicas) {
  int best = -1;
  for (std::size_t i = 0; i < replicas.size(); ++i) {
    if (replicas[i].idle) return static_cast<int>(i);
    if (!replicas[i].has_room) continue;
    if (best < 0 || replicas[i].next_boundary_s < replicas[static_cast<std::size_t>(best)].next_boundary_s)
      best = static_cast<int>(i);
  }
  return best;
}

namespace {
const RegisterPolicy<Router> registered{
    "central-queue", "one FIFO at the router; a replica takes work when it has room", {},
    [](const PolicyParams&, std::uint64_t) { return std::make_unique<CentralQueueRouter>(); }};
}  // namespace

}  // namespace tf
