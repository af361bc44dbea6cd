#include "policies/router.hpp"

namespace tf {

int RoundRobinRouter::route(const Request&, const std::vector<ReplicaLoad>& replicas) {
  if (replicas.empty()) return -1;
  const int chosen = static_cast<int>(next_ % replicas.size());
  ++next_;
  return chosen;
}

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

std::unique_ptr<Router> make_router(const std::string& name) {
  if (name == "round-robin") return std::make_unique<RoundRobinRouter>();
  if (name == "central-queue") return std::make_unique<CentralQueueRouter>();
  return nullptr;
}

std::vector<std::string> router_names() { return {"round-robin", "central-queue"}; }

}  // namespace tf
