// [workload]: a replayed trace (workload_trace.cpp), or an arrival process (workload_arrival.cpp) with length
// distributions (workload_distribution.cpp), given directly or as demand in the analytic estimate's units
// (workload.demand), optionally as sessions of several questions.
#include "sim/scenario/limits.hpp"
#include "sim/scenario/loader.hpp"
#include "workloads/trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

namespace tf::loader {

namespace {

// workload.priority_shares = [0.2, 0.8]: request classes 0, 1, ... (for policy.queue_order = "priority") by share.
std::vector<double> read_priority_shares(const Section& w) {
  const toml::node* n = w.node("priority_shares");
  if (!n) return {};
  const char* expected = "an array of 2 to 16 shares, each in (0, 1], summing to 1 (class 0 first): [0.2, 0.8]";
  if (!n->is_array()) w.wrong_type("priority_shares", expected);
  std::vector<double> shares;
  double sum = 0.0;
  for (const toml::node& e : *n->as_array()) {
    double v = 0.0;
    if (e.is_integer()) v = static_cast<double>(e.as_integer()->get());
    else if (e.is_floating_point()) v = e.as_floating_point()->get();
    else w.fail("priority_shares", fmt::format("expected {}, got an element that is not a number", expected));
    if (!(v > 0.0 && v <= 1.0))
      w.fail("priority_shares", fmt::format("expected {}, got a share of {}", expected, v));
    shares.push_back(v);
    sum += v;
  }
  if (shares.size() < 2 || shares.size() > 16)
    w.fail("priority_shares", fmt::format("expected {}, got {} share(s)", expected, shares.size()));
  if (std::abs(sum - 1.0) > 1e-9)
    w.fail("priority_shares", fmt::format("expected {}, got shares summing to {}", expected, sum));
  return shares;
}

}  // namespace

void read_workload(const Section& top, Scenario& s) {
  const Section w = top.table("workload");
  WorkloadSpec& ws = s.workload;  // default-constructed
  ws.priority_shares = read_priority_shares(w);
  ws.context_window = s.model.context_window;
  // A request whose prompt and answer exceed the context window: cut (the default: a workload within the window
  // runs as it always did), refused (the run stops) or turned away on arrival.
  if (const auto oc = w.string("over_context")) {
    const auto mode = parse_over_context(*oc);
    if (!mode)
      w.fail("over_context", fmt::format("expected \"cut\", \"refuse\" or \"drop\", got \"{}\"", *oc));
    ws.over_context = *mode;
  }
  const double window = static_cast<double>(s.model.context_window);
  // A shared system prompt at the start of every prompt (prefix caching shares its blocks).
  ws.system_prompt_tokens = w.integer_in("system_prompt_tokens", 0, 0, std::max<std::int64_t>(0, s.model.context_window - 2));
  DistributionSpec length_default;
  length_default.dist = "fixed";
  length_default.value = 128;
  length_default.min = 1;
  length_default.max = window;

  // Trace replay: arrivals and lengths come from the file.
  const Section tr = w.table("trace");
  if (tr.present()) {
    for (const std::string k : {"arrival", "prompt_tokens", "output_tokens", "session", "demand"})
      if (w.has(k))
        w.fail(k, "not used with workload.trace: the trace gives the arrivals and the lengths");
    read_trace(tr, ws.trace, s.notes);
    if (ws.system_prompt_tokens > 0) {
      std::string format = ws.trace.format;
      try {
        format = detect_trace_format(ws.trace.path, ws.trace.format);
      } catch (const std::exception&) {
        // read_trace has checked the file; a trace that cannot be read fails when it is replayed
      }
      if (format == "mooncake")
        w.fail("system_prompt_tokens",
               "not with a mooncake trace: its hash_ids already say which prompt blocks are shared (a system prompt "
               "added in front would shift them); leave it out");
    }
    return;  // priority shares apply to a trace as to any other workload
  }

  // Demand in the analytic estimate's units.
  std::optional<double> demand_rate;
  std::optional<double> demand_qa;
  const Section dm = w.table("demand");
  const bool sessions = w.has("session");
  if (dm.present()) {
    if (dm.has("visits_per_day") == dm.has("visits_per_year"))
      dm.fail(dm.has("visits_per_day") ? "visits_per_year" : "visits_per_day",
              "give exactly one of visits_per_day and visits_per_year");
    const double visits_per_day = dm.has("visits_per_day")
                                      ? dm.number_in("visits_per_day", 0, Section::greater_than(0))
                                      : dm.number_in("visits_per_year", 0, Section::greater_than(0)) / 365.0;
    const double qa = dm.number_in("qa_per_visit", 1.0, Section::at_least(1));
    demand_qa = qa;
    demand_rate = (sessions ? visits_per_day : visits_per_day * qa) / 86400.0;
    // Tokens per Q&A: question + answer, or the total and the question.
    if (dm.has("tokens_per_qa") && dm.has("answer_tokens"))
      dm.fail("answer_tokens", "give question_tokens with answer_tokens or with tokens_per_qa, not all three");
    const bool any_tokens = dm.has("question_tokens") || dm.has("answer_tokens") || dm.has("tokens_per_qa");
    if (any_tokens) {
      if (!dm.has("question_tokens"))
        dm.fail("question_tokens", "missing: tokens per Q&A need question_tokens and answer_tokens (or tokens_per_qa)");
      if (!dm.has("answer_tokens") && !dm.has("tokens_per_qa"))
        dm.fail("answer_tokens", "missing: give answer_tokens or tokens_per_qa");
      for (const std::string k : {"prompt_tokens", "output_tokens"})
        if (w.has(k)) w.fail(k, "the lengths come from workload.demand (question_tokens, answer_tokens); leave this out");
      const double q = dm.number_in("question_tokens", 0, Section::Range{1.0, window, true, true});
      double a = 0;
      if (dm.has("answer_tokens")) {
        a = dm.number_in("answer_tokens", 0, Section::Range{1.0, window, true, true});
      } else {
        const double total = dm.number_in("tokens_per_qa", 0, Section::greater_than(q));
        a = total - q;
        if (a > window) dm.fail("tokens_per_qa", fmt::format("the answer ({}) exceeds the context window ({})", num(a), num(window)));
      }
      ws.prompt_tokens = length_default;
      ws.prompt_tokens.value = std::round(q);
      ws.output_tokens = length_default;
      ws.output_tokens.value = std::max(1.0, std::round(a));
    }
  }

  read_arrival(w, ws.arrival, demand_rate);
  // Bounded (limits.hpp): the mean rate, and the requests it brings over duration_s, which the run keeps a row of
  // each (an unbounded one ran out of memory inside the simulation).
  if (const double rate = ws.arrival.rate_per_s; rate > 0.0) {
    const Section a = w.table("arrival");
    const std::string key = a.has("requests_per_day") ? "requests_per_day" : a.has("rate_per_s") ? "rate_per_s" : "";
    auto refuse = [&](const std::string& why) {
      if (!key.empty()) a.fail(key, why);
      if (dm.present()) dm.fail(dm.has("visits_per_day") ? "visits_per_day" : "visits_per_year", why);
      w.fail("arrival", why);
    };
    if (rate > limits::kMaxRatePerS)
      refuse(fmt::format("a mean rate of {} requests/s is more than the 1e6 requests/s one run simulates; lower it",
                         num(rate)));
    if (const double expected = rate * s.duration_s; expected > limits::kMaxExpectedRequests)
      refuse(fmt::format("{} requests/s over duration_s = {} s bring about {:.3g} requests, more than the 1e8 "
                         "(100 million) one run holds (it keeps a row of about 90 bytes per request); lower the rate "
                         "or duration_s",
                         num(rate), num(s.duration_s), expected));
  }
  DistributionSpec pd = length_default, od = length_default;
  if (dm.present() && dm.has("question_tokens")) pd = ws.prompt_tokens, od = ws.output_tokens;
  pd.column = "prompt";
  od.column = "output";
  ws.prompt_tokens = read_distribution(w, "prompt_tokens", pd, 1.0, window, true);
  ws.output_tokens = read_distribution(w, "output_tokens", od, 1.0, window, true);

  // Sessions.
  if (w.has("session")) {
    const toml::node* n = w.node("session");
    if (!n->is_table()) w.wrong_type("session", "a table { questions = ..., think_time_s = ..., carry_context = ... }");
    const Section se = w.table("session");
    SessionSpec& ss = ws.session;
    ss.enabled = true;
    DistributionSpec qd = ss.questions;
    if (demand_qa) {
      if (se.has("questions"))
        se.fail("questions", "the questions per visit come from workload.demand.qa_per_visit; leave this out");
      qd = DistributionSpec{};
      if (*demand_qa == std::floor(*demand_qa)) {
        qd.dist = "fixed";
        qd.value = *demand_qa;
      } else {
        qd.dist = "geometric";
        qd.mean = *demand_qa;
      }
    }
    qd.min = 1;
    qd.max = 1e18;
    ss.questions = read_distribution(se, "questions", qd, 1.0, std::numeric_limits<double>::infinity(), false);
    DistributionSpec td = ss.think_time_s;
    td.min = 0;
    td.max = std::numeric_limits<double>::infinity();
    ss.think_time_s = read_distribution(se, "think_time_s", td, 0.0, std::numeric_limits<double>::infinity(), false);
    ss.carry_context = se.boolean("carry_context").value_or(true);
  }
}

}  // namespace tf::loader
