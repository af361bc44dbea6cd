// Least outstanding tokens: the replica with the least work left, counted in tokens (prompt tokens not yet
// prefilled plus output tokens not yet produced, of its running and waiting requests).
#include "policies/router.hpp"

namespace tf {

namespace {
class LeastTokensRouter final : public ViewRouter {
 public:
  std::string name() const override { return "least-tokens"; }
  int pick(const Request&, const LoadView& loads) override { return loads.least_outstanding_tokens(); }
};

const RegisterPolicy<Router> registered{
    "least-tokens", "the replica with the fewest outstanding tokens", {},
    [](const PolicyParams&, std::uint64_t) { return std::make_unique<LeastTokensRouter>(); }};
}  // namespace

}  // namespace tf
