// The policy registry (policies/registry.hpp): the generic lookup, the parameters' schema and their checks. No
// list of policies: each registers itself from its own file.
#include "policies/registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <set>

namespace tf {

namespace {

std::string num(double v) { return fmt::format("{}", v); }

// An integer parameter's bound as text; a bound at INT_MAX or beyond says "no bound" (as the loader's getters do).
bool unbounded_above(const ParamSpec& p) { return !p.max || (p.type == ParamType::integer && *p.max >= INT_MAX); }

std::string integer_text(double v) { return fmt::format("{}", static_cast<std::int64_t>(v)); }

// The smallest and largest integers within an integer parameter's bounds.
std::optional<double> int_lo(const ParamSpec& p) {
  if (!p.min) return std::nullopt;
  return p.min_inclusive ? std::ceil(*p.min) : std::floor(*p.min) + 1;
}
std::optional<double> int_hi(const ParamSpec& p) {
  if (unbounded_above(p)) return std::nullopt;
  return p.max_inclusive ? std::floor(*p.max) : std::ceil(*p.max) - 1;
}

std::string quoted_list(const std::vector<std::string>& v, const std::string& quote, const std::string& last_sep) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += i + 1 == v.size() ? last_sep : ", ";
    s += quote + v[i] + quote;
  }
  return s;
}

// "a floating-point number (2.5)": a value of the wrong type, as the loader describes TOML values.
std::string describe(const ParamValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return fmt::format("an integer ({})", *i);
  if (const auto* d = std::get_if<double>(&v)) return fmt::format("a floating-point number ({})", *d);
  if (const auto* b = std::get_if<bool>(&v)) return fmt::format("a boolean ({})", *b);
  return fmt::format("a string (\"{}\")", std::get<std::string>(v));
}

}  // namespace

const char* to_string(ParamType t) {
  switch (t) {
    case ParamType::integer: return "integer";
    case ParamType::number: return "number";
    case ParamType::boolean: return "boolean";
    case ParamType::string: return "string";
  }
  return "?";
}

std::string value_text(const ParamValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return fmt::format("{}", *i);
  if (const auto* d = std::get_if<double>(&v)) return num(*d);
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  return "\"" + std::get<std::string>(v) + "\"";
}

// --- ParamSpec --------------------------------------------------------------------------------

namespace {
ParamSpec make_spec(std::string name, ParamType type, ParamValue def, std::string help) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = type;
  p.default_value = std::move(def);
  p.help = std::move(help);
  return p;
}
}  // namespace

ParamSpec ParamSpec::integer(std::string name, std::int64_t def, std::string help) {
  return make_spec(std::move(name), ParamType::integer, def, std::move(help));
}

ParamSpec ParamSpec::number(std::string name, double def, std::string help) {
  return make_spec(std::move(name), ParamType::number, def, std::move(help));
}

ParamSpec ParamSpec::boolean(std::string name, bool def, std::string help) {
  return make_spec(std::move(name), ParamType::boolean, def, std::move(help));
}

ParamSpec ParamSpec::string(std::string name, std::string def, std::vector<std::string> allowed, std::string help) {
  ParamSpec p = make_spec(std::move(name), ParamType::string, std::move(def), std::move(help));
  p.allowed = std::move(allowed);
  return p;
}

ParamSpec ParamSpec::at_least(double lo) const {
  ParamSpec p = *this;
  p.min = lo;
  p.min_inclusive = true;
  return p;
}

ParamSpec ParamSpec::greater_than(double lo) const {
  ParamSpec p = *this;
  p.min = lo;
  p.min_inclusive = false;
  return p;
}

ParamSpec ParamSpec::at_most(double hi) const {
  ParamSpec p = *this;
  p.max = hi;
  p.max_inclusive = true;
  return p;
}

ParamSpec ParamSpec::less_than(double hi) const {
  ParamSpec p = *this;
  p.max = hi;
  p.max_inclusive = false;
  return p;
}

ParamSpec ParamSpec::with_help(std::string h) const {
  ParamSpec p = *this;
  p.help = std::move(h);
  return p;
}

std::string ParamSpec::expected() const {
  switch (type) {
    case ParamType::boolean: return "a boolean (true or false)";
    case ParamType::string: return allowed.empty() ? "a string" : quoted_list(allowed, "\"", " or ");
    case ParamType::integer: {
      const auto lo = int_lo(*this), hi = int_hi(*this);
      if (lo && hi) return fmt::format("an integer from {} to {}", integer_text(*lo), integer_text(*hi));
      if (lo) return fmt::format("an integer at least {}", integer_text(*lo));
      if (hi) return fmt::format("an integer at most {}", integer_text(*hi));
      return "an integer";
    }
    case ParamType::number: {
      if (min && max)
        return fmt::format("a number in {}{}, {}{}", min_inclusive ? "[" : "(", num(*min), num(*max),
                           max_inclusive ? "]" : ")");
      if (min) return fmt::format("a number {} {}", min_inclusive ? "at least" : "greater than", num(*min));
      if (max) return fmt::format("a number {} {}", max_inclusive ? "at most" : "less than", num(*max));
      return "a number";
    }
  }
  return "?";
}

std::string ParamSpec::problem(const ParamValue& v, const std::string& context) const {
  const std::string what = expected() + (context.empty() ? "" : " " + context);
  switch (type) {
    case ParamType::boolean:
      if (!std::holds_alternative<bool>(v)) return fmt::format("expected {}, got {}", what, describe(v));
      return "";
    case ParamType::string: {
      const auto* s = std::get_if<std::string>(&v);
      if (!s) return fmt::format("expected {}, got {}", allowed.empty() ? what : "a string", describe(v));
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), *s) == allowed.end())
        return fmt::format("expected {}, got \"{}\"", what, *s);
      return "";
    }
    case ParamType::integer: {
      const auto* i = std::get_if<std::int64_t>(&v);
      if (!i) return fmt::format("expected an integer, got {}", describe(v));
      const auto x = static_cast<double>(*i);
      const bool lo_ok = !min || (min_inclusive ? x >= *min : x > *min);
      const bool hi_ok = !max || (max_inclusive ? x <= *max : x < *max);
      if (!lo_ok || !hi_ok) return fmt::format("expected {}, got {}", what, *i);
      return "";
    }
    case ParamType::number: {
      double x = 0.0;
      if (const auto* i = std::get_if<std::int64_t>(&v))
        x = static_cast<double>(*i);
      else if (const auto* d = std::get_if<double>(&v))
        x = *d;
      else
        return fmt::format("expected a number, got {}", describe(v));
      if (!std::isfinite(x)) return fmt::format("expected a finite number, got {}", num(x));
      const bool lo_ok = !min || (min_inclusive ? x >= *min : x > *min);
      const bool hi_ok = !max || (max_inclusive ? x <= *max : x < *max);
      if (!lo_ok || !hi_ok) return fmt::format("expected {}, got {}", what, num(x));
      return "";
    }
  }
  return "";
}

std::string ParamSpec::range_text() const {
  switch (type) {
    case ParamType::boolean: return "";
    case ParamType::string: return quoted_list(allowed, "`", ", ");
    case ParamType::integer: {
      const auto lo = int_lo(*this), hi = int_hi(*this);
      if (lo && hi) return fmt::format("{} … {}", integer_text(*lo), integer_text(*hi));
      if (lo) return "≥ " + integer_text(*lo);
      if (hi) return "≤ " + integer_text(*hi);
      return "";
    }
    case ParamType::number: {
      if (min && max)
        return fmt::format("{}{}, {}{}", min_inclusive ? "[" : "(", num(*min), num(*max), max_inclusive ? "]" : ")");
      if (min) return fmt::format("{} {}", min_inclusive ? "≥" : ">", num(*min));
      if (max) return fmt::format("{} {}", max_inclusive ? "≤" : "<", num(*max));
      return "";
    }
  }
  return "";
}

// --- PolicyParams -----------------------------------------------------------------------------

PolicyParams& PolicyParams::set(const std::string& name, ParamValue v) {
  values_[name] = std::move(v);
  return *this;
}

const ParamValue* PolicyParams::get(const std::string& name) const {
  const auto it = values_.find(name);
  return it == values_.end() ? nullptr : &it->second;
}

namespace {
template <class T>
const T& typed(const PolicyParams& p, const std::string& name, const char* type) {
  const ParamValue* v = p.get(name);
  if (!v) throw std::logic_error(fmt::format("policy parameter '{}' is not there (not declared by the policy?)", name));
  const T* t = std::get_if<T>(v);
  if (!t) throw std::logic_error(fmt::format("policy parameter '{}' is not {}: {}", name, type, value_text(*v)));
  return *t;
}
}  // namespace

std::int64_t PolicyParams::integer(const std::string& name) const {
  return typed<std::int64_t>(*this, name, "an integer");
}

double PolicyParams::number(const std::string& name) const {
  if (const ParamValue* v = get(name))
    if (const auto* i = std::get_if<std::int64_t>(v)) return static_cast<double>(*i);
  return typed<double>(*this, name, "a number");
}

bool PolicyParams::boolean(const std::string& name) const { return typed<bool>(*this, name, "a boolean"); }

const std::string& PolicyParams::string(const std::string& name) const {
  return typed<std::string>(*this, name, "a string");
}

// --- PolicyInfo -------------------------------------------------------------------------------

const ParamSpec* PolicyInfo::param(const std::string& n) const {
  for (const auto& p : params)
    if (p.name == n) return &p;
  return nullptr;
}

std::vector<std::string> PolicyInfo::param_names() const {
  std::vector<std::string> names;
  for (const auto& p : params) names.push_back(p.name);
  return names;
}

// --- the registry -----------------------------------------------------------------------------

PolicyRegistry& PolicyRegistry::global() {
  static PolicyRegistry registry;
  return registry;
}

void PolicyRegistry::add(const PolicyKindInfo& kind, PolicyInfo info, std::any factory) {
  const std::string who = fmt::format("{} policy \"{}\"", info.kind, info.name);
  if (info.kind != kind.name) problems_.push_back(fmt::format("{}: registered under kind \"{}\"", who, kind.name));
  if (const PolicyKindInfo* known = this->kind(kind.name)) {
    if (!(*known == kind)) problems_.push_back(fmt::format("kind \"{}\" is described two ways", kind.name));
  } else {
    kinds_.push_back(kind);
  }
  if (info.name.empty()) problems_.push_back(fmt::format("a {} policy without a name", info.kind));
  if (find(info.kind, info.name)) {
    problems_.push_back(fmt::format("{} is registered twice", who));
    return;
  }
  std::set<std::string> seen;
  for (const ParamSpec& p : info.params) {
    if (!seen.insert(p.name).second) problems_.push_back(fmt::format("{}: parameter '{}' declared twice", who, p.name));
    if (const std::string why = p.problem(p.default_value); !why.empty())
      problems_.push_back(
          fmt::format("{}: parameter '{}': its default {}: {}", who, p.name, value_text(p.default_value), why));
    for (const PolicyKindInfo& k : kinds_)
      if (p.name == k.key)
        problems_.push_back(fmt::format("{}: parameter '{}' is the key that chooses a {}", who, p.name, k.noun));
    // One name, one meaning: [policy] is one table, so a parameter name has the same type in every policy.
    for (const Entry& e : entries_)
      if (const ParamSpec* other = e.info.param(p.name); other && other->type != p.type)
        problems_.push_back(fmt::format("{}: parameter '{}' is {} here but {} in {} policy \"{}\"", who, p.name,
                                        to_string(p.type), to_string(other->type), e.info.kind, e.info.name));
  }
  for (const Entry& e : entries_)
    if (e.info.param(kind.key))
      problems_.push_back(fmt::format("{} policy \"{}\": parameter '{}' is the key that chooses a {}", e.info.kind,
                                      e.info.name, kind.key, kind.noun));
  entries_.push_back({std::move(info), std::move(factory)});
}

const PolicyInfo* PolicyRegistry::find(const std::string& kind, const std::string& name) const {
  for (const Entry& e : entries_)
    if (e.info.kind == kind && e.info.name == name) return &e.info;
  return nullptr;
}

const std::any* PolicyRegistry::factory(const std::string& kind, const std::string& name) const {
  for (const Entry& e : entries_)
    if (e.info.kind == kind && e.info.name == name) return &e.factory;
  return nullptr;
}

const PolicyKindInfo* PolicyRegistry::kind(const std::string& name) const {
  for (const PolicyKindInfo& k : kinds_)
    if (k.name == name) return &k;
  return nullptr;
}

std::vector<PolicyKindInfo> PolicyRegistry::kinds() const {
  std::vector<PolicyKindInfo> ks = kinds_;
  std::sort(ks.begin(), ks.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return ks;
}

std::vector<const PolicyInfo*> PolicyRegistry::policies(const std::string& kind) const {
  std::vector<const PolicyInfo*> ps;
  for (const Entry& e : entries_)
    if (e.info.kind == kind) ps.push_back(&e.info);
  std::sort(ps.begin(), ps.end(), [](const PolicyInfo* a, const PolicyInfo* b) { return a->name < b->name; });
  return ps;
}

std::vector<std::string> PolicyRegistry::names(const std::string& kind) const {
  std::vector<std::string> names;
  for (const PolicyInfo* p : policies(kind)) names.push_back(p->name);
  return names;
}

std::vector<std::string> PolicyRegistry::parameter_names(const std::string& kind) const {
  std::set<std::string> names;
  for (const Entry& e : entries_)
    if (kind.empty() || e.info.kind == kind)
      for (const ParamSpec& p : e.info.params) names.insert(p.name);
  return {names.begin(), names.end()};
}

std::vector<const PolicyInfo*> PolicyRegistry::taking(const std::string& param, const std::string& kind) const {
  std::vector<const PolicyInfo*> ps;
  for (const Entry& e : entries_)
    if ((kind.empty() || e.info.kind == kind) && e.info.param(param)) ps.push_back(&e.info);
  std::sort(ps.begin(), ps.end(), [](const PolicyInfo* a, const PolicyInfo* b) {
    return a->kind != b->kind ? a->kind < b->kind : a->name < b->name;
  });
  return ps;
}

PolicyParams resolve_params(const PolicyInfo& info, const PolicyParams& given) {
  PolicyParams p;
  for (const ParamSpec& spec : info.params) {
    const ParamValue* v = given.get(spec.name);
    if (!v) {
      p.set(spec.name, spec.default_value);
      continue;
    }
    if (const std::string why = spec.problem(*v); !why.empty())
      throw std::invalid_argument(fmt::format("{}: {}", spec.name, why));
    // A number given as an integer is kept as a number.
    if (spec.type == ParamType::number && std::holds_alternative<std::int64_t>(*v))
      p.set(spec.name, static_cast<double>(std::get<std::int64_t>(*v)));
    else
      p.set(spec.name, *v);
  }
  return p;
}

}  // namespace tf
