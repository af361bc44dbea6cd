// Least KV usage: the replica whose KV cache is least reserved (ties: fewer waiting, then lowest index).
#include "policies/router.hpp"

namespace tf {

namespace {
class LeastKvRouter final : public Router {
 public:
  std::string name() const override { return "least-kv"; }
  int route(const Request&, const std::vector<ReplicaLoad>& replicas) override {
    return argmin(replicas, [](const ReplicaLoad& r) { return std::make_pair(r.kv_used_fraction, r.waiting_requests); });
  }
};

const RegisterPolicy<Router> registered{
    "least-kv", "the replica with the least KV cache reserved", {},
    [](const PolicyParams&, std::uint64_t) { return std::make_unique<LeastKvRouter>(); }};
}  // namespace

}  // namespace tf
