// The registry of batching policies and routers: one line per policy file. Adding a policy means writing its
// file in policies/ and adding it here; nothing in sim/ changes.
#include "policies/batching.hpp"
#include "policies/router.hpp"

namespace tf {

std::unique_ptr<BatchingPolicy> make_continuous_batching(const BatchLimits&);
std::unique_ptr<BatchingPolicy> make_static_batching(const BatchLimits&);
std::unique_ptr<BatchingPolicy> make_dynamic_batching(const BatchLimits&);
std::unique_ptr<BatchingPolicy> make_chunked_prefill(const BatchLimits&);
std::unique_ptr<BatchingPolicy> make_disaggregated_serving(const BatchLimits&);

std::unique_ptr<Router> make_round_robin_router(std::uint64_t);
std::unique_ptr<Router> make_central_queue_router(std::uint64_t);
std::unique_ptr<Router> make_random_router(std::uint64_t);
std::unique_ptr<Router> make_join_shortest_queue_router(std::uint64_t);
std::unique_ptr<Router> make_power_of_two_router(std::uint64_t);
std::unique_ptr<Router> make_least_tokens_router(std::uint64_t);
std::unique_ptr<Router> make_least_kv_router(std::uint64_t);

const std::vector<BatchingEntry>& batching_registry() {
  static const std::vector<BatchingEntry> entries = {
      {"continuous", "iteration-level batching: requests join at every iteration boundary", make_continuous_batching},
      {"chunked-prefill", "continuous batching with prompts prefilled in chunks within a token budget per iteration",
       make_chunked_prefill},
      {"static", "request-level: batches of batch_size (or fewer after timeout_s) run to completion",
       make_static_batching},
      {"dynamic", "request-level: up to max_batch, dispatched after max_queue_delay_s, run to completion",
       make_dynamic_batching},
      {"disaggregated",
       "separate prefill and decode pools (policy.prefill_replicas); the KV cache moves over the network between them",
       make_disaggregated_serving},
  };
  return entries;
}

std::unique_ptr<BatchingPolicy> make_batching_policy(const std::string& name, const BatchLimits& limits) {
  for (const auto& e : batching_registry())
    if (name == e.name) return e.make(limits);
  return nullptr;
}

std::vector<std::string> batching_policy_names() {
  std::vector<std::string> names;
  for (const auto& e : batching_registry()) names.push_back(e.name);
  return names;
}

const std::vector<RouterEntry>& router_registry() {
  static const std::vector<RouterEntry> entries = {
      {"round-robin", "request i to replica i mod N", make_round_robin_router},
      {"random", "a replica drawn uniformly at random", make_random_router},
      {"join-shortest-queue", "the replica with the fewest running plus waiting requests", make_join_shortest_queue_router},
      {"power-of-two", "the less loaded of two replicas drawn at random", make_power_of_two_router},
      {"least-tokens", "the replica with the fewest outstanding tokens", make_least_tokens_router},
      {"least-kv", "the replica with the least KV cache reserved", make_least_kv_router},
      {"central-queue", "one FIFO at the router; a replica takes work when it has room", make_central_queue_router},
  };
  return entries;
}

std::unique_ptr<Router> make_router(const std::string& name, std::uint64_t seed) {
  for (const auto& e : router_registry())
    if (name == e.name) return e.make(seed);
  return nullptr;
}

std::vector<std::string> router_names() {
  std::vector<std::string> names;
  for (const auto& e : router_registry()) names.push_back(e.name);
  return names;
}

}  // namespace tf
