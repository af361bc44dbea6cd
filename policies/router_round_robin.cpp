// Round-robin routing: request i goes to replica i mod N, whatever their load.
#include "policies/router.hpp"

namespace tf {

int RoundRobinRouter::pick(const Request&, const LoadView& loads) {
  if (loads.size() == 0) return -1;
  const int chosen = static_cast<int>(next_ % loads.size());
  ++next_;
  return chosen;
}

namespace {
const RegisterPolicy<Router> registered{
    "round-robin", "request i to replica i mod N", {},
    [](const PolicyParams&, std::uint64_t) { return std::make_unique<RoundRobinRouter>(); }};
}  // namespace

}  // namespace tf
