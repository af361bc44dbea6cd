// [autoscaler]: the policy (policies/autoscaler_*.cpp, kind "autoscaler") and its parameters, the evaluation
// interval, the bounds, the scale-down delay and the cold start. Defaults and their sources: scenarios/README.md,
// [autoscaler].
#include <algorithm>
#include <climits>

#include "sim/scenario/loader.hpp"

namespace tf::loader {

namespace {

const std::vector<std::string> kAutoscalerSettings = {
    "policy", "interval_s", "min_replicas", "max_replicas", "initial_replicas", "scale_down_delay_s",
    "provision_s", "load_gbps", "startup_s"};

ParamValue read_param(const Section& a, const std::string& key, ParamType type) {
  switch (type) {
    case ParamType::integer: return *a.integer(key);
    case ParamType::number: return *a.number(key);
    case ParamType::boolean: return *a.boolean(key);
    case ParamType::string: return *a.string(key);
  }
  return {};
}

}  // namespace

std::vector<std::string> autoscaler_keys() {
  std::vector<std::string> keys = kAutoscalerSettings;
  for (const std::string& name : PolicyRegistry::global().parameter_names("autoscaler")) keys.push_back(name);
  return keys;
}

void read_autoscaler(const Section& top, Scenario& s) {
  const Section a = top.table("autoscaler");
  if (!a.present()) return;
  if (s.pods > 1)
    top.fail("autoscaler", fmt::format("autoscaling a fleet of pods (fleet.pods = {}) is not simulated; autoscale "
                                       "one fleet, or leave [autoscaler] out", s.pods));
  if (s.batching == "disaggregated")
    top.fail("autoscaler", "autoscaling is not simulated with disaggregated serving (two pools); use co-located "
                           "batching, or leave [autoscaler] out");
  AutoscalerSpec& spec = s.autoscaler;
  spec = AutoscalerSpec{};
  spec.enabled = true;
  const PolicyRegistry& registry = PolicyRegistry::global();
  spec.policy = a.string("policy").value_or(PolicyKind<Autoscaler>::info().default_name);
  const PolicyInfo* info = registry.find("autoscaler", spec.policy);
  if (!info)
    a.fail("policy", fmt::format("unknown autoscaler policy \"{}\"; known: {}", spec.policy,
                                 join(registry.names("autoscaler"))));
  for (const std::string& key : registry.parameter_names("autoscaler")) {
    if (!a.has(key)) continue;
    const ParamSpec* p = info->param(key);
    if (!p) {
      std::vector<std::string> takers;
      for (const PolicyInfo* o : registry.taking(key, "autoscaler")) takers.push_back(o->name);
      a.fail(key, fmt::format("autoscaler policy \"{}\" does not take it ({}); {} does",
                              spec.policy, info->params.empty() ? "it takes no parameters" : "it takes " + join(info->param_names()),
                              join(takers)));
    }
    ParamValue v = read_param(a, key, p->type);
    if (const std::string why = p->problem(v); !why.empty()) a.fail(key, why);
    if (const auto* i = std::get_if<std::int64_t>(&v); i && p->type == ParamType::number) v = static_cast<double>(*i);
    spec.params.set(key, v);
  }
  try {
    make_autoscaler(spec.policy, spec.params);
  } catch (const std::invalid_argument& e) {
    a.fail("policy", fmt::format("{}: {}", spec.policy, e.what()));
  }
  spec.interval_s = a.number_in("interval_s", spec.interval_s, Section::greater_than(0));
  spec.max_replicas = static_cast<int>(a.integer_in("max_replicas", s.replicas, 1, 1000000));
  spec.min_replicas = static_cast<int>(a.integer_in("min_replicas", 1, 1, spec.max_replicas));
  spec.initial_replicas = static_cast<int>(a.integer_in("initial_replicas",
                                                        std::clamp(s.replicas, spec.min_replicas, spec.max_replicas),
                                                        spec.min_replicas, spec.max_replicas));
  spec.scale_down_delay_s = a.number_in("scale_down_delay_s", spec.scale_down_delay_s, Section::at_least(0));
  spec.provision_s = a.number_in("provision_s", spec.provision_s, Section::at_least(0));
  spec.load_gbps = a.number_in("load_gbps", spec.load_gbps, Section::greater_than(0));
  spec.startup_s = a.number_in("startup_s", spec.startup_s, Section::at_least(0));
}

}  // namespace tf::loader
