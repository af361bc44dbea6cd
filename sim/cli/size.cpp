// `tokenfleet size`: the smallest fleet that meets the SLO targets, per GPU type, against the analytic estimate.

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cluster/catalog.hpp"
#include "io/csv.hpp"
#include "results/decomposition.hpp"
#include "results/economics.hpp"
#include "results/sizing_report.hpp"
#include "results/summary.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"
#include "sim/cli/signals.hpp"
#include "sim/study/fleet_facts.hpp"
#include "sim/engine/engine.hpp"
#include "sim/engine/preflight.hpp"
#include "sim/study/child_process.hpp"
#include "sim/study/estimate.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/mpi.hpp"
#include "sim/study/autoscaler_sizing.hpp"
#include "sim/study/failures_sizing.hpp"
#include "sim/study/sizing.hpp"
#include "sim/scenario/limits.hpp"

namespace tf {

namespace {

// One configuration sized: a GPU type at a tensor parallelism and a batch cap (size --gpus, --search).
struct SizingConfig {
  GpuSpec gpu;
  int tp = 1;
  int max_batch = 0;
  double prefill_share = 0.0;  // disaggregated serving: the share of the replicas that prefill (0: the scenario's)
  double first_pool_gpu_share = 0.0;  // --search mix: the first pool's share of a mixed fleet's GPUs (0: the file's)
  std::string label;  // the GPU's name alone when nothing was searched or pinned
};

struct GpuAnswer {
  std::string gpu;           // the configuration's label
  std::string gpu_type;      // the GPU's name (for prices)
  SizingResult sizing;
  Scenario scenario;
  double gpus = 0.0;
  double gpu_hours = 0.0;     // over the measurement window
  double energy_kwh = 0.0;    // over the measurement window (mean over seeds)
  double cost = -1.0;         // -1: no price
  std::string binding_limit;
};

double mean_of(const std::vector<Probe>& probes, double (*get)(const Probe&)) {
  double s = 0.0;
  for (const auto& p : probes) s += get(p);
  return probes.empty() ? 0.0 : s / static_cast<double>(probes.size());
}

// "mean (seeds: min to max)" of a p99 latency across the seeds of one candidate.
std::string spread(const std::vector<Probe>& probes, SizingWindow w, bool ttft) {
  double lo = 1e300, hi = -1e300, sum = 0.0;
  for (const auto& p : probes) {
    const double v = (ttft ? p.evaluated(w).ttft_p99_s : p.evaluated(w).tpot_p99_s) * 1e3;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  if (probes.size() <= 1) return fmt::format("{:.1f} ms", sum);
  return fmt::format("{:.1f} ms (seeds: {:.1f} to {:.1f})", sum / static_cast<double>(probes.size()), lo, hi);
}

// One row per probe. A fleet of pods adds a `pod` column after `replicas` (which are then the pod's, as `gpus`).
std::string probes_csv(const std::vector<GpuAnswer>& answers, SizingWindow w, bool pods) {
  std::string out;
  CsvWriter csv(out);
  std::vector<std::string> header{"gpu", "replicas", "gpus", "seed", "window_start_s", "window_end_s", "requests",
                                  "ttft_p99_s", "tpot_p99_s", "attainment", "mfu", "busy_fraction", "energy_kwh",
                                  "met", "error"};
  if (pods) header.insert(header.begin() + 2, "pod");
  for (const auto& h : header) csv.field(h);
  csv.end_row();
  for (const auto& a : answers)
    for (const auto& p : a.sizing.probes) {
      const auto& f = p.evaluated(w);
      csv.field(a.gpu).integer(p.replicas);
      if (pods) csv.integer(p.pod);
      csv.integer(fleet_gpus_at(a.scenario, p.replicas)).integer(p.seed);
      csv.format("{:.3f}", f.start_s).format("{:.3f}", f.end_s).integer(f.requests);
      csv.format("{:.9f}", f.ttft_p99_s).format("{:.9f}", f.tpot_p99_s).format("{:.6f}", f.attainment);
      csv.format("{:.6f}", p.mfu).format("{:.6f}", p.busy_fraction).format("{:.6f}", p.energy_kwh);
      csv.integer(p.error.empty() && f.met ? 1 : 0).quoted(p.error).end_row();
    }
  return out;
}

// `--scale-check`: the pods of 1, 2, 4, ... replicas on their largest share of the arrivals, against the sizing's
// answer (the pooled fleet, or the fleet of pods); the table printed and returned for scale_check.json/csv.
ScaleCheckGpu scale_check_table(const Scenario& s, const SizingOptions& o, const Demand& demand, const SizeCommand& cmd,
                                const SizingResult& answer) {
  const int pods = answer.pods;
  const int fleet = answer.replicas * pods;
  const int tp = s.gpus_per_replica();
  ScaleCheckOptions check;
  // Pods smaller than the pooled answer (it serves the whole demand); for a fleet of pods, up to the bound.
  check.max_replicas = pods == 1 ? std::min(cmd.scale_check, std::max(1, fleet - 1)) : cmd.scale_check;
  check.fleet_hint = fleet;
  const double threshold = cmd.scale_gain_pct / 100.0;
  std::cout << fmt::format("  scale check: a pod of m = 1, 2, 4, ... up to {} replicas on a share of the arrivals (split "
                           "as pods are), the largest share meeting the targets, bisected to {:g} %:\n",
                           check.max_replicas, check.tolerance * 100.0)
            << std::flush;
  const std::vector<ScaleCheckRow> rows = scale_check(s, o, demand, check);
  ScaleCheckGpu out;
  out.gpu = s.gpu.name;
  auto per_unit = [&](ScaleCheckRowReport& r) {
    r.gpus_per_1k_requests_per_s = r.requests_per_s > 0 ? r.gpus / r.requests_per_s * 1e3 : 0.0;
    r.gpus_per_m_tokens_per_s = r.tokens_per_s > 0 ? r.gpus / r.tokens_per_s * 1e6 : 0.0;
  };
  for (const auto& row : rows) {
    ScaleCheckRowReport r;
    r.kind = "pod";
    r.replicas = row.replicas;
    r.gpus = row.replicas * tp;
    r.found = row.found;
    r.reason = row.reason;
    r.whole = row.whole;
    r.share = row.share;
    r.share_fails = row.share_fails;
    r.requests_per_s = row.requests_per_s;
    r.tokens_per_s = row.tokens_per_s;
    per_unit(r);
    if (row.found && row.share > 0.0) {
      r.pods_for_demand = row.whole ? 1 : static_cast<int>(std::ceil(1.0 / row.share - 1e-12));
      r.fleet_gpus = r.pods_for_demand * r.gpus;
    }
    for (const auto& p : row.probes) {
      const auto& w = p.evaluated(o.window);
      r.probes.push_back({p.share, p.seed, w.requests, w.ttft_p99_s, w.tpot_p99_s, p.error.empty() && w.met, p.error});
    }
    out.rows.push_back(std::move(r));
  }
  {
    // The answer: the whole demand, served by the fleet the sizing found.
    ScaleCheckRowReport r;
    r.kind = "answer";
    r.replicas = fleet;
    r.pods = pods;
    r.gpus = fleet * tp;
    r.found = true;
    r.share = 1.0;
    r.requests_per_s = demand.requests_per_s();
    r.tokens_per_s = demand.tokens_per_s();
    per_unit(r);
    r.pods_for_demand = pods;
    r.fleet_gpus = r.gpus;
    out.rows.push_back(std::move(r));
  }
  // Gains: each pod against the one before it, both found. The answer has none: a whole number of replicas, it
  // serves the demand with up to a replica to spare, where each pod's share is measured to the tolerance.
  for (std::size_t i = 1; i < out.rows.size(); ++i) {
    auto& r = out.rows[i];
    const auto& prev = out.rows[i - 1];
    if (r.kind == "pod" && r.found && prev.found && r.gpus_per_1k_requests_per_s > 0 &&
        prev.gpus_per_1k_requests_per_s > 0) {
      r.has_gain = true;
      r.gain = 1.0 - r.gpus_per_1k_requests_per_s / prev.gpus_per_1k_requests_per_s;
    }
  }
  // Where pooling stops paying: the smallest pod past which no doubling saves `threshold` or more (a single gain
  // below it, between two that pass it, is noise); none when the last doubling still does. The reference: the lowest
  // GPUs per unit of demand among the pods (the most pooling measured).
  std::vector<std::size_t> pod_rows;
  for (std::size_t i = 0; i < out.rows.size(); ++i)
    if (out.rows[i].kind == "pod" && out.rows[i].found) pod_rows.push_back(i);
  double ref = 0.0;
  std::size_t ref_row = 0;
  for (std::size_t i : pod_rows)
    if (out.rows[i].gpus_per_1k_requests_per_s > 0 && (ref == 0.0 || out.rows[i].gpus_per_1k_requests_per_s < ref)) {
      ref = out.rows[i].gpus_per_1k_requests_per_s;
      ref_row = i;
    }
  bool stopped = false;
  std::size_t stop = 0, stop_next = 0;
  for (std::size_t k = 0; k + 1 < pod_rows.size() && !stopped; ++k) {
    bool later_pay = false;
    for (std::size_t l = k + 1; l < pod_rows.size(); ++l) {
      const auto& r = out.rows[pod_rows[l]];
      if (!r.has_gain || r.gain >= threshold) later_pay = true;
    }
    if (!later_pay) {
      stopped = true;
      stop = pod_rows[k];
      stop_next = pod_rows[k + 1];
    }
  }
  if (ref > 0)
    out.reference = fmt::format("the lowest GPUs per unit of demand measured, a pod of {} replicas",
                                out.rows[ref_row].replicas);
  std::cout << fmt::format("    {:>8} {:>6} {:>9} {:>11} {:>12} {:>14} {:>14} {:>8}  {}\n", "replicas", "GPUs", "share",
                           "requests/s", "tokens/s", "GPUs/1k req/s", "GPUs/M tok/s", "gain", "pods for the demand (at least)");
  for (const auto& r : out.rows) {
    const std::string label = r.kind == "answer" ? (pods == 1 ? fmt::format("pooled {}", r.replicas)
                                                              : fmt::format("{} x {}", pods, answer.replicas))
                                                 : fmt::format("{}", r.replicas);
    if (!r.found) {
      std::cout << fmt::format("    {:>8} {:>6}  no share found: {}\n", label, r.gpus, r.reason);
      continue;
    }
    const std::string gain = r.has_gain ? fmt::format("{:+.1f} %", r.gain * 100.0) : "-";
    const std::string fleet_text =
        r.kind == "answer" ? fmt::format("{} ({} GPUs, the answer)", r.pods_for_demand, r.fleet_gpus)
                           : fmt::format("{} ({} GPUs)", r.pods_for_demand, r.fleet_gpus);
    std::cout << fmt::format("    {:>8} {:>6} {:>9} {:>11.3f} {:>12.1f} {:>14.2f} {:>14.2f} {:>8}  {}{}\n", label,
                             r.gpus, r.whole ? "1 (all)" : fmt::format("{:.4f}", r.share), r.requests_per_s,
                             r.tokens_per_s, r.gpus_per_1k_requests_per_s, r.gpus_per_m_tokens_per_s, gain, fleet_text,
                             r.whole ? "  serves at least the whole demand" : "");
  }
  if (stopped && ref > 0) {
    const auto& at = out.rows[stop];
    const auto& next = out.rows[stop_next];
    out.pooling_stops_at = at.replicas;
    out.stands_within = at.gpus_per_1k_requests_per_s / ref - 1.0;
    out.conclusion = fmt::format(
        "pooling stops paying at about {} replicas per pod: no doubling past it saves {:g} % of the GPUs per unit of "
        "demand ({} saves {:+.1f} %); a pod of {} replicas stands for the fleet within {:.1f} % (its GPUs per unit of "
        "demand against {})",
        at.replicas, cmd.scale_gain_pct, next.replicas, next.gain * 100.0, at.replicas, out.stands_within * 100.0,
        out.reference);
  } else if (ref > 0 && pod_rows.size() >= 2) {
    const auto& best = out.rows[pod_rows.back()];
    const auto& before = out.rows[pod_rows[pod_rows.size() - 2]];
    out.stands_within = best.gpus_per_1k_requests_per_s / ref - 1.0;
    out.conclusion = fmt::format("pooling still pays at the largest doubling checked ({} to {} replicas saves {:+.1f} "
                                 "% of the GPUs per unit of demand, at least {:g} %): check larger pods (a larger "
                                 "--scale-check{})",
                                 before.replicas, best.replicas, best.gain * 100.0, cmd.scale_gain_pct,
                                 pods == 1 ? ", or more demand: pods stop below the pooled answer" : "");
  } else if (ref > 0) {
    out.conclusion = fmt::format("only a pod of {} replicas is checked{}: no doubling to compare",
                                 out.rows[pod_rows.front()].replicas,
                                 pods == 1 ? " (pods stop below the pooled answer; more demand checks larger ones)"
                                           : "");
  } else {
    out.conclusion = "no pod size checked meets the targets on any share of the arrivals";
  }
  std::cout << "  " << out.conclusion << "\n";
  if (stopped)
    std::cout << fmt::format("  (pods of {0} replicas for the whole demand: at least {1}, one share each; the split "
                             "gives some pods more than their share and the worst decides, so size them: tokenfleet "
                             "size ... --set fleet.pods={1} --set fleet.replicas={1}. The gains move with the seed: "
                             "--seeds narrows them)\n",
                             out.rows[stop].replicas, out.rows[stop].pods_for_demand);
  return out;
}

std::string scale_check_csv(const ScaleCheckReport& r) {
  std::string out;
  CsvWriter csv(out);
  csv.row({"gpu", "kind", "replicas", "pods", "gpus", "found", "whole", "share", "share_fails", "requests_per_s",
           "tokens_per_s", "gpus_per_1k_requests_per_s", "gpus_per_m_tokens_per_s", "gain", "pods_for_demand",
           "fleet_gpus", "note"});
  for (const auto& g : r.results)
    for (const auto& row : g.rows) {
      csv.field(g.gpu).field(row.kind).integer(row.replicas).integer(row.pods).integer(row.gpus);
      csv.integer(row.found ? 1 : 0).integer(row.whole ? 1 : 0);
      csv.format("{:.6f}", row.share).format("{:.6f}", row.share_fails);
      csv.format("{:.6f}", row.requests_per_s).format("{:.3f}", row.tokens_per_s);
      csv.format("{:.6f}", row.gpus_per_1k_requests_per_s).format("{:.6f}", row.gpus_per_m_tokens_per_s);
      if (row.has_gain)
        csv.format("{:.6f}", row.gain);
      else
        csv.empty();
      csv.integer(row.pods_for_demand).integer(row.fleet_gpus).quoted(row.reason).end_row();
    }
  return out;
}

}  // namespace

namespace {
int size_command(const SizeCommand& cmd);
}  // namespace

int command_size(const SizeCommand& cmd) {
  // Ctrl-C or SIGTERM during a search (RunInterrupted): a message, and no results written.
  return guarded([&] { return size_command(cmd); });
}

namespace {

int size_command(const SizeCommand& cmd) {
  AutoscalerSpec autoscaler_spec;
  Scenario loaded = load_scenario_or_default(cmd.scenario_path, cmd.overrides);
  try {
    loaded = with_failure_options(std::move(loaded), cmd.failures, cmd.spare);  // sim/study/failures_sizing.hpp
    std::string note;  // [autoscaler]: sized as a fixed fleet, then autoscaled (sim/study/autoscaler_sizing.hpp)
    loaded = without_autoscaler(std::move(loaded), cmd.autoscaler, autoscaler_spec, note);
    if (!note.empty()) std::cerr << "tokenfleet: note: " << note << "\n";
  } catch (const std::invalid_argument& e) {
    print_error(e.what());
    return exit_bad_scenario;
  }
  const Scenario base = std::move(loaded);
  if (base.mixed()) {
    // A mixed fleet is sized at its mix (the pools' shares of the file, every pool at least one replica): the search
    // is over the fleet's total replicas. What sizes one GPU type's fleet in other ways does not take it yet.
    std::vector<std::string> refused;
    if (!cmd.gpus.empty()) refused.push_back("--gpus");
    if (std::any_of(cmd.search.begin(), cmd.search.end(), [](const std::string& k) { return k != "mix"; }))
      refused.push_back("--search " + fmt::format("{}", fmt::join(cmd.search, ",")));
    if (cmd.per_hour) refused.push_back("--per-hour");
    if (cmd.autoscaler) refused.push_back("--autoscaler");
    if (cmd.failures || cmd.spare > 0) refused.push_back(cmd.failures ? "--failures" : "--spare");
    if (cmd.scale_check_set) refused.push_back("--scale-check");
    if (!refused.empty()) {
      print_error(fmt::format("{}: not supported for a mixed fleet ([[fleet.pool]]) yet; size it at its mix (or "
                              "--search mix) without {}, or size each GPU type as a fleet of one type",
                              fmt::join(refused, ", "), refused.size() > 1 ? "them" : "it"));
      return exit_bad_scenario;
    }
    if (!cmd.search.empty() && base.fleet_pools.size() != 2) {
      print_error(fmt::format("--search mix: searched for a mixed fleet of two pools; this one has {}",
                              base.fleet_pools.size()));
      return exit_bad_scenario;
    }
    if (!cmd.search.empty() && base.fleet_pools.front().arrival_share > 0.0) {
      print_error("--search mix: the pools' arrival_share would hold each mix to the file's split of the arrivals; "
                  "leave arrival_share out (the split is then by capacity) to search the mix");
      return exit_bad_scenario;
    }
    if (prefill_pool_size(base) > 0 || base.batching == "disaggregated") {
      print_error("disaggregated serving in a mixed fleet is not sized yet (its prefill and decode replicas would be "
                  "counted over the whole fleet, not per pool)");
      return exit_bad_scenario;
    }
  } else if (std::count(cmd.search.begin(), cmd.search.end(), "mix") > 0) {
    print_error("--search mix: the mix of a mixed fleet's pools ([[fleet.pool]]); this scenario has one GPU type");
    return exit_bad_scenario;
  }
  if (base.pods > 1 && cmd.per_hour) {
    print_error(fmt::format("--per-hour: not supported with fleet.pods = {} (a fleet of pods is sized over the whole "
                            "window or its busiest hour, --window); leave out --per-hour, or size one fleet "
                            "(fleet.pods = 1) hour by hour",
                            base.pods));
    return exit_bad_scenario;
  }
  if (cmd.scale_check_set && (cmd.scale_check < 1 || (cmd.scale_check & (cmd.scale_check - 1)) != 0)) {
    print_error(fmt::format("--scale-check: expected the largest pod to check, a power of two (1, 2, 4, ... replicas), "
                            "got {}",
                            cmd.scale_check));
    return exit_bad_scenario;
  }
  if (cmd.scale_check_set && cmd.scale_check > limits::kMaxReplicas) {
    print_error(fmt::format("--scale-check: at most {} replicas (one simulation's bound), got {}",
                            limits::kMaxReplicas, cmd.scale_check));
    return exit_bad_scenario;
  }
  if (!(cmd.scale_gain_pct > 0.0 && cmd.scale_gain_pct < 100.0)) {
    print_error(fmt::format("--scale-gain: expected a percentage between 0 and 100 (exclusive), got {:g}",
                            cmd.scale_gain_pct));
    return exit_bad_scenario;
  }
  if (cmd.scale_gain_set && !cmd.scale_check_set) {
    print_error("--scale-gain: only with --scale-check");
    return exit_bad_scenario;
  }
  install_interrupt_handlers();
  SizingOptions o;
  o.interrupt_flag = interrupt_flag();
  if (cmd.window == "whole" || cmd.window == "day") {
    o.window = SizingWindow::whole;
  } else if (cmd.window == "busiest-hour") {
    o.window = SizingWindow::busiest_hour;
  } else {
    print_error(fmt::format("--window: expected whole or busiest-hour, got '{}'", cmd.window));
    return exit_bad_scenario;
  }
  o.jobs = cmd.jobs > 0 ? cmd.jobs : mpi::default_jobs();
  o.max_replicas = cmd.max_replicas;
  o.seeds = cmd.seeds;
  o.pass_share = cmd.pass_share;
  o.per_hour = cmd.per_hour;
  if (cmd.hour_warmup_set && !cmd.per_hour) {
    print_error("--hour-warmup: only with --per-hour");
    return exit_bad_scenario;
  }
  if (!(cmd.hour_warmup_s >= 0.0 && cmd.hour_warmup_s <= 86400.0)) {
    print_error(fmt::format("--hour-warmup: expected seconds in [0, 86400] (the demand simulated before each hour; 0: "
                            "each hour from an empty fleet), got {:g}",
                            cmd.hour_warmup_s));
    return exit_bad_scenario;
  }
  o.hour_warmup_s = cmd.hour_warmup_s;
  o.safe_margin = cmd.margin == "safe";
  std::string margin_rule = cmd.margin;
  if (o.safe_margin && o.window == SizingWindow::busiest_hour && o.seeds < 2) {
    if (cmd.margin_set) {
      print_error("--margin safe with --window busiest-hour needs --seeds 2 or more: within one run the busiest hour "
                  "has no batch-means interval (its slices are of the whole window)");
      return exit_bad_scenario;
    }
    // The default rule where it has no interval to work with: the point rule, said once.
    o.safe_margin = false;
    margin_rule = "point";
    std::cout << "margin: the point rule (--window busiest-hour with one seed has no interval; --seeds 3 or more "
                 "gives the safe one)\n";
  }

  // The configurations: each GPU of --gpus (name, or name:tp), at the scenario's tensor parallelism and max_batch,
  // or with --search at every tensor-parallel degree that serves the model (its longest request's KV included) and
  // at batch caps 64, 256, 1024 and the scenario's.
  std::vector<SizingConfig> configs;
  const bool search_tp = std::count(cmd.search.begin(), cmd.search.end(), "tp") > 0;
  const bool search_batch = std::count(cmd.search.begin(), cmd.search.end(), "max_batch") > 0;
  const bool search_split = std::count(cmd.search.begin(), cmd.search.end(), "split") > 0;
  if (search_split && prefill_pool_size([&] {
        Scenario two = base;
        two.replicas = std::max(2, base.replicas);
        return two;
      }()) == 0) {
    print_error(fmt::format("--search split: the prefill/decode split is searched for disaggregated serving only; "
                            "policy.batching is \"{}\" (give --set policy.batching=disaggregated)",
                            base.batching));
    return exit_bad_scenario;
  }
  {
    std::vector<std::string> gpus = cmd.gpus;
    if (gpus.empty()) gpus.push_back(base.gpu.name);  // a mixed fleet: its first pool's (the label says the mix)
    const std::int64_t need = kv_tokens_needed(base, longest_request_bound(base));
    for (const std::string& entry : gpus) {
      const auto colon = entry.find(':');
      const std::string name = entry.substr(0, colon);
      const auto gpu = find_gpu(name);
      if (!gpu) {
        print_error(fmt::format("--gpus: unknown GPU '{}'", name));
        return exit_bad_scenario;
      }
      std::vector<int> tps;
      if (colon != std::string::npos) {
        const std::string t = entry.substr(colon + 1);
        char* end = nullptr;
        const long v = std::strtol(t.c_str(), &end, 10);
        if (t.empty() || *end != '\0' || v < 1 || !layout_accepted(base, *gpu, static_cast<int>(v))) {
          print_error(fmt::format("--gpus {}: expected GPU:TP with TP a tensor-parallel degree the model and node take "
                                  "(it divides gpus_per_node = {} and the model's {} heads; NVLink for TP > 1)",
                                  entry, base.gpus_per_node, base.model.heads));
          return exit_bad_scenario;
        }
        tps.push_back(static_cast<int>(v));
      } else if (search_tp) {
        for (int t = 1; t <= base.gpus_per_node; t *= 2)
          if (layout_accepted(base, *gpu, t) && layout_kv_capacity(base, *gpu, t) >= std::max<std::int64_t>(1, need))
            tps.push_back(t);
        if (tps.empty()) {
          std::cout << fmt::format("--search tp: the model does not fit {} at any tensor parallelism up to {} (its "
                                   "longest request needs {} tokens of KV cache); skipped\n",
                                   name, base.gpus_per_node, need);
          continue;
        }
      } else {
        tps.push_back(base.tensor_parallel);
      }
      std::vector<int> caps{0};
      if (search_batch) {
        caps = {64, 256, 1024, base.limits.max_batch};
        std::sort(caps.begin(), caps.end());
        caps.erase(std::unique(caps.begin(), caps.end()), caps.end());
      }
      // The prefill share of disaggregated serving: an eighth to a half of the replicas.
      std::vector<double> splits{0.0};
      if (search_split) splits = {0.125, 0.25, 0.375, 0.5};
      for (int t : tps)
        for (int cap : caps)
          for (double split : splits) {
            SizingConfig c;
            c.gpu = cmd.gpus.empty() ? base.gpu : *gpu;
            c.tp = t;
            c.max_batch = cap;
            c.prefill_share = split;
            c.label = c.gpu.name;
            if (colon != std::string::npos || search_tp) c.label += fmt::format(":{}", t);
            if (search_batch) c.label += fmt::format(" max_batch {}", cap);
            if (search_split) c.label += fmt::format(" prefill {:g} %", split * 100.0);
            configs.push_back(c);
          }
    }
    if (base.mixed() && !cmd.search.empty()) {  // --search mix: the first pool's share of the GPUs
      const SizingConfig c = configs.front();
      configs.clear();
      for (double f : {0.25, 0.5, 0.75}) {
        SizingConfig m = c;
        m.first_pool_gpu_share = f;
        configs.push_back(m);
      }
    }
    if (configs.empty()) {
      print_error("--search: no configuration serves the model on the GPUs given");
      return exit_unservable;
    }
  }
  for (const auto& [name, price] : cmd.gpu_hour_price)
    if (!find_gpu(name)) {
      print_error(fmt::format("--gpu-hour-price: unknown GPU '{}'", name));
      return exit_bad_scenario;
    }
  namespace fs = std::filesystem;
  if (cmd.report && cmd.out_dir.empty()) {
    print_error("--report needs --out DIR (the report is built from the files written there)");
    return exit_bad_scenario;
  }
  if (!cmd.out_dir.empty()) {
    const int rc =
        prepare_output_dir(cmd.out_dir, {"sizing.json", "probes.csv", "scale_check.csv", "scale_check.json", "autoscaler.csv"});
    if (rc != exit_ok) return rc;
  }

  // The probes (and the measurement of a large workload's demand) run as jobs of one runner: child processes,
  // `--jobs` at once, stopped within a fraction of a second by Ctrl-C or SIGTERM. Under mpirun, `--jobs` in each
  // rank: the search probes as many candidates a round as all ranks run at once, as `--jobs` of that many would.
  const auto runner = make_runner(o.jobs, o.interrupt_flag);
  o.runner = runner.get();
  o.jobs = runner->slots();
  if (base.slo.ttft_p99_s <= 0.0 && base.slo.tpot_p99_s <= 0.0)
    throw ScenarioError(base.source, 0, "slo",
                        "fleet sizing needs at least one latency target: set slo.ttft_p99_s or slo.tpot_p99_s");
  // TOKENFLEET_DEMAND_PREVIEW: how many requests are measured before probing starts (tests set it low to take the
  // path of a large workload on a small one).
  std::uint64_t preview = kDemandPreviewRequests;
  if (const char* env = std::getenv("TOKENFLEET_DEMAND_PREVIEW"); env && *env) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(env, &end, 10);
    if (*end != '\0' || v == 0) {
      print_error(fmt::format("TOKENFLEET_DEMAND_PREVIEW: expected a positive number of requests, got '{}'", env));
      return exit_bad_scenario;
    }
    preview = v;
  }
  DemandMeasurement measurement(base, *runner, o.interrupt_flag, preview);
  std::vector<GpuAnswer> answers;
  SizingReport out;         // sizing.json
  ScaleCheckReport scale;   // scale_check.json, with --scale-check
  out.scenario = base.name;
  out.window = cmd.window;
  out.seeds = o.seeds;
  out.pass_share = o.pass_share;
  out.margin_rule = margin_rule;
  out.targets = base.slo;
  scale.scenario = base.name;
  scale.window = cmd.window;
  scale.seeds = o.seeds;
  scale.pass_share = o.pass_share;
  scale.targets = base.slo;
  scale.max_replicas = cmd.scale_check;
  scale.tolerance = ScaleCheckOptions{}.tolerance;
  scale.gain_threshold = cmd.scale_gain_pct / 100.0;
  int status = exit_ok;
  for (const SizingConfig& config : configs) {
    GpuAnswer a;
    a.scenario = base;
    a.scenario.gpu = config.gpu;
    a.scenario.tensor_parallel = config.tp;
    if (config.max_batch > 0) {
      a.scenario.limits.max_batch = config.max_batch;
      a.scenario.policy_params.set("max_batch", config.max_batch);
    }
    if (config.prefill_share > 0.0) a.scenario.prefill_share = config.prefill_share;
    a.gpu = config.label;
    a.gpu_type = config.gpu.name;
    if (base.mixed()) {
      auto& pools = a.scenario.fleet_pools;
      if (config.first_pool_gpu_share > 0.0) {
        // The replicas' mix for that share of the GPUs: share / GPUs per replica, normalised.
        const double f = config.first_pool_gpu_share;
        const double x = f / pools[0].gpus_per_replica(), y = (1.0 - f) / pools[1].gpus_per_replica();
        pools[0].mix = x / (x + y);
        pools[1].mix = y / (x + y);
        set_fleet_replicas(a.scenario, std::max(a.scenario.replicas, 2));
      }
      // The mix by GPUs (what a planner quotes: "50 % current and 50 % previous generation").
      double gsum = 0.0;
      for (const auto& p : pools) gsum += p.mix * p.gpus_per_replica();
      std::vector<std::string> parts;
      for (const auto& p : pools)
        parts.push_back(fmt::format("{} {:.0f} %", p.gpu.name, gsum > 0 ? p.mix * p.gpus_per_replica() / gsum * 100.0 : 0.0));
      a.gpu = fmt::format("mix ({} of GPUs)", fmt::join(parts, " + "));
      a.gpu_type = "mixed";
    }
    const Scenario& s = a.scenario;
    std::cout << fmt::format(
        "Sizing '{}' on {} ({}): smallest {} with TTFT p99 <= {} and TPOT p99 <= {} over "
        "{}; {} seed(s) per candidate, {} at a time\n",
        s.name, a.gpu,
        s.mixed() ? fmt::format("replicas of each pool in the mix's shares, at least one each; the arrivals split {}",
                                s.fleet_pools.front().arrival_share > 0.0 ? "by the pools' arrival_share"
                                                                          : "by capacity")
                  : fmt::format("{} x {} per replica, {}", s.gpus_per_replica(), a.gpu_type, to_string(s.dtype)),
        s.pods > 1 ? fmt::format("pods ({} of them, the arrivals split at random, each pod meeting the targets over "
                                 "its own requests)",
                                 s.pods)
                   : std::string("fleet"),
        s.slo.ttft_p99_s > 0 ? fmt::format("{:.0f} ms", s.slo.ttft_p99_s * 1e3) : "-",
        s.slo.tpot_p99_s > 0 ? fmt::format("{:.0f} ms", s.slo.tpot_p99_s * 1e3) : "-",
        o.window == SizingWindow::whole ? "the measurement window" : "the busiest hour", o.seeds, o.jobs)
              << std::flush;
    a.sizing = size_fleet(s, o, measurement);
    const Demand& demand = measurement.exact();
    SizingGpuResult g;
    g.gpu = a.gpu;
    g.gpu_type = a.gpu_type;
    g.tensor_parallel = s.tensor_parallel;
    g.pipeline_parallel = s.pipeline_parallel;
    g.expert_parallel = s.expert_parallel;
    g.max_batch = s.limits.max_batch;
    if (!a.sizing.found) {
      std::cout << "  no answer: " << a.sizing.reason << "\n";
      if (cmd.scale_check_set) std::cout << "  scale check: not run (it is measured against the answer)\n";
      std::cout << "\n";
      g.found = false;
      g.reason = a.sizing.reason;
      out.results.push_back(g);
      status = exit_unservable;
      answers.push_back(a);
      continue;
    }
    // A fleet of pods: the search's answer is per pod; the fleet is pods x that, and its figures per seed are the
    // worst pod's p99s and the pods' totals (fleet_probes).
    const int pods = a.sizing.pods;
    const int per_pod = a.sizing.replicas;
    const int n = pods * per_pod;
    const std::vector<Probe> ap = fleet_probes(a.sizing.answer_probes, pods);
    const std::vector<Probe> below = fleet_probes(a.sizing.below_probes, pods);
    Scenario at_n = s;  // the fleet at the answer (a mixed fleet: its pools at that total)
    set_fleet_replicas(at_n, n);
    a.gpus = at_n.fleet_gpus();
    a.gpu_hours = a.gpus * demand.window_s / 3600.0;
    a.energy_kwh = mean_of(ap, [](const Probe& p) { return p.energy_kwh; });
    // Money and energy at the given prices, else the stated defaults (results/economics.hpp). A mixed fleet: its
    // pools' prices weighted by their GPUs at the answer (energy only when one pool's GPU has none).
    std::optional<Economics> money;
    {
      double usd_per_gpu_hour = 0.0;
      std::string source;
      bool priced = true;
      if (s.mixed()) {
        double usd = 0.0;
        std::vector<std::string> sources;
        for (const auto& p : at_n.fleet_pools) {
          const auto given = cmd.gpu_hour_price.find(p.gpu.name);
          const auto fallback = default_gpu_price(p.gpu.name);
          if (given != cmd.gpu_hour_price.end()) {
            usd += given->second * static_cast<double>(p.gpus());
            sources.push_back(fmt::format("{}: given", p.gpu.name));
          } else if (fallback) {
            usd += fallback->usd_per_gpu_hour * static_cast<double>(p.gpus());
            sources.push_back(fmt::format("{}: {}", p.gpu.name, fallback->source));
          } else {
            priced = false;
          }
        }
        if (priced && a.gpus > 0) usd_per_gpu_hour = usd / static_cast<double>(a.gpus);
        source = priced ? fmt::format("the pools' prices weighted by their GPUs ({})", fmt::join(sources, "; "))
                        : "a pool's GPU has no GPU-hour price: energy only";
      } else {
        const auto given = cmd.gpu_hour_price.find(a.gpu_type);
        const auto fallback = default_gpu_price(a.gpu_type);
        if (given != cmd.gpu_hour_price.end()) {
          usd_per_gpu_hour = given->second;
          source = "given with --gpu-hour-price";
        } else if (fallback) {
          usd_per_gpu_hour = fallback->usd_per_gpu_hour;
          source = fallback->source;
        } else {
          priced = false;
          source = "no GPU-hour price for this GPU: energy only";
        }
      }
      if (priced || cmd.kwh_price > 0.0) {
        EconomicsInputs ei;
        ei.gpus = a.gpus;
        ei.window_s = demand.window_s;
        ei.energy_kwh = a.energy_kwh;
        ei.tokens = demand.prompt_tokens + demand.output_tokens;
        ei.usd_per_gpu_hour = usd_per_gpu_hour;
        ei.price_source = source;
        ei.usd_per_kwh = cmd.kwh_price;
        if (ei.window_s > 0.0) {
          money = economics(ei);
          a.cost = money->window.usd;
        }
      }
    }

    // Beside the answer: the analytic estimate, the effective peak multiple and utilization.
    const bool constant_rate = constant_arrival_rate(s);
    const double f = fleet_peak_flops_per_gpu(at_n);  // a mixed fleet: the mean over its GPUs
    const double gpus_per_replica = static_cast<double>(a.gpus) / n;
    const RateEstimate est =
        analytic_estimate_rate(s.model.params, demand.tokens_per_s(), cmd.peak_multiple, f, cmd.utilization);
    const double flops_per_s = mean_of(ap, [](const Probe& p) { return p.window_s > 0 ? p.flops / p.window_s : 0.0; });
    const double flops_fleet = flops_per_s / f;  // GPUs the mean FLOPs need at 100 % utilization
    const double mfu = mean_of(ap, [](const Probe& p) { return p.mfu; });
    const auto& w = ap.front().evaluated(o.window);
    Scenario at_answer = s;
    at_answer.replicas = per_pod;
    const int prefill = prefill_pool_size(at_answer);  // disaggregated: the pools at that size (of a pod)
    if (s.mixed()) {
      std::vector<std::string> parts;
      for (const auto& p : at_n.fleet_pools)
        parts.push_back(fmt::format("pool '{}' {} x {} {} = {} GPUs", p.name, p.replicas, p.gpus_per_replica(),
                                    p.gpu.name, p.gpus()));
      std::cout << fmt::format("  answer: {} replicas = {} GPUs: {}\n", n, a.gpus, fmt::join(parts, ", "));
    } else if (pods == 1) {
      std::cout << fmt::format("  answer: {} replicas = {} GPUs of {}{}\n", n, a.gpus, a.gpu_type,
                               prefill > 0 ? fmt::format(" ({} prefill + {} decode)", prefill, n - prefill) : "");
    } else {
      std::cout << fmt::format("  answer: {} pods x {} replicas = {} replicas, {} GPUs of {}{}\n", pods, per_pod, n,
                               a.gpus, a.gpu_type,
                               prefill > 0 ? fmt::format(" ({} prefill + {} decode per pod)", prefill, per_pod - prefill)
                                           : "");
      // The pods at the answer (first seed): how far apart the split put them.
      const auto& pp = a.sizing.answer_probes;
      std::size_t rmin = SIZE_MAX, rmax = 0;
      double tmin = 1e300, tmax = 0.0, pmin = 1e300, pmax = 0.0;
      for (int k = 0; k < pods; ++k) {
        const auto& pw = pp[static_cast<std::size_t>(k)].evaluated(o.window);
        rmin = std::min(rmin, pw.requests);
        rmax = std::max(rmax, pw.requests);
        tmin = std::min(tmin, pw.ttft_p99_s);
        tmax = std::max(tmax, pw.ttft_p99_s);
        pmin = std::min(pmin, pw.tpot_p99_s);
        pmax = std::max(pmax, pw.tpot_p99_s);
      }
      std::cout << fmt::format("    every pod meets the targets over its own share of the arrivals (split at random, "
                               "seeded): {} to {} requests per pod in the window, TTFT p99 {:.1f} to {:.1f} ms, TPOT "
                               "p99 {:.1f} to {:.1f} ms\n",
                               rmin, rmax, tmin * 1e3, tmax * 1e3, pmin * 1e3, pmax * 1e3);
    }
    const double occupancy =
        s.limits.max_batch > 0 ? mean_of(ap, [](const Probe& p) { return p.mean_batch; }) / s.limits.max_batch : 0.0;
    std::cout << fmt::format("    {}TTFT p99 {}   TPOT p99 {}   attainment {:.2f} %   energy {:.2f} kWh\n"
                             "    busy (holding a request) {:.1f} %   at load: mean batch {:.1f} % of max_batch {}, MFU "
                             "{:.1f} %\n",
                             pods > 1 ? "worst pod: " : "", spread(ap, o.window, true), spread(ap, o.window, false),
                             w.attainment * 100.0, a.energy_kwh,
                             mean_of(ap, [](const Probe& p) { return p.busy_fraction; }) * 100.0, occupancy * 100.0,
                             s.limits.max_batch, mean_of(ap, [](const Probe& p) { return p.mfu; }) * 100.0);
    if (money) std::cout << economics_text(*money, "    ");
    // The noise at the answer: 95 % intervals of the p99s (over seeds, or batch means), and one replica fewer's.
    const Margin margin = answer_margin(ap, o.window, s.slo);
    std::cout << "    margin: " << margin_text(margin) << "\n";
    if (cmd.failures || cmd.spare > 0) {  // what each spare buys under failures (sim/study/failures_sizing.hpp)
      const auto spares = spare_value(s, n, cmd.spare, *runner);
      std::cout << spare_value_text(spares, "    ");
      if (!cmd.out_dir.empty()) write_file_atomically(cmd.out_dir + "/spares.csv", spare_value_csv(spares));
    }
    std::vector<AutoscalerRow> autoscaled;
    if (cmd.autoscaler) {  // the smallest max_replicas autoscaled (sim/study/autoscaler_sizing.hpp)
      autoscaled = autoscaler_search(s, autoscaler_spec, n, o, *runner);
      std::cout << autoscaler_search_text(autoscaled, s, n, autoscaler_spec.policy, "    ");
      if (!cmd.out_dir.empty())
        write_file_atomically(cmd.out_dir + "/autoscaler.csv", autoscaler_search_csv(autoscaled));
    }
    if (margin.verdict == "within noise")
      std::cout << fmt::format("    the answer is within noise of a target{}\n",
                               o.safe_margin ? "" : ": --margin safe sizes until the intervals clear the targets, "
                                                    "and --seeds 3 or more gives an interval over seeds");
    std::optional<Margin> below_margin;
    if (!below.empty()) below_margin = answer_margin(below, o.window, s.slo);
    // Pods missing the targets one replica fewer each (with the search's rule: pass_share of the seeds).
    int pods_missing = 0;
    if (pods > 1 && !a.sizing.below_probes.empty()) {
      const int seeds = std::max(1, o.seeds);
      const int needed = std::max(1, static_cast<int>(std::ceil(o.pass_share * seeds - 1e-9)));
      for (int k = 0; k < pods; ++k) {
        int ok = 0;
        for (int sd = 0; sd < seeds; ++sd) {
          const auto& p = a.sizing.below_probes[static_cast<std::size_t>(sd * pods + k)];
          ok += p.error.empty() && p.evaluated(o.window).met ? 1 : 0;
        }
        pods_missing += ok < needed ? 1 : 0;
      }
    }
    if (!below.empty()) {
      const auto& b = below.front().evaluated(o.window);
      if (pods == 1)
        std::cout << fmt::format("    one replica fewer ({}) fails{}: TTFT p99 {:.1f} ms, TPOT p99 {:.1f} ms{}\n", n - 1,
                                 o.safe_margin && b.met ? " the safe margin (its p99s meet the targets, within noise)"
                                                        : "",
                                 b.ttft_p99_s * 1e3, b.tpot_p99_s * 1e3,
                                 below_margin && below_margin->verdict != "no interval"
                                     ? fmt::format(" (95 % interval: {})", below_margin->verdict)
                                     : "");
      else
        std::cout << fmt::format("    one replica fewer per pod ({} x {} = {}) fails: {} of {} pods miss the targets; "
                                 "worst pod TTFT p99 {:.1f} ms, TPOT p99 {:.1f} ms\n",
                                 pods, per_pod - 1, n - pods, pods_missing, pods, b.ttft_p99_s * 1e3,
                                 b.tpot_p99_s * 1e3);
    }
    // What limit sets the size: judged where the targets are missed (one replica fewer), from the first seed.
    {
      BindingLimit limit = answer_binding_limit(s, per_pod, ap, below, o.window, demand);
      if (s.mixed())
        limit.evidence += fmt::format("; judged on the first pool's ('{}') cost model and KV cache, the fleet's p99s",
                                      s.fleet_pools.front().name);
      std::cout << fmt::format("    binding limit: {} ({})\n", limit.limit, limit.evidence);
      a.binding_limit = limit.limit;
      g.binding_limit = limit.limit;
      g.binding_evidence = limit.evidence;
    }
    // The fleet the mean load needs at the same targets: the same lengths arriving as a Poisson stream at the
    // mean rate of the measurement window (sessions become independent requests; not defined for a trace).
    double peak_multiple_vs_mean_fleet = constant_rate ? 1.0 : 0.0;
    int mean_fleet = constant_rate ? n : 0;
    std::string mean_fleet_note;
    if (!constant_rate && s.workload.trace.enabled) {
      mean_fleet_note = "not computed for trace replay";
    } else if (!constant_rate && demand.requests_per_s() > 0.0) {
      Scenario flat = s;
      flat.workload.arrival = ArrivalSpec{};
      flat.workload.arrival.process = "poisson";
      flat.workload.arrival.rate_per_s = demand.requests_per_s();
      flat.workload.session.enabled = false;
      std::cout << fmt::format("  the mean load ({:.3f} requests/s as a Poisson stream, same lengths{}) at the same "
                               "targets:\n",
                               demand.requests_per_s(), pods > 1 ? fmt::format(", split over {} pods", pods) : "");
      SizingOptions flat_options = o;
      flat_options.per_hour = false;
      const SizingResult mean_sizing = size_fleet(flat, flat_options);
      if (mean_sizing.found) {
        mean_fleet = mean_sizing.replicas * mean_sizing.pods;
        // A mixed fleet: by GPUs (the two fleets' splits round differently); one GPU type: by replicas, the same.
        peak_multiple_vs_mean_fleet =
            s.mixed() ? static_cast<double>(a.gpus) / static_cast<double>(fleet_gpus_at(s, mean_fleet))
                      : static_cast<double>(n) / mean_fleet;
      } else {
        mean_fleet_note = "the mean load itself has no answer: " + mean_sizing.reason;
      }
    }
    std::cout << fmt::format(
        "  the analytic estimate for the same demand ({:.1f} tokens/s, 2 x P per token, k = {:g}, u = {:g}): {:.1f} "
        "GPUs = {:.1f} replicas\n",
        demand.tokens_per_s(), cmd.peak_multiple, cmd.utilization, est.gpus, est.gpus / gpus_per_replica);
    // k and u that give this fleet through the formula, exactly (results/decomposition.hpp), from the first seed's
    // demand and FLOPs.
    std::optional<Decomposition> decomposition;
    {
      const DecompositionInputs di = decomposition_inputs(at_n, ap.front(), static_cast<int>(a.gpus));
      if (di.span_tokens > 0.0 && di.span_end_s > di.span_start_s) {
        decomposition = decompose(di);
        std::cout << decomposition_text(*decomposition, "  ");
        if (decomposition->window != "busiest hour" && cmd.peak_multiple != 1.0)
          std::cout << fmt::format("  note: the analytic estimate above applies its k = {:g} to this span's mean "
                                   "rate; the span is a single window, so if it is the day's peak, that counts the "
                                   "peak twice (give -k 1)\n",
                                   cmd.peak_multiple);
      }
    }
    if (constant_rate)
      std::cout << "  effective peak multiple over the fleet the mean load needs at the same targets: 1.00 (the "
                   "arrival rate is constant, so the mean load is the peak)\n";
    else if (mean_fleet > 0)
      std::cout << fmt::format("  effective peak multiple over the fleet the mean load needs at the same targets ({} "
                               "replicas): {:.2f}\n",
                               mean_fleet, peak_multiple_vs_mean_fleet);
    else
      std::cout << "  effective peak multiple over the mean-load fleet: " << mean_fleet_note << "\n";
    g.found = true;
    g.replicas = n;
    if (s.mixed()) {
      g.pools.emplace();
      for (std::size_t i = 0; i < at_n.fleet_pools.size(); ++i) {
        const auto& p = at_n.fleet_pools[i];
        g.pools->push_back({p.name, p.gpu.name, p.replicas, p.gpus(), mix_share(at_n, i)});
      }
    }
    g.prefill_replicas = prefill * pods;
    g.gpus = a.gpus;
    for (const auto& p : ap) {
      const auto& f = p.evaluated(o.window);
      g.answer.push_back({p.seed, f.ttft_p99_s, f.tpot_p99_s, f.attainment, p.mfu, p.busy_fraction, p.energy_kwh});
    }
    if (!below.empty()) {
      const auto& b = below.front().evaluated(o.window);
      g.one_fewer = SizingOneFewer{n - pods, b.ttft_p99_s, b.tpot_p99_s, b.met};
    }
    if (pods > 1) {
      SizingPods sp;
      sp.pods = pods;
      sp.replicas_per_pod = per_pod;
      sp.gpus_per_pod = per_pod * s.gpus_per_replica();
      sp.split = "seeded random split by request id (a session's questions by session); each pod is simulated on "
                 "its own share and must meet the targets over its own requests";
      auto figures = [&](const std::vector<Probe>& probes) {
        std::vector<SizingPodFigures> out;
        for (const auto& p : probes) {
          const auto& pw = p.evaluated(o.window);
          out.push_back({p.pod, p.seed, pw.requests, pw.ttft_p99_s, pw.tpot_p99_s, pw.attainment,
                         p.error.empty() && pw.met});
        }
        return out;
      };
      sp.answer = figures(a.sizing.answer_probes);
      if (!a.sizing.below_probes.empty()) {
        sp.one_fewer_replicas_per_pod = per_pod - 1;
        sp.one_fewer_pods_missing = pods_missing;
        sp.one_fewer = figures(a.sizing.below_probes);
      }
      g.pods = sp;
    }
    g.gpu_hours = a.gpu_hours;
    g.energy_kwh = a.energy_kwh;
    if (a.cost >= 0) g.cost = a.cost;
    g.analytic_estimate = {cmd.peak_multiple, cmd.utilization, est.gpus, est.gpus / gpus_per_replica};
    g.effective.utilization = mfu;
    g.effective.mean_flops_gpus_at_full_utilization = flops_fleet;
    g.effective.peak_multiple_vs_mean_flops_fleet = flops_fleet > 0 ? a.gpus / flops_fleet : 0.0;
    g.effective.mean_load_fleet_replicas = std::max(0, mean_fleet);
    g.effective.peak_multiple_vs_mean_load_fleet = peak_multiple_vs_mean_fleet;
    g.effective.peak_multiple_vs_mean_load_fleet_note = mean_fleet_note;
    g.decomposition = decomposition;
    g.economics = money;
    g.batch_occupancy = occupancy;
    g.margin = margin;
    if (below_margin) g.one_fewer_margin = below_margin;
    if (o.per_hour) {
      // Each hour sized on its own probes: the hour simulated after --hour-warmup s of the demand before it (from the
      // workload's start for the first hours), judged over its own requests (SizingResult::per_hour).
      double hourly_gpu_hours = 0.0, fixed_gpu_hours = 0.0, hourly_energy = 0.0;
      int missing = 0;
      std::cout << fmt::format("  per hour (an autoscaling schedule from steady state; each hour's fleet meets the "
                               "targets over its own requests, simulated from {:.0f} s before the hour at that size):\n",
                               o.hour_warmup_s);
      std::cout << fmt::format("    {:>4} {:>17} {:>9} {:>8} {:>11} {:>11} {:>9} {:>11} {:>11} {:>9} {:>9}\n", "hour",
                               "window s", "requests", "replicas", "TTFT p99", "TPOT p99", "one fewer", "TTFT p99",
                               "TPOT p99", "GPU-h", "kWh");
      g.per_hour.emplace();
      for (const HourSizing& hs : a.sizing.per_hour) {
        SizingHour row{hs.start_s, hs.end_s, hs.requests, hs.found ? hs.replicas : 0};
        const double len_h = (hs.end_s - hs.start_s) / 3600.0;
        row.hour = hs.hour;
        row.simulated_from_s = hs.simulated_from_s;
        row.note = hs.requests == 0 ? "no requests" : hs.reason;
        fixed_gpu_hours += n * s.gpus_per_replica() * len_h;
        std::string at = "-", fewer = "-";
        if (hs.found) {
          const auto& w = hs.answer_probes.front().whole;
          row.ttft_p99_s = w.ttft_p99_s;
          row.tpot_p99_s = w.tpot_p99_s;
          row.met = true;
          row.gpu_hours = hs.replicas * s.gpus_per_replica() * len_h;
          row.energy_kwh = mean_of(hs.answer_probes, [](const Probe& p) { return p.energy_kwh; });
          if (!hs.below_probes.empty()) {
            const auto& b = hs.below_probes.front().whole;
            row.one_fewer_replicas = hs.replicas - 1;
            row.one_fewer_ttft_p99_s = b.ttft_p99_s;
            row.one_fewer_tpot_p99_s = b.tpot_p99_s;
            row.one_fewer_met = hs.below_probes.front().error.empty() && b.met;
          }
        } else if (hs.requests > 0) {
          ++missing;
        }
        hourly_gpu_hours += row.gpu_hours;
        hourly_energy += row.energy_kwh;
        auto ms = [](double v) { return fmt::format("{:.1f} ms", v * 1e3); };
        std::cout << fmt::format("    {:>3}h {:>7.0f}-{:>7.0f}  {:>9} {:>8} {:>11} {:>11} {:>9} {:>11} {:>11} {:>9.1f} {:>9.2f}  {}\n",
                                 fmt::format("{:02d}", hs.hour), hs.start_s, hs.end_s, hs.requests,
                                 hs.found ? std::to_string(hs.replicas) : "-", hs.found ? ms(row.ttft_p99_s) : "-",
                                 hs.found ? ms(row.tpot_p99_s) : "-",
                                 row.one_fewer_replicas > 0 ? std::to_string(row.one_fewer_replicas) : "-",
                                 row.one_fewer_replicas > 0 ? ms(row.one_fewer_ttft_p99_s) : "-",
                                 row.one_fewer_replicas > 0 ? ms(row.one_fewer_tpot_p99_s) : "-", row.gpu_hours,
                                 row.energy_kwh,
                                 hs.found ? std::string(static_cast<std::size_t>(std::min(60, hs.replicas)), '#')
                                          : row.note);
        g.per_hour->push_back(row);
      }
      // "12.3 % saved", or "4.5 % more" when hours judged alone need more than the whole window does.
      auto saved = [](double schedule, double fixed) {
        const double pct = fixed > 0 ? 100.0 * (1.0 - schedule / fixed) : 0.0;
        return pct >= 0 ? fmt::format("{:.1f} % saved", pct) : fmt::format("{:.1f} % more", -pct);
      };
      std::cout << fmt::format("    GPU-hours: {:.1f} following the schedule, {:.1f} with a fixed fleet of {} replicas "
                               "({})\n",
                               hourly_gpu_hours, fixed_gpu_hours, n, saved(hourly_gpu_hours, fixed_gpu_hours));
      std::cout << fmt::format("    energy: {:.1f} kWh following the schedule (each hour at its size), {:.1f} kWh with "
                               "the fixed fleet ({})\n",
                               hourly_energy, a.energy_kwh, saved(hourly_energy, a.energy_kwh));
      if (missing > 0)
        std::cout << fmt::format("    {} hour(s) have no fleet up to --max-replicas that meets the targets: not counted "
                                 "above\n",
                                 missing);
      g.gpu_hours_per_hour_schedule = hourly_gpu_hours;
      g.gpu_hours_fixed_fleet = fixed_gpu_hours;
    }
    if (cmd.autoscaler) {  // the fixed fleet, the schedule (--per-hour) and the autoscaler side by side
      std::vector<FleetComparisonRow> side;
      side.push_back(comparison_row("fixed", fmt::format("{} replicas", n), a.gpu_hours, ap.front()));
      side.back().attainment = 0.0;
      for (const Probe& p : ap) side.back().attainment += p.evaluated(o.window).attainment / static_cast<double>(ap.size());
      side.back().energy_kwh = a.energy_kwh;
      if (g.per_hour) side.push_back(schedule_row(*g.per_hour, a.sizing.per_hour));
      for (const AutoscalerRow& r : autoscaled)
        if (r.met) {
          side.push_back(r.hours);
          side.back().label = fmt::format("{}, max_replicas {}", autoscaler_spec.policy, r.max_replicas);
          break;
        }
      std::cout << fleet_comparison_text(side, "  ");
      if (side.back().fleet != "autoscaler")
        std::cout << "    (no max_replicas up to the fixed answer + 1 met the targets autoscaled)\n";
      if (!g.per_hour) std::cout << "    (--per-hour adds the per-hour schedule)\n";
      g.fleet_comparison = side;
    }
    if (cmd.scale_check_set) scale.results.push_back(scale_check_table(s, o, demand, cmd, a.sizing));
    std::cout << "\n";
    out.results.push_back(g);
    answers.push_back(a);
  }
  if (answers.size() > 1) {
    std::vector<const GpuAnswer*> ranked;
    for (const auto& a : answers)
      if (a.sizing.found) ranked.push_back(&a);
    // Ties (equal cost, GPUs and energy) keep the order the configurations were sized in.
    std::stable_sort(ranked.begin(), ranked.end(), [](const GpuAnswer* x, const GpuAnswer* y) {
      if (x->cost >= 0 && y->cost >= 0 && x->cost != y->cost) return x->cost < y->cost;
      if (x->gpus != y->gpus) return x->gpus < y->gpus;
      return x->energy_kwh < y->energy_kwh;
    });
    std::size_t width = 12;
    for (const auto& a : answers) width = std::max(width, a.gpu.size());
    std::cout << fmt::format("Ranking ({}):\n  {:<4} {:<{}} {:>9} {:>7} {:>12} {:>12} {:>12}  {}\n",
                             ranked.size() > 0 && ranked.front()->cost >= 0 ? "by cost" : "by GPUs, then energy", "rank",
                             "configuration", width, "replicas", "GPUs", "GPU-hours", "energy kWh", "cost $",
                             "binding limit");
    int rank = 1;
    for (const auto* a : ranked)
      std::cout << fmt::format("  {:<4} {:<{}} {:>9} {:>7.0f} {:>12.1f} {:>12.2f} {:>12}  {}\n", rank++, a->gpu, width,
                               a->sizing.replicas * a->sizing.pods, a->gpus, a->gpu_hours, a->energy_kwh,
                               a->cost >= 0 ? fmt::format("{:.2f}", a->cost) : "-", a->binding_limit);
    for (const auto& a : answers)
      if (!a.sizing.found) std::cout << fmt::format("  -    {:<{}} no fleet meets the targets\n", a.gpu, width);
    // With several configurations of a GPU type: the best of each (the first in the ranking).
    if (!cmd.search.empty() || configs.size() > cmd.gpus.size()) {
      std::map<std::string, std::string> best;  // GPU type -> the label of its best configuration
      std::cout << "Best configuration per GPU type:\n";
      for (const auto* a : ranked)
        if (best.emplace(a->gpu_type, a->gpu).second)
          std::cout << fmt::format("  {:<12} {} ({:.0f} GPUs, binding limit: {})\n", a->gpu_type, a->gpu, a->gpus,
                                   a->binding_limit);
      for (std::size_t i = 0; i < out.results.size(); ++i) {
        const auto it = best.find(answers[i].gpu_type);
        out.results[i].best_of_type = it != best.end() && it->second == answers[i].gpu;
      }
    }
  }
  {
    const Demand& demand = measurement.exact();
    out.demand = {demand.requests, demand.window_s, demand.requests_per_s(), demand.tokens_per_s(),
                  demand.output_tokens_per_s()};
    scale.demand = out.demand;
  }
  if (!cmd.out_dir.empty() && mpi::writes_outputs()) {
    write_file_atomically((fs::path(cmd.out_dir) / "probes.csv").string(), probes_csv(answers, o.window, base.pods > 1));
    if (cmd.scale_check_set) {
      write_file_atomically((fs::path(cmd.out_dir) / "scale_check.csv").string(), scale_check_csv(scale));
      write_file_atomically((fs::path(cmd.out_dir) / "scale_check.json").string(),
                            nlohmann::ordered_json(scale).dump(2) + "\n");
    }
    write_file_atomically((fs::path(cmd.out_dir) / "scenario.toml").string(),
                          scenario_text(cmd.scenario_path, cmd.overrides));
    write_file_atomically((fs::path(cmd.out_dir) / "sizing.json").string(),
                          nlohmann::ordered_json(out).dump(2) + "\n");
    std::cout << "results written to " << cmd.out_dir << "/ (sizing.json, probes.csv, "
              << (cmd.scale_check_set ? "scale_check.csv, scale_check.json, " : "") << "scenario.toml)\n";
    if (cmd.report) {
      const int report_status = make_report(cmd.out_dir);
      if (report_status != exit_ok) return report_status;
    }
  }
  return status;
}

}  // namespace

}  // namespace tf
