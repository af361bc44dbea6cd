// Least KV usage: the replica whose KV cache is least reserved (ties: fewer waiting, then lowest index).
#include "policies/router.hpp"

namespace tf {

namespace {
class LeastKvRouter final : public ViewRouter {
 public:
  std::string name() const override { return "least-kv"; }
  int pick(const Request&, const LoadView& loads) override { return loads.least_kv(); }
};

const RegisterPolicy<Router> registered{
    "least-kv", "the replica with the least KV cache reserved", {},
    [](const PolicyParams&, std::uint64_t) { return std::make_unique<LeastKvRouter>(); }};
}  // namespace

}  // namespace tf
