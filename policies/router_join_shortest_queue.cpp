// Join the shortest queue: the replica with the fewest requests, running plus waiting (ties: lowest index).
#include "policies/router.hpp"

namespace tf {

namespace {
class JoinShortestQueueRouter final : public Router {
 public:
  std::string name() const override { return "join-shortest-queue"; }
  int route(const Request&, const std::vector<ReplicaLoad>& replicas) override {
    return argmin(replicas, [](const ReplicaLoad& r) { return static_cast<std::size_t>(r.running_requests) + r.waiting_requests; });
  }
};

const RegisterPolicy<Router> registered{
    "join-shortest-queue", "the replica with the fewest running plus waiting requests", {},
    [](const PolicyParams&, std::uint64_t) { return std::make_unique<JoinShortestQueueRouter>(); }};
}  // namespace

}  // namespace tf
