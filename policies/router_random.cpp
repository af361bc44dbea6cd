// Random routing: each request to a replica drawn uniformly, from the router's own seeded stream.
#include <cmath>

#include "policies/router.hpp"

namespace tf {

namespace {
class RandomRouter final : public ViewRouter {
 public:
  explicit RandomRouter(std::uint64_t seed) : rng_(make_stream(seed, 101)) {}
  std::string name() const override { return "random"; }
  bool uses_loads() const override { return false; }
  int pick(const Request&, const LoadView& loads) override {
    if (loads.size() == 0) return -1;
    const auto n = static_cast<double>(loads.size());
    return static_cast<int>(std::min(n - 1.0, std::floor(uniform01(rng_) * n)));
  }

 private:
  Rng rng_;
};

const RegisterPolicy<Router> registered{
    "random", "a replica drawn uniformly at random", {},
    [](const PolicyParams&, std::uint64_t seed) { return std::make_unique<RandomRouter>(seed); }};
}  // namespace

}  // namespace tf
