// Power of two choices (Mitzenmacher): draw two distinct replicas at random, send to the one with fewer
// requests, running plus waiting (ties: the first drawn).
#include <cmath>

#include "policies/router.hpp"

namespace tf {

namespace {
class PowerOfTwoRouter final : public ViewRouter {
 public:
  explicit PowerOfTwoRouter(std::uint64_t seed) : rng_(make_stream(seed, 102)) {}
  std::string name() const override { return "power-of-two"; }
  int pick(const Request&, const LoadView& loads) override {  // reads the two replicas drawn, no others
    const auto n = loads.size();
    if (n == 0) return -1;
    if (n == 1) return 0;
    const auto a = draw(n);
    auto b = draw(n - 1);
    if (b >= a) ++b;  // distinct
    auto load = [&](std::size_t i) { return static_cast<std::size_t>(loads.running_requests(i)) + loads.waiting_requests(i); };
    return static_cast<int>(load(b) < load(a) ? b : a);
  }

 private:
  std::size_t draw(std::size_t n) {
    return std::min(n - 1, static_cast<std::size_t>(std::floor(uniform01(rng_) * static_cast<double>(n))));
  }
  Rng rng_;
};

const RegisterPolicy<Router> registered{
    "power-of-two", "the less loaded of two replicas drawn at random", {},
    [](const PolicyParams&, std::uint64_t seed) { return std::make_unique<PowerOfTwoRouter>(seed); }};
}  // namespace

}  // namespace tf
