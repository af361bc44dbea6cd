// `tokenfleet policies`: every registered policy by kind, with its description and its parameters (name, type,
// default, range, help), from the registry (policies/registry.hpp). With --markdown: the tables that
// scenarios/README.md's [policy] section holds between its "generated" markers (scripts/update-policy-docs.sh
// puts them there; tests/test_policy_docs.cpp checks that they are the same).
#include <algorithm>
#include <cctype>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "policies/batching.hpp"
#include "policies/registry.hpp"
#include "policies/router.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"

namespace tf {

namespace {

// "batching policy" -> "Batching policies", "router" -> "Routers".
std::string plural_title(std::string noun) {
  if (!noun.empty() && noun.back() == 'y')
    noun = noun.substr(0, noun.size() - 1) + "ies";
  else
    noun += "s";
  if (!noun.empty() && noun[0] >= 'a' && noun[0] <= 'z') noun[0] = static_cast<char>(noun[0] - 'a' + 'A');
  return noun;
}

std::string cell(std::string s) {  // a markdown table cell
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string code(const std::string& s) { return "`" + s + "`"; }

std::string codes(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size(); ++i) s += (i ? ", " : "") + code(names[i]);
  return s;
}

std::string default_text(const ParamSpec& p) {
  return p.type == ParamType::string ? code(value_text(p.default_value)) : value_text(p.default_value);
}

// One text per policy that takes a parameter (its default, range or help): the most common one, then the others
// with the policies they belong to ("≥ 1 (`chunked-prefill`: ≥ 16)"; `sep` joins the others: " (" ... ")" or "; ").
std::string merged(const std::vector<std::pair<std::string, std::string>>& by_policy, bool as_note) {
  std::vector<std::string> order;                        // distinct texts, in the policies' order
  std::map<std::string, std::vector<std::string>> whose;  // text -> policies
  for (const auto& [policy, text] : by_policy) {
    if (!whose.count(text)) order.push_back(text);
    whose[text].push_back(policy);
  }
  const std::string common = *std::max_element(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    return whose[a].size() < whose[b].size();  // ties: the first
  });
  std::string s = common;
  std::vector<std::string> others;
  for (const auto& text : order)
    if (text != common) others.push_back(fmt::format("{}: {}", codes(whose[text]), text.empty() ? "any" : text));
  if (others.empty()) return s;
  std::string rest;
  for (std::size_t i = 0; i < others.size(); ++i) rest += (i ? "; " : "") + others[i];
  return as_note ? s + "; " + rest : (s.empty() ? "any" : s) + " (" + rest + ")";
}

// A kind's parameters: each name once, merged over the policies that take it.
struct ParamRow {
  std::string name, type, default_value, range, taken_by, help;
};

std::vector<ParamRow> parameter_rows(const PolicyRegistry& registry, const std::string& kind) {
  std::vector<ParamRow> rows;
  for (const std::string& name : registry.parameter_names(kind)) {
    std::vector<std::pair<std::string, std::string>> defaults, ranges, helps;
    std::vector<std::string> takers;
    ParamType type = ParamType::number;
    for (const PolicyInfo* p : registry.taking(name, kind)) {
      const ParamSpec& spec = *p->param(name);
      type = spec.type;
      takers.push_back(p->name);
      defaults.emplace_back(p->name, default_text(spec));
      ranges.emplace_back(p->name, spec.range_text());
      helps.emplace_back(p->name, spec.help);
    }
    rows.push_back({name, to_string(type), merged(defaults, false), merged(ranges, false), codes(takers),
                    merged(helps, true)});
  }
  return rows;
}

// The scenario key that chooses a policy of the kind: policy.<key>, or the key itself when it names its own table
// (autoscaler.policy, whose parameters are keys of [autoscaler]).
std::string chooser_key(const PolicyKindInfo& kind) {
  return kind.key.find('.') == std::string::npos ? "policy." + kind.key : kind.key;
}

std::string markdown(const PolicyRegistry& registry) {
  std::string out;
  bool first = true;
  for (const PolicyKindInfo& kind : registry.kinds()) {
    if (!first) out += "\n";
    first = false;
    out += fmt::format("### {} (`{}`, default `\"{}\"`)\n\n", plural_title(kind.noun), chooser_key(kind),
                       kind.default_name);
    std::string description = kind.description;
    if (!description.empty()) description[0] = static_cast<char>(std::toupper(description[0]));
    out += description + ".\n\n";
    out += "| name | what it does | parameters |\n|---|---|---|\n";
    for (const PolicyInfo* p : registry.policies(kind.name))
      out += fmt::format("| {} | {} | {} |\n", code(p->name), cell(p->description),
                         p->params.empty() ? "none" : codes(p->param_names()));
    const auto rows = parameter_rows(registry, kind.name);
    if (rows.empty()) continue;
    out += "\n| parameter | type | default | range | taken by | meaning |\n|---|---|---|---|---|---|\n";
    for (const ParamRow& r : rows)
      out += fmt::format("| {} | {} | {} | {} | {} | {} |\n", code(r.name), r.type, cell(r.default_value),
                         cell(r.range), r.taken_by, cell(r.help));
  }
  return out;
}

std::string text(const PolicyRegistry& registry) {
  std::string out;
  for (const PolicyKindInfo& kind : registry.kinds()) {
    out += fmt::format("{} ({}, default \"{}\"): {}\n", plural_title(kind.noun), chooser_key(kind), kind.default_name,
                       kind.description);
    const auto policies = registry.policies(kind.name);
    std::size_t width = 0;
    for (const PolicyInfo* p : policies) width = std::max(width, p->name.size());
    for (const PolicyInfo* p : policies) {
      out += fmt::format("  {:<{}}  {}\n", p->name, width, p->description);
      std::size_t pw = 0;
      for (const ParamSpec& s : p->params) pw = std::max(pw, s.name.size());
      for (const ParamSpec& s : p->params) {
        const std::string range = s.range_text();
        out += fmt::format("      {:<{}}  {}, default {}{}: {}\n", s.name, pw, to_string(s.type),
                           value_text(s.default_value), range.empty() ? "" : ", " + range, s.help);
      }
    }
    out += "\n";
  }
  out += "A parameter is a key of [policy]: policy.max_batch = 64 (scenarios/README.md, [policy]); an autoscaler's, of "
         "[autoscaler]: autoscaler.target_load = 16.\n";
  return out;
}

}  // namespace

int command_policies(bool as_markdown) {
  const PolicyRegistry& registry = PolicyRegistry::global();
  if (!registry.problems().empty()) {
    for (const std::string& p : registry.problems()) print_error("policy registry: " + p);
    return exit_internal_error;
  }
  std::cout << (as_markdown ? markdown(registry) : text(registry));
  return exit_ok;
}

}  // namespace tf
