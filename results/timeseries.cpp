#include "results/timeseries.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "io/csv.hpp"
#include "results/summary.hpp"

namespace tf {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Calls f(bin index, overlap seconds) for every bin of width w that [a, b) overlaps, bins 0 .. n-1 (time
// beyond the last bin counts in the last one).
template <class F>
void spread(double a, double b, double w, std::size_t n, F&& f) {
  if (!(b > a) || n == 0) return;
  auto first = static_cast<std::size_t>(std::max(0.0, std::floor(a / w)));
  for (std::size_t i = std::min(first, n - 1); i < n; ++i) {
    const double lo = std::max(a, static_cast<double>(i) * w);
    const double hi = i + 1 == n ? b : std::min(b, static_cast<double>(i + 1) * w);
    if (hi > lo) f(i, hi - lo);
    if (hi >= b) break;
  }
}

std::size_t bin_of(double t, double w, std::size_t n) {
  if (!(t > 0.0)) return 0;
  return std::min(n - 1, static_cast<std::size_t>(std::floor(t / w)));
}

// A number with `digits` after the point; an empty cell for NaN.
void cell(CsvWriter& w, double v, int digits) {
  if (std::isnan(v))
    w.empty();
  else
    w.format("{:.{}f}", v, digits);
}

}  // namespace

ActivityBins::ActivityBins(double window_s) : window_s_(window_s > 0.0 ? window_s : 60.0) {}

void ActivityBins::add(const StepActivity& a) {
  const double length = a.end_s - a.start_s;
  if (!(length > 0.0)) return;
  // Bins up to the one holding the step's end, at most kMaxTimeseriesRows (checked as a double: a huge quotient
  // is never cast to a size).
  const double wanted = std::floor(a.end_s / window_s_) + 1.0;
  const auto last = static_cast<std::size_t>(std::min(wanted, kMaxTimeseriesRows));
  if (bins_.size() < last) bins_.resize(last);
  spread(a.start_s, a.end_s, window_s_, bins_.size(), [&](std::size_t i, double dt) {
    const double share = dt / length;
    Bin& b = bins_[i];
    b.busy_replica_s += dt;
    b.batch_request_s += a.batch_requests * dt;
    b.kv_token_s += a.kv_reserved_tokens * dt;
    b.iterations += a.iterations * share;
    b.batched_requests += a.batch_requests * a.iterations * share;
    b.flops += a.flops * share;
    b.prompt_tokens += a.prompt_tokens * share;
    b.output_tokens += a.output_tokens * share;
    b.energy_above_idle_j += a.power_above_idle_w * dt;
  });
}

void ActivityBins::add_replica_state(int state, double start_s, double end_s) {
  replica_states_ = true;
  if (!(end_s > start_s) || state < 0 || state > 2) return;
  const double wanted = std::floor(end_s / window_s_) + 1.0;
  const auto last = static_cast<std::size_t>(std::min(wanted, kMaxTimeseriesRows));
  if (bins_.size() < last) bins_.resize(last);
  spread(start_s, end_s, window_s_, bins_.size(),
         [&](std::size_t i, double dt) { bins_[i].replica_s[static_cast<std::size_t>(state)] += dt; });
}

ActivityBins::Bin& ActivityBins::Bin::operator+=(const Bin& o) {
  for (std::size_t k = 0; k < 3; ++k) replica_s[k] += o.replica_s[k];
  busy_replica_s += o.busy_replica_s;
  batch_request_s += o.batch_request_s;
  kv_token_s += o.kv_token_s;
  iterations += o.iterations;
  batched_requests += o.batched_requests;
  flops += o.flops;
  prompt_tokens += o.prompt_tokens;
  output_tokens += o.output_tokens;
  energy_above_idle_j += o.energy_above_idle_j;
  return *this;
}

void ActivityBins::merge(const ActivityBins& other) {
  if (other.bins_.size() > bins_.size()) bins_.resize(other.bins_.size());
  replica_states_ = replica_states_ || other.replica_states_;
  for (std::size_t i = 0; i < other.bins_.size(); ++i) bins_[i] += other.bins_[i];
}

void fill_activity_fields(TimeseriesRow& row, const ActivityBins& activity, std::size_t i, std::size_t n,
                          const FleetFacts& fleet, double len) {
  const auto& bins = activity.bins();
  const double replicas = std::max(1, fleet.replicas);
  const double gpus = replicas * std::max(1, fleet.gpus_per_replica);
  const double kv_capacity = replicas * fleet.kv_capacity_tokens_per_replica;
  ActivityBins::Bin b;
  if (i < bins.size()) b = bins[i];
  if (i + 1 == n)
    for (std::size_t j = n; j < bins.size(); ++j) b += bins[j];
  if (activity.replica_states()) {
    // [autoscaler]: the replicas there were (time averages); busy over those serving or draining, idle power on
    // those serving, starting or draining (an off replica draws nothing).
    row.replicas_serving = b.replica_s[0] / len;
    row.replicas_starting = b.replica_s[1] / len;
    row.replicas_draining = b.replica_s[2] / len;
    const double working = b.replica_s[0] + b.replica_s[2];
    row.busy_fraction = working > 0.0 ? b.busy_replica_s / working : 0.0;
    row.mean_batch = b.iterations > 0.0 ? b.batched_requests / b.iterations : 0.0;
    row.kv_used_fraction = working > 0.0 && fleet.kv_capacity_tokens_per_replica > 0.0
                               ? b.kv_token_s / (fleet.kv_capacity_tokens_per_replica * working)
                               : 0.0;
    row.served_tokens_per_s = (b.prompt_tokens + b.output_tokens) / len;
    row.served_output_tokens_per_s = b.output_tokens / len;
    const double on_gpu_s = (b.replica_s[0] + b.replica_s[1] + b.replica_s[2]) * std::max(1, fleet.gpus_per_replica);
    row.power_w = (fleet.idle_watts_per_gpu * on_gpu_s + b.energy_above_idle_j) / len;
    return;
  }
  row.busy_fraction = b.busy_replica_s / (replicas * len);
  row.mean_batch = b.iterations > 0.0 ? b.batched_requests / b.iterations : 0.0;
  row.kv_used_fraction = kv_capacity > 0.0 ? b.kv_token_s / (kv_capacity * len) : 0.0;
  row.served_tokens_per_s = (b.prompt_tokens + b.output_tokens) / len;
  row.served_output_tokens_per_s = b.output_tokens / len;
  row.power_w = (fleet.idle_watts_per_gpu * gpus * len + b.energy_above_idle_j) / len;
}

double timeseries_rows(double last_s, double window_s) { return std::max(1.0, std::ceil(last_s / window_s)); }

double last_event_s(const std::vector<RequestRecord>& records, double end_s) {
  double last = end_s;
  for (const auto& r : records) last = std::max({last, r.arrival_s, r.finished_s});
  return last;
}

std::vector<TimeseriesRow> timeseries_frame(double last, double w) {
  const double rows_needed = timeseries_rows(last, w);
  if (!(rows_needed <= kMaxTimeseriesRows))
    throw std::length_error(fmt::format("a time series of {:.0f} s in windows of {} s needs {:.3g} rows, more than "
                                        "the 1,000,000 it holds; use windows of at least {:.6g} s",
                                        last, w, rows_needed, last / kMaxTimeseriesRows));
  const auto n = static_cast<std::size_t>(rows_needed);
  std::vector<TimeseriesRow> rows(n);
  for (std::size_t i = 0; i < n; ++i) {
    rows[i].start_s = static_cast<double>(i) * w;
    rows[i].end_s = i + 1 == n ? std::max(last, rows[i].start_s) : static_cast<double>(i + 1) * w;
  }
  return rows;
}

std::vector<TimeseriesRow> build_timeseries(const std::vector<RequestRecord>& records, const ActivityBins& activity,
                                            const FleetFacts& fleet, double end_s) {
  const double w = activity.window_s();
  const double last = last_event_s(records, end_s);
  std::vector<TimeseriesRow> rows = timeseries_frame(last, w);
  const std::size_t n = rows.size();
  auto length = [&](std::size_t i) { return std::max(rows[i].end_s - rows[i].start_s, 1e-12); };

  std::vector<std::vector<double>> ttft(n), tpot(n);
  std::vector<std::size_t> meeting(n, 0);
  std::vector<double> offered_tokens(n, 0.0);
  for (const auto& r : records) {
    const std::size_t a = bin_of(r.arrival_s, w, n);
    ++rows[a].arrivals;
    offered_tokens[a] += static_cast<double>(r.prompt_tokens + r.output_tokens);
    const double admitted = r.admitted_s >= 0.0 ? r.admitted_s : last;
    // A rejected request never waited in a queue.
    if (!r.rejected)
      spread(r.arrival_s, admitted, w, n, [&](std::size_t i, double dt) { rows[i].queued_mean += dt; });
    if (r.admitted_s >= 0.0) {
      const double finished = r.finished() ? r.finished_s : last;
      spread(r.admitted_s, finished, w, n, [&](std::size_t i, double dt) { rows[i].running_mean += dt; });
    }
    if (!r.finished()) continue;
    ++rows[bin_of(r.finished_s, w, n)].completions;
    ttft[a].push_back(r.ttft_s());
    if (r.output_tokens > 1) tpot[a].push_back(r.tpot_s());
    if (meets_slo(r, fleet.slo)) ++meeting[a];
  }

  for (std::size_t i = 0; i < n; ++i) {
    TimeseriesRow& row = rows[i];
    const double len = length(i);
    row.queued_mean /= len;
    row.running_mean /= len;
    std::sort(ttft[i].begin(), ttft[i].end());
    std::sort(tpot[i].begin(), tpot[i].end());
    row.ttft_p50_s = ttft[i].empty() ? kNaN : percentile_sorted(ttft[i], 50.0);
    row.ttft_p99_s = ttft[i].empty() ? kNaN : percentile_sorted(ttft[i], 99.0);
    row.tpot_p50_s = tpot[i].empty() ? kNaN : percentile_sorted(tpot[i], 50.0);
    row.tpot_p99_s = tpot[i].empty() ? kNaN : percentile_sorted(tpot[i], 99.0);
    row.slo_attainment =
        row.arrivals == 0 ? kNaN : static_cast<double>(meeting[i]) / static_cast<double>(row.arrivals);
    row.offered_tokens_per_s = offered_tokens[i] / len;
    row.capacity_tokens_per_s = fleet.capacity_tokens_per_s;
    fill_activity_fields(row, activity, i, n, fleet, len);
  }
  return rows;
}

std::string timeseries_csv(const std::vector<TimeseriesRow>& rows, bool replica_states) {
  std::string out;
  CsvWriter w(out);
  std::vector<std::string> header = {
      "start_s", "end_s", "arrivals", "completions", "queued_mean", "running_mean", "mean_batch",
      "kv_used_fraction", "busy_fraction", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "slo_attainment",
      "offered_tokens_per_s", "served_tokens_per_s", "served_output_tokens_per_s", "capacity_tokens_per_s",
      "power_w"};
  if (replica_states)
    for (const char* c : {"replicas_serving", "replicas_starting", "replicas_draining"}) header.emplace_back(c);
  for (const std::string& h : header) w.field(h);
  w.end_row();
  for (const auto& r : rows) {
    cell(w, r.start_s, 3);
    cell(w, r.end_s, 3);
    w.integer(r.arrivals).integer(r.completions);
    cell(w, r.queued_mean, 4);
    cell(w, r.running_mean, 4);
    cell(w, r.mean_batch, 4);
    cell(w, r.kv_used_fraction, 6);
    cell(w, r.busy_fraction, 6);
    cell(w, r.ttft_p50_s, 6);
    cell(w, r.ttft_p99_s, 6);
    cell(w, r.tpot_p50_s, 6);
    cell(w, r.tpot_p99_s, 6);
    cell(w, r.slo_attainment, 6);
    cell(w, r.offered_tokens_per_s, 3);
    cell(w, r.served_tokens_per_s, 3);
    cell(w, r.served_output_tokens_per_s, 3);
    cell(w, r.capacity_tokens_per_s, 3);
    cell(w, r.power_w, 3);
    if (replica_states) {
      cell(w, r.replicas_serving, 4);
      cell(w, r.replicas_starting, 4);
      cell(w, r.replicas_draining, 4);
    }
    w.end_row();
  }
  return out;
}

std::string scaling_csv(const std::vector<ScalingEvent>& events) {
  std::string out;
  CsvWriter w(out);
  w.row({"time_s", "replica", "event", "serving", "starting", "draining"});
  for (const ScalingEvent& e : events) {
    cell(w, e.time_s, 6);
    w.integer(e.replica).field(e.event).integer(e.serving).integer(e.starting).integer(e.draining);
    w.end_row();
  }
  return out;
}

}  // namespace tf
