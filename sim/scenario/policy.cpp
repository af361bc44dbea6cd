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

namespace {

// The settings of [policy] that belong to the engine rather than to a policy (read below as before the registry).
const std::vector<std::string> kEngineSettings = {"prefill_replicas", "decode_router"};

bool same_range(const ParamSpec& a, const ParamSpec& b) {
  return a.min == b.min && a.max == b.max && a.min_inclusive == b.min_inclusive && a.max_inclusive == b.max_inclusive &&
         a.allowed == b.allowed;
}

// A parameter's value in [policy], read as its type says (with the getters' type errors).
ParamValue read_value(const Section& p, const std::string& key, ParamType type) {
  switch (type) {
    case ParamType::integer: return *p.integer(key);
    case ParamType::number: return *p.number(key);
    case ParamType::boolean: return *p.boolean(key);
    case ParamType::string: return *p.string(key);
  }
  return {};
}

// A kind whose key has a dot (autoscaler.policy) is chosen in its own table, and its parameters are keys of that
// table, not of [policy] (sim/scenario/autoscaler.cpp).
bool in_policy_table(const PolicyKindInfo& kind) { return kind.key.find('.') == std::string::npos; }
bool policy_table_parameter(const std::string& key) {
  const PolicyRegistry& registry = PolicyRegistry::global();
  for (const PolicyInfo* p : registry.taking(key))
    if (in_policy_table(*registry.kind(p->kind))) return true;
  return false;
}

std::string names_of(const std::vector<const PolicyInfo*>& policies) {
  std::vector<std::string> names;
  for (const PolicyInfo* p : policies) names.push_back(p->name);
  return join(names);
}

// The policy parameters in [policy], checked against the schemas (policies/registry.hpp), into s.policy_params.
// The rule: a parameter of a chosen policy is checked against that policy's schema. A parameter that only other
// policies take is kept, checked against theirs (it must suit at least one), and noted in s.notes: it is not an
// error, since compare --policies and --set policy.batching=... switch policies without editing the file (and
// --set cannot remove a key the file gives). A key that no policy takes and the engine does not know is an unknown
// key (loader.cpp).
void read_policy_parameters(const Section& p, const std::vector<const PolicyInfo*>& chosen, Scenario& s) {
  const PolicyRegistry& registry = PolicyRegistry::global();
  for (const std::string& key : registry.parameter_names()) {
    if (!p.has(key) || !policy_table_parameter(key)) continue;
    const std::vector<const PolicyInfo*> takers = registry.taking(key);
    ParamValue v = read_value(p, key, takers.front()->param(key)->type);  // one type per name (the registry checks)
    bool taken = false;
    for (const PolicyInfo* c : chosen) {
      const ParamSpec* spec = c->param(key);
      if (!spec) continue;
      taken = true;
      // Name the policy when others of its kind take the parameter with another range.
      bool differs = false;
      for (const PolicyInfo* o : registry.taking(key, c->kind)) differs = differs || !same_range(*o->param(key), *spec);
      if (const std::string why = spec->problem(v, differs ? "for " + c->name : ""); !why.empty()) p.fail(key, why);
    }
    if (!taken) {
      std::string why;
      bool fits = false;
      for (const PolicyInfo* o : takers) {
        const std::string w = o->param(key)->problem(v, "for " + o->name);
        fits = fits || w.empty();
        if (why.empty()) why = w;
      }
      if (!fits) p.fail(key, why);
      const std::string& kind = takers.front()->kind;
      for (const PolicyInfo* c : chosen)
        if (c->kind == kind)
          s.notes.push_back(p.loader()
                                .error(p.key(key), fmt::format("{} \"{}\" does not take it ({}); kept for {}, should "
                                                               "compare --policies or --set policy.{} choose it",
                                                               registry.kind(kind)->noun, c->name,
                                                               c->params.empty() ? "it takes no parameters"
                                                                                 : "it takes " + join(c->param_names()),
                                                               names_of(takers), registry.kind(kind)->key))
                                .what());
    }
    if (const auto* i = std::get_if<std::int64_t>(&v); i && takers.front()->param(key)->type == ParamType::number)
      v = static_cast<double>(*i);
    s.policy_params.set(key, v);
  }
}

}  // namespace

std::vector<std::string> policy_keys() {
  const PolicyRegistry& registry = PolicyRegistry::global();
  std::vector<std::string> keys;
  for (const PolicyKindInfo& kind : registry.kinds())
    if (in_policy_table(kind)) keys.push_back(kind.key);
  for (const std::string& name : registry.parameter_names())
    if (policy_table_parameter(name)) keys.push_back(name);
  keys.insert(keys.end(), kEngineSettings.begin(), kEngineSettings.end());
  return keys;
}

void read_policy(const Section& top, Scenario& s) {
  const Section p = top.table("policy");
  const PolicyRegistry& registry = PolicyRegistry::global();

  // The policy of each kind: policy.batching, policy.router (registry.kinds() says which there are).
  std::vector<const PolicyInfo*> chosen;
  for (const PolicyKindInfo& kind : registry.kinds()) {
    if (!in_policy_table(kind)) continue;
    const std::string name = p.string(kind.key).value_or(kind.default_name);
    const PolicyInfo* info = registry.find(kind.name, name);
    if (!info)
      p.fail(kind.key,
             fmt::format("unknown {} \"{}\"; known: {}", kind.noun, name, join(registry.names(kind.name))));
    chosen.push_back(info);
    if (kind.name == "batching") s.batching = name;
    if (kind.name == "router") s.router = name;
    if (kind.name == "queue-order") s.queue_order = name;
    if (kind.name == "admission") s.admission = name;
  }
  read_policy_parameters(p, chosen, s);
  s.limits = batch_limits(s.policy_params);

  s.max_queued_per_replica = p.integer_in("max_queued_per_replica", 0, 0, INT64_MAX);
  s.max_queued = p.integer_in("max_queued", 0, 0, INT64_MAX);
  {
    // The KV-cache policy (policies/kv_cache_*.cpp): its parameters were checked against its schema above.
    const std::string kv = p.string("kv_cache").value_or("reserve");
    const std::int64_t block = p.integer_in("kv_block_tokens", 16, 1, 1 << 20);
    s.kv_block_tokens = kv == "paged" ? block : 0;
    s.kv_watermark = p.number_in("kv_watermark", 0.01, Section::Range{0.0, 0.5, true, false});
  }
  // The policies are built once here: a factory may check more than its schema does (it throws
  // std::invalid_argument, reported at the key that chose the policy).
  std::unique_ptr<BatchingPolicy> policy;
  try {
    policy = make_batching_policy(s.batching, s.policy_params);
  } catch (const std::invalid_argument& e) {
    p.fail("batching", fmt::format("{}: {}", s.batching, e.what()));
  }
  try {
    make_router(s.router, s.policy_params, s.seed);
  } catch (const std::invalid_argument& e) {
    p.fail("router", fmt::format("{}: {}", s.router, e.what()));
  }
  {
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
    s.swap_preemption = pre == "swap";
    if (s.swap_preemption && s.kv_block_tokens <= 0)
      p.fail("preemption", "\"swap\" needs policy.kv_cache = \"paged\": the reserved cache (the default) never "
                           "preempts a request");
    if (s.swap_preemption && s.gpu.pcie_Bps <= 0)
      p.fail("preemption", fmt::format("\"swap\" copies KV over PCIe, but {} has no PCIe bandwidth; give "
                                       "hardware.gpu.pcie_gbps",
                                       s.gpu.name));
    if (const std::string why = policy_conflict(s); !why.empty()) p.fail("preemption", why);
    // Prefix caching keeps KV blocks: only a paged cache has them.
    s.prefix_cache = p.boolean("prefix_cache").value_or(false);
    if (s.prefix_cache && s.kv_block_tokens <= 0)
      p.fail("prefix_cache", "needs policy.kv_cache = \"paged\": prefix caching keeps KV blocks, and the reserved cache "
                             "(the default) has none");
    if (s.prefix_cache && s.workload.trace.enabled && 512 % s.kv_block_tokens != 0)
      p.fail("kv_block_tokens", fmt::format("{} does not divide 512: with prefix caching a trace's hash_ids name blocks of "
                                            "512 tokens (Mooncake's), so kv_block_tokens must divide 512 (16, 32, ..., 512)",
                                            s.kv_block_tokens));
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
    const auto policy = make_batching_policy(s.batching, s.policy_params);
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
