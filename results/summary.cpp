#include "results/summary.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>
#include <unistd.h>

#include "io/csv.hpp"
#include "results/streaming.hpp"

namespace tf {

namespace {

double safe_div(double num, double den) { return den > 0.0 ? num / den : 0.0; }

}  // namespace

double percentile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  const std::size_t n = sorted.size();
  if (n == 1) return sorted.front();
  q = std::clamp(q, 0.0, 100.0);
  const double pos = q / 100.0 * static_cast<double>(n - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  if (lo >= n - 1) return sorted.back();
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

LatencyStats latency_stats(std::vector<double> values) {
  LatencyStats st;
  if (values.empty()) return st;
  std::sort(values.begin(), values.end());
  st.count = values.size();
  st.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  st.p50 = percentile_sorted(values, 50.0);
  st.p90 = percentile_sorted(values, 90.0);
  st.p99 = percentile_sorted(values, 99.0);
  st.p999 = percentile_sorted(values, 99.9);
  st.max = values.back();
  return st;
}

namespace {

// The latencies of served requests, gathered for their statistics, and how many met the targets.
struct ServedLatencies {
  std::vector<double> queue, ttft, tpot, e2e;
  std::size_t slo_hits = 0;
  void add(const RequestRecord& r, const SloTargets& slo) {
    queue.push_back(r.queue_s());
    ttft.push_back(r.ttft_s());
    e2e.push_back(r.e2e_s());
    if (r.output_tokens > 1) tpot.push_back(r.tpot_s());  // one-token answers have no TPOT
    if (meets_slo(r, slo)) ++slo_hits;
  }
};

}  // namespace

void fill_summary_figures(Summary& s, const RunTotals& totals, const SloTargets& slo, double output_tokens,
                          double total_tokens, std::size_t slo_hits, double ttft_p99_judged, double tpot_p99_judged) {
  s.offered_requests_per_s = safe_div(static_cast<double>(s.requests_measured), s.window_s);
  s.offered_output_tokens_per_s = safe_div(output_tokens, s.window_s);
  s.offered_total_tokens_per_s = safe_div(total_tokens, s.window_s);
  s.requests_per_s = safe_div(static_cast<double>(totals.completed_in_window), s.window_s);
  s.output_tokens_per_s = safe_div(totals.served_output_tokens, s.window_s);
  s.total_tokens_per_s = safe_div(totals.served_prompt_tokens + totals.served_output_tokens, s.window_s);

  s.slo_attainment = safe_div(static_cast<double>(slo_hits), static_cast<double>(s.requests_measured));
  // With measured requests but none finished, the percentiles (all zero) say nothing: a set target is missed.
  const bool none_finished = s.requests_measured > 0 && s.ttft.count == 0;
  s.ttft_p99_met = slo.ttft_p99_s <= 0.0 || (!none_finished && ttft_p99_judged <= slo.ttft_p99_s);
  s.tpot_p99_met = slo.tpot_p99_s <= 0.0 || (!none_finished && tpot_p99_judged <= slo.tpot_p99_s);
  // A run that measured no request has shown nothing about its latencies: it never meets the SLO (an empty trace,
  // a window with no arrival, a warm-up as long as the run).
  s.slo_met = s.requests_measured > 0 && s.ttft_p99_met && s.tpot_p99_met;

  s.mean_batch_size = safe_div(totals.batched_requests, totals.iterations);
  s.mfu = safe_div(totals.flops, static_cast<double>(totals.gpus) * totals.peak_flops_per_gpu * s.window_s);
  s.busy_fraction = safe_div(totals.busy_replica_s, static_cast<double>(totals.replicas) * s.window_s);
  s.energy_kwh = totals.energy_window_j / 3.6e6;
  s.energy_total_kwh = totals.energy_total_j / 3.6e6;
  s.energy_per_output_token_j = safe_div(totals.energy_window_j, totals.served_output_tokens);
  s.mean_power_per_gpu_w = safe_div(totals.energy_window_j, static_cast<double>(totals.gpus) * s.window_s);
  s.simulated_s = totals.simulated_s;
  s.preemptions = totals.preemptions;
  s.recomputed_tokens = totals.recomputed_tokens;
  s.swapped_out_tokens = totals.swapped_out_tokens;
  s.swapped_in_tokens = totals.swapped_in_tokens;
  s.swap_s = totals.swap_s;
  s.prefix_cache.on = totals.prefix_cache;
  s.prefix_cache.lookup_blocks = totals.prefix_lookup_blocks;
  s.prefix_cache.hit_blocks = totals.prefix_hit_blocks;
  s.prefix_cache.prompt_tokens = totals.prefix_prompt_tokens;
  s.prefix_cache.hit_tokens = totals.prefix_hit_tokens;
  s.prefix_cache.prefill_tokens_saved = totals.prefix_saved_tokens;
  s.prefix_cache.block_hit_rate =
      safe_div(static_cast<double>(totals.prefix_hit_blocks), static_cast<double>(totals.prefix_lookup_blocks));
  s.prefix_cache.token_hit_rate =
      safe_div(static_cast<double>(totals.prefix_hit_tokens), static_cast<double>(totals.prefix_prompt_tokens));
  if (totals.autoscaler_enabled) {
    // [autoscaler]: the fleet was not all there all along; utilisation and power over the replicas that were on.
    const double on_s = totals.serving_replica_s + totals.starting_replica_s + totals.draining_replica_s;
    const double gpus_per_replica = safe_div(static_cast<double>(totals.gpus), static_cast<double>(totals.replicas));
    s.mfu = safe_div(totals.flops, gpus_per_replica * on_s * totals.peak_flops_per_gpu);
    s.busy_fraction = safe_div(totals.busy_replica_s, totals.serving_replica_s + totals.draining_replica_s);
    s.mean_power_per_gpu_w = safe_div(totals.energy_window_j, gpus_per_replica * on_s);
  }
}

Summary summarize(const std::string& scenario, std::uint64_t seed, const std::vector<RequestRecord>& records,
                  double warmup_s, const RunTotals& totals, const SloTargets& slo, int priority_classes) {
  Summary s;
  s.scenario = scenario;
  s.seed = seed;
  s.slo = slo;
  s.totals = totals;
  s.requests_arrived = records.size();
  s.window_s = totals.window_s;

  ServedLatencies served;
  std::vector<double> kv_transfer;
  std::size_t missed = 0;  // measured requests never served (rejected, or unfinished): beyond any target
  double output_tokens = 0.0, total_tokens = 0.0;
  for (const auto& r : records) {
    if (r.rejected) ++s.requests_rejected;
    else if (!r.finished()) ++s.requests_unfinished;
    if (r.arrival_s < warmup_s) continue;
    ++s.requests_measured;
    output_tokens += static_cast<double>(r.output_tokens);
    total_tokens += static_cast<double>(r.prompt_tokens + r.output_tokens);
    if (!r.finished()) {  // a rejected or unfinished request misses the SLO
      ++missed;
      continue;
    }
    if (r.kv_transfer_s >= 0.0) kv_transfer.push_back(r.kv_transfer_s);
    served.add(r, slo);
  }

  // The p99 targets are judged over every measured request, a request never served counting as beyond any
  // target; the latency figures below describe the requests that were served.
  auto p99_with_misses = [missed](std::vector<double> v) {
    v.insert(v.end(), missed, 1e300);
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return percentile_sorted(v, 99.0);
  };
  const double ttft_p99_judged = p99_with_misses(served.ttft);
  const double tpot_p99_judged = p99_with_misses(served.tpot);
  s.queue = latency_stats(std::move(served.queue));
  s.ttft = latency_stats(std::move(served.ttft));
  s.tpot = latency_stats(std::move(served.tpot));
  s.e2e = latency_stats(std::move(served.e2e));
  s.kv_transfer = latency_stats(std::move(kv_transfer));

  fill_summary_figures(s, totals, slo, output_tokens, total_tokens, served.slo_hits, ttft_p99_judged, tpot_p99_judged);
  if (priority_classes > 1) {
    std::vector<ServedLatencies> lists(static_cast<std::size_t>(priority_classes));
    s.priority_classes.resize(static_cast<std::size_t>(priority_classes));
    for (const auto& r : records) {
      if (r.arrival_s < warmup_s || r.priority < 0 || r.priority >= priority_classes) continue;
      const auto c = static_cast<std::size_t>(r.priority);
      ++s.priority_classes[c].measured;
      if (r.finished()) lists[c].add(r, slo);
    }
    for (std::size_t c = 0; c < lists.size(); ++c) {
      Summary::PriorityClass& pc = s.priority_classes[c];
      pc.priority = static_cast<int>(c);
      pc.queue = latency_stats(std::move(lists[c].queue));
      pc.ttft = latency_stats(std::move(lists[c].ttft));
      pc.tpot = latency_stats(std::move(lists[c].tpot));
      pc.e2e = latency_stats(std::move(lists[c].e2e));
      pc.slo_attainment = safe_div(static_cast<double>(lists[c].slo_hits), static_cast<double>(pc.measured));
    }
  }
  return s;
}

void to_json(nlohmann::ordered_json& j, const LatencyStats& st) {
  j = nlohmann::ordered_json::object();
  j["mean"] = st.mean;
  j["p50"] = st.p50;
  j["p90"] = st.p90;
  j["p99"] = st.p99;
  j["p99.9"] = st.p999;
  j["max"] = st.max;
  j["count"] = st.count;
}

void from_json(const nlohmann::ordered_json& j, LatencyStats& st) {
  j.at("mean").get_to(st.mean);
  j.at("p50").get_to(st.p50);
  j.at("p90").get_to(st.p90);
  j.at("p99").get_to(st.p99);
  j.at("p99.9").get_to(st.p999);
  j.at("max").get_to(st.max);
  j.at("count").get_to(st.count);
}

namespace {

// The four latency figures of the whole run and of each priority class, written and read in one order.
template <class Latencies>
nlohmann::ordered_json latencies_json(const Latencies& x) {
  return {{"queue", x.queue}, {"ttft", x.ttft}, {"tpot", x.tpot}, {"e2e", x.e2e}};
}
template <class Latencies>
void latencies_from_json(const nlohmann::ordered_json& l, Latencies& x) {
  l.at("queue").get_to(x.queue);
  l.at("ttft").get_to(x.ttft);
  l.at("tpot").get_to(x.tpot);
  l.at("e2e").get_to(x.e2e);
}

}  // namespace

void to_json(nlohmann::ordered_json& j, const Summary& s) {
  // Keys in a fixed, readable order (ordered_json keeps insertion order).
  j = nlohmann::ordered_json::object();
  j["scenario"] = s.scenario;
  j["seed"] = s.seed;
  j["requests"] = {{"arrived", s.requests_arrived},
                   {"measured", s.requests_measured},
                   {"unfinished", s.requests_unfinished},
                   {"rejected", s.requests_rejected}};
  j["window_s"] = s.window_s;
  j["throughput"] = {{"requests_per_s", s.requests_per_s},
                     {"output_tokens_per_s", s.output_tokens_per_s},
                     {"total_tokens_per_s", s.total_tokens_per_s},
                     {"offered_requests_per_s", s.offered_requests_per_s},
                     {"offered_output_tokens_per_s", s.offered_output_tokens_per_s},
                     {"offered_total_tokens_per_s", s.offered_total_tokens_per_s}};
  j["latency_s"] = latencies_json(s);
  if (s.kv_transfer.count > 0) {
    j["latency_s"]["kv_transfer"] = s.kv_transfer;
    j["kv_transfers"] = {{"count", s.totals.kv_transfers}, {"bytes", s.totals.kv_transfer_bytes}};
  }
  auto& slo = j["slo"] = s.slo;
  slo["attainment"] = s.slo_attainment;
  slo["ttft_p99_met"] = s.ttft_p99_met;
  slo["tpot_p99_met"] = s.tpot_p99_met;
  slo["met"] = s.slo_met;
  j["batching"] = {{"mean_batch_size", s.mean_batch_size},
                   {"preemptions", s.preemptions},
                   {"recomputed_tokens", s.recomputed_tokens},
                   {"swapped_out_tokens", s.swapped_out_tokens},
                   {"swapped_in_tokens", s.swapped_in_tokens},
                   {"swap_s", s.swap_s}};
  if (s.prefix_cache.on) {
    const Summary::PrefixCacheFigures& pc = s.prefix_cache;
    j["prefix_cache"] = {{"lookup_blocks", pc.lookup_blocks},
                         {"hit_blocks", pc.hit_blocks},
                         {"block_hit_rate", pc.block_hit_rate},
                         {"prompt_tokens", pc.prompt_tokens},
                         {"hit_tokens", pc.hit_tokens},
                         {"token_hit_rate", pc.token_hit_rate},
                         {"prefill_tokens_saved", pc.prefill_tokens_saved}};
  }
  j["utilization"] = {{"mfu", s.mfu}, {"busy_fraction", s.busy_fraction}};
  j["energy"] = {{"window_kwh", s.energy_kwh},
                 {"total_kwh", s.energy_total_kwh},
                 {"j_per_output_token", s.energy_per_output_token_j},
                 {"mean_power_per_gpu_w", s.mean_power_per_gpu_w}};
  j["workload"] = {{"skipped_bad_rows", s.totals.skipped_bad_rows},
                   {"clamped_rows", s.totals.clamped_rows},
                   {"questions_cut", s.totals.questions_cut},
                   {"over_context_cut", s.totals.over_context_cut},
                   {"over_context_dropped", s.totals.over_context_dropped}};
  j["simulated_s"] = s.simulated_s;
  if (s.totals.failures_enabled) {
    const RunTotals& t = s.totals;
    j["failures"] = {{"gpu_failures", t.gpu_failures},
                     {"node_failures", t.node_failures},
                     {"injected", t.injected_failures},
                     {"replica_outages", t.replica_outages},
                     {"replica_down_s", t.replica_down_window_s},
                     {"replica_down_total_s", t.replica_down_total_s},
                     {"replica_availability", t.replica_availability},
                     {"retried_requests", t.retried_requests},
                     {"retries", t.retries},
                     {"failed_requests", t.failed_requests},
                     {"requeued_requests", t.requeued_requests},
                     {"lost_kv_tokens", t.lost_kv_tokens}};
  }
  if (s.totals.autoscaler_enabled) {
    const RunTotals& t = s.totals;
    j["autoscaler"] = {{"gpu_hours", t.gpu_hours},
                       {"serving_replica_s", t.serving_replica_s},
                       {"starting_replica_s", t.starting_replica_s},
                       {"draining_replica_s", t.draining_replica_s},
                       {"mean_replicas", t.window_s > 0.0 ? (t.serving_replica_s + t.starting_replica_s +
                                                             t.draining_replica_s) / t.window_s
                                                          : 0.0},
                       {"peak_replicas", t.peak_replicas},
                       {"scale_ups", t.scale_ups},
                       {"scale_downs", t.scale_downs},
                       {"cold_start_s", t.cold_start_s}};
  }
  for (const auto& pc : s.priority_classes)
    j["priority_classes"].push_back({{"priority", pc.priority},
                                     {"measured", pc.measured},
                                     {"slo_attainment", pc.slo_attainment},
                                     {"latency_s", latencies_json(pc)}});
  for (const auto& p : s.pools)
    j["pools"].push_back({{"name", p.name},
                          {"gpu", p.gpu},
                          {"dtype", p.dtype},
                          {"replicas", p.replicas},
                          {"gpus", p.gpus},
                          {"tensor_parallel", p.tensor_parallel},
                          {"pipeline_parallel", p.pipeline_parallel},
                          {"expert_parallel", p.expert_parallel},
                          {"arrival_share", p.arrival_share},
                          {"arrived", p.arrived},
                          {"measured_finished", p.measured_finished},
                          {"output_tokens_per_s", p.output_tokens_per_s},
                          {"mfu", p.mfu},
                          {"busy_fraction", p.busy_fraction},
                          {"energy_kwh", p.energy_kwh},
                          {"ttft_p99_s", p.ttft_p99_s},
                          {"tpot_p99_s", p.tpot_p99_s}});
}

void from_json(const nlohmann::ordered_json& j, Summary& s) {
  s = Summary{};
  j.at("scenario").get_to(s.scenario);
  j.at("seed").get_to(s.seed);
  const auto& req = j.at("requests");
  req.at("arrived").get_to(s.requests_arrived);
  req.at("measured").get_to(s.requests_measured);
  req.at("unfinished").get_to(s.requests_unfinished);
  req.at("rejected").get_to(s.requests_rejected);
  j.at("window_s").get_to(s.window_s);
  const auto& t = j.at("throughput");
  t.at("requests_per_s").get_to(s.requests_per_s);
  t.at("output_tokens_per_s").get_to(s.output_tokens_per_s);
  t.at("total_tokens_per_s").get_to(s.total_tokens_per_s);
  t.at("offered_requests_per_s").get_to(s.offered_requests_per_s);
  t.at("offered_output_tokens_per_s").get_to(s.offered_output_tokens_per_s);
  t.at("offered_total_tokens_per_s").get_to(s.offered_total_tokens_per_s);
  const auto& l = j.at("latency_s");
  latencies_from_json(l, s);
  if (l.contains("kv_transfer")) l.at("kv_transfer").get_to(s.kv_transfer);
  if (j.contains("kv_transfers")) {
    j.at("kv_transfers").at("count").get_to(s.totals.kv_transfers);
    j.at("kv_transfers").at("bytes").get_to(s.totals.kv_transfer_bytes);
  }
  const auto& slo = j.at("slo");
  slo.get_to(s.slo);
  slo.at("attainment").get_to(s.slo_attainment);
  slo.at("ttft_p99_met").get_to(s.ttft_p99_met);
  slo.at("tpot_p99_met").get_to(s.tpot_p99_met);
  slo.at("met").get_to(s.slo_met);
  const auto& b = j.at("batching");
  b.at("mean_batch_size").get_to(s.mean_batch_size);
  b.at("preemptions").get_to(s.preemptions);
  b.at("recomputed_tokens").get_to(s.recomputed_tokens);
  b.at("swapped_out_tokens").get_to(s.swapped_out_tokens);
  b.at("swapped_in_tokens").get_to(s.swapped_in_tokens);
  b.at("swap_s").get_to(s.swap_s);
  if (j.contains("prefix_cache")) {
    const auto& pc = j.at("prefix_cache");
    Summary::PrefixCacheFigures& f = s.prefix_cache;
    f.on = true;
    pc.at("lookup_blocks").get_to(f.lookup_blocks);
    pc.at("hit_blocks").get_to(f.hit_blocks);
    pc.at("block_hit_rate").get_to(f.block_hit_rate);
    pc.at("prompt_tokens").get_to(f.prompt_tokens);
    pc.at("hit_tokens").get_to(f.hit_tokens);
    pc.at("token_hit_rate").get_to(f.token_hit_rate);
    pc.at("prefill_tokens_saved").get_to(f.prefill_tokens_saved);
  }
  j.at("utilization").at("mfu").get_to(s.mfu);
  j.at("utilization").at("busy_fraction").get_to(s.busy_fraction);
  j.at("energy").at("window_kwh").get_to(s.energy_kwh);
  j.at("energy").at("total_kwh").get_to(s.energy_total_kwh);
  // Results written before these two were added lack them.
  s.energy_per_output_token_j = j.at("energy").value("j_per_output_token", 0.0);
  s.mean_power_per_gpu_w = j.at("energy").value("mean_power_per_gpu_w", 0.0);
  const auto& w = j.at("workload");
  w.at("skipped_bad_rows").get_to(s.totals.skipped_bad_rows);
  w.at("clamped_rows").get_to(s.totals.clamped_rows);
  w.at("questions_cut").get_to(s.totals.questions_cut);
  // Results written before the context window was enforced lack these two.
  s.totals.over_context_cut = w.value("over_context_cut", std::uint64_t{0});
  s.totals.over_context_dropped = w.value("over_context_dropped", std::uint64_t{0});
  j.at("simulated_s").get_to(s.simulated_s);
  if (j.contains("failures")) {
    const auto& f = j.at("failures");
    RunTotals& t = s.totals;
    t.failures_enabled = true;
    f.at("gpu_failures").get_to(t.gpu_failures);
    f.at("node_failures").get_to(t.node_failures);
    f.at("injected").get_to(t.injected_failures);
    f.at("replica_outages").get_to(t.replica_outages);
    f.at("replica_down_s").get_to(t.replica_down_window_s);
    f.at("replica_down_total_s").get_to(t.replica_down_total_s);
    f.at("replica_availability").get_to(t.replica_availability);
    f.at("retried_requests").get_to(t.retried_requests);
    f.at("retries").get_to(t.retries);
    f.at("failed_requests").get_to(t.failed_requests);
    f.at("requeued_requests").get_to(t.requeued_requests);
    f.at("lost_kv_tokens").get_to(t.lost_kv_tokens);
  }
  if (j.contains("autoscaler")) {
    const auto& a = j.at("autoscaler");
    RunTotals& t = s.totals;
    t.autoscaler_enabled = true;
    a.at("gpu_hours").get_to(t.gpu_hours);
    a.at("serving_replica_s").get_to(t.serving_replica_s);
    a.at("starting_replica_s").get_to(t.starting_replica_s);
    a.at("draining_replica_s").get_to(t.draining_replica_s);
    a.at("peak_replicas").get_to(t.peak_replicas);
    a.at("scale_ups").get_to(t.scale_ups);
    a.at("scale_downs").get_to(t.scale_downs);
    a.at("cold_start_s").get_to(t.cold_start_s);
  }
  if (j.contains("pools"))
    for (const auto& e : j.at("pools")) {
      Summary::Pool p;
      e.at("name").get_to(p.name);
      e.at("gpu").get_to(p.gpu);
      e.at("dtype").get_to(p.dtype);
      e.at("replicas").get_to(p.replicas);
      e.at("gpus").get_to(p.gpus);
      e.at("tensor_parallel").get_to(p.tensor_parallel);
      e.at("pipeline_parallel").get_to(p.pipeline_parallel);
      e.at("expert_parallel").get_to(p.expert_parallel);
      e.at("arrival_share").get_to(p.arrival_share);
      e.at("arrived").get_to(p.arrived);
      e.at("measured_finished").get_to(p.measured_finished);
      e.at("output_tokens_per_s").get_to(p.output_tokens_per_s);
      e.at("mfu").get_to(p.mfu);
      e.at("busy_fraction").get_to(p.busy_fraction);
      e.at("energy_kwh").get_to(p.energy_kwh);
      e.at("ttft_p99_s").get_to(p.ttft_p99_s);
      e.at("tpot_p99_s").get_to(p.tpot_p99_s);
      s.pools.push_back(std::move(p));
    }
  if (j.contains("priority_classes"))
    for (const auto& c : j.at("priority_classes")) {
      Summary::PriorityClass pc;
      c.at("priority").get_to(pc.priority);
      c.at("measured").get_to(pc.measured);
      c.at("slo_attainment").get_to(pc.slo_attainment);
      latencies_from_json(c.at("latency_s"), pc);
      s.priority_classes.push_back(std::move(pc));
    }
}

nlohmann::ordered_json to_json(const Summary& s) { return nlohmann::ordered_json(s); }

void write_file_atomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp-" + std::to_string(static_cast<long>(::getpid()));
  auto fail = [&](const char* what, int err, bool remove_tmp) {
    if (remove_tmp) std::remove(tmp.c_str());
    throw WriteError(fmt::format("cannot write {}: {}: {}", path, what, std::strerror(err)));
  };
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail("open", errno, false);
  if (!content.empty() && std::fwrite(content.data(), 1, content.size(), f) != content.size()) {
    const int err = errno;
    std::fclose(f);
    fail("write", err, true);
  }
  if (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0) {
    const int err = errno;
    std::fclose(f);
    fail("flush", err, true);
  }
  if (std::fclose(f) != 0) fail("close", errno, true);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("rename", errno, true);
}

std::string requests_csv(const std::vector<RequestRecord>& records, bool with_priority, bool with_cached,
                         bool with_retries) {
  std::vector<const RequestRecord*> order;
  order.reserve(records.size());
  for (const auto& r : records) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(),
                   [](const RequestRecord* a, const RequestRecord* b) { return a->id < b->id; });

  std::string out;
  out.reserve(96 * (records.size() + 1));
  append_requests_csv_header(out, with_priority, with_cached, with_retries);
  for (const RequestRecord* r : order) append_requests_csv_row(out, *r, with_priority, with_cached, with_retries);
  return out;
}

std::string summary_table(const Summary& s) {
  auto ms = [](double sec) { return sec * 1000.0; };
  auto target = [](double t) { return t > 0.0 ? fmt::format("{:.1f} ms", t * 1000.0) : std::string("none"); };
  auto met = [](bool b) { return b ? "met" : "NOT met"; };
  std::string out;
  out += fmt::format("scenario {}  seed {}\n", s.scenario, s.seed);
  out += fmt::format("{:<22}{} arrived, {} measured, {} unfinished, {} rejected\n", "requests", s.requests_arrived,
                     s.requests_measured, s.requests_unfinished, s.requests_rejected);
  out += fmt::format("{:<22}served {:.3f} req/s, {:.1f} out tok/s, {:.1f} tok/s (window {:.3f} s)\n", "throughput",
                     s.requests_per_s, s.output_tokens_per_s, s.total_tokens_per_s, s.window_s);
  out += fmt::format("{:<22}offered {:.3f} req/s, {:.1f} out tok/s, {:.1f} tok/s\n", "", s.offered_requests_per_s,
                     s.offered_output_tokens_per_s, s.offered_total_tokens_per_s);
  out += fmt::format("{:<22}{:>12}{:>12}{:>12}{:>12}{:>10}\n", "latency (ms)", "p50", "p90", "p99", "p99.9",
                     "count");
  auto row = [&](const char* name, const LatencyStats& st) {
    out += fmt::format("  {:<20}{:>12.3f}{:>12.3f}{:>12.3f}{:>12.3f}{:>10}\n", name, ms(st.p50), ms(st.p90),
                       ms(st.p99), ms(st.p999), st.count);
  };
  row("TTFT", s.ttft);
  row("TPOT", s.tpot);
  row("E2E", s.e2e);
  if (s.kv_transfer.count > 0) row("KV transfer", s.kv_transfer);
  for (const auto& p : s.pools)
    out += fmt::format("  pool {:<15}{} x {} GPUs of {}: {:.1f} % of arrivals, TTFT p99 {:.1f} ms, TPOT p99 {:.1f} ms, "
                       "MFU {:.1f} %, busy {:.1f} %\n",
                       p.name, p.replicas, p.gpus / std::max(1, p.replicas), p.gpu, p.arrival_share * 100.0,
                       ms(p.ttft_p99_s), ms(p.tpot_p99_s), p.mfu * 100.0, p.busy_fraction * 100.0);
  for (const auto& pc : s.priority_classes) {
    row(fmt::format("TTFT, class {}", pc.priority).c_str(), pc.ttft);
    row(fmt::format("TPOT, class {}", pc.priority).c_str(), pc.tpot);
  }
  out += fmt::format("{:<22}attainment {:.2f} %; TTFT p99 {} ({}), TPOT p99 {} ({}); SLO {}\n", "SLO",
                     s.slo_attainment * 100.0, target(s.slo.ttft_p99_s), met(s.ttft_p99_met),
                     target(s.slo.tpot_p99_s), met(s.tpot_p99_met),
                     s.requests_measured == 0 ? "NOT met (no request was measured)" : met(s.slo_met));
  // What the workload's input lost or changed on the way: said, never silent.
  std::vector<std::string> changed;
  const RunTotals& t = s.totals;
  if (t.skipped_bad_rows > 0)
    changed.push_back(fmt::format("{} bad trace row(s) skipped (workload.trace.skip_bad_rows)", t.skipped_bad_rows));
  if (t.clamped_rows > 0)
    changed.push_back(fmt::format("{} trace row(s) cut to max_prompt_tokens / max_output_tokens", t.clamped_rows));
  if (t.over_context_cut > 0)
    changed.push_back(fmt::format("{} request(s) cut to the model's context window", t.over_context_cut));
  if (t.over_context_dropped > 0)
    changed.push_back(fmt::format("{} request(s) beyond the context window turned away (counted as rejected)",
                                  t.over_context_dropped));
  if (t.questions_cut > 0)
    changed.push_back(fmt::format("{} question(s) not asked, their visit cut at duration_s", t.questions_cut));
  for (std::size_t i = 0; i < changed.size(); ++i)
    out += fmt::format("{:<22}{}\n", i == 0 ? "workload" : "", changed[i]);
  out += fmt::format("{:<22}{:.2f}\n", "mean batch", s.mean_batch_size);
  if (t.failures_enabled)
    out += fmt::format("{:<22}{} outage(s) ({} GPU, {} node, {} injected failures); replicas up {:.3f} % of the "
                       "window; {} request(s) retried ({} retries, {} given up), {} moved from a failed queue\n",
                       "failures", t.replica_outages, t.gpu_failures, t.node_failures, t.injected_failures,
                       t.replica_availability * 100.0, t.retried_requests, t.retries, t.failed_requests,
                       t.requeued_requests);
  if (t.autoscaler_enabled)
    out += fmt::format("{:<22}{:.2f} GPU-hours in the window ({:.2f} replicas on average: {:.2f} serving, {:.2f} "
                       "starting, {:.2f} draining; at most {}); {} started, {} removed; cold start {:.1f} s\n",
                       "autoscaler", t.gpu_hours,
                       t.window_s > 0 ? (t.serving_replica_s + t.starting_replica_s + t.draining_replica_s) / t.window_s : 0.0,
                       t.window_s > 0 ? t.serving_replica_s / t.window_s : 0.0,
                       t.window_s > 0 ? t.starting_replica_s / t.window_s : 0.0,
                       t.window_s > 0 ? t.draining_replica_s / t.window_s : 0.0, t.peak_replicas, t.scale_ups,
                       t.scale_downs, t.cold_start_s);
  if (s.preemptions > 0)
    out += fmt::format("{:<22}{} preemptions; {:.0f} tokens recomputed; {} tokens swapped out, {} in ({:.3f} s)\n",
                       "paged KV", s.preemptions, s.recomputed_tokens, s.swapped_out_tokens, s.swapped_in_tokens,
                       s.swap_s);
  if (s.prefix_cache.on)
    out += fmt::format("{:<22}{:.2f} % of blocks, {:.2f} % of prompt tokens hit; {} prefill tokens saved\n",
                       "prefix cache", s.prefix_cache.block_hit_rate * 100.0, s.prefix_cache.token_hit_rate * 100.0,
                       s.prefix_cache.prefill_tokens_saved);
  out += fmt::format("{:<22}{:.2f} %\n", "MFU", s.mfu * 100.0);
  out += fmt::format("{:<22}{:.2f} %\n", "busy", s.busy_fraction * 100.0);
  out += fmt::format("{:<22}{:.6f} kWh in window, {:.6f} kWh total\n", "energy", s.energy_kwh,
                     s.energy_total_kwh);
  out += fmt::format("{:<22}{:.4f} J per output token, {:.1f} W mean per GPU (in window)\n", "", s.energy_per_output_token_j,
                     s.mean_power_per_gpu_w);
  out += fmt::format("{:<22}{:.3f} s\n", "simulated", s.simulated_s);
  return out;
}

}  // namespace tf
