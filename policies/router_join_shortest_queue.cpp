// Join the shortest queue: the replica with the fewest requests, running plus waiting (ties: lowest index).
#include "policies/router.hpp"

namespace tf {

namespace {
class JoinShortestQueueRouter final : public ViewRouter {
 public:
  std::string name() const override { return "join-shortest-queue"; }
  int pick(const Request&, const LoadView& loads) override { return loads.fewest_requests(); }
};

const RegisterPolicy<Router> registered{
    "join-shortest-queue", "the replica with the fewest running plus waiting requests", {},
    [](const PolicyParams&, std::uint64_t) { return std::make_unique<JoinShortestQueueRouter>(); }};
}  // namespace

}  // namespace tf
