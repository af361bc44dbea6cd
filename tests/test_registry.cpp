// The policy registry (policies/registry.hpp): every policy file's policies are registered (the linker kept them),
// each with a schema whose defaults lie in their ranges; parameters are checked against the schema with errors that
// name them; a broken registration is reported.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <limits>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "policies/admission.hpp"
#include "policies/autoscaler.hpp"
#include "policies/batching.hpp"
#include "policies/kv_cache.hpp"
#include "policies/queue_order.hpp"
#include "policies/router.hpp"
#include "tests/helpers.hpp"

using namespace tf;
using Catch::Matchers::Contains;

namespace {

// The registrations written in policies/*.cpp: "RegisterPolicy<Kind> name{" followed by the policy's name.
std::multiset<std::string> registrations_in_sources() {
  std::multiset<std::string> found;
  const std::regex reg(R"(RegisterPolicy<(\w+)>\s+\w+\s*\{\s*"([^"]+)\")");
  for (const auto& entry : std::filesystem::directory_iterator(test::source_dir() + "/policies")) {
    if (entry.path().extension() != ".cpp") continue;
    const std::string text = test::read_file(entry.path().string());
    for (auto it = std::sregex_iterator(text.begin(), text.end(), reg); it != std::sregex_iterator(); ++it)
      found.insert((*it)[1].str() + ":" + (*it)[2].str());
  }
  return found;
}

std::string problem_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  FAIL("expected std::invalid_argument");
  return "";
}

}  // namespace

TEST_CASE("registry: every policy written in policies/ is registered (none dropped by the linker)", "[registry]") {
  std::multiset<std::string> registered;
  for (const auto& name : batching_policy_names()) registered.insert("BatchingPolicy:" + name);
  for (const auto& name : router_names()) registered.insert("Router:" + name);
  for (const auto& name : policy_names<KvCachePolicy>()) registered.insert("KvCachePolicy:" + name);
  for (const auto& name : policy_names<QueueOrder>()) registered.insert("QueueOrder:" + name);
  for (const auto& name : policy_names<AdmissionPolicy>()) registered.insert("AdmissionPolicy:" + name);
  for (const auto& name : policy_names<Autoscaler>()) registered.insert("Autoscaler:" + name);
  const auto written = registrations_in_sources();
  CHECK(written.size() >= 12);  // the scan itself found them
  CHECK(registered == written);
  // Today's policies by name, so that a rename is noticed too.
  for (const char* b : {"continuous", "chunked-prefill", "static", "dynamic", "disaggregated"}) {
    INFO(b);
    CHECK(make_batching_policy(b, {}) != nullptr);
  }
  for (const char* r : {"round-robin", "random", "join-shortest-queue", "power-of-two", "least-tokens", "least-kv",
                        "central-queue"}) {
    INFO(r);
    CHECK(make_router(r, 1) != nullptr);
  }
  CHECK(PolicyRegistry::global().kind("batching")->key == "batching");
  CHECK(PolicyRegistry::global().kind("router")->default_name == "round-robin");
}

TEST_CASE("registry: every policy has a description and a schema whose defaults lie in their ranges", "[registry]") {
  const PolicyRegistry& registry = PolicyRegistry::global();
  INFO([&] {
    std::string all;
    for (const auto& p : registry.problems()) all += p + "\n";
    return all;
  }());
  CHECK(registry.problems().empty());
  for (const PolicyKindInfo& kind : registry.kinds()) {
    CHECK(registry.find(kind.name, kind.default_name) != nullptr);
    for (const PolicyInfo* p : registry.policies(kind.name)) {
      INFO(p->kind << " " << p->name);
      CHECK_FALSE(p->description.empty());
      for (const ParamSpec& spec : p->params) {
        INFO(spec.name);
        CHECK_FALSE(spec.help.empty());
        CHECK(spec.problem(spec.default_value).empty());
        // One name, one type across the registry ([policy] is one table).
        for (const PolicyInfo* other : registry.taking(spec.name)) CHECK(other->param(spec.name)->type == spec.type);
      }
      // What a policy is built with: exactly its parameters, at their defaults.
      const PolicyParams resolved = resolve_params(*p, PolicyParams{}.set("no-such-parameter", 1));
      CHECK(resolved.values().size() == p->params.size());
      for (const ParamSpec& spec : p->params) CHECK(*resolved.get(spec.name) == spec.default_value);
    }
  }
  // The shared parameters are declared once, with BatchLimits' defaults.
  for (const char* b : {"continuous", "chunked-prefill", "dynamic", "disaggregated"})
    CHECK(registry.find("batching", b)->param("max_batch")->default_value == ParamValue(std::int64_t{256}));
  CHECK(registry.taking("max_batched_tokens", "batching").size() == 3);
  CHECK(registry.find("batching", "static")->param_names() == std::vector<std::string>{"batch_size", "timeout_s"});
}

TEST_CASE("registry: values are checked against the schema, and the errors name the parameter", "[registry]") {
  const std::string small = problem_of([] { make_batching_policy("chunked-prefill", BatchLimits{8, 8, 1, 0.1, 0.01}); });
  CHECK(small == "max_batched_tokens: expected an integer at least 16, got 8");
  CHECK(problem_of([] { make_batching_policy("static", PolicyParams{}.set("batch_size", 0)); }) ==
        "batch_size: expected an integer at least 1, got 0");
  CHECK(problem_of([] { make_batching_policy("static", PolicyParams{}.set("timeout_s", -0.5)); }) ==
        "timeout_s: expected a number at least 0, got -0.5");
  CHECK(problem_of([] { make_batching_policy("static", PolicyParams{}.set("batch_size", 2.5)); }) ==
        "batch_size: expected an integer, got a floating-point number (2.5)");
  // The same value is fine for a policy that does not take the parameter, and for one whose range allows it.
  CHECK(make_batching_policy("static", BatchLimits{8, 8, 1, 0.1, 0.01}) != nullptr);
  CHECK(make_batching_policy("continuous", BatchLimits{8, 8, 1, 0.1, 0.01}) != nullptr);
  // A number parameter takes an integer.
  const auto* dynamic = PolicyRegistry::global().find("batching", "dynamic");
  const PolicyParams p = resolve_params(*dynamic, PolicyParams{}.set("max_queue_delay_s", 1));
  CHECK(p.number("max_queue_delay_s") == 1.0);
  CHECK(p.integer("max_batch") == 256);
  CHECK_THROWS_AS(p.integer("max_queue_delay_s"), std::logic_error);  // not an integer
  CHECK_THROWS_AS(p.integer("batch_size"), std::logic_error);         // not dynamic's
}

TEST_CASE("registry: the parameter schema says what it expects as the loader does", "[registry]") {
  const ParamSpec watermark = ParamSpec::number("w", 0.01, "h").at_least(0).less_than(0.5);
  CHECK(watermark.problem(0.5) == "expected a number in [0, 0.5), got 0.5");
  CHECK(watermark.problem(0.2).empty());
  CHECK(watermark.range_text() == "[0, 0.5)");
  const ParamSpec positive = ParamSpec::number("x", 1.0, "h").greater_than(0);
  CHECK(positive.problem(0.0) == "expected a number greater than 0, got 0");
  CHECK(positive.range_text() == "> 0");
  const ParamSpec blocks = ParamSpec::integer("b", 16, "h").at_least(1).at_most(1 << 20);
  CHECK(blocks.problem(std::int64_t{0}) == "expected an integer from 1 to 1048576, got 0");
  CHECK(blocks.range_text() == "1 … 1048576");
  CHECK(max_batch_param().range_text() == "≥ 1");  // INT_MAX is no bound worth printing
  CHECK(max_batch_param().problem(std::int64_t{1} << 40) == "expected an integer at least 1, got 1099511627776");
  const ParamSpec kv = ParamSpec::string("kv", "reserve", {"reserve", "paged"}, "h");
  CHECK(kv.problem(std::string("pages")) == "expected \"reserve\" or \"paged\", got \"pages\"");
  CHECK(kv.problem(std::string("pages"), "for x") == "expected \"reserve\" or \"paged\" for x, got \"pages\"");
  CHECK(kv.problem(true) == "expected a string, got a boolean (true)");
  CHECK(kv.range_text() == "`reserve`, `paged`");
  CHECK(ParamSpec::boolean("on", false, "h").problem(std::int64_t{1}) ==
        "expected a boolean (true or false), got an integer (1)");
  CHECK(ParamSpec::number("n", 1.0, "h").problem(std::numeric_limits<double>::infinity()) ==
        "expected a finite number, got inf");
}

TEST_CASE("registry: a broken registration is reported, not silently kept", "[registry]") {
  PolicyRegistry r;
  const PolicyKindInfo kind{"widget", "widget", "widget", "a", "test kind"};
  r.add(kind, {"widget", "a", "first", {ParamSpec::integer("n", 0, "h").at_least(1)}}, std::any{});
  CHECK_THAT(r.problems().at(0), Contains("its default 0: expected an integer at least 1, got 0"));
  r.add(kind, {"widget", "a", "again", {}}, std::any{});
  CHECK_THAT(r.problems().at(1), Contains("widget policy \"a\" is registered twice"));
  CHECK(r.find("widget", "a")->description == "first");
  r.add(kind, {"widget", "b", "n as a number", {ParamSpec::number("n", 1.0, "h")}}, std::any{});
  CHECK_THAT(r.problems().at(2), Contains("parameter 'n' is number here but integer in widget policy \"a\""));
  r.add(kind, {"widget", "c", "takes the kind's key", {ParamSpec::string("widget", "", {}, "h")}}, std::any{});
  CHECK_THAT(r.problems().at(3), Contains("parameter 'widget' is the key that chooses a widget"));
  r.add({"widget", "widget", "gadget", "a", "described otherwise"}, {"widget", "d", "x", {}}, std::any{});
  CHECK_THAT(r.problems().at(4), Contains("kind \"widget\" is described two ways"));
  CHECK(r.names("widget") == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(r.parameter_names() == std::vector<std::string>{"n", "widget"});
}
