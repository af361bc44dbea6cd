// Shortest prompt first: fewer prompt tokens first, ties in arrival order (see policies/queue_order.hpp).
#include "policies/queue_order.hpp"

namespace tf {

namespace {

class ShortestPromptFirstOrder final : public QueueOrder {
 public:
  std::string name() const override { return "shortest-prompt-first"; }
  bool before(const Request& a, const Request& b) const override { return a.prompt_tokens < b.prompt_tokens; }
};

const RegisterPolicy<QueueOrder> registered{
    "shortest-prompt-first",
    "fewer prompt tokens first (ties: arrival order); lowers mean TTFT under load, can starve long prompts", {},
    [](const PolicyParams&) { return std::make_unique<ShortestPromptFirstOrder>(); }};

}  // namespace

}  // namespace tf
