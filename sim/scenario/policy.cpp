// [policy]: the batching policy and the router (policies/, looked up in their registry), admission bounds, the
// KV cache and preemption, disaggregated serving's pools; and the functions of scenario.hpp about policies.
#include "sim/scenario/loader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cmath>

#include "policies/batching.hpp"
#include "policies/router.hpp"

namespace tf::loader {

void read_policy(const Section& top, Scenario& s) {
  const Section p = top.table("policy");
  s.limits.max_batch = static_cast<int>(p.integer_in("max_batch", 256, 1, INT_MAX));
  s.limits.max_batched_tokens = p.integer_in("max_batched_tokens", 8192, 1, INT64_MAX);
  s.limits.batch_size = static_cast<int>(p.integer_in("batch_size", s.limits.batch_size, 1, INT_MAX));
  s.limits.timeout_s = p.number_in("timeout_s", s.limits.timeout_s, Section::at_least(0));
  s.limits.max_queue_delay_s = p.number_in("max_queue_delay_s", s.limits.max_queue_delay_s, Section::at_least(0));
  s.max_queued_per_replica = p.integer_in("max_queued_per_replica", 0, 0, INT64_MAX);
  s.max_queued = p.integer_in("max_queued", 0, 0, INT64_MAX);
  {
    const std::string kv = p.string("kv_cache").value_or("reserve");
    if (kv != "reserve" && kv != "paged")
      p.fail("kv_cache", fmt::format("expected \"reserve\" or \"paged\", got \"{}\"", kv));
    const std::int64_t block = p.integer_in("kv_block_tokens", 16, 1, 1 << 20);
    s.kv_block_tokens = kv == "paged" ? block : 0;
    s.kv_watermark = p.number_in("kv_watermark", 0.01, Section::Range{0.0, 0.5, true, false});
  }
  s.batching = p.string("batching").value_or("continuous");
  try {
    if (!make_batching_policy(s.batching, s.limits))
      p.fail("batching",
             fmt::format("unknown batching policy \"{}\"; known: {}", s.batching, join(batching_policy_names())));
  } catch (const std::invalid_argument& e) {
    p.fail("batching", fmt::format("{}: {}", s.batching, e.what()));
  }
  s.router = p.string("router").value_or("round-robin");
  if (!make_router(s.router))
    p.fail("router", fmt::format("unknown router \"{}\"; known: {}", s.router, join(router_names())));
  {
    const auto policy = make_batching_policy(s.batching, s.limits);
    const bool disaggregated = policy && policy->disaggregates();
    for (const char* key : {"prefill_replicas", "decode_router"})
      if (!disaggregated && p.has(key))
        p.fail(key, fmt::format("only for policy.batching = \"disaggregated\" (batching is \"{}\")", s.batching));
    if (disaggregated) {
      if (s.replicas < 2)
        p.fail("batching", fmt::format("disaggregated serving needs at least 2 replicas (one prefill, one decode); "
                                       "fleet.replicas is {}",
                                       s.replicas));
      const std::int64_t prefill =
          p.integer_in("prefill_replicas", default_prefill_replicas(s.replicas), 1, s.replicas - 1);
      s.prefill_share = static_cast<double>(prefill) / static_cast<double>(s.replicas);
      s.decode_router = p.string("decode_router").value_or("");  // empty: follows policy.router
      const auto decode = make_router(decode_router_of(s));
      if (!decode)
        p.fail("decode_router", fmt::format("unknown router \"{}\"; known: {}", s.decode_router, join(router_names())));
      if (decode->central_queue())
        p.fail("decode_router", "central-queue cannot pick a decode replica: the KV cache must know where to go "
                                "when the prefill ends; choose a router that picks a replica (least-tokens, least-kv, ...)");
    }
    // Preemption with a paged cache: recompute (the KV is thrown away) or swap (copied to host memory over PCIe).
    const std::string pre = p.string("preemption").value_or("recompute");
    if (pre != "recompute" && pre != "swap")
      p.fail("preemption", fmt::format("expected \"recompute\" or \"swap\", got \"{}\"", pre));
    s.swap_preemption = pre == "swap";
    if (s.swap_preemption && s.kv_block_tokens <= 0)
      p.fail("preemption", "\"swap\" needs policy.kv_cache = \"paged\": the reserved cache (the default) never "
                           "preempts a request");
    if (s.swap_preemption && s.gpu.pcie_Bps <= 0)
      p.fail("preemption", fmt::format("\"swap\" copies KV over PCIe, but {} has no PCIe bandwidth; give "
                                       "hardware.gpu.pcie_gbps",
                                       s.gpu.name));
    if (const std::string why = policy_conflict(s); !why.empty()) p.fail("preemption", why);
  }
}

}  // namespace tf::loader

namespace tf {

namespace {
// Without policy.prefill_replicas a quarter of the fleet prefills: conversation traffic spends most of its GPU time
// decoding.
constexpr double kDefaultPrefillShare = 0.25;
}  // namespace

int default_prefill_replicas(int replicas) {
  if (replicas < 2) return 0;
  return static_cast<int>(
      std::clamp<long long>(std::llround(kDefaultPrefillShare * static_cast<double>(replicas)), 1, replicas - 1));
}

int prefill_pool_size(const Scenario& s) {
  bool disaggregated = false;
  try {
    const auto policy = make_batching_policy(s.batching, s.limits);
    disaggregated = policy && policy->disaggregates();
  } catch (const std::invalid_argument&) {
  }
  if (!disaggregated || s.replicas < 2) return 0;
  if (s.prefill_share <= 0.0) return default_prefill_replicas(s.replicas);  // e.g. compare --policies disaggregated
  const auto n = std::llround(s.prefill_share * static_cast<double>(s.replicas));
  return static_cast<int>(std::clamp<long long>(n, 1, s.replicas - 1));
}

std::string policy_conflict(const Scenario& s) {
  if (!s.swap_preemption) return "";
  // With disaggregated serving only decode replicas preempt running answers: their router is the one that matters.
  const std::string router = prefill_pool_size(s) > 0 ? decode_router_of(s) : s.router;
  const auto r = make_router(router);
  if (r && r->central_queue())
    return fmt::format("\"swap\" keeps a preempted request's KV in its replica's host memory, but router \"{}\" may "
                       "hand it to another replica; use preemption = \"recompute\" or another router",
                       router);
  return "";
}

std::string decode_router_of(const Scenario& s) {
  if (!s.decode_router.empty()) return s.decode_router;
  const auto router = make_router(s.router);
  return router && router->central_queue() ? "least-tokens" : s.router;
}

}  // namespace tf
