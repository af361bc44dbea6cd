// Least waiting: the replica with the fewest requests waiting to be admitted (ties: fewer running, then the lowest
// index). Waiting requests are those whose first token is still to come, so this aims at TTFT, where
// join-shortest-queue counts running and waiting alike. docs/adding-a-policy.md walks through this file.
#include "policies/router.hpp"

namespace tf {

namespace {

class LeastWaitingRouter final : public ViewRouter {
 public:
  std::string name() const override { return "least-waiting"; }
  int pick(const Request&, const LoadView& loads) override { return loads.fewest_waiting(); }
};

const RegisterPolicy<Router> registered{
    "least-waiting", "the replica with the fewest waiting requests (ties: fewer running)", {},
    [](const PolicyParams&, std::uint64_t) { return std::make_unique<LeastWaitingRouter>(); }};

}  // namespace

}  // namespace tf
