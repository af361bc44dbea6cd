// Prefix-aware routing (as SGLang's cache-aware router and llm-d's prefix-cache scorer do): the replica holding the
// longest cached prefix of the request's prompt, balanced against load. Each replica is scored by the work the
// request would add there and the work waiting there, in tokens:
//     prefix_load_weight x outstanding tokens  -  prompt tokens found in its prefix cache
// and the lowest score wins (ties: fewer requests running and waiting, then the lowest index). With weight 0 it is
// pure cache affinity (the longest prefix wins, whatever the queue); with a large weight it is least-tokens, the cache
// breaking ties. Reads every replica of the pool (a pass over it per arrival). Without prefix caching
// (policy.prefix_cache) no replica holds anything and it is least-tokens weighed by the weight.
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <utility>

#include "policies/router.hpp"

namespace tf {

namespace {
class PrefixAwareRouter final : public ViewRouter {
 public:
  explicit PrefixAwareRouter(double load_weight) : load_weight_(load_weight) {
    if (!(load_weight >= 0.0)) throw std::invalid_argument("prefix_load_weight must not be negative");
  }
  std::string name() const override { return "prefix-aware"; }
  bool uses_prefix_cache() const override { return true; }
  int pick(const Request& request, const LoadView& loads) override {
    int best = -1;
    double best_score = std::numeric_limits<double>::infinity();
    std::size_t best_requests = 0;
    for (std::size_t i = 0; i < loads.size(); ++i) {
      const double score = load_weight_ * static_cast<double>(loads.outstanding_tokens(i)) -
                           static_cast<double>(loads.cached_prefix_tokens(i, request));
      const std::size_t requests = static_cast<std::size_t>(loads.running_requests(i)) + loads.waiting_requests(i);
      if (best < 0 || score < best_score || (score == best_score && requests < best_requests)) {
        best = static_cast<int>(i);
        best_score = score;
        best_requests = requests;
      }
    }
    return best;
  }

 private:
  double load_weight_;
};

const RegisterPolicy<Router> registered{
    "prefix-aware",
    "the replica holding the longest cached prefix of the prompt, weighed against its outstanding tokens",
    {ParamSpec::number("prefix_load_weight", 1.0,
                       "tokens of cached prefix one outstanding token of load is worth: the replica with the least "
                       "prefix_load_weight x outstanding tokens - cached prompt tokens wins")
         .at_least(0.0)
         .at_most(1e6)},
    [](const PolicyParams& p, std::uint64_t) {
      return std::make_unique<PrefixAwareRouter>(p.number("prefix_load_weight"));
    }};
}  // namespace

}  // namespace tf
