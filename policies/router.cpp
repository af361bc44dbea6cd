#include "policies/router.hpp"

namespace tf {

int RoundRobinRouter::route(const Request&, const std::vector<ReplicaLoad>& replicas) {
  if (replicas.empty()) return -1;
  const int chosen = static_cast<int>(next_ % replicas.size());
  ++next_;
  return chosen;
}

int CentralQueueRouter::route(const Request&, const std::vector<ReplicaLoad>& replicas) {
  // Wake an idle replica if there is one (lowest index first), else the least loaded.
  int best = -1;
  std::size_t best_load = 0;
  for (std::size_t i = 0; i < replicas.size(); ++i) {
    if (replicas[i].idle) return static_cast<int>(i);
    const std::size_t load = static_cast<std::size_t>(replicas[i].running_requests) + replicas[i].waiting_requests;
    if (best < 0 || load < best_load) {
      best = static_cast<int>(i);
      best_load = load;
    }
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
