// Round-robin routing: request i goes to replica i mod N, whatever their load.
#include "policies/router.hpp"

namespace tf {

int RoundRobinRouter::route(const Request&, const std::vector<ReplicaLoad>& replicas) {
  if (replicas.empty()) return -1;
  const int chosen = static_cast<int>(next_ % replicas.size());
  ++next_;
  return chosen;
}

namespace {
const RegisterPolicy<Router> registered{
    "round-robin", "request i to replica i mod N", {},
    [](const PolicyParams&, std::uint64_t) { return std::make_unique<RoundRobinRouter>(); }};
}  // namespace

}  // namespace tf
