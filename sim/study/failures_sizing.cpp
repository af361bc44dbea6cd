// size --failures and --spare k (see sim/study/failures_sizing.hpp).
#include "sim/study/failures_sizing.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace tf {

Scenario with_failure_options(Scenario s, bool failures, int spare) {
  if (!failures && spare == 0) return s;
  if (spare < 0) throw std::invalid_argument(fmt::format("--spare: expected a number of replicas >= 0, got {}", spare));
  if (s.pods > 1)
    throw std::invalid_argument(fmt::format("--failures, --spare: not with fleet.pods = {} (failures are simulated in "
                                            "one fleet); size one pod",
                                            s.pods));
  if (s.batching == "disaggregated")
    throw std::invalid_argument("--failures, --spare: not with disaggregated serving (failures are not simulated there)");
  if (failures && !s.failures.enabled) s.failures = default_failure_spec();
  if (!failures && !s.failures.enabled) {  // --spare alone: only the spares are down
    s.failures = default_failure_spec();
    s.failures.gpu_mtbf_h = 0.0;
    s.failures.node_mtbf_h = 0.0;
  }
  s.failures.spare_down = spare;
  s.failures.spare_down_s = s.duration_s;
  return s;
}

}  // namespace tf

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "io/csv.hpp"
#include "results/summary.hpp"
#include "sim/engine/engine.hpp"

namespace tf {

namespace {

// The p99 of `v` with `never` values above any (numpy's linear interpolation over the sorted values).
double p99_with_misses(std::vector<double> v, std::size_t never) {
  for (std::size_t i = 0; i < never; ++i) v.push_back(std::numeric_limits<double>::infinity());
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double pos = 0.99 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  if (std::isinf(v[lo]) || (std::isinf(v[hi]) && pos > static_cast<double>(lo)))
    return std::numeric_limits<double>::infinity();
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace

double time_at_target(const std::vector<RequestRecord>& records, double start_s, double end_s, double window_s,
                      const SloTargets& slo) {
  const auto n = static_cast<std::size_t>(std::max(1.0, std::ceil((end_s - start_s) / window_s)));
  std::vector<std::vector<double>> ttft(n), tpot(n);
  std::vector<std::size_t> never(n, 0), arrivals(n, 0);
  for (const RequestRecord& r : records) {
    if (r.arrival_s < start_s || r.arrival_s >= end_s) continue;
    const auto i = std::min(n - 1, static_cast<std::size_t>((r.arrival_s - start_s) / window_s));
    ++arrivals[i];
    if (!r.finished()) {
      ++never[i];
      continue;
    }
    ttft[i].push_back(r.ttft_s());
    if (r.output_tokens > 1) tpot[i].push_back(r.tpot_s());
  }
  std::size_t with = 0, met = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (arrivals[i] == 0) continue;
    ++with;
    const bool ttft_ok = slo.ttft_p99_s <= 0.0 || p99_with_misses(ttft[i], never[i]) <= slo.ttft_p99_s;
    const bool tpot_ok = slo.tpot_p99_s <= 0.0 || p99_with_misses(tpot[i], never[i]) <= slo.tpot_p99_s;
    if (ttft_ok && tpot_ok) ++met;
  }
  return with == 0 ? 1.0 : static_cast<double>(met) / static_cast<double>(with);
}

std::vector<SpareRow> spare_value(const Scenario& sized, int answer_replicas, int spare, JobRunner& runner) {
  Scenario base = sized;
  base.failures.spare_down = 0;
  if (base.failures.gpu_mtbf_h <= 0.0 && base.failures.node_mtbf_h <= 0.0 && base.failures.inject.empty()) {
    const int retries = base.failures.max_retries;
    base.failures = default_failure_spec();
    base.failures.max_retries = retries;
  }
  std::vector<JobId> jobs;
  std::vector<int> fleets;
  for (int j = 0; j <= spare; ++j) {
    const int n = answer_replicas - spare + j;
    if (n < 1) continue;
    fleets.push_back(n);
    Scenario s = base;
    s.replicas = n;
    jobs.push_back(runner.submit(
        [s]() {
          const RunResult r = run_simulation(s, RunOptions{});
          const Summary sum = summarize(s.name, s.seed, r.records, s.warmup_s, r.totals, s.slo);
          nlohmann::json j;
          j["attainment"] = sum.slo_attainment;
          j["ttft_p99_s"] = sum.ttft.p99;
          j["tpot_p99_s"] = sum.tpot.p99;
          j["availability"] = r.totals.replica_availability;
          j["time_at_target"] = time_at_target(r.records, s.warmup_s, s.duration_s, 60.0, s.slo);
          j["outages"] = r.totals.replica_outages;
          j["retried"] = r.totals.retried_requests;
          j["failed"] = r.totals.failed_requests;
          return j.dump();
        },
        fmt::format("spare check: {} replicas under failures", n)));
  }
  std::vector<SpareRow> rows;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const ChildResult c = runner.wait(jobs[i]);
    if (!c.ok) throw std::runtime_error(fmt::format("spare check of {} replicas: {}", fleets[i], c.error));
    const auto j = nlohmann::json::parse(c.output);
    SpareRow row;
    row.replicas = fleets[i];
    row.spares = fleets[i] - (answer_replicas - spare);
    row.gpus = fleets[i] * sized.gpus_per_replica();
    row.attainment = j.at("attainment").get<double>();
    row.ttft_p99_s = j.at("ttft_p99_s").get<double>();
    row.tpot_p99_s = j.at("tpot_p99_s").get<double>();
    row.replica_availability = j.at("availability").get<double>();
    row.time_at_target = j.at("time_at_target").get<double>();
    row.outages = j.at("outages").get<std::int64_t>();
    row.retried = j.at("retried").get<std::int64_t>();
    row.failed = j.at("failed").get<std::int64_t>();
    rows.push_back(row);
  }
  return rows;
}

std::string spare_value_text(const std::vector<SpareRow>& rows, const std::string& indent) {
  std::string out = indent + "under failures (what each spare buys):\n";
  out += fmt::format("{}  {:>7} {:>8} {:>6} {:>11} {:>11} {:>11} {:>13} {:>15} {:>8} {:>8}\n", indent, "spares",
                     "replicas", "GPUs", "attainment", "TTFT p99", "TPOT p99", "replicas up", "time at target",
                     "outages", "retried");
  for (const SpareRow& r : rows)
    out += fmt::format("{}  {:>7} {:>8} {:>6} {:>10.2f}% {:>9.1f}ms {:>9.1f}ms {:>12.4f}% {:>14.2f}% {:>8} {:>8}\n",
                       indent, r.spares, r.replicas, r.gpus, r.attainment * 100.0, r.ttft_p99_s * 1e3,
                       r.tpot_p99_s * 1e3, r.replica_availability * 100.0, r.time_at_target * 100.0, r.outages,
                       r.retried);
  return out;
}

std::string spare_value_csv(const std::vector<SpareRow>& rows) {
  std::string out;
  CsvWriter w(out);
  for (const char* h : {"spares", "replicas", "gpus", "slo_attainment", "ttft_p99_s", "tpot_p99_s",
                        "replica_availability", "time_at_target", "outages", "retried_requests", "failed_requests"})
    w.field(h);
  w.end_row();
  for (const SpareRow& r : rows) {
    w.integer(r.spares).integer(r.replicas).integer(r.gpus);
    w.format("{:.6f}", r.attainment).fixed9(r.ttft_p99_s).fixed9(r.tpot_p99_s).format("{:.6f}", r.replica_availability);
    w.format("{:.6f}", r.time_at_target).integer(r.outages).integer(r.retried).integer(r.failed);
    w.end_row();
  }
  return out;
}

}  // namespace tf
