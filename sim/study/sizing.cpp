#include "sim/study/sizing.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cluster/cost_model.hpp"
#include "results/streaming.hpp"
#include "results/summary.hpp"
#include "sim/study/child_process.hpp"
#include "sim/engine/engine.hpp"
#include "sim/replica/replica_model.hpp"
#include "workloads/generator.hpp"

namespace tf {

namespace {

// The simulation itself, in the child.
Probe simulate_probe(const Scenario& base, int replicas, std::uint64_t seed) {
  Scenario s = base;
  s.replicas = replicas;
  s.seed = seed;
  Probe p;
  p.replicas = replicas;
  p.seed = seed;
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
  StreamingSink sink(so);
  RunOptions options;
  options.record_sink = &sink;
  const RunResult r = run_simulation(s, options);
  sink.finish(r.totals.simulated_s);
  const Summary sum = sink.summary().summary(s.name, s.seed, r.totals);
  p.mfu = sum.mfu;
  p.busy_fraction = sum.busy_fraction;
  p.flops = r.totals.flops;
  p.energy_kwh = sum.energy_kwh;
  p.window_s = r.totals.window_s;
  p.whole = sink.windows().front().figures();
  p.busiest = p.whole;
  std::size_t busiest_requests = 0;
  bool have_full_hour = false;
  for (std::size_t i = 1; i < sink.windows().size(); ++i) {
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

// Output tokens/s of one replica saturated with requests of the mean lengths.
double saturated_capacity(const CostModel& cost, const BatchingPolicy& policy, double mean_prompt, double mean_output,
                          int max_batch) {
  const auto prompt = std::max<std::int64_t>(1, std::llround(mean_prompt));
  const auto output = std::max<std::int64_t>(1, std::llround(mean_output));
  if (prompt + output > cost.kv_capacity_tokens()) return 0.0;
  return saturated_output_tokens_per_s(cost, policy, prompt, output, 4 * std::max(1, max_batch));
}

double p99_of(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return percentile_sorted(v, 99.0);
}

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

Demand measure_demand(const Scenario& s) {
  Demand d;
  d.window_s = s.duration_s - s.warmup_s;
  std::vector<double> prompts;
  double prompt_sum = 0.0;
  RequestGenerator gen(s.workload, s.seed, s.duration_s);
  while (auto r = gen.next()) {
    prompts.push_back(static_cast<double>(r->prompt_tokens));
    prompt_sum += static_cast<double>(r->prompt_tokens);
    if (r->arrival_s < s.warmup_s) continue;
    d.requests += 1.0;
    d.prompt_tokens += static_cast<double>(r->prompt_tokens);
    d.output_tokens += static_cast<double>(r->output_tokens);
  }
  d.all_requests = static_cast<double>(prompts.size());
  d.all_prompt_mean = prompts.empty() ? 0.0 : prompt_sum / static_cast<double>(prompts.size());
  d.all_prompt_p99 = p99_of(std::move(prompts));
  return d;
}

std::optional<std::string> unreachable_targets(const Scenario& s, const Demand& demand) {
  const CostModel cost(s.model, s.gpu, s.dtype, s.tensor_parallel, s.cost);
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
          s.slo.tpot_p99_s * 1e3, t * 1e3, s.model.name, s.tensor_parallel, s.gpu.name, to_string(s.dtype));
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
          s.slo.ttft_p99_s * 1e3, p99_prompt, t * 1e3, s.model.name, s.tensor_parallel, s.gpu.name,
          to_string(s.dtype));
  }
  return std::nullopt;
}

Probe run_probe(const Scenario& s, int replicas, std::uint64_t seed) {
  return run_probes(s, {{replicas, seed}}, 1).front();
}

std::vector<Probe> run_probes(const Scenario& s, const std::vector<std::pair<int, std::uint64_t>>& candidates,
                              int jobs) {
  std::vector<std::function<std::string()>> tasks;
  for (const auto& [replicas, seed] : candidates)
    tasks.push_back([&s, replicas = replicas, seed = seed] { return nlohmann::json(simulate_probe(s, replicas, seed)).dump(); });
  const auto results = run_in_children(tasks, jobs);
  std::vector<Probe> out;
  for (std::size_t i = 0; i < results.size(); ++i) {
    Probe p;
    p.replicas = candidates[i].first;
    p.seed = candidates[i].second;
    if (!results[i].ok) {
      p.error = results[i].error;
    } else {
      try {
        p = nlohmann::json::parse(results[i].output).get<Probe>();
      } catch (const std::exception& e) {
        p.error = std::string("unreadable probe result: ") + e.what();
      }
    }
    out.push_back(p);
  }
  return out;
}

SizingResult size_fleet(const Scenario& s, const SizingOptions& o, const Demand* known_demand) {
  if (s.slo.ttft_p99_s <= 0.0 && s.slo.tpot_p99_s <= 0.0)
    throw ScenarioError(s.source, 0, "slo",
                        "fleet sizing needs at least one latency target: set slo.ttft_p99_s or slo.tpot_p99_s");
  check_servable(s);
  SizingResult result;
  const Demand demand = known_demand ? *known_demand : measure_demand(s);
  if (auto why = unreachable_targets(s, demand)) {
    result.reason = *why;
    return result;
  }
  const int seeds = std::max(1, o.seeds);
  const int needed = std::max(1, static_cast<int>(std::ceil(o.pass_share * seeds - 1e-9)));
  std::map<int, std::vector<Probe>> cache;
  std::string probe_error;

  auto evaluate = [&](std::vector<int> ns) {
    std::vector<std::pair<int, std::uint64_t>> todo;
    std::sort(ns.begin(), ns.end());
    ns.erase(std::unique(ns.begin(), ns.end()), ns.end());
    for (int n : ns) {
      if (cache.count(n)) continue;
      for (int k = 0; k < seeds; ++k) todo.emplace_back(n, s.seed + static_cast<std::uint64_t>(k));
    }
    if (o.interrupt_flag && *o.interrupt_flag != 0) throw RunInterrupted("the fleet search was interrupted");
    const auto probes = run_probes(s, todo, o.jobs);
    // Ctrl-C or SIGTERM (SizingOptions::interrupt_flag): stop the search between rounds of probes.
    if (o.interrupt_flag && *o.interrupt_flag != 0) throw RunInterrupted("the fleet search was interrupted");
    for (const auto& p : probes) {
      cache[p.replicas].push_back(p);
      result.probes.push_back(p);
      if (!p.error.empty() && probe_error.empty()) probe_error = p.error;
    }
  };
  auto passes = [&](int n) {
    int ok = 0;
    for (const auto& p : cache.at(n))
      if (p.error.empty() && p.evaluated(o.window).met) ++ok;
    return ok >= needed;
  };
  auto report = [&](const std::vector<int>& ns) {
    for (int n : ns)
      for (const auto& p : cache.at(n)) {
        spdlog::debug("sizing {}: probe {} replicas, seed {}: {}; candidate {}", s.gpu.name, p.replicas, p.seed,
                      probe_verdict(p, o.window, s.slo), passes(n) ? "passes" : "fails");
        print_probe(p, o, passes(n));
      }
  };

  // A first guess from capacity: the mean output tokens/s over what one saturated replica produces.
  const CostModel cost(s.model, s.gpu, s.dtype, s.tensor_parallel, s.cost);
  const auto policy = make_batching_policy(s.batching, s.policy_params);
  const double mean_prompt = demand.requests > 0 ? demand.prompt_tokens / demand.requests : 1.0;
  const double mean_output = demand.requests > 0 ? demand.output_tokens / demand.requests : 1.0;
  const double capacity = saturated_capacity(cost, *policy, mean_prompt, mean_output, s.limits.max_batch);
  int guess = capacity > 0.0 ? static_cast<int>(std::ceil(demand.output_tokens_per_s() / capacity)) : 1;
  // Disaggregated serving needs a prefill and a decode replica: its search starts at 2.
  Scenario two = s;
  two.replicas = 2;
  const int min_replicas = prefill_pool_size(two) > 0 ? 2 : 1;
  if (o.max_replicas < min_replicas) {
    result.reason = fmt::format("disaggregated serving needs at least {} replicas (a prefill and a decode one), but "
                                "--max-replicas is {}",
                                min_replicas, o.max_replicas);
    return result;
  }
  guess = std::clamp(guess, min_replicas, o.max_replicas);
  spdlog::info("sizing {} on {}: first guess {} replicas ({:.1f} output tokens/s offered, {:.1f} per saturated "
               "replica); {} seed(s) per candidate, {} needed to pass; bound {} replicas",
               s.name, s.gpu.name, guess, demand.output_tokens_per_s(), capacity, seeds, needed, o.max_replicas);

  // Grow: from the guess, doubling, until a candidate meets the targets. lo = min_replicas - 1 stands for a
  // fleet too small to serve at all, which fails.
  int lo = min_replicas - 1, hi = -1, next = guess;
  const int jobs = std::max(1, o.jobs);
  while (hi < 0) {
    std::vector<int> round;
    for (int k = 0, n = next; k < jobs && n <= o.max_replicas; ++k, n = std::min(o.max_replicas + 1, n * 2)) {
      round.push_back(n);
      if (n == o.max_replicas) break;
    }
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
    }
    if (hi < 0) {
      spdlog::info("sizing {}: growing: {} replicas fail", s.gpu.name, lo);
      if (round.back() >= o.max_replicas) break;
      next = std::min(o.max_replicas, round.back() * 2);
    }
  }
  if (hi >= 0) spdlog::info("sizing {}: bracket: {} fails, {} passes", s.gpu.name, lo, hi);
  if (hi < 0) {
    const auto& worst = cache.at(lo).front();
    const auto& w = worst.evaluated(o.window);
    result.reason = fmt::format(
        "no fleet of up to {} replicas ({} GPUs) meets the targets: at {} replicas TTFT p99 is {:.1f} ms (target "
        "{:.1f} ms) and TPOT p99 {:.1f} ms (target {:.1f} ms); raise --max-replicas or relax the targets",
        o.max_replicas, o.max_replicas * s.tensor_parallel, lo, w.ttft_p99_s * 1e3, s.slo.ttft_p99_s * 1e3,
        w.tpot_p99_s * 1e3, s.slo.tpot_p99_s * 1e3);
    return result;
  }
  // The guess may already pass: then search below it, down to lo (which fails).
  // Bisect: `jobs` points at a time, evenly spread between the largest failing and the smallest passing.
  while (hi - lo > 1) {
    std::vector<int> round;
    for (int k = 1; k <= jobs; ++k) {
      const int n = lo + static_cast<int>(std::llround(static_cast<double>(hi - lo) * k / (jobs + 1)));
      if (n > lo && n < hi) round.push_back(n);
    }
    if (round.empty()) round.push_back(lo + (hi - lo) / 2);
    std::sort(round.begin(), round.end());
    round.erase(std::unique(round.begin(), round.end()), round.end());
    evaluate(round);
    report(round);
    if (!probe_error.empty()) {
      result.reason = "a probe could not be simulated: " + probe_error;
      return result;
    }
    int new_hi = hi;
    for (int n : round)
      if (passes(n)) {
        new_hi = n;
        break;
      }
    hi = new_hi;
    for (int n : round)
      if (n < hi && !passes(n)) lo = std::max(lo, n);
    spdlog::info("sizing {}: bracket: {} fails, {} passes", s.gpu.name, lo, hi);
  }
  spdlog::info("sizing {}: answer {} replicas", s.gpu.name, hi);
  result.found = true;
  result.replicas = hi;
  result.answer_probes = cache.at(hi);
  if (hi > min_replicas) result.below_probes = cache.at(hi - 1);

  if (o.per_hour) {
    // The fleet each hour needs: for every hour, the smallest candidate whose whole-day run meets the targets
    // over the requests arriving in that hour (first seed), bisected hour by hour.
    const std::size_t hours = cache.at(hi).front().hours.size();
    auto hour_met = [&](int n, std::size_t h) {
      const auto& p = cache.at(n).front();
      return p.error.empty() && h < p.hours.size() && p.hours[h].met;
    };
    std::vector<int> h_lo(hours, min_replicas - 1), h_hi(hours, -1);
    result.per_hour_replicas.assign(hours, 0);
    for (std::size_t h = 0; h < hours; ++h) {
      if (cache.at(hi).front().hours[h].requests == 0) {
        h_hi[h] = 0;
        continue;
      }
      for (const auto& [n, probes] : cache)
        if (hour_met(n, h) && (h_hi[h] < 0 || n < h_hi[h])) h_hi[h] = n;
    }
    // Hours that even the answer does not meet (the answer meets the window as a whole): grow for them.
    int grow = hi;
    while (std::any_of(h_hi.begin(), h_hi.end(), [](int v) { return v < 0; }) && grow < o.max_replicas) {
      grow = std::min(o.max_replicas, grow * 2);
      evaluate({grow});
      report({grow});
      for (std::size_t h = 0; h < hours; ++h)
        if (h_hi[h] < 0 && hour_met(grow, h)) h_hi[h] = grow;
    }
    for (int round = 0; round < 64; ++round) {
      for (std::size_t h = 0; h < hours; ++h) {
        if (h_hi[h] <= 0) continue;
        for (const auto& [n, probes] : cache)
          if (n < h_hi[h] && !hour_met(n, h)) h_lo[h] = std::max(h_lo[h], n);
        for (const auto& [n, probes] : cache)
          if (n > h_lo[h] && n < h_hi[h] && hour_met(n, h)) h_hi[h] = n;
      }
      std::set<int> mids;
      for (std::size_t h = 0; h < hours; ++h)
        if (h_hi[h] > 0 && h_hi[h] - h_lo[h] > 1) mids.insert(h_lo[h] + (h_hi[h] - h_lo[h]) / 2);
      if (mids.empty()) break;
      const std::vector<int> ns(mids.begin(), mids.end());
      spdlog::debug("sizing {}: per hour, round {}: probing {}", s.gpu.name, round + 1, fmt::join(ns, ", "));
      evaluate(ns);
      report(ns);
      if (!probe_error.empty()) break;
    }
    for (std::size_t h = 0; h < hours; ++h) result.per_hour_replicas[h] = std::max(0, h_hi[h]);
  }
  return result;
}

}  // namespace tf
