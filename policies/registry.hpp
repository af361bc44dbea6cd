#pragma once
// The policy registry. Every policy registers itself from its own file, with a one-line description and its
// parameters' schema (name, type, default, range, help), so that adding a policy is writing one file: the
// scenario loader checks `[policy]` against the schema, `tokenfleet policies` lists it, and the engine builds it by
// name. Policies come in kinds ("batching", "router"; later "kv-cache", "queue-order", "admission"), each with its
// own base class and factory signature, declared by specialising PolicyKind<Base> in the kind's header
// (policies/batching.hpp, policies/router.hpp).
//
// How a policy registers (in its .cpp, at namespace scope; see docs/adding-a-policy.md):
//
//   const RegisterPolicy<Router> registered{
//       "least-waiting", "the replica with the fewest waiting requests", {/* parameters */},
//       [](const PolicyParams&, std::uint64_t) { return std::make_unique<LeastWaitingRouter>(); }};
//
// and how it is built: make_policy<Router>("least-waiting", params, seed) (nullptr for an unknown name; throws
// std::invalid_argument naming the parameter for a value of the wrong type or out of range).
//
// Plain C++ (no SimGrid). The registry is filled during static initialisation, so tf_policies is linked whole
// (CMakeLists.txt): a policy file that nothing references would otherwise be dropped by the linker.
#include <any>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace tf {

enum class ParamType { integer, number, boolean, string };
const char* to_string(ParamType t);  // "integer", "number", "boolean", "string"

// A parameter's value. A number parameter also takes an integer value (as the scenario loader does).
using ParamValue = std::variant<std::int64_t, double, bool, std::string>;
// A value as text: 256, 0.1, true, "text" (strings quoted).
std::string value_text(const ParamValue& v);

// One parameter of a policy: its name (a key of the scenario's [policy] table), type, default, range and a one-line
// help. Parameters that several policies take are declared once (e.g. max_batch_param() in policies/batching.hpp)
// and referenced by each, possibly with a narrower range (at_least, ...).
struct ParamSpec {
  std::string name;
  ParamType type = ParamType::number;
  ParamValue default_value = 0.0;
  std::optional<double> min, max;  // integer and number parameters; integers' bounds are whole
  bool min_inclusive = true, max_inclusive = true;
  std::vector<std::string> allowed;  // string parameters: the values it takes (empty: any string)
  std::string help;

  static ParamSpec integer(std::string name, std::int64_t def, std::string help);
  static ParamSpec number(std::string name, double def, std::string help);
  static ParamSpec boolean(std::string name, bool def, std::string help);
  static ParamSpec string(std::string name, std::string def, std::vector<std::string> allowed, std::string help);

  // Copies with a bound set (replacing the one there was).
  ParamSpec at_least(double lo) const;
  ParamSpec greater_than(double lo) const;
  ParamSpec at_most(double hi) const;
  ParamSpec less_than(double hi) const;
  ParamSpec with_help(std::string h) const;

  // What a value must be, as the loader's errors say it: "an integer at least 1", "a number in [0, 0.5)",
  // "\"reserve\" or \"paged\"", "a boolean (true or false)".
  std::string expected() const;
  // Empty when `v` is a value of this parameter; else "expected an integer at least 1, got 0" (`context`, when not
  // empty, goes after what is expected: "expected an integer at least 16 for chunked-prefill, got 8").
  std::string problem(const ParamValue& v, const std::string& context = "") const;
  // The range for docs: "≥ 1", "1 … 8", "[0, 0.5)", "> 0", "`reserve`, `paged`"; empty when any value goes.
  std::string range_text() const;
  bool operator==(const ParamSpec&) const = default;
};

// The parameter values a policy is built with (a small typed bag). make_policy() hands its factory one that holds
// every parameter the policy declares (the value given, else the default), checked against the schema.
class PolicyParams {
 public:
  PolicyParams& set(const std::string& name, ParamValue v);
  // One overload per type, so that set("timeout_s", 0.1) stays a number and set("max_batch", 64) an integer.
  PolicyParams& set(const std::string& name, std::int64_t v) { return set(name, ParamValue(v)); }
  PolicyParams& set(const std::string& name, int v) { return set(name, ParamValue(std::int64_t{v})); }
  PolicyParams& set(const std::string& name, double v) { return set(name, ParamValue(v)); }
  PolicyParams& set(const std::string& name, bool v) { return set(name, ParamValue(v)); }
  PolicyParams& set(const std::string& name, std::string v) { return set(name, ParamValue(std::move(v))); }
  PolicyParams& set(const std::string& name, const char* v) { return set(name, ParamValue(std::string(v))); }

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  const ParamValue* get(const std::string& name) const;
  // Typed reads; std::logic_error when absent or of another type (a policy reading a parameter it did not declare).
  std::int64_t integer(const std::string& name) const;
  double number(const std::string& name) const;  // an integer value reads as a number
  bool boolean(const std::string& name) const;
  const std::string& string(const std::string& name) const;

  const std::map<std::string, ParamValue>& values() const { return values_; }
  bool empty() const { return values_.empty(); }
  bool operator==(const PolicyParams&) const = default;

 private:
  std::map<std::string, ParamValue> values_;
};

// A kind of policy: its name, the [policy] key that chooses one (and the choice without it), and how docs and
// errors call it.
struct PolicyKindInfo {
  std::string name;          // "batching"
  std::string key;           // "batching": policy.batching = "continuous"
  std::string noun;          // "batching policy": "unknown batching policy \"x\"; known: ..."
  std::string default_name;  // "continuous"
  std::string description;   // one line
  bool operator==(const PolicyKindInfo&) const = default;
};

// A registered policy: its kind, name (the value of its kind's key), one-line description and parameters.
struct PolicyInfo {
  std::string kind;
  std::string name;
  std::string description;
  std::vector<ParamSpec> params;
  const ParamSpec* param(const std::string& name) const;  // nullptr when it does not take it
  std::vector<std::string> param_names() const;           // in declaration order
};

// Each kind's header specialises this: the kind's description (a static PolicyKindInfo info()) and its factory
// type (using Factory = std::function<std::unique_ptr<Base>(const PolicyParams&, ...)>).
template <class Base>
struct PolicyKind;

class PolicyRegistry {
 public:
  // The registry every policy file registers with.
  static PolicyRegistry& global();

  // A problem (the same name twice, a default outside its range, one parameter name with two types, a kind
  // described two ways) is recorded in problems() instead of thrown: nothing could catch it during static
  // initialisation. A duplicate is not added.
  void add(const PolicyKindInfo& kind, PolicyInfo info, std::any factory);

  const PolicyInfo* find(const std::string& kind, const std::string& name) const;
  const std::any* factory(const std::string& kind, const std::string& name) const;
  const PolicyKindInfo* kind(const std::string& name) const;
  std::vector<PolicyKindInfo> kinds() const;                              // sorted by name
  std::vector<const PolicyInfo*> policies(const std::string& kind) const; // sorted by name
  std::vector<std::string> names(const std::string& kind) const;          // sorted
  // Every parameter name that some policy of `kind` (of any kind when empty) takes, sorted.
  std::vector<std::string> parameter_names(const std::string& kind = "") const;
  // The policies that take parameter `param`, of `kind` (any when empty), sorted by kind then name.
  std::vector<const PolicyInfo*> taking(const std::string& param, const std::string& kind = "") const;
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  struct Entry {
    PolicyInfo info;
    std::any factory;
  };
  std::vector<Entry> entries_;  // in registration order (static initialisation: unspecified); lookups sort
  std::vector<PolicyKindInfo> kinds_;
  std::vector<std::string> problems_;
};

// The values a policy is built with: each parameter it declares, from `given` when there (checked:
// std::invalid_argument "max_batched_tokens: expected an integer at least 16, got 8"), else its default. Keys of
// `given` that the policy does not take are left out: whether they are an error is the scenario loader's rule
// (sim/scenario/policy.cpp).
PolicyParams resolve_params(const PolicyInfo& info, const PolicyParams& given);

// Registers a policy of kind Base with PolicyRegistry::global(); one of these at namespace scope in the policy's file.
template <class Base>
class RegisterPolicy {
 public:
  using Factory = typename PolicyKind<Base>::Factory;
  RegisterPolicy(std::string name, std::string description, std::vector<ParamSpec> params, Factory make) {
    PolicyInfo info{PolicyKind<Base>::info().name, std::move(name), std::move(description), std::move(params)};
    PolicyRegistry::global().add(PolicyKind<Base>::info(), std::move(info), std::any(std::move(make)));
  }
};

// The policy of kind Base and that name built with `given` (completed by resolve_params) and the kind's further
// factory arguments (a router's seed); nullptr when no such policy is registered.
template <class Base, class... Args>
std::unique_ptr<Base> make_policy(const std::string& name, const PolicyParams& given, Args&&... args) {
  using Factory = typename PolicyKind<Base>::Factory;
  const PolicyRegistry& registry = PolicyRegistry::global();
  const std::string kind = PolicyKind<Base>::info().name;
  const PolicyInfo* info = registry.find(kind, name);
  if (!info) return nullptr;
  const Factory* make = std::any_cast<Factory>(registry.factory(kind, name));
  if (!make) throw std::logic_error(kind + " policy \"" + name + "\" was registered with another factory type");
  return (*make)(resolve_params(*info, given), std::forward<Args>(args)...);
}

// The names of the registered policies of kind Base, sorted.
template <class Base>
std::vector<std::string> policy_names() {
  return PolicyRegistry::global().names(PolicyKind<Base>::info().name);
}

}  // namespace tf
