// The scenario loader: TOML (toml++) in, a validated Scenario out. Every key is documented in
// scenarios/README.md. Errors name the file, the line and the dotted key (ScenarioError).
//
// How it works: parse the text, apply the --set overrides to the parsed table, walk every table to find
// unknown keys (recording the line of every key on the way), then read each section with typed getters
// that check type and range (the TOML core: loader.cpp). Each section has its own reader (loader.hpp lists
// the files); this file has the built-in default scenario, the top-level keys and the order the sections are read
// in. Distributions and arrival processes are finally checked by the workloads' own factories, whose errors are
// re-thrown with the key they concern.
#include "sim/scenario/scenario.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <filesystem>

#include "sim/scenario/limits.hpp"
#include "sim/scenario/loader.hpp"
#include "workloads/trace.hpp"

namespace tf {

const std::string& default_scenario_toml() {
  static const std::string text = R"(# The built-in default scenario: `tokenfleet run` without a file runs this.
# A short, busy stretch of chat traffic on four H100s; it simulates in a few seconds.
# Every key is described in scenarios/README.md.
name = "default"
seed = 1
duration_s = 600
warmup_s = 60

[model]
name = "llama-3.1-8b"

[hardware]
gpu = "h100-sxm"
tensor_parallel = 1
dtype = "fp16"

[fleet]
replicas = 4

[workload]
arrival = { process = "poisson", rate_per_s = 20.0 }
prompt_tokens = { dist = "lognormal", mean = 1000, p99 = 6000 }
output_tokens = { dist = "lognormal", mean = 250, p99 = 1200 }

[policy]
batching = "continuous"
max_batch = 256
max_batched_tokens = 8192
router = "round-robin"

[slo]
ttft_p99_s = 2.0
tpot_p99_s = 0.2
)";
  return text;
}

std::vector<int> split_by_mix(const std::vector<double>& mix, int total) {
  double sum = 0.0;
  for (double x : mix) sum += x;
  std::vector<int> n(mix.size());
  int given = 0;
  std::vector<std::pair<double, std::size_t>> rest;
  for (std::size_t i = 0; i < mix.size(); ++i) {
    const double x = sum > 0.0 ? mix[i] / sum * total : 0.0;
    n[i] = static_cast<int>(std::floor(x));
    given += n[i];
    rest.emplace_back(-(x - n[i]), i);
  }
  std::stable_sort(rest.begin(), rest.end());
  for (std::size_t k = 0; given < total && !rest.empty(); ++k, ++given) ++n[rest[k % rest.size()].second];
  return n;
}

void set_fleet_replicas(Scenario& s, int replicas) {
  s.replicas = replicas;
  if (!s.mixed()) return;
  const int pools = static_cast<int>(s.fleet_pools.size());
  if (replicas < pools)
    throw std::invalid_argument(fmt::format("a mixed fleet of {} pools needs at least {} replicas, one a pool; got {}",
                                            pools, pools, replicas));
  std::vector<double> mix;
  for (const auto& p : s.fleet_pools) mix.push_back(p.mix);
  std::vector<int> n = split_by_mix(mix, replicas);
  for (int& k : n)
    if (k == 0) {
      --*std::max_element(n.begin(), n.end());
      k = 1;
    }
  for (std::size_t i = 0; i < n.size(); ++i) s.fleet_pools[i].replicas = n[i];
}

double mix_share(const Scenario& s, std::size_t pool) {
  double sum = 0.0;
  for (const auto& p : s.fleet_pools) sum += p.mix;
  return sum > 0.0 ? s.fleet_pools.at(pool).mix / sum : 0.0;
}

std::int64_t fleet_gpus_at(const Scenario& s, int replicas) {
  Scenario at = s;
  set_fleet_replicas(at, replicas);
  return at.fleet_gpus();
}

double fleet_peak_flops_per_gpu(const Scenario& s) {
  if (!s.mixed()) return s.gpu.peak_flops(s.dtype);
  double flops = 0.0, gpus = 0.0;
  for (const auto& p : s.fleet_pools) {
    flops += static_cast<double>(p.gpus()) * p.gpu.peak_flops(p.dtype);
    gpus += static_cast<double>(p.gpus());
  }
  return gpus > 0.0 ? flops / gpus : 0.0;
}

namespace loader {

Scenario Loader::build() {
  Scenario s;
  const Section top(*this, &root_, "");

  if (auto name = top.string("name")) {
    if (trim(*name).empty()) top.fail("name", "expected a non-empty string");
    s.name = *name;
  } else {
    const std::string stem = std::filesystem::path(file_).stem().string();
    s.name = stem.empty() || file_.front() == '<' ? "default" : stem;
  }
  s.seed = static_cast<std::uint64_t>(top.integer_in("seed", 1, 0, INT64_MAX));
  // Bounded (limits.hpp): past about 31.7 years of simulated time nothing a run reports means more, and the time
  // series, the monitor and the drain are sized from it.
  if (top.has("duration_s") && *top.number("duration_s") > limits::kMaxDurationS)
    top.fail("duration_s", fmt::format("expected a number of seconds in (0, 1e9] (about 31.7 years, the longest span "
                                       "a run simulates), got {}; simulate a shorter span",
                                       num(*top.number("duration_s"))));
  s.duration_s = top.number_in("duration_s", 600.0, Section::greater_than(0));
  // start_s: only [start_s, duration_s) is simulated (WorkloadSpec::start_s); the warm-up counts from it, and
  // s.warmup_s is where the measurement window starts, start_s + warmup_s.
  const double start = top.number_in("start_s", 0.0, Section::at_least(0));
  if (start >= s.duration_s && top.has("duration_s"))
    top.fail("start_s", fmt::format("expected a number less than duration_s ({}), got {}", num(s.duration_s), num(start)));
  s.warmup_s = start + top.number_in("warmup_s", std::min(60.0, std::max(0.0, s.duration_s - start) / 10.0),
                                     Section::at_least(0));
  // Without duration_s a trace replayed once sets it (below, once the trace is read), and the warm-up is judged then.
  const Section trace_table = top.table("workload").table("trace");
  const bool duration_from_trace = !top.has("duration_s") && trace_table.present() &&
                                   !trace_table.boolean("loop").value_or(false);
  if (s.warmup_s >= s.duration_s && !duration_from_trace) {
    if (start > 0.0)
      top.fail("warmup_s", fmt::format("expected a number less than duration_s - start_s ({}), got {}",
                                       num(s.duration_s - start), num(s.warmup_s - start)));
    if (top.has("warmup_s"))
      top.fail("warmup_s", fmt::format("expected a number less than duration_s ({}), got {}", num(s.duration_s),
                                       num(s.warmup_s)));
    top.fail("duration_s", fmt::format("expected a number greater than warmup_s ({})", num(s.warmup_s)));
  }

  s.model = read_model(top);
  read_hardware(top, s);
  read_fleet(top, s);

  read_workload(top, s);
  // A trace replayed once without duration_s: the run lasts until its last row has arrived (a looped trace keeps
  // the default, since it never ends).
  const TraceSpec& trace = s.workload.trace;
  if (duration_from_trace) {
    double span = 0.0;
    try {
      span = trace_span_s(trace);
    } catch (const std::runtime_error& e) {
      trace_table.fail("path", e.what());
    }
    // A little past the last arrival (its copies with rate_scale > 1 come up to jitter_s later).
    s.duration_s = span + (trace.rate_scale > 1.0 ? trace.jitter_s : 0.0) + 1e-3;
    if (!(s.duration_s <= limits::kMaxDurationS))
      trace_table.fail("path", fmt::format("{}: the trace spans {} s of simulated time (after workload.trace.speed), "
                                           "more than the 1e9 s (about 31.7 years) a run simulates; give duration_s, "
                                           "a window (window_start_s, window_end_s) or a larger speed",
                                           trace.path, num(span)));
    s.duration_from_trace = true;
    if (start >= s.duration_s)
      top.fail("start_s", fmt::format("expected a number less than duration_s, which is the trace's span ({} s) "
                                      "when duration_s is left out; got {}",
                                      num(s.duration_s), num(start)));
    if (!top.has("warmup_s")) {
      s.warmup_s = start + std::min(60.0, (s.duration_s - start) / 10.0);
    } else if (s.warmup_s >= s.duration_s) {
      top.fail("warmup_s", fmt::format("expected a number less than duration_s, which is the trace's span ({} s) "
                                       "when duration_s is left out; got {}",
                                       num(s.duration_s), num(s.warmup_s)));
    }
  }
  s.workload.start_s = start;
  read_policy(top, s);
  read_slo(top, s);
  read_cost(top, s);
  read_failures(top, s);
  read_autoscaler(top, s);

  s.source = file_;
  return s;
}

}  // namespace loader

}  // namespace tf
