#include "sim/study/compare.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "io/csv.hpp"
#include "policies/batching.hpp"
#include "policies/router.hpp"
#include "results/streaming.hpp"
#include "results/units.hpp"
#include "sim/study/child_process.hpp"
#include "sim/study/mpi.hpp"
#include "sim/study/pods.hpp"
#include "sim/engine/engine.hpp"

namespace tf {

double goodput_per_s(const Summary& s) {
  return s.window_s > 0.0 ? s.slo_attainment * static_cast<double>(s.requests_measured) / s.window_s : 0.0;
}

BatchingChoice parse_batching_choice(const std::string& text, const Scenario& base) {
  auto fail = [&](const std::string& what) -> BatchingChoice {
    throw ScenarioError("--policies", 0, "policy.batching", fmt::format("\"{}\": {}", text, what));
  };
  BatchingChoice c;
  const auto colon = text.find(':');
  c.name = text.substr(0, colon);
  std::unique_ptr<BatchingPolicy> policy;
  try {
    policy = make_batching_policy(c.name, base.policy_params);
  } catch (const std::invalid_argument& e) {
    throw ScenarioError("--policies", 0, "policy.batching", fmt::format("{}: {}", c.name, e.what()));
  }
  if (!policy)
    throw ScenarioError("--policies", 0, "policy.batching",
                        fmt::format("unknown batching policy \"{}\"; known: {}", c.name,
                                    fmt::join(batching_policy_names(), ", ")));
  if (colon == std::string::npos) return c;
  // A disaggregated split: name:P (P prefill replicas, the rest decode) or name:P:D (P + D = fleet.replicas).
  if (!policy->disaggregates())
    fail(fmt::format("a split (:P prefill replicas, or :P:D prefill and decode) is only for a disaggregating policy "
                     "(disaggregated), not {}",
                     c.name));
  const int n = base.replicas;
  auto count = [&](const std::string& part, const char* what) {
    int v = 0;
    const auto r = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || r.ec != std::errc() || r.ptr != part.data() + part.size() || v < 1)
      fail(fmt::format("expected {} as a whole number of replicas of at least 1, got \"{}\"", what, part));
    return v;
  };
  const std::string rest = text.substr(colon + 1);
  const auto second = rest.find(':');
  c.prefill_replicas = count(rest.substr(0, second), "the prefill replicas");
  if (n < 2) fail(fmt::format("disaggregated serving needs at least 2 replicas; fleet.replicas is {}", n));
  if (c.prefill_replicas > n - 1)
    fail(fmt::format("{} prefill replicas leave none to decode of fleet.replicas = {}; give 1 to {}",
                     c.prefill_replicas, n, n - 1));
  if (second != std::string::npos) {
    const int decode = count(rest.substr(second + 1), "the decode replicas");
    if (c.prefill_replicas + decode != n)
      fail(fmt::format("{} prefill + {} decode replicas are {}, but the fleet has fleet.replicas = {} (the same fleet "
                       "under each policy); give {}:{}:{}",
                       c.prefill_replicas, decode, c.prefill_replicas + decode, n, c.name, c.prefill_replicas,
                       n - c.prefill_replicas));
  }
  return c;
}

Scenario compare_variant(const Scenario& base, const BatchingChoice& batching, const std::string& router) {
  Scenario s = base;
  s.batching = batching.name;
  s.router = router;
  if (batching.prefill_replicas > 0) s.prefill_share = static_cast<double>(batching.prefill_replicas) / s.replicas;
  return s;
}

std::vector<CompareRow> run_compare(const Scenario& base, const std::vector<std::string>& batchings,
                                    const std::vector<std::string>& routers, int jobs) {
  const std::vector<std::string> bs = batchings.empty() ? std::vector<std::string>{base.batching} : batchings;
  const std::vector<std::string> rs = routers.empty() ? std::vector<std::string>{base.router} : routers;
  std::vector<BatchingChoice> choices;
  for (const auto& b : bs) choices.push_back(parse_batching_choice(b, base));
  for (const auto& r : rs)
    if (!make_router(r))
      throw ScenarioError("--routers", 0, "policy.router",
                          fmt::format("unknown router \"{}\"; known: {}", r, fmt::join(router_names(), ", ")));
  std::vector<CompareRow> rows;
  std::vector<Task> tasks;
  for (const auto& b : choices)
    for (const auto& r : rs) {
      CompareRow row;
      row.batching = b.name;
      row.router = r;
      rows.push_back(row);
      const Scenario s = compare_variant(base, b, r);
      if (const int p = prefill_pool_size(s); p > 0) rows.back().pools = fmt::format("{}+{}", p, s.replicas - p);
      Task& task = tasks.emplace_back();
      task.label = fmt::format("compare {} / {}", b.name, r);
      task.work = [s] {
        StreamingOptions so;  // the summary's figures in flat memory
        so.warmup_s = s.warmup_s;
        so.slo = s.slo;
        StreamingSink sink(so);
        RunOptions options;
        options.record_sink = &sink;
        const RunResult res = run_fleet(s, options, 1);  // a fleet of pods: one after the other
        sink.finish(res.totals.simulated_s);
        return to_json(sink.summary().summary(s.name, s.seed, res.totals)).dump();
      };
    }
  spdlog::info("compare: {} combination(s) ({} batching x {} router), {} at a time{}", rows.size(), bs.size(),
               rs.size(), jobs, mpi::active() ? " in each MPI rank" : "");
  const auto results = run_tasks(tasks, jobs);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    rows[i].ok = results[i].ok;
    rows[i].error = results[i].error;
    if (rows[i].ok) {
      try {
        rows[i].summary = nlohmann::ordered_json::parse(results[i].output).get<Summary>();
      } catch (const std::exception& e) {
        rows[i].ok = false;
        rows[i].error = std::string("unreadable result: ") + e.what();
      }
    }
    const CompareRow& r = rows[i];
    if (r.ok)
      spdlog::info("compare: {} / {}{}: {:.3f} requests/s, TTFT p99 {:.1f} ms, TPOT p99 {:.1f} ms, SLO attainment "
                   "{:.2f} %",
                   r.batching, r.router, r.pools.empty() ? "" : " (" + r.pools + ")", r.summary.requests_per_s,
                   r.summary.ttft.p99 * 1e3, r.summary.tpot.p99 * 1e3, r.summary.slo_attainment * 100.0);
    else
      spdlog::info("compare: {} / {}: not served: {}", r.batching, r.router, r.error);
  }
  return rows;
}

namespace {
// Whether any combination ran with prefix caching: then the table and the CSV have its columns.
bool any_prefix_cache(const std::vector<CompareRow>& rows) {
  for (const auto& r : rows)
    if (r.ok && r.summary.prefix_cache.on) return true;
  return false;
}
}  // namespace

std::string compare_table(const std::vector<CompareRow>& rows) {
  const bool prefix = any_prefix_cache(rows);
  // Durations in a unit that suits each (results/units.hpp): 206 ms, 12.4 s, 3.6 h, never "12966136ms".
  std::string out = fmt::format("{:<20} {:<20} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>6} {:>6} {:>9} {:>8} {:>10} {:>8} {:>9}\n",
                                "batching", "router", "req/s", "out tok/s", "TTFT p50", "TTFT p99", "TPOT p50",
                                "TPOT p99", "E2E p50", "E2E p99", "SLO %", "goodput/s", "MFU %", "busy %", "J/out tok",
                                "preempt", "swapped", "rejected", "KV p99");
  if (prefix) {
    out.pop_back();
    out += fmt::format(" {:>7} {:>7} {:>12}\n", "blk hit", "tok hit", "saved tok");
  }
  for (const auto& r : rows) {
    if (!r.ok) {
      out += fmt::format("{:<20} {:<20} error: {}\n", r.batching, r.router, r.error);
      continue;
    }
    const Summary& s = r.summary;
    out += fmt::format(
        "{:<20} {:<20} {:>9.2f} {:>10.0f} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8.2f} {:>9.2f} "
        "{:>6.1f} {:>6.1f} {:>9.3f} {:>8} {:>10} {:>8} {:>9}\n",
        r.pools.empty() ? r.batching : r.batching + " " + r.pools, r.router, s.requests_per_s, s.output_tokens_per_s,
        human_duration(s.ttft.p50), human_duration(s.ttft.p99), human_duration(s.tpot.p50), human_duration(s.tpot.p99),
        human_duration(s.e2e.p50), human_duration(s.e2e.p99), s.slo_attainment * 100.0, goodput_per_s(s),
        s.mfu * 100.0, s.busy_fraction * 100.0, s.energy_per_output_token_j, s.preemptions, s.swapped_out_tokens,
        s.requests_rejected, s.kv_transfer.count > 0 ? human_duration(s.kv_transfer.p99) : std::string("-"));
    if (prefix) {
      out.pop_back();
      out += fmt::format(" {:>6.2f}% {:>6.2f}% {:>12}\n", s.prefix_cache.block_hit_rate * 100.0,
                         s.prefix_cache.token_hit_rate * 100.0, s.prefix_cache.prefill_tokens_saved);
    }
  }
  out += "(goodput/s: measured requests meeting both SLO targets per second of the window; J/out tok: the GPUs'\n"
         " energy in the window per output token produced in it; preempt: preemptions of running requests by a paged\n"
         " KV cache, policy.kv_cache = \"paged\"; swapped: KV tokens those preemptions copied to host memory,\n"
         " policy.preemption = \"swap\"; KV p99: disaggregated serving's KV cache transfers from prefill to decode\n"
         " replicas, included in TTFT; disaggregated P+D: P prefill and D decode replicas, policy.prefill_replicas or\n"
         " --policies disaggregated:P" +
         std::string(prefix ? "; blk hit, tok hit: prefix caching's hit rates in whole prompt blocks and in prompt\n"
                              " tokens, at first admissions; saved tok: prompt tokens not prefilled thanks to it)\n"
                            : ")\n");
  return out;
}

std::string compare_csv(const std::vector<CompareRow>& rows) {
  std::string out;
  CsvWriter w(out);
  const bool prefix = any_prefix_cache(rows);
  for (const char* name : {"batching", "router", "ok", "requests_per_s", "output_tokens_per_s", "ttft_p50_s",
                           "ttft_p90_s", "ttft_p99_s", "tpot_p50_s", "tpot_p90_s", "tpot_p99_s", "e2e_p50_s",
                           "e2e_p99_s", "slo_attainment", "slo_met", "mean_batch_size", "mfu", "busy_fraction",
                           "energy_kwh", "preemptions", "swapped_out_tokens", "rejected", "kv_transfer_p99_s",
                           "goodput_per_s", "energy_j_per_output_token", "prefill_decode"})
    w.field(name);
  // With prefix caching, its figures before the error (and only then: the columns are as they were without it).
  if (prefix) w.field("prefix_block_hit_rate").field("prefix_token_hit_rate").field("prefill_tokens_saved");
  w.field("error").end_row();
  for (const auto& r : rows) {
    const Summary& s = r.summary;
    w.field(r.batching).field(r.router).integer(r.ok ? 1 : 0);
    w.format("{:.6f}", s.requests_per_s).format("{:.3f}", s.output_tokens_per_s);
    for (const double v : {s.ttft.p50, s.ttft.p90, s.ttft.p99, s.tpot.p50, s.tpot.p90, s.tpot.p99, s.e2e.p50, s.e2e.p99})
      w.format("{:.9f}", v);
    w.format("{:.6f}", s.slo_attainment).integer(s.slo_met ? 1 : 0).format("{:.4f}", s.mean_batch_size);
    w.format("{:.6f}", s.mfu).format("{:.6f}", s.busy_fraction).format("{:.6f}", s.energy_kwh);
    w.integer(s.preemptions).integer(s.swapped_out_tokens).integer(s.requests_rejected);
    s.kv_transfer.count > 0 ? w.format("{:.9f}", s.kv_transfer.p99) : w.empty();
    w.format("{:.6f}", goodput_per_s(s)).format("{:.6f}", s.energy_per_output_token_j);
    r.pools.empty() ? w.empty() : w.field(r.pools);
    if (prefix)
      w.format("{:.6f}", s.prefix_cache.block_hit_rate)
          .format("{:.6f}", s.prefix_cache.token_hit_rate)
          .integer(s.prefix_cache.prefill_tokens_saved);
    // The error text in quotes, as it has always been written; quotes inside it doubled.
    w.quoted(r.error).end_row();
  }
  return out;
}

}  // namespace tf
