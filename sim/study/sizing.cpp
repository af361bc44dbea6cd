#include "sim/study/sizing.hpp"
#include "sim/study/pods.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <set>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cluster/cost_model.hpp"
#include "results/record_sink.hpp"
#include "results/streaming.hpp"
#include "results/summary.hpp"
#include "sim/study/child_process.hpp"
#include "sim/engine/engine.hpp"
#include "sim/replica/replica_model.hpp"
#include "workloads/curve.hpp"
#include "workloads/generator.hpp"
#include "workloads/trace.hpp"

namespace tf {

namespace {

// A pod's share of a workload arrives with gaps in its ids (those of the other pods, or outside its share); the
// streaming sink takes ids 0, 1, 2, ... in arrival order. This numbers them so, as they arrive (nothing the window
// figures read depends on the ids).
class DenseIds final : public RecordSink {
 public:
  explicit DenseIds(RecordSink& inner) : inner_(inner) {}
  void arrived(const RequestRecord& r) override {
    RequestRecord c = r;
    c.id = next_;
    live_.emplace(r.id, next_++);
    inner_.arrived(c);
  }
  void ended(const RequestRecord& r) override {
    const auto it = live_.find(r.id);
    if (it == live_.end()) throw std::logic_error(fmt::format("DenseIds: request {} ended, not in flight", r.id));
    RequestRecord c = r;
    c.id = it->second;
    live_.erase(it);
    inner_.ended(c);
  }

 private:
  RecordSink& inner_;
  std::unordered_map<std::uint64_t, std::uint64_t> live_;
  std::uint64_t next_ = 0;
};

// The simulation itself, in the child.
// hour >= 0: an hour probe (size --per-hour): only [hour x 3600 - warmup, (hour + 1) x 3600) of the workload is
// simulated (WorkloadSpec::start_s: the full run's requests in that span), from an empty fleet at its start, and
// the window measured is the hour (clipped to the scenario's window).
}  // namespace

Probe simulate_probe(const Scenario& base, int replicas, std::uint64_t seed, int pod, double share, int hour,
                     double hour_warmup_s, RunTotals* totals) {
  Scenario s = base;
  set_fleet_replicas(s, replicas);  // a mixed fleet: its pools at this total, in the file's mix
  s.seed = seed;
  if (pod >= 0) s.pod_index = pod;
  s.share = share;
  if (hour >= 0) {
    const double begin = hour * 3600.0;
    s.warmup_s = std::max(base.warmup_s, begin);
    s.duration_s = std::min(base.duration_s, begin + 3600.0);
    s.workload.start_s = std::max(base.workload.start_s, begin - hour_warmup_s);
  }
  Probe p;
  p.replicas = replicas;
  p.seed = seed;
  p.pod = pod;
  p.share = share;
  p.hour = hour;
  // The records go through a streaming sink (flat memory): the window figures of the whole window and of each
  // hour in it, and the summary's counters.
  StreamingOptions so;
  so.warmup_s = s.warmup_s;
  so.slo = s.slo;
  so.windows.emplace_back(s.warmup_s, s.duration_s);
  const int first_hour = static_cast<int>(std::floor(s.warmup_s / 3600.0));
  const int end_hour = static_cast<int>(std::ceil(s.duration_s / 3600.0));
  for (int h = first_hour; h < end_hour; ++h)
    so.windows.emplace_back(std::max(h * 3600.0, s.warmup_s), std::min((h + 1) * 3600.0, s.duration_s));
  const std::size_t hour_windows = so.windows.size() - 1;
  const double slice_s = (s.duration_s - s.warmup_s) / kProbeSlices;
  for (int k = 0; k < kProbeSlices; ++k)
    so.windows.emplace_back(s.warmup_s + k * slice_s, k + 1 == kProbeSlices ? s.duration_s : s.warmup_s + (k + 1) * slice_s);
  StreamingSink sink(so);
  DenseIds dense(sink);
  RunOptions options;
  options.record_sink =
      s.pod_index >= 0 || s.share < 1.0 || s.mixed() ? static_cast<RecordSink*>(&dense) : &sink;
  // A mixed fleet's pools run one after the other in processes of their own (run_fleet), their records merged.
  const RunResult r = s.mixed() ? run_fleet(s, options, 1) : run_simulation(s, options);
  sink.finish(r.totals.simulated_s);
  const Summary sum = sink.summary().summary(s.name, s.seed, r.totals);
  if (totals) *totals = r.totals;
  p.mfu = sum.mfu;
  p.mean_batch = sum.mean_batch_size;
  p.queue_p99_s = sum.queue.p99;
  p.preemptions = sum.preemptions;
  p.busy_fraction = sum.busy_fraction;
  p.flops = r.totals.flops;
  p.energy_kwh = sum.energy_kwh;
  p.window_s = r.totals.window_s;
  p.whole = sink.windows().front().figures();
  p.busiest = p.whole;
  std::size_t busiest_requests = 0;
  bool have_full_hour = false;
  for (std::size_t i = 1 + hour_windows; i < sink.windows().size(); ++i) p.slices.push_back(sink.windows()[i].figures());
  for (std::size_t i = 1; i <= hour_windows; ++i) {
    const WindowBuilder& hour = sink.windows()[i];
    p.hours.push_back(hour.figures());
    const auto& w = p.hours.back();
    if (hour.end_s() - hour.start_s() >= 3600.0 && (!have_full_hour || w.requests > busiest_requests)) {
      have_full_hour = true;
      busiest_requests = w.requests;
      p.busiest = w;
    }
  }
  return p;
}

namespace {

// Why a probe passed or failed, for the log.
std::string probe_verdict(const Probe& p, SizingWindow window, const SloTargets& slo) {
  if (!p.error.empty()) return "error: " + p.error;
  const auto& w = p.evaluated(window);
  std::vector<std::string> why;
  if (!w.ttft_met)
    why.push_back(fmt::format("TTFT p99 {:.1f} ms > target {:.1f} ms", w.ttft_p99_s * 1e3, slo.ttft_p99_s * 1e3));
  if (!w.tpot_met)
    why.push_back(fmt::format("TPOT p99 {:.1f} ms > target {:.1f} ms", w.tpot_p99_s * 1e3, slo.tpot_p99_s * 1e3));
  if (w.unfinished > 0) why.push_back(fmt::format("{} of {} requests unfinished", w.unfinished, w.requests));
  if (why.empty())
    return fmt::format("meets the targets: TTFT p99 {:.1f} ms, TPOT p99 {:.1f} ms over {} requests in [{:.0f}, {:.0f}) s",
                       w.ttft_p99_s * 1e3, w.tpot_p99_s * 1e3, w.requests, w.start_s, w.end_s);
  return fmt::format("misses: {}", fmt::join(why, "; "));
}

void print_probe(const Probe& p, const SizingOptions& o, bool pass) {
  if (!o.verbose) return;
  if (!p.error.empty()) {
    std::cout << fmt::format("  probe {:>5} replicas seed {:<4} error: {}\n", p.replicas, p.seed, p.error);
    return;
  }
  const auto& w = p.evaluated(o.window);
  std::cout << fmt::format("  probe {:>5} replicas seed {:<4} TTFT p99 {:>10.1f} ms  TPOT p99 {:>8.1f} ms  "
                           "attainment {:>6.2f} %  MFU {:>5.1f} %  {}\n",
                           p.replicas, p.seed, w.ttft_p99_s * 1e3, w.tpot_p99_s * 1e3, w.attainment * 100.0,
                           p.mfu * 100.0, pass ? "pass" : "fail")
            << std::flush;
}

}  // namespace

DemandMeter::DemandMeter(const Scenario& s) : warmup_s_(s.warmup_s), duration_s_(s.duration_s) {
  d_.window_s = s.duration_s - s.warmup_s;
}

void DemandMeter::add(const Request& r) {
  const auto prompt = static_cast<double>(r.prompt_tokens);
  if (r.prompt_tokens >= 0 && r.prompt_tokens < kSmall) {
    const auto v = static_cast<std::size_t>(r.prompt_tokens);
    if (v >= small_.size()) small_.resize(std::max(v + 1, small_.size() * 2), 0);
    ++small_[v];
  } else {
    ++large_[r.prompt_tokens];
  }
  ++all_;
  prompt_sum_ += prompt;
  output_sum_ += static_cast<double>(r.output_tokens);
  last_arrival_s_ = r.arrival_s;
  if (r.arrival_s < warmup_s_) return;
  d_.requests += 1.0;
  d_.prompt_tokens += prompt;
  d_.output_tokens += static_cast<double>(r.output_tokens);
  const auto h = static_cast<std::size_t>(r.arrival_s / 3600.0);
  if (h >= hours_.size()) hours_.resize(h + 1);
  hours_[h].requests += 1.0;
  hours_[h].prompt_tokens += prompt;
  hours_[h].output_tokens += static_cast<double>(r.output_tokens);
}

Demand DemandMeter::result() const {
  Demand d = d_;
  d.all_requests = static_cast<double>(all_);
  d.all_prompt_mean = all_ == 0 ? 0.0 : prompt_sum_ / static_cast<double>(all_);
  for (const HourCount& c : hours_) d.hour_tokens.push_back(c.prompt_tokens + c.output_tokens);
  for (std::size_t h = 0; h < hours_.size(); ++h) {
    const double start = static_cast<double>(h) * 3600.0;
    if (start < warmup_s_ || start + 3600.0 > duration_s_) continue;  // whole hours of the window only
    if (d.busiest_hour < 0 || hours_[h].requests > d.busiest_hour_requests) {
      d.busiest_hour = static_cast<int>(h);
      d.busiest_hour_requests = hours_[h].requests;
      d.busiest_hour_prompt_tokens = hours_[h].prompt_tokens;
      d.busiest_hour_output_tokens = hours_[h].output_tokens;
    }
  }
  // percentile_sorted(sorted prompts, 99) from the histogram: the values at ranks lo and lo + 1, the same
  // interpolation, so the same double.
  if (all_ == 0) return d;
  if (all_ == 1) {
    for (std::size_t v = 0; v < small_.size(); ++v)
      if (small_[v] > 0) d.all_prompt_p99 = static_cast<double>(v);
    for (const auto& [v, c] : large_) d.all_prompt_p99 = static_cast<double>(v);
    return d;
  }
  const double pos = 99.0 / 100.0 * static_cast<double>(all_ - 1);
  const auto lo = static_cast<std::uint64_t>(std::floor(pos));
  const double frac = pos - static_cast<double>(lo);
  double at_lo = 0.0, at_hi = 0.0;
  bool have_lo = false, have_hi = false;
  std::uint64_t seen = 0;
  auto visit = [&](double value, std::uint64_t count) {
    if (count == 0 || have_hi) return;
    seen += count;
    if (!have_lo && seen > lo) {
      at_lo = value;
      have_lo = true;
    }
    if (have_lo && seen > lo + 1) {
      at_hi = value;
      have_hi = true;
    }
  };
  // Negative lengths cannot be made; the large map holds lengths >= kSmall only, after the small ones.
  for (const auto& [v, c] : large_)
    if (v < 0) visit(static_cast<double>(v), c);
  for (std::size_t v = 0; v < small_.size(); ++v) visit(static_cast<double>(v), small_[v]);
  for (const auto& [v, c] : large_)
    if (v >= 0) visit(static_cast<double>(v), c);
  d.all_prompt_p99 = lo >= all_ - 1 ? at_lo : at_lo + frac * (at_hi - at_lo);
  return d;
}

Demand measure_demand(const Scenario& s, const volatile std::sig_atomic_t* interrupt_flag) {
  DemandMeter meter(s);
  RequestGenerator gen(s.workload, s.seed, s.duration_s);
  while (auto r = gen.next()) {
    meter.add(*r);
    if ((meter.count() & 4095) == 0 && interrupt_flag && *interrupt_flag != 0)
      throw RunInterrupted("measuring the workload's demand was interrupted");
  }
  return meter.result();
}

namespace {

// The demand job's answer: the Demand as JSON, or the error and whether it is the input's fault.
std::string measure_demand_job(const Scenario& s) {
  nlohmann::json j;
  try {
    j["demand"] = measure_demand(s);
  } catch (const WorkloadInputError& e) {
    j["input_error"] = e.what();
  } catch (const TraceError& e) {
    j["input_error"] = e.what();
  } catch (const ScenarioError& e) {
    j["input_error"] = e.what();
  } catch (const std::exception& e) {
    j["error"] = e.what();
  }
  return j.dump();
}

// What the preview says of the whole workload: its mean lengths; requests in the window from the daily curve's
// integral when the arrivals follow one, else at the preview's rate.
Demand provisional_demand(const Scenario& s, const DemandMeter& preview) {
  const Demand p = preview.result();
  Demand d = p;
  const double window = p.window_s;
  double requests = 0.0;
  const auto& arr = s.workload.arrival;
  std::unique_ptr<RateCurve> curve;  // the daily curve, when the arrivals follow one
  if (!s.workload.trace.enabled && !s.workload.session.enabled && arr.curve.kind != "none") {
    try {
      RateCurveSpec c = arr.curve;
      c.mean_rate_per_s = arr.rate_per_s;
      curve = make_rate_curve(c);
      requests = curve->integral(s.warmup_s, s.duration_s);
    } catch (const std::exception&) {
      curve.reset();
      requests = 0.0;
    }
  }
  if (!(requests > 0.0) && preview.last_arrival_s() > 0.0)
    requests = static_cast<double>(preview.count()) / preview.last_arrival_s() * window;
  // The preview's window requests, or all of them when none is past the warm-up yet.
  const double mean_prompt = p.requests > 0.0 ? p.prompt_tokens / p.requests : p.all_prompt_mean;
  const double mean_output = p.requests > 0.0 ? p.output_tokens / p.requests : preview.all_output_mean();
  d.requests = requests;
  d.prompt_tokens = requests * mean_prompt;
  d.output_tokens = requests * mean_output;
  d.all_requests = std::max(p.all_requests, requests);
  // The busiest whole hour by the daily curve's integral (none without a curve: the preview's is only its own).
  d.busiest_hour = -1;
  d.busiest_hour_requests = d.busiest_hour_prompt_tokens = d.busiest_hour_output_tokens = 0.0;
  d.hour_tokens.clear();
  if (curve) {
    for (int h = static_cast<int>(std::ceil(s.warmup_s / 3600.0)); (h + 1) * 3600.0 <= s.duration_s; ++h) {
      const double r = curve->integral(h * 3600.0, (h + 1) * 3600.0);
      if (d.busiest_hour < 0 || r > d.busiest_hour_requests) {
        d.busiest_hour = h;
        d.busiest_hour_requests = r;
      }
    }
    d.busiest_hour_prompt_tokens = d.busiest_hour_requests * mean_prompt;
    d.busiest_hour_output_tokens = d.busiest_hour_requests * mean_output;
  }
  return d;
}

// The scout's first round starts at the largest power of two not above the busiest hour's capacity bound, so that
// the bound from a provisional demand (a few per cent off) and the exact one mostly give the same round.
int scout_start(int bound) {
  int p = 1;
  while (p <= bound / 2) p *= 2;
  return p;
}

// The busiest hour's demand as a Demand of one hour.
Demand busiest_hour_demand(const Demand& d) {
  Demand dh;
  dh.requests = d.busiest_hour_requests;
  dh.prompt_tokens = d.busiest_hour_prompt_tokens;
  dh.output_tokens = d.busiest_hour_output_tokens;
  dh.window_s = 3600.0;
  return dh;
}

}  // namespace

DemandMeasurement::DemandMeasurement(const Scenario& s, JobRunner& runner,
                                     const volatile std::sig_atomic_t* interrupt_flag, std::uint64_t preview) {
  DemandMeter meter(s);
  RequestGenerator gen(s.workload, s.seed, s.duration_s);
  bool more = false;
  while (auto r = gen.next()) {
    meter.add(*r);
    if ((meter.count() & 4095) == 0 && interrupt_flag && *interrupt_flag != 0)
      throw RunInterrupted("measuring the workload's demand was interrupted");
    if (meter.count() >= preview) {
      more = gen.next().has_value();
      break;
    }
  }
  preview_ = meter.count();
  if (!more) {
    exact_ = provisional_ = meter.result();
    have_exact_ = true;
    return;
  }
  provisional_ = provisional_demand(s, meter);
  runner_ = &runner;
  job_ = submit_outside_slots(runner, [s] { return measure_demand_job(s); }, "demand of " + s.name);
  spdlog::info("demand of {}: more than {} requests; measuring the whole workload in a child process while the first "
               "probes run (provisional: {:.0f} requests in the window)",
               s.name, preview_, provisional_.requests);
}

const Demand& DemandMeasurement::exact() {
  if (have_exact_) return exact_;
  const ChildResult r = runner_->wait(job_);
  if (!r.ok) throw SimulationError("measuring the workload's demand failed: " + r.error);
  const auto j = nlohmann::json::parse(r.output);
  if (j.contains("input_error")) throw WorkloadInputError(j["input_error"].get<std::string>());
  if (j.contains("error")) throw SimulationError(j["error"].get<std::string>());
  exact_ = j["demand"].get<Demand>();
  have_exact_ = true;
  spdlog::info("demand measured: {:.0f} requests in the window ({:.0f} provisionally)", exact_.requests,
               provisional_.requests);
  return exact_;
}

std::optional<std::string> unreachable_targets(const Scenario& s, const Demand& demand) {
  if (s.mixed()) {  // a pool that no size meets the targets on keeps the whole fleet from them
    for (int k = 0; k < static_cast<int>(s.fleet_pools.size()); ++k)
      if (auto why = unreachable_targets(pool_scenario(s, k), demand))
        return fmt::format("pool '{}': {}", s.fleet_pools[static_cast<std::size_t>(k)].name, *why);
    return std::nullopt;
  }
  const CostModel cost(s.model, s.gpu, s.dtype, s.layout(), s.cost);
  if (demand.all_requests <= 0.0) return std::string("the workload has no requests in the simulated span");
  if (s.slo.tpot_p99_s > 0.0) {
    // Alone in its replica, a request decodes one token per iteration of batch 1: no fleet does better.
    IterationShape one;
    one.decode_tokens = 1;
    one.decode_context_tokens = static_cast<std::int64_t>(demand.all_prompt_mean);
    const double t = cost.iteration_time_s(one);
    if (t > s.slo.tpot_p99_s)
      return fmt::format(
          "the TPOT target ({:.1f} ms) is below the time of one decode iteration at batch 1 ({:.1f} ms for {} on {} x "
          "{} in {}): no fleet of this GPU meets it, at any batch size; relax slo.tpot_p99_s or use faster hardware "
          "(more tensor parallelism, FP8, a GPU with more memory bandwidth)",
          s.slo.tpot_p99_s * 1e3, t * 1e3, s.model.name, s.gpus_per_replica(), s.gpu.name, to_string(s.dtype));
  }
  if (s.slo.ttft_p99_s > 0.0) {
    // The 99th-percentile prompt alone takes at least one prefill iteration of its length.
    const double p99_prompt = demand.all_prompt_p99;
    IterationShape pre;
    pre.prefill_tokens = static_cast<std::int64_t>(p99_prompt);
    pre.prefill_sequences = 1;
    pre.prefill_attention_context = p99_prompt * (p99_prompt + 1.0) / 2.0;
    const double t = cost.iteration_time_s(pre);
    if (t > s.slo.ttft_p99_s)
      return fmt::format(
          "the TTFT target ({:.1f} ms) is below the prefill time of the 99th-percentile prompt ({:.0f} tokens) alone on "
          "an idle replica ({:.1f} ms for {} on {} x {} in {}): no fleet of this GPU meets it; relax slo.ttft_p99_s "
          "or use faster hardware",
          s.slo.ttft_p99_s * 1e3, p99_prompt, t * 1e3, s.model.name, s.gpus_per_replica(), s.gpu.name,
          to_string(s.dtype));
  }
  return std::nullopt;
}

namespace {

// What a probe is: its size, seed, pod (-1: none) and share of the arrivals.
struct ProbeKey {
  int replicas = 0;
  std::uint64_t seed = 0;
  int pod = -1;
  double share = 1.0;
  int hour = -1;  // an hour probe (size --per-hour): that hour of the day simulated after its warm-up; -1: the run
  bool operator<(const ProbeKey& o) const {
    return std::tie(replicas, seed, pod, share, hour) < std::tie(o.replicas, o.seed, o.pod, o.share, o.hour);
  }
};

Probe probe_from(const ChildResult& r, const ProbeKey& k) {
  Probe p;
  p.replicas = k.replicas;
  p.seed = k.seed;
  p.pod = k.pod;
  p.share = k.share;
  p.hour = k.hour;
  if (!r.ok) {
    p.error = r.error;
  } else {
    try {
      p = nlohmann::json::parse(r.output).get<Probe>();
    } catch (const std::exception& e) {
      p.error = std::string("unreadable probe result: ") + e.what();
    }
  }
  return p;
}

// The probes of one search, as jobs of a runner: a probe asked for early (prefetch: speculatively, before the
// exact demand is known) is used when the search asks for it, and stopped when it never does.
class ProbePool {
 public:
  ProbePool(JobRunner& runner, const Scenario& s, double hour_warmup_s = 0.0)
      : runner_(runner), s_(s), hour_warmup_s_(hour_warmup_s) {}
  ~ProbePool() { drop_unused(); }
  ProbePool(const ProbePool&) = delete;
  ProbePool& operator=(const ProbePool&) = delete;

  void prefetch(int replicas, std::uint64_t seed) { prefetch(ProbeKey{replicas, seed}); }
  void prefetch(const ProbeKey& k) {
    if (jobs_.count(k)) return;
    const Scenario* s = &s_;
    const double hour_warmup_s = hour_warmup_s_;
    jobs_[k] = runner_.submit(
        [s, k, hour_warmup_s] {
          return nlohmann::json(simulate_probe(*s, k.replicas, k.seed, k.pod, k.share, k.hour, hour_warmup_s)).dump();
        },
        fmt::format("probe {} replicas seed {}{}{}{}", k.replicas, k.seed, k.pod >= 0 ? fmt::format(" pod {}", k.pod) : "",
                    k.share < 1.0 ? fmt::format(" share {:.6g}", k.share) : "",
                    k.hour >= 0 ? fmt::format(" hour {}", k.hour) : ""));
  }
  // The probes of `candidates`, in that order (those not yet started are started first, so they run together).
  std::vector<Probe> get(const std::vector<std::pair<int, std::uint64_t>>& candidates) {
    std::vector<ProbeKey> keys;
    for (const auto& [n, seed] : candidates) keys.push_back(ProbeKey{n, seed});
    return get(keys);
  }
  std::vector<Probe> get(const std::vector<ProbeKey>& candidates) {
    for (const auto& k : candidates) prefetch(k);
    std::vector<Probe> out;
    for (const auto& c : candidates) {
      const JobId id = jobs_.at(c);
      used_.insert(id);
      out.push_back(probe_from(runner_.wait(id), c));
    }
    return out;
  }
  // Stops the probes started early that are not among `keep` (and not used).
  void keep_only(const std::set<ProbeKey>& keep) {
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      if (!used_.count(it->second) && !keep.count(it->first)) {
        spdlog::debug("sizing: probe {} replicas seed {} started early is not needed: stopped", it->first.replicas,
                      it->first.seed);
        runner_.cancel(it->second);
        it = jobs_.erase(it);
      } else {
        ++it;
      }
    }
  }
  void drop_unused() {
    for (const auto& [key, id] : jobs_)
      if (!used_.count(id)) runner_.cancel(id);
  }

 private:
  JobRunner& runner_;
  const Scenario& s_;
  double hour_warmup_s_ = 0.0;
  std::map<ProbeKey, JobId> jobs_;
  std::set<JobId> used_;
};

// The pods a search sizes: fleet.pods of a fleet of pods; 1 for one fleet, or for one pod's own scenario.
int pods_of(const Scenario& s) { return s.pods > 1 && s.pod_index < 0 ? s.pods : 1; }

// One pod's expected part of a demand split over `pods` (for first guesses; a pod's actual share varies).
Demand pod_demand(const Demand& d, int pods) {
  if (pods <= 1) return d;
  Demand p = d;
  p.requests /= pods;
  p.prompt_tokens /= pods;
  p.output_tokens /= pods;
  return p;
}

void check_sizable(const Scenario& s) {
  if (s.slo.ttft_p99_s <= 0.0 && s.slo.tpot_p99_s <= 0.0)
    throw ScenarioError(s.source, 0, "slo",
                        "fleet sizing needs at least one latency target: set slo.ttft_p99_s or slo.tpot_p99_s");
  if (s.mixed()) {
    for (int k = 0; k < static_cast<int>(s.fleet_pools.size()); ++k) check_servable(pool_scenario(s, k));
  } else if (pods_of(s) > 1) {
    Scenario pod = s;
    pod.replicas = std::max(1, s.replicas / s.pods);
    pod.pod_index = 0;
    check_servable(pod);
  } else {
    check_servable(s);
  }
}

// Disaggregated serving needs a prefill and a decode replica: its search starts at 2.
int min_replicas_of(const Scenario& s) {
  if (s.mixed()) return static_cast<int>(s.fleet_pools.size());  // one replica a pool
  Scenario two = s;
  two.replicas = 2;
  return prefill_pool_size(two) > 0 ? 2 : 1;
}

// A first guess from capacity: the mean output tokens/s over what one saturated replica produces.
int first_guess(const Scenario& s, const Demand& demand, double* capacity_out = nullptr) {
  const CostModel cost(s.model, s.gpu, s.dtype, s.layout(), s.cost);
  const auto policy = make_batching_policy(s.batching, s.policy_params);
  const double mean_prompt = demand.requests > 0 ? demand.prompt_tokens / demand.requests : 1.0;
  const double mean_output = demand.requests > 0 ? demand.output_tokens / demand.requests : 1.0;
  double capacity = saturated_capacity(cost, *policy, mean_prompt, mean_output, s.limits.max_batch);
  if (s.mixed()) {  // a replica of the mix on average: the pools' capacities at the file's size over its replicas
    capacity = 0.0;
    for (double c : pool_capacities(s)) capacity += c;
    capacity /= std::max(1, s.replicas);
  }
  if (capacity_out) *capacity_out = capacity;
  const double g = capacity > 0.0 ? std::ceil(demand.output_tokens_per_s() / capacity) : 1.0;
  return g >= 1e9 ? 1000000000 : static_cast<int>(g);
}

// The first round of the growing search: from the guess, doubling, `jobs` candidates.
std::vector<int> growing_round(int next, int jobs, int max_replicas) {
  std::vector<int> round;
  for (int k = 0, n = next; k < jobs && n <= max_replicas; ++k, n = std::min(max_replicas + 1, n * 2)) {
    round.push_back(n);
    if (n == max_replicas) break;
  }
  return round;
}

// A round of the bisection: `jobs` candidates evenly spread strictly between lo (fails) and hi (passes), in order.
std::vector<int> bisecting_round(int lo, int hi, int jobs) {
  std::vector<int> round;
  for (int k = 1; k <= jobs; ++k) {
    const int n = lo + static_cast<int>(std::llround(static_cast<double>(hi - lo) * k / (jobs + 1)));
    if (n > lo && n < hi) round.push_back(n);
  }
  if (round.empty()) round.push_back(lo + (hi - lo) / 2);
  std::sort(round.begin(), round.end());
  round.erase(std::unique(round.begin(), round.end()), round.end());
  return round;
}

void print_round(const std::vector<int>& ns, const SizingOptions& o, int seeds, int pods, const std::string& why) {
  if (!o.verbose || ns.empty()) return;
  std::string each;
  if (pods > 1 && seeds > 1)
    each = fmt::format(" per pod ({} pods x {} seeds each)", pods, seeds);
  else if (pods > 1)
    each = fmt::format(" per pod ({} pods each)", pods);
  else if (seeds > 1)
    each = fmt::format(" ({} seeds each)", seeds);
  std::cout << fmt::format("  probing {} replicas{}{}\n", fmt::join(ns, ", "), each, why) << std::flush;
}

// A candidate of a fleet of pods, one seed: the worst pod's figures (fleet_probes) and how many pods miss.
void print_pods_probe(const Probe& fleet, int pods, int failing, const SizingOptions& o, bool pass) {
  if (!o.verbose) return;
  if (!fleet.error.empty()) {
    std::cout << fmt::format("  probe {:>5} replicas x {} pods seed {:<4} error: {}\n", fleet.replicas / pods, pods,
                             fleet.seed, fleet.error);
    return;
  }
  const auto& w = fleet.evaluated(o.window);
  std::cout << fmt::format("  probe {:>5} replicas x {} pods seed {:<4} worst pod: TTFT p99 {:>10.1f} ms  TPOT p99 "
                           "{:>8.1f} ms  attainment {:>6.2f} %  {} of {} pods miss  {}\n",
                           fleet.replicas / pods, pods, fleet.seed, w.ttft_p99_s * 1e3, w.tpot_p99_s * 1e3,
                           w.attainment * 100.0, failing, pods, pass ? "pass" : "fail")
            << std::flush;
}

}  // namespace

namespace {

// The window figures of pods taken together (fleet_probes).
WindowFigures pods_window(const std::vector<const WindowFigures*>& ws) {
  WindowFigures f = *ws.front();
  double met_share = 0.0;
  f.requests = f.unfinished = 0;
  f.ttft_p99_s = f.tpot_p99_s = 0.0;
  f.prompt_tokens = f.output_tokens = 0.0;
  f.ttft_met = f.tpot_met = f.met = true;
  for (const WindowFigures* w : ws) {
    f.requests += w->requests;
    f.unfinished += w->unfinished;
    f.ttft_p99_s = std::max(f.ttft_p99_s, w->ttft_p99_s);
    f.tpot_p99_s = std::max(f.tpot_p99_s, w->tpot_p99_s);
    met_share += w->attainment * static_cast<double>(w->requests);
    f.prompt_tokens += w->prompt_tokens;
    f.output_tokens += w->output_tokens;
    f.ttft_met = f.ttft_met && w->ttft_met;
    f.tpot_met = f.tpot_met && w->tpot_met;
    f.met = f.met && w->met;
  }
  f.attainment = f.requests > 0 ? met_share / static_cast<double>(f.requests) : 1.0;
  return f;
}

}  // namespace

std::vector<Probe> fleet_probes(const std::vector<Probe>& probes, int pods) {
  if (pods <= 1) return probes;
  std::vector<Probe> out;
  for (std::size_t first = 0; first + static_cast<std::size_t>(pods) <= probes.size(); first += static_cast<std::size_t>(pods)) {
    const auto begin = probes.begin() + static_cast<std::ptrdiff_t>(first);
    const auto end = begin + pods;
    Probe f = *begin;
    f.replicas = 0;
    f.pod = -1;
    f.mfu = f.busy_fraction = f.flops = f.energy_kwh = f.mean_batch = 0.0;
    f.error.clear();
    std::vector<const WindowFigures*> whole, busiest;
    for (auto p = begin; p != end; ++p) {
      f.replicas += p->replicas;
      if (!p->error.empty() && f.error.empty()) f.error = fmt::format("pod {} of {}: {}", p->pod + 1, pods, p->error);
      f.mfu += p->mfu / pods;
      f.busy_fraction += p->busy_fraction / pods;
      f.flops += p->flops;
      f.energy_kwh += p->energy_kwh;
      f.mean_batch += p->mean_batch / pods;
      f.queue_p99_s = p == begin ? p->queue_p99_s : std::max(f.queue_p99_s, p->queue_p99_s);
      f.preemptions += p == begin ? 0 : p->preemptions;
      whole.push_back(&p->whole);
      busiest.push_back(&p->busiest);
    }
    f.whole = pods_window(whole);
    f.busiest = pods_window(busiest);
    // Window by window (the hours, the slices), as long as every pod has it.
    auto merge_windows = [&](std::vector<WindowFigures> Probe::*windows) {
      std::vector<WindowFigures> merged;
      for (std::size_t i = 0;; ++i) {
        std::vector<const WindowFigures*> one;
        for (auto p = begin; p != end; ++p)
          if (i < ((*p).*windows).size()) one.push_back(&((*p).*windows)[i]);
        if (one.size() != static_cast<std::size_t>(pods)) break;
        merged.push_back(pods_window(one));
      }
      return merged;
    };
    f.hours = merge_windows(&Probe::hours);
    f.slices = merge_windows(&Probe::slices);
    out.push_back(std::move(f));
  }
  return out;
}

Margin answer_margin(const std::vector<Probe>& per_seed, SizingWindow window, const SloTargets& slo) {
  Margin m;
  m.ttft_target_s = slo.ttft_p99_s;
  m.tpot_target_s = slo.tpot_p99_s;
  m.seeds = static_cast<int>(per_seed.size());
  for (const auto& p : per_seed) m.seeds_passing += p.error.empty() && p.evaluated(window).met ? 1 : 0;
  if (per_seed.empty() || !per_seed.front().error.empty()) {
    m.method = "none";
    m.why_none = "the probe did not run";
    m.verdict = "no interval";
    return m;
  }
  if (per_seed.size() >= 2) {
    std::vector<double> ttft, tpot;
    for (const auto& p : per_seed) {
      ttft.push_back(p.evaluated(window).ttft_p99_s);
      tpot.push_back(p.evaluated(window).tpot_p99_s);
    }
    auto mean = [](const std::vector<double>& v) {
      double sum = 0.0;
      for (double x : v) sum += x;
      return sum / static_cast<double>(v.size());
    };
    m.method = "seeds";
    m.ttft = margin_interval(ttft, mean(ttft));
    m.tpot = margin_interval(tpot, mean(tpot));
  } else if (window == SizingWindow::whole) {
    // Batch means: the slices with requests enough for a p99 of their own (100: the 99th percentile is then at
    // least the second largest).
    const Probe& p = per_seed.front();
    std::vector<double> ttft, tpot;
    for (const auto& sl : p.slices)
      if (sl.requests >= 100 && sl.unfinished == 0) {
        ttft.push_back(sl.ttft_p99_s);
        tpot.push_back(sl.tpot_p99_s);
      }
    if (ttft.size() < 5) {
      m.method = "none";
      m.why_none = fmt::format("only {} of the window's {} slices hold 100 finished requests or more; give --seeds 3",
                               ttft.size(), p.slices.size());
      m.verdict = "no interval";
      return m;
    }
    m.method = "batch means";
    m.ttft = margin_interval(ttft, p.whole.ttft_p99_s);
    m.tpot = margin_interval(tpot, p.whole.tpot_p99_s);
  } else {
    m.method = "none";
    m.why_none = "one seed and the busiest-hour window: give --seeds 3 (or more) for an interval over seeds";
    m.verdict = "no interval";
    return m;
  }
  m.verdict = margin_verdict(m.ttft, m.ttft_target_s, m.tpot, m.tpot_target_s);
  return m;
}

bool constant_arrival_rate(const Scenario& s) {
  const auto& arr = s.workload.arrival;
  return arr.process == "poisson" && arr.spikes.empty() && arr.burst.multiple <= 0.0 && !s.workload.session.enabled &&
         !s.workload.trace.enabled;
}

DecompositionInputs decomposition_inputs(const Scenario& s, const Probe& first, int gpus) {
  DecompositionInputs di;
  di.params = s.model.params;
  di.active_params = s.model.active_params;
  di.peak_flops = fleet_peak_flops_per_gpu(s);  // a mixed fleet: the mean over its GPUs at its size in s
  di.gpus = gpus;
  di.span_start_s = first.whole.start_s;
  di.span_end_s = first.whole.end_s;
  di.span_tokens = first.whole.prompt_tokens + first.whole.output_tokens;
  for (const auto& h : first.hours) di.hours.push_back({h.start_s, h.end_s, h.prompt_tokens + h.output_tokens});
  di.model_flops = first.flops;
  di.constant_rate = constant_arrival_rate(s);
  return di;
}

BindingLimit binding_limit(const Scenario& s, const Probe& f, bool answer_is_one, SizingWindow window,
                           double mean_prompt, double mean_output) {
  BindingLimit b;
  const WindowFigures& w = f.evaluated(window);
  const int cap = s.limits.max_batch;
  const std::int64_t kv = CostModel(s.model, s.gpu, s.dtype, s.layout(), s.cost).kv_capacity_tokens();
  const double per_request = std::max(1.0, mean_prompt + mean_output);
  const double kv_holds = static_cast<double>(kv) / per_request;  // requests of the mean length the KV cache holds
  const std::string figures = fmt::format(
      "at {} replica(s): TTFT p99 {:.1f} ms (waiting p99 {:.1f} ms), TPOT p99 {:.1f} ms; mean batch {:.1f} of "
      "max_batch {}; the KV cache holds {:.0f} requests of the mean length ({} tokens); MFU {:.1f} %; {} preemptions",
      f.replicas, w.ttft_p99_s * 1e3, f.queue_p99_s * 1e3, w.tpot_p99_s * 1e3, f.mean_batch, cap, kv_holds, kv,
      f.mfu * 100.0, f.preemptions);
  if (answer_is_one) {
    b.limit = "none";
    b.evidence = "the smallest fleet the search tries meets the targets: it is as small as it goes; " + figures;
    return b;
  }
  auto ttft_limit = [&]() -> std::string {
    if (f.queue_p99_s >= 0.5 * w.ttft_p99_s) {
      if (f.preemptions > 0 || (kv_holds < cap && f.mean_batch >= 0.6 * kv_holds)) return "KV capacity";
      if (f.mean_batch >= 0.6 * cap) return "batch cap";
      return "TTFT from queueing";
    }
    return "compute (prefill of long prompts)";
  };
  auto tpot_limit = [&]() -> std::string { return f.mfu < 0.5 ? "memory bandwidth (decode)" : "compute (decode)"; };
  std::vector<std::string> parts;
  if (!w.ttft_met) parts.push_back(ttft_limit());
  if (!w.tpot_met) parts.push_back(tpot_limit());
  std::string why;
  if (parts.empty() && w.unfinished == 0) {
    // One fewer meets both targets on its p99s and fails only the seeds rule or the safe margin (its interval
    // holds a target): the limit is the one of the target it comes nearest to.
    const double rt = s.slo.ttft_p99_s > 0.0 ? w.ttft_p99_s / s.slo.ttft_p99_s : 0.0;
    const double rp = s.slo.tpot_p99_s > 0.0 ? w.tpot_p99_s / s.slo.tpot_p99_s : 0.0;
    if (rt > 0.0 || rp > 0.0) {
      parts.push_back(rt >= rp ? ttft_limit() : tpot_limit());
      why = fmt::format("its p99s meet the targets and it fails the margin or seeds rule; nearest target: {} at {:.0f} "
                        "% of it; ",
                        rt >= rp ? "TTFT" : "TPOT", std::max(rt, rp) * 100.0);
    }
  }
  if (parts.empty()) parts.push_back(w.unfinished > 0 ? "unfinished requests" : "the seeds rule");
  b.limit = parts.front();
  for (std::size_t i = 1; i < parts.size(); ++i) b.limit += " and " + parts[i];
  b.evidence = why + figures;
  return b;
}

BindingLimit answer_binding_limit(const Scenario& s, int replicas_per_pod, const std::vector<Probe>& at_answer,
                                  const std::vector<Probe>& below, SizingWindow window, const Demand& demand) {
  const bool one = below.empty();
  if (one && at_answer.empty()) throw std::logic_error("answer_binding_limit: no probe to judge");
  Scenario judged = s;
  judged.replicas = one ? replicas_per_pod : replicas_per_pod - 1;
  const double mean_prompt = demand.requests > 0 ? demand.prompt_tokens / demand.requests : 0.0;
  const double mean_output = demand.requests > 0 ? demand.output_tokens / demand.requests : 0.0;
  return binding_limit(judged, one ? at_answer.front() : below.front(), one, window, mean_prompt, mean_output);
}

bool candidate_passes(const std::vector<Probe>& per_seed, const SizingOptions& o, const SloTargets& slo) {
  const int seeds = static_cast<int>(per_seed.size());
  const int needed = std::max(1, static_cast<int>(std::ceil(o.pass_share * seeds - 1e-9)));
  int ok = 0;
  for (const Probe& p : per_seed) ok += p.error.empty() && p.evaluated(o.window).met ? 1 : 0;
  if (ok < needed) return false;
  // Within noise or missing: not a safe pass (no interval, with too few requests per slice: the point rule).
  if (o.safe_margin) {
    const std::string v = answer_margin(per_seed, o.window, slo).verdict;
    if (v == "within noise" || v == "misses") return false;
  }
  return true;
}

Probe run_probe(const Scenario& s, int replicas, std::uint64_t seed) {
  return run_probes(s, {{replicas, seed}}, 1).front();
}

std::vector<Probe> run_probes(const Scenario& s, const std::vector<std::pair<int, std::uint64_t>>& candidates,
                              int jobs) {
  const auto runner = make_local_runner(jobs);
  ProbePool pool(*runner, s);
  return pool.get(candidates);
}

SizingResult size_fleet(const Scenario& s, const SizingOptions& o, const Demand* known_demand) {
  check_sizable(s);
  std::unique_ptr<JobRunner> own;
  SizingOptions with_runner = o;
  if (!with_runner.runner) {
    own = make_local_runner(o.jobs, o.interrupt_flag);
    with_runner.runner = own.get();
  }
  if (known_demand) {
    DemandMeasurement dm(*known_demand);
    return size_fleet(s, with_runner, dm);
  }
  DemandMeasurement dm(s, *with_runner.runner, o.interrupt_flag);
  return size_fleet(s, with_runner, dm);
}

SizingResult size_fleet(const Scenario& s, const SizingOptions& o, DemandMeasurement& dm) {
  check_sizable(s);
  std::unique_ptr<JobRunner> own;
  JobRunner* runner = o.runner;
  if (!runner) {
    own = make_local_runner(o.jobs, o.interrupt_flag);
    runner = own.get();
  }
  if (o.per_hour && !(o.hour_warmup_s >= 0.0 && o.hour_warmup_s <= 86400.0))
    throw std::invalid_argument(fmt::format("the hour warm-up (per_hour) must be in [0, 86400] s, got {}", o.hour_warmup_s));
  ProbePool pool(*runner, s, o.hour_warmup_s);
  SizingResult result;
  // A fleet of pods: each candidate is a pod size, simulated for every pod of the split.
  const int pods = pods_of(s);
  result.pods = pods;
  if (pods > 1 && o.per_hour)
    throw std::invalid_argument("sizing a fleet of pods hour by hour (per_hour) is not supported");
  // Candidates per round: `jobs` of one fleet; of pods, as many as fill `jobs` with their pods' probes (at least 1).
  const int jobs = pods > 1 ? std::max(1, std::max(1, o.jobs) / pods) : std::max(1, o.jobs);
  const int min_replicas = min_replicas_of(s);
  const int seeds = std::max(1, o.seeds);
  // The probes of candidate n, seed by seed and pod by pod within a seed.
  auto keys_of = [&](int n) {
    std::vector<ProbeKey> keys;
    for (int k = 0; k < seeds; ++k)
      for (int pod = pods > 1 ? 0 : -1; pod < (pods > 1 ? pods : 0); ++pod)
        keys.push_back(ProbeKey{n, s.seed + static_cast<std::uint64_t>(k), pod});
    return keys;
  };
  // A large workload over several hours is scouted (below): its answer is first found on the busiest hour alone,
  // and the whole-window probes start there. Such a workload starts no whole-window probes early.
  const double scout_min_requests = [] {
    const char* e = std::getenv("TOKENFLEET_SCOUT_REQUESTS");
    return e && *e ? std::strtod(e, nullptr) : kScoutMinRequests;
  }();
  auto scoutable = [&](const Demand& d) {
    return pods == 1 && !s.mixed() && d.window_s >= kScoutMinWindow_s && d.requests >= scout_min_requests;
  };
  const bool maybe_scout = scoutable(dm.provisional());
  // Hour probes (the scout's, --per-hour's) start where their span does: the arrivals before every hour's span are
  // drawn once here, for every seed, and each probe resumes from its start's checkpoint (an open-loop synthetic
  // workload; sessions and traces draw and drop them as before). The same requests, bit for bit; on a 50 M-request
  // day, seconds saved per probe.
  const int first_hour = static_cast<int>(std::floor(s.warmup_s / 3600.0));
  const int end_hour = static_cast<int>(std::ceil(s.duration_s / 3600.0));
  Scenario hour_scenario = s;  // with the checkpoints below, before any hour probe but those started early
  ProbePool hour_pool(*runner, hour_scenario, o.hour_warmup_s);
  std::map<std::pair<int, int>, std::vector<Probe>> hour_cache;  // (hour, replicas) -> one probe per seed
  auto scout_keys = [&](int h, const std::vector<int>& ns) {
    std::vector<ProbeKey> keys;
    for (int n : ns)
      for (int k = 0; k < seeds; ++k) keys.push_back(ProbeKey{n, s.seed + static_cast<std::uint64_t>(k), -1, 1.0, h});
    return keys;
  };
  if (maybe_scout && !dm.exact_known() && dm.provisional().busiest_hour >= 0 && o.max_replicas >= min_replicas &&
      !unreachable_targets(s, dm.provisional())) {
    // While the whole workload is measured: the scout's first round on the busiest hour by the daily curve. The
    // scout below uses these probes only if the exact demand asks for the same ones.
    const int h = dm.provisional().busiest_hour;
    const int g = std::clamp(first_guess(s, busiest_hour_demand(dm.provisional())), min_replicas, o.max_replicas);
    const auto round = growing_round(scout_start(g), jobs, o.max_replicas);
    for (const auto& key : scout_keys(h, round)) hour_pool.prefetch(key);
    if (o.verbose) {
      std::string what;
      for (int n : round) what += fmt::format("{}{}", what.empty() ? "" : ", ", n);
      std::cout << fmt::format("  scouting the busiest hour ({:02d}h by the daily curve): probing {} replicas (started "
                               "early: the workload has more than {} requests, measured whole meanwhile)\n",
                               h, what, dm.preview_requests())
                << std::flush;
    }
  }
  if (o.per_hour || maybe_scout) {
    std::vector<double> starts;
    for (int h = first_hour; h < end_hour; ++h)
      starts.push_back(std::max(s.workload.start_s, h * 3600.0 - o.hour_warmup_s));
    for (int k = 0; k < seeds; ++k)
      if (auto c = ArrivalCheckpoints::build(s.workload, s.seed + static_cast<std::uint64_t>(k), s.duration_s, starts,
                                             o.interrupt_flag))
        hour_scenario.workload.checkpoints.push_back(std::move(c));
    if (o.interrupt_flag && *o.interrupt_flag != 0) throw RunInterrupted("the fleet search was interrupted");
  }
  if (!dm.exact_known() && !maybe_scout && o.max_replicas >= min_replicas && !unreachable_targets(s, dm.provisional())) {
    // While the whole workload is measured: start the first round the provisional demand points to. The search
    // below uses these probes only if it asks for them.
    const int guess = std::clamp(first_guess(s, pod_demand(dm.provisional(), pods)), min_replicas, o.max_replicas);
    const auto round = growing_round(guess, jobs, o.max_replicas);
    for (int n : round)
      for (const auto& key : keys_of(n)) pool.prefetch(key);
    print_round(round, o, seeds, pods,
                fmt::format(" (started early: the workload has more than {} requests, measured whole meanwhile)",
                            dm.preview_requests()));
  }
  const Demand demand = dm.exact();
  if (auto why = unreachable_targets(s, demand)) {
    result.reason = *why;
    return result;
  }
  const int needed = std::max(1, static_cast<int>(std::ceil(o.pass_share * seeds - 1e-9)));
  std::map<int, std::vector<Probe>> cache;
  std::string probe_error;

  auto evaluate = [&](std::vector<int> ns) {
    std::vector<ProbeKey> todo;
    std::sort(ns.begin(), ns.end());
    ns.erase(std::unique(ns.begin(), ns.end()), ns.end());
    for (int n : ns) {
      if (cache.count(n)) continue;
      for (const auto& key : keys_of(n)) todo.push_back(key);
    }
    if (o.interrupt_flag && *o.interrupt_flag != 0) throw RunInterrupted("the fleet search was interrupted");
    std::vector<int> fresh;
    for (const auto& c : todo)
      if (fresh.empty() || fresh.back() != c.replicas) fresh.push_back(c.replicas);
    print_round(fresh, o, seeds, pods, "");
    const auto probes = pool.get(todo);
    // Ctrl-C or SIGTERM (SizingOptions::interrupt_flag): stop the search between rounds of probes.
    if (o.interrupt_flag && *o.interrupt_flag != 0) throw RunInterrupted("the fleet search was interrupted");
    for (const auto& p : probes) {
      cache[p.replicas].push_back(p);
      result.probes.push_back(p);
      if (!p.error.empty() && probe_error.empty())
        probe_error = p.pod >= 0 ? fmt::format("pod {} of {}: {}", p.pod + 1, pods, p.error) : p.error;
    }
  };
  auto probe_met = [&](const Probe& p) { return p.error.empty() && p.evaluated(o.window).met; };
  // Every pod (one fleet: the one) passes on its seeds' probes (candidate_passes).
  auto passes = [&](int n) {
    const auto& probes = cache.at(n);
    for (int pod = 0; pod < pods; ++pod) {
      std::vector<Probe> per_seed;
      for (int k = 0; k < seeds; ++k) per_seed.push_back(probes[static_cast<std::size_t>(k * pods + pod)]);
      if (!candidate_passes(per_seed, o, s.slo)) return false;
    }
    return true;
  };
  auto report = [&](const std::vector<int>& ns) {
    for (int n : ns) {
      for (const auto& p : cache.at(n))
        spdlog::debug("sizing {}: probe {} replicas, seed {}{}: {}; candidate {}", s.gpu.name, p.replicas, p.seed,
                      p.pod >= 0 ? fmt::format(", pod {} of {}", p.pod + 1, pods) : "",
                      probe_verdict(p, o.window, s.slo), passes(n) ? "passes" : "fails");
      if (pods == 1) {
        for (const auto& p : cache.at(n)) print_probe(p, o, passes(n));
      } else {
        const auto& probes = cache.at(n);
        const auto fleet = fleet_probes(probes, pods);
        for (std::size_t k = 0; k < fleet.size(); ++k) {
          int failing = 0;
          for (int pod = 0; pod < pods; ++pod) failing += probe_met(probes[k * pods + pod]) ? 0 : 1;
          print_pods_probe(fleet[k], pods, failing, o, passes(n));
        }
      }
    }
  };
  const char* what = pods > 1 ? "pod" : "fleet";

  // A first guess from capacity: the mean output tokens/s over what one saturated replica produces.
  double capacity = 0.0;
  int guess = first_guess(s, pod_demand(demand, pods), &capacity);
  if (o.max_replicas < min_replicas) {
    result.reason = s.mixed() ? fmt::format("a mixed fleet of {} pools needs at least {} replicas (one a pool), but "
                                            "--max-replicas is {}",
                                            s.fleet_pools.size(), min_replicas, o.max_replicas)
                              : fmt::format("disaggregated serving needs at least {} replicas (a prefill and a decode "
                                            "one), but --max-replicas is {}",
                                            min_replicas, o.max_replicas);
    return result;
  }
  guess = std::clamp(guess, min_replicas, o.max_replicas);
  spdlog::info("sizing {} on {}: first guess {} replicas{} ({:.1f} output tokens/s offered, {:.1f} per saturated "
               "replica); {} seed(s) per candidate, {} needed to pass; bound {} replicas",
               s.name, s.gpu.name, guess, pods > 1 ? fmt::format(" per pod of {}", pods) : "",
               demand.output_tokens_per_s(), capacity, seeds, needed, o.max_replicas);
  {
    // Probes started early for another first round than this one are stopped.
    std::set<ProbeKey> first;
    for (int n : growing_round(guess, jobs, o.max_replicas))
      for (const auto& key : keys_of(n)) first.insert(key);
    pool.keep_only(first);
  }

  // The scout: a workload of at least kScoutMinRequests requests over at least kScoutMinWindow_s is first sized on
  // its busiest whole hour alone (hour probes: the hour after hour_warmup_s of the demand before it, judged over its
  // own requests; growing from a power of two under the hour's capacity bound and bisecting, as below), a tenth of a
  // day's probe each. The whole-window search then starts at the size the hours' loads on the scout's curve point to
  // (below) and one fewer, and gallops (1, 3, 9, ... replicas with 2 jobs) from there: the window's answer is a pass
  // over a failure of whole-window probes, as without the scout. The scout's probes are in probes.csv, with their
  // hour.
  auto hour_passes = [&](int h, int n) { return candidate_passes(hour_cache.at({h, n}), o, s.slo); };
  auto print_hour_probe = [&](const Probe& p, bool pass) {
    if (!o.verbose) return;
    if (p.error.empty()) {
      const auto& w = p.whole;
      std::cout << fmt::format("  probe {:>5} replicas seed {:<4} hour {:02d}  TTFT p99 {:>10.1f} ms  TPOT p99 "
                               "{:>8.1f} ms  attainment {:>6.2f} %  {} requests  {}\n",
                               p.replicas, p.seed, p.hour, w.ttft_p99_s * 1e3, w.tpot_p99_s * 1e3,
                               w.attainment * 100.0, w.requests, pass ? "pass" : "fail")
                << std::flush;
    } else {
      std::cout << fmt::format("  probe {:>5} replicas seed {:<4} hour {:02d}  error: {}\n", p.replicas, p.seed,
                               p.hour, p.error)
                << std::flush;
    }
  };
  int scouted = -1;
  double scout_beta = -1.0;  // the busiest hour's answer alone as square-root staffing: (n - R) / sqrt(R)
  const bool scouting = scoutable(demand) && demand.busiest_hour >= 0 && o.max_replicas >= min_replicas;
  if (!scouting) hour_pool.keep_only({});  // scout probes started early, not needed
  if (scouting) {
    const int h = demand.busiest_hour;
    const Demand dh = busiest_hour_demand(demand);
    const int g = std::clamp(first_guess(s, dh), min_replicas, o.max_replicas);
    {
      // Scout probes started early for another first round than this one are stopped.
      const auto keys = scout_keys(h, growing_round(scout_start(g), jobs, o.max_replicas));
      hour_pool.keep_only(std::set<ProbeKey>(keys.begin(), keys.end()));
    }
    auto scout_round = [&](std::vector<int> ns) {
      std::sort(ns.begin(), ns.end());
      ns.erase(std::unique(ns.begin(), ns.end()), ns.end());
      std::vector<ProbeKey> todo;
      std::vector<int> fresh;
      for (int n : ns) {
        if (hour_cache.count({h, n})) continue;
        fresh.push_back(n);
        for (const auto& key : scout_keys(h, {n})) todo.push_back(key);
      }
      if (o.interrupt_flag && *o.interrupt_flag != 0) throw RunInterrupted("the fleet search was interrupted");
      if (o.verbose && !fresh.empty()) {
        std::string what;
        for (int n : fresh) what += fmt::format("{}{}", what.empty() ? "" : ", ", n);
        std::cout << fmt::format("  scouting the busiest hour ({:02d}h, {:.0f} requests; after {:.0f} s of the demand "
                                 "before it): probing {} replicas{}\n",
                                 h, dh.requests, o.hour_warmup_s, what,
                                 seeds > 1 ? fmt::format(" ({} seeds each)", seeds) : "")
                  << std::flush;
      }
      const auto probes = hour_pool.get(todo);
      if (o.interrupt_flag && *o.interrupt_flag != 0) throw RunInterrupted("the fleet search was interrupted");
      for (const auto& p : probes) {
        hour_cache[{h, p.replicas}].push_back(p);
        result.probes.push_back(p);
        if (!p.error.empty() && probe_error.empty()) probe_error = p.error;
      }
      for (int n : fresh)
        for (const auto& p : hour_cache.at({h, n})) print_hour_probe(p, hour_passes(h, n));
      return probe_error.empty();
    };
    int slo = min_replicas - 1, shi = -1, next = scout_start(g);
    bool ok = true;
    while (ok && shi < 0) {
      const std::vector<int> round = growing_round(next, jobs, o.max_replicas);
      if (round.empty() || !(ok = scout_round(round))) break;
      for (int n : round) {
        if (hour_passes(h, n)) {
          shi = n;
          break;
        }
        slo = std::max(slo, n);
      }
      if (shi < 0) {
        if (round.back() >= o.max_replicas) break;
        next = std::min(o.max_replicas, round.back() * 2);
      }
    }
    while (ok && shi >= 0 && shi - slo > 1) {
      const std::vector<int> round = bisecting_round(slo, shi, jobs);
      if (!(ok = scout_round(round))) break;
      int new_hi = shi;
      for (int n : round)
        if (hour_passes(h, n)) {
          new_hi = n;
          break;
        }
      shi = new_hi;
      for (int n : round)
        if (n < shi && !hour_passes(h, n)) slo = std::max(slo, n);
    }
    if (!probe_error.empty()) {
      result.reason = "a probe could not be simulated: " + probe_error;
      return result;
    }
    scouted = shi;
    if (shi >= 0) {
      spdlog::info("sizing {}: the busiest hour ({:02d}h) alone needs {} replicas", s.gpu.name, h, shi);
      pool.keep_only({});  // whole-window probes started early for a round the prediction will not ask for
    } else {
      spdlog::info("sizing {}: no fleet of up to {} replicas meets the targets over the busiest hour ({:02d}h) alone",
                   s.gpu.name, o.max_replicas, h);
    }
    if (double cap = 0.0; shi >= 0 && (first_guess(s, dh, &cap), cap > 0.0)) {
      const double load = dh.output_tokens_per_s() / cap;
      if (load > 0.0) scout_beta = std::max(0.0, (shi - load) / std::sqrt(load));
    }
    if (shi >= 0) {
      // Where the whole window's first round goes: the window's share of requests missing the targets, predicted
      // from the busiest hour's (1 - attainment at each size scouted, log-linear between them) taken as every
      // hour's at the size scaled by its load against the busiest hour's (an hour with 0.8 of the peak's tokens at
      // n replicas as the peak at n / 0.8), weighted by the hours' tokens; the smallest size predicted to miss at
      // most 1 % (the share a 99th percentile allows), and one fewer. A guess only: the answer is still a pass over
      // a failure of whole-window probes.
      // The bisection leaves the curve sparse below the hour's answer, where the prediction reads it: the busiest
      // hour is probed at the predicted size and one fewer too (a round of two hour probes, against a round of
      // whole-window ones saved when the prediction moves), until the prediction stands on probed sizes.
      std::vector<std::pair<double, double>> curve;  // (replicas, log share missing), by replicas
      auto read_curve = [&] {
        curve.clear();
        for (const auto& [key, probes] : hour_cache)
          if (key.first == h && !probes.empty() && probes.front().error.empty())
            curve.emplace_back(key.second, std::log(std::clamp(1.0 - probes.front().whole.attainment, 1e-6, 1.0)));
        std::sort(curve.begin(), curve.end());
      };
      read_curve();
      auto log_missing = [&](double x) {
        if (x < curve.front().first) return 0.0;  // below every size scouted: taken as all missing
        if (x == curve.front().first) return curve.front().second;
        if (x >= curve.back().first) return curve.back().second;
        const auto it = std::lower_bound(curve.begin(), curve.end(), std::make_pair(x, -1e300));
        const auto& [x1, y1] = *(it - 1);
        const auto& [x2, y2] = *it;
        return y1 + (y2 - y1) * (x - x1) / (x2 - x1);
      };
      const double peak_tokens = demand.busiest_hour_prompt_tokens + demand.busiest_hour_output_tokens;
      double total = 0.0;
      for (double t : demand.hour_tokens) total += t;
      auto predicted = [&](int n) {
        double missing = 0.0;
        for (double t : demand.hour_tokens)
          if (t > 0.0) missing += t / total * std::exp(log_missing(n * peak_tokens / t));
        return missing;
      };
      auto predict = [&] {
        int n = shi;
        if (!curve.empty() && total > 0.0 && peak_tokens > 0.0)
          while (n - 1 >= min_replicas && predicted(n - 1) <= 0.01) --n;
        return n;
      };
      int n = predict();
      for (int refine = 0; refine < 3; ++refine) {
        std::vector<int> more;
        for (int m : {n - 1, n})
          if (m >= min_replicas && !hour_cache.count({h, m})) more.push_back(m);
        if (more.empty()) break;
        if (!scout_round(more)) {
          result.reason = "a probe could not be simulated: " + probe_error;
          return result;
        }
        read_curve();
        n = predict();
      }
      scouted = n;
      if (o.verbose)
        std::cout << fmt::format("  the busiest hour alone needs {} replicas; the hours' loads on its curve point to {} "
                                 "for the whole window, probed from there\n",
                                 shi, n)
                  << std::flush;
    }
  }

  // Grow: from the guess, doubling, until a candidate meets the targets (after a scout: from its prediction and one
  // fewer, then galloping up). lo = min_replicas - 1 stands for a fleet too small to serve at all, which
  // fails.
  int lo = min_replicas - 1, hi = -1, next = guess;
  bool lo_probed = false;
  long long step = 1;
  // `jobs` candidates from `from`, `step` apart and more, clamped to the bounds (so a gallop up ends at
  // --max-replicas, as the doubling does).
  auto gallop = [&](int from, int dir) {
    std::vector<int> r;
    for (int k = 1; k <= jobs; ++k) {
      const long long n = std::clamp(static_cast<long long>(from) + static_cast<long long>(dir) * step * k,
                                     static_cast<long long>(min_replicas), static_cast<long long>(o.max_replicas));
      if (n != from && (r.empty() || r.back() != static_cast<int>(n))) r.push_back(static_cast<int>(n));
    }
    step = std::min<long long>(step * (jobs + 1), 1LL << 40);
    std::sort(r.begin(), r.end());
    return r;
  };
  std::vector<int> round;
  if (scouted >= 0) {
    if (scouted - 1 >= min_replicas) round.push_back(scouted - 1);
    round.push_back(scouted);
  } else {
    round = growing_round(next, jobs, o.max_replicas);
  }
  while (hi < 0) {
    if (round.empty()) break;
    evaluate(round);
    report(round);
    if (!probe_error.empty()) {
      result.reason = "a probe could not be simulated: " + probe_error;
      return result;
    }
    for (int n : round) {
      if (passes(n)) {
        hi = n;
        break;
      }
      lo = std::max(lo, n);
      lo_probed = true;
    }
    if (hi < 0) {
      spdlog::info("sizing {}: growing: {} replicas fail", s.gpu.name, lo);
      if (round.back() >= o.max_replicas) break;
      if (scouted >= 0) {
        round = gallop(lo, +1);
      } else {
        next = std::min(o.max_replicas, round.back() * 2);
        round = growing_round(next, jobs, o.max_replicas);
      }
    }
  }
  // One round that narrows the bracket: the smallest passing candidate becomes hi, the largest failing one below it
  // lo. False when a probe could not be simulated.
  auto narrow = [&](const std::vector<int>& round) {
    evaluate(round);
    report(round);
    if (!probe_error.empty()) return false;
    for (int n : round)
      if (passes(n)) {
        hi = std::min(hi, n);
        break;
      }
    for (int n : round)
      if (n < hi && !passes(n)) {
        lo = std::max(lo, n);
        lo_probed = true;
      }
    return true;
  };
  // After a scout whose answer passes with one fewer too: down, 1, 3, 9, ... replicas, until a failure.
  step = 1;
  while (scouted >= 0 && hi >= 0 && !lo_probed && hi > min_replicas) {
    const std::vector<int> down = gallop(hi, -1);
    if (down.empty()) break;
    if (!narrow(down)) {
      result.reason = "a probe could not be simulated: " + probe_error;
      return result;
    }
  }
  if (hi >= 0) spdlog::info("sizing {}: bracket: {} fails, {} passes", s.gpu.name, lo, hi);
  if (hi < 0) {
    // The worst pod's figures (one fleet: its own), first seed.
    const auto worst = fleet_probes(cache.at(lo), pods).front();
    const auto& w = worst.evaluated(o.window);
    result.reason = fmt::format(
        "no {} of up to {} replicas ({} GPUs) meets the targets{}: at {} replicas TTFT p99 is {:.1f} ms (target "
        "{:.1f} ms) and TPOT p99 {:.1f} ms (target {:.1f} ms){}; raise --max-replicas or relax the targets",
        what, o.max_replicas, fleet_gpus_at(s, o.max_replicas),
        pods > 1 ? fmt::format(" on its share of the arrivals split over {} pods", pods) : "", lo,
        w.ttft_p99_s * 1e3, s.slo.ttft_p99_s * 1e3, w.tpot_p99_s * 1e3, s.slo.tpot_p99_s * 1e3,
        pods > 1 ? " in the worst pod" : "");
    return result;
  }
  // The guess may already pass: then search below it, down to lo (which fails).
  // Bisect: `jobs` points at a time, evenly spread between the largest failing and the smallest passing.
  while (hi - lo > 1) {
    const std::vector<int> round = bisecting_round(lo, hi, jobs);
    if (!narrow(round)) {
      result.reason = "a probe could not be simulated: " + probe_error;
      return result;
    }
    spdlog::info("sizing {}: bracket: {} fails, {} passes", s.gpu.name, lo, hi);
  }
  spdlog::info("sizing {}: answer {} replicas", s.gpu.name, hi);
  result.found = true;
  result.replicas = hi;
  result.answer_probes = cache.at(hi);
  if (hi > min_replicas) result.below_probes = cache.at(hi - 1);

  if (o.per_hour) {
    // The fleet each hour needs, from steady state: every hour h with requests is sized on probes of its own that
    // simulate [h x 3600 - hour_warmup_s, (h + 1) x 3600) (the full run's requests in that span; an empty fleet at its
    // start) and judge the requests arriving in hour h; searched hour by hour (from a guess, below), with the seeds
    // rule (and the safe margin) of the search. The hours' probes of a round run
    // together, `jobs` at a time.
    const Probe& day = cache.at(hi).front();
    // Each hour's search starts from a guess near its answer: the day's answer scaled by the hour's demand against
    // the day's busiest hour (at least the hour's saturated-capacity bound), and probes the guess and one fewer in
    // its first round, then gallops (1, 2, 4, ... replicas) up from a failure or down from a pass until a pass and a
    // failure bracket the answer, and bisects. Where the guess is within a replica of the answer, an hour costs two
    // probes; growing from the capacity bound by doubling and bisecting costs about twice log2 of the answer (chat-day:
    // 45 hour probes for 24 hours instead of 52; the 2-hour reference: 5 instead of 8).
    struct HourState {
      int lo = 0, hi = -1, guess = 0;
      bool lo_probed = false;  // lo is a probed failure (not only the floor below min_replicas)
      int up = 1, down = 1;    // galloping steps
      bool first = true, done = false;
    };
    double busiest_tokens = 0.0;
    for (const WindowFigures& w : day.hours) busiest_tokens = std::max(busiest_tokens, w.prompt_tokens + w.output_tokens);
    std::vector<HourState> state(day.hours.size());
    result.per_hour.resize(day.hours.size());
    for (std::size_t i = 0; i < day.hours.size(); ++i) {
      const WindowFigures& w = day.hours[i];
      HourSizing& hs = result.per_hour[i];
      hs.hour = first_hour + static_cast<int>(i);
      hs.start_s = w.start_s;
      hs.end_s = w.end_s;
      hs.simulated_from_s = std::max(s.workload.start_s, hs.hour * 3600.0 - o.hour_warmup_s);
      hs.requests = w.requests;
      HourState& st = state[i];
      st.lo = min_replicas - 1;
      if (w.requests == 0) {
        st.done = true;
        continue;
      }
      Demand d;
      d.requests = static_cast<double>(w.requests);
      d.prompt_tokens = w.prompt_tokens;
      d.output_tokens = w.output_tokens;
      d.window_s = w.end_s - w.start_s;
      const double share = busiest_tokens > 0.0 ? (w.prompt_tokens + w.output_tokens) / busiest_tokens : 1.0;
      const int scaled = static_cast<int>(std::ceil(hi * share - 1e-9));
      double capacity = 0.0;
      const int bound = first_guess(s, d, &capacity);
      st.guess = std::clamp(std::max(bound, scaled), min_replicas, o.max_replicas);
      if (scout_beta >= 0.0 && capacity > 0.0) {
        // After a scout: square-root staffing, n = R + beta sqrt(R) with R the hour's load in saturated replicas,
        // beta from the busiest hour's answer alone (its own hour gets that answer back).
        // An hour after a busier one starts with what its warm-up (the end of that hour) leaves: its load is taken
        // as at least the mean of the two.
        double load = d.output_tokens_per_s() / capacity;
        if (i > 0 && day.hours[i - 1].end_s > day.hours[i - 1].start_s) {
          const WindowFigures& before = day.hours[i - 1];
          const double before_load = before.output_tokens / (before.end_s - before.start_s) / capacity;
          load = std::max(load, 0.5 * (load + before_load));
        }
        st.guess = std::clamp(static_cast<int>(std::ceil(load + scout_beta * std::sqrt(load) - 1e-9)), min_replicas,
                              o.max_replicas);
      }
    }
    for (int round = 1;; ++round) {
      std::vector<std::pair<int, int>> asked;  // (index of the hour, replicas)
      for (std::size_t i = 0; i < state.size(); ++i) {
        HourState& st = state[i];
        if (st.done) continue;
        const int at = static_cast<int>(i);
        if (st.first) {
          if (st.guess - 1 >= min_replicas) asked.emplace_back(at, st.guess - 1);
          asked.emplace_back(at, st.guess);
          st.first = false;
        } else if (st.hi < 0) {
          asked.emplace_back(at, std::min(o.max_replicas, st.lo + st.up));
          st.up *= 2;
        } else if (!st.lo_probed && st.hi > min_replicas) {
          asked.emplace_back(at, std::max(min_replicas, st.hi - st.down));
          st.down *= 2;
        } else if (st.hi - st.lo > 1) {
          asked.emplace_back(at, st.lo + (st.hi - st.lo) / 2);
        } else {
          st.done = true;
        }
      }
      if (asked.empty()) break;
      if (round > 200) throw std::logic_error("the per-hour search does not converge");
      std::vector<ProbeKey> todo;
      std::vector<std::pair<int, int>> fresh;
      for (const auto& [i, n] : asked) {
        const int h = result.per_hour[static_cast<std::size_t>(i)].hour;
        if (hour_cache.count({h, n})) continue;
        fresh.emplace_back(h, n);
        for (int k = 0; k < seeds; ++k) todo.push_back(ProbeKey{n, s.seed + static_cast<std::uint64_t>(k), -1, 1.0, h});
      }
      if (o.interrupt_flag && *o.interrupt_flag != 0) throw RunInterrupted("the fleet search was interrupted");
      if (o.verbose && !fresh.empty()) {
        std::string what;
        for (const auto& [h, n] : fresh) what += fmt::format("{}{:02d}h {}", what.empty() ? "" : ", ", h, n);
        std::cout << fmt::format("  per hour, round {} (each hour after {:.0f} s of the demand before it): probing "
                                 "hour replicas {}{}\n",
                                 round, o.hour_warmup_s, what, seeds > 1 ? fmt::format(" ({} seeds each)", seeds) : "")
                  << std::flush;
      }
      const auto probes = hour_pool.get(todo);
      if (o.interrupt_flag && *o.interrupt_flag != 0) throw RunInterrupted("the fleet search was interrupted");
      for (const auto& p : probes) {
        hour_cache[{p.hour, p.replicas}].push_back(p);
        result.probes.push_back(p);
        if (!p.error.empty() && probe_error.empty()) probe_error = p.error;
      }
      for (const auto& [h, n] : fresh) {
        const bool pass = hour_passes(h, n);
        for (const auto& p : hour_cache.at({h, n})) {
          spdlog::debug("sizing {}: hour {} probe {} replicas, seed {}: {}", s.gpu.name, h, p.replicas, p.seed,
                        probe_verdict(p, o.window, s.slo));
          print_hour_probe(p, pass);
        }
      }
      if (!probe_error.empty()) {
        for (std::size_t i = 0; i < state.size(); ++i)
          if (!state[i].done) {
            state[i].done = true;
            result.per_hour[i].reason = "a probe could not be simulated: " + probe_error;
          }
        break;
      }
      for (const auto& [i, n] : asked) {
        HourState& st = state[static_cast<std::size_t>(i)];
        HourSizing& hs = result.per_hour[static_cast<std::size_t>(i)];
        if (hour_passes(hs.hour, n)) {
          st.hi = st.hi < 0 ? n : std::min(st.hi, n);
        } else {
          st.lo = std::max(st.lo, n);
          st.lo_probed = true;
          if (st.hi < 0 && n >= o.max_replicas) {
            st.done = true;
            hs.reason = fmt::format("no fleet of up to {} replicas (--max-replicas) meets the targets over this hour",
                                    o.max_replicas);
          }
        }
      }
      // The guess's one fewer passing where the guess fails (noise: pass and fail are not quite monotone in the
      // fleet): the answer is taken above the failure, galloping up from it, as the bisection would have.
      for (HourState& st : state)
        if (!st.done && st.hi >= 0 && st.hi <= st.lo) st.hi = -1;
    }
    result.per_hour_replicas.assign(result.per_hour.size(), 0);
    for (std::size_t i = 0; i < result.per_hour.size(); ++i) {
      HourSizing& hs = result.per_hour[i];
      const HourState& st = state[i];
      if (hs.requests == 0 || st.hi < 0) continue;
      hs.found = true;
      hs.replicas = st.hi;
      hs.answer_probes = hour_cache.at({hs.hour, st.hi});
      if (st.hi > min_replicas) {
        const auto it = hour_cache.find({hs.hour, st.hi - 1});
        if (it != hour_cache.end()) hs.below_probes = it->second;
      }
      result.per_hour_replicas[i] = st.hi;
    }
  }
  return result;
}

}  // namespace tf

namespace tf {

std::vector<ScaleCheckRow> scale_check(const Scenario& base, const SizingOptions& o, const Demand& demand,
                                       const ScaleCheckOptions& c) {
  // The whole workload, thinned: one pod of m replicas offered a share of the arrivals.
  Scenario s = base;
  s.pods = 1;
  s.pod_index = -1;
  s.share = 1.0;
  check_sizable(s);
  std::unique_ptr<JobRunner> own;
  JobRunner* runner = o.runner;
  if (!runner) {
    own = make_local_runner(o.jobs, o.interrupt_flag);
    runner = own.get();
  }
  ProbePool pool(*runner, s);
  const int seeds = std::max(1, o.seeds);
  const int needed = std::max(1, static_cast<int>(std::ceil(o.pass_share * seeds - 1e-9)));
  const int min_replicas = min_replicas_of(s);
  std::vector<ScaleCheckRow> rows;
  for (int m = 1; m <= c.max_replicas; m *= 2) {
    if (m < min_replicas) continue;
    ScaleCheckRow r;
    r.replicas = m;
    rows.push_back(r);
    if (m > c.max_replicas / 2) break;
  }
  if (auto why = unreachable_targets(s, demand)) {
    for (auto& r : rows) r.reason = *why;
    return rows;
  }
  double capacity = 0.0;
  first_guess(s, demand, &capacity);
  const double offered = demand.output_tokens_per_s();
  const double min_share = demand.requests > 0.0 ? std::min(1.0, c.min_requests / demand.requests) : 1.0;
  struct State {
    std::map<double, bool> tried;  // share -> passes
    bool done = false;
  };
  std::vector<State> state(rows.size());
  // The bracket from every share tried: hi the smallest that fails (2: none), lo the largest below it that passes
  // (0: none).
  auto bracket = [](const State& st) {
    double hi = 2.0, lo = 0.0;
    for (const auto& [f, pass] : st.tried)
      if (!pass) hi = std::min(hi, f);
    for (const auto& [f, pass] : st.tried)
      if (pass && f < hi) lo = std::max(lo, f);
    return std::make_pair(lo, hi);
  };
  for (int round = 1;; ++round) {
    if (o.interrupt_flag && *o.interrupt_flag != 0) throw RunInterrupted("the scale check was interrupted");
    // Each round narrows every active row or ends it; far more rounds than shares of a double is a bug.
    if (round > 1000) throw std::logic_error("the scale check does not converge");
    std::size_t active = 0;
    for (const auto& st : state) active += st.done ? 0 : 1;
    if (active == 0) break;
    // Shares per row: as many as fill `jobs` with the active rows' probes (at least 1).
    const int width = std::max(1, static_cast<int>(std::max(1, o.jobs) / static_cast<int>(active * seeds)));
    std::vector<std::pair<std::size_t, double>> asked;  // row, share
    for (std::size_t i = 0; i < rows.size(); ++i) {
      State& st = state[i];
      ScaleCheckRow& row = rows[i];
      if (st.done) continue;
      const auto [lo, hi] = bracket(st);
      std::vector<double> shares;
      if (lo >= 1.0) {  // the pod serves the whole workload
        st.done = true;
        row.found = row.whole = true;
        continue;
      }
      if (hi > 1.0) {
        if (lo <= 0.0) {  // the first guess: m over a fleet known to serve it all, else the capacity of m
                          // saturated replicas over the offered output tokens/s
          const double guess = c.fleet_hint > 0 ? static_cast<double>(row.replicas) / c.fleet_hint
                               : capacity > 0.0 && offered > 0.0 ? row.replicas * capacity / offered
                                                                 : 1.0;
          shares.push_back(std::clamp(guess, min_share, 1.0));
        } else {
          for (int k = 1; k <= width; ++k) shares.push_back(std::min(1.0, lo * std::ldexp(1.0, k)));
        }
      } else if (lo <= 0.0) {
        if (hi <= min_share) {
          st.done = true;
          row.reason = fmt::format("even a share of {:.3g} of the arrivals (about {:.0f} requests in the window, the "
                                   "fewest tried) misses the targets",
                                   hi, hi * demand.requests);
          continue;
        }
        for (int k = 1; k <= width; ++k) shares.push_back(std::max(min_share, hi * std::ldexp(1.0, -k)));
      } else {
        if (hi - lo <= c.tolerance * lo) {
          st.done = true;
          row.found = true;
          continue;
        }
        for (int k = 1; k <= width; ++k) shares.push_back(lo + (hi - lo) * k / (width + 1));
      }
      std::sort(shares.begin(), shares.end());
      shares.erase(std::unique(shares.begin(), shares.end()), shares.end());
      for (double f : shares)
        if (!st.tried.count(f)) asked.emplace_back(i, f);
    }
    if (asked.empty()) continue;
    std::vector<ProbeKey> keys;
    for (const auto& [i, f] : asked)
      for (int k = 0; k < seeds; ++k) keys.push_back(ProbeKey{rows[i].replicas, s.seed + static_cast<std::uint64_t>(k), -1, f});
    if (o.verbose) {
      std::string what;
      for (const auto& [i, f] : asked) what += fmt::format("{}{} at {:.4f}", what.empty() ? "" : ", ", rows[i].replicas, f);
      std::cout << fmt::format("  scale check, round {}: replicas at share {}{}\n", round, what,
                               seeds > 1 ? fmt::format(" ({} seeds each)", seeds) : "")
                << std::flush;
    }
    const auto probes = pool.get(keys);
    if (o.interrupt_flag && *o.interrupt_flag != 0) throw RunInterrupted("the scale check was interrupted");
    for (std::size_t a = 0; a < asked.size(); ++a) {
      const auto [i, f] = asked[a];
      int ok = 0;
      for (int k = 0; k < seeds; ++k) {
        const Probe& p = probes[a * static_cast<std::size_t>(seeds) + static_cast<std::size_t>(k)];
        rows[i].probes.push_back(p);
        if (!p.error.empty() && !state[i].done) {
          state[i].done = true;
          rows[i].reason = "a probe could not be simulated: " + p.error;
        }
        if (p.error.empty() && p.evaluated(o.window).met) ++ok;
        const auto& w = p.evaluated(o.window);
        spdlog::debug("scale check {}: {} replicas at share {:.6f}, seed {}: TTFT p99 {:.1f} ms, TPOT p99 {:.1f} ms "
                      "over {} requests: {}", s.gpu.name, p.replicas, f, p.seed, w.ttft_p99_s * 1e3,
                      w.tpot_p99_s * 1e3, w.requests, w.met ? "meets" : "misses");
      }
      state[i].tried[f] = ok >= needed;
    }
    // A pod that serves the whole workload makes the larger ones pointless: the table ends with it.
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto [lo, hi] = bracket(state[i]);
      if (lo >= 1.0 && i + 1 < rows.size()) {
        rows.resize(i + 1);
        state.resize(i + 1);
        break;
      }
    }
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    ScaleCheckRow& row = rows[i];
    const auto [lo, hi] = bracket(state[i]);
    row.share = lo;
    row.share_fails = hi <= 1.0 ? hi : 0.0;
    if (!row.found) continue;
    double req = 0.0, tok = 0.0;
    int n = 0;
    for (const auto& p : row.probes)
      if (p.share == lo && p.whole.end_s > p.whole.start_s) {
        const double len = p.whole.end_s - p.whole.start_s;
        req += static_cast<double>(p.whole.requests) / len;
        tok += (p.whole.prompt_tokens + p.whole.output_tokens) / len;
        ++n;
      }
    row.requests_per_s = n > 0 ? req / n : 0.0;
    row.tokens_per_s = n > 0 ? tok / n : 0.0;
  }
  return rows;
}

}  // namespace tf
