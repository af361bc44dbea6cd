// `tokenfleet size`: the smallest fleet that meets the SLO targets, per GPU type, against the analytic estimate.

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cluster/catalog.hpp"
#include "io/csv.hpp"
#include "results/sizing_report.hpp"
#include "results/summary.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"
#include "sim/cli/signals.hpp"
#include "sim/study/fleet_facts.hpp"
#include "sim/engine/engine.hpp"
#include "sim/study/child_process.hpp"
#include "sim/study/estimate.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/mpi.hpp"
#include "sim/study/sizing.hpp"

namespace tf {

namespace {

struct GpuAnswer {
  std::string gpu;
  SizingResult sizing;
  Scenario scenario;
  double gpus = 0.0;
  double gpu_hours = 0.0;     // over the measurement window
  double energy_kwh = 0.0;    // over the measurement window (mean over seeds)
  double cost = -1.0;         // -1: no price
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

std::string probes_csv(const std::vector<GpuAnswer>& answers, SizingWindow w) {
  std::string out;
  CsvWriter csv(out);
  csv.row({"gpu", "replicas", "gpus", "seed", "window_start_s", "window_end_s", "requests", "ttft_p99_s", "tpot_p99_s",
           "attainment", "mfu", "busy_fraction", "energy_kwh", "met", "error"});
  for (const auto& a : answers)
    for (const auto& p : a.sizing.probes) {
      const auto& f = p.evaluated(w);
      csv.field(a.gpu).integer(p.replicas).integer(p.replicas * a.scenario.tensor_parallel).integer(p.seed);
      csv.format("{:.3f}", f.start_s).format("{:.3f}", f.end_s).integer(f.requests);
      csv.format("{:.9f}", f.ttft_p99_s).format("{:.9f}", f.tpot_p99_s).format("{:.6f}", f.attainment);
      csv.format("{:.6f}", p.mfu).format("{:.6f}", p.busy_fraction).format("{:.6f}", p.energy_kwh);
      csv.integer(p.error.empty() && f.met ? 1 : 0).quoted(p.error).end_row();
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
  const Scenario base = load_scenario_or_default(cmd.scenario_path, cmd.overrides);
  if (base.pods > 1) {  // not yet: sizing a pod and scaling it (issue 13)
    print_error(fmt::format("fleet.pods = {}: size searches the replicas of one fleet; set fleet.pods = 1 (the default) "
                            "and, for a fleet too large for one simulation, size a share of the demand "
                            "(workload.arrival.rate_per_s / pods) and multiply the answer by the pods",
                            base.pods));
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

  std::vector<std::string> gpus = cmd.gpus;
  if (gpus.empty()) gpus.push_back(base.gpu.name);
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
    const int rc = prepare_output_dir(cmd.out_dir, {"sizing.json", "probes.csv"});
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
  SizingReport out;  // sizing.json
  out.scenario = base.name;
  out.window = cmd.window;
  out.seeds = o.seeds;
  out.pass_share = o.pass_share;
  out.targets = base.slo;
  int status = exit_ok;
  for (const std::string& gpu_name : gpus) {
    GpuAnswer a;
    a.scenario = base;
    const auto gpu = find_gpu(gpu_name);
    if (!gpu) {
      print_error(fmt::format("--gpus: unknown GPU '{}'", gpu_name));
      return exit_bad_scenario;
    }
    if (cmd.gpus.size() > 0) a.scenario.gpu = *gpu;
    a.gpu = a.scenario.gpu.name;
    const Scenario& s = a.scenario;
    std::cout << fmt::format(
        "Sizing '{}' on {} ({} x {} per replica, {}): smallest fleet with TTFT p99 <= {} and TPOT p99 <= {} over "
        "{}; {} seed(s) per candidate, {} at a time\n",
        s.name, a.gpu, s.tensor_parallel, a.gpu, to_string(s.dtype),
        s.slo.ttft_p99_s > 0 ? fmt::format("{:.0f} ms", s.slo.ttft_p99_s * 1e3) : "-",
        s.slo.tpot_p99_s > 0 ? fmt::format("{:.0f} ms", s.slo.tpot_p99_s * 1e3) : "-",
        o.window == SizingWindow::whole ? "the measurement window" : "the busiest hour", o.seeds, o.jobs)
              << std::flush;
    a.sizing = size_fleet(s, o, measurement);
    const Demand& demand = measurement.exact();
    SizingGpuResult g;
    g.gpu = a.gpu;
    if (!a.sizing.found) {
      std::cout << "  no answer: " << a.sizing.reason << "\n\n";
      g.found = false;
      g.reason = a.sizing.reason;
      out.results.push_back(g);
      status = exit_unservable;
      answers.push_back(a);
      continue;
    }
    const int n = a.sizing.replicas;
    const auto& ap = a.sizing.answer_probes;
    a.gpus = n * s.tensor_parallel;
    a.gpu_hours = a.gpus * demand.window_s / 3600.0;
    a.energy_kwh = mean_of(ap, [](const Probe& p) { return p.energy_kwh; });
    const auto price = cmd.gpu_hour_price.find(a.gpu);
    if (price != cmd.gpu_hour_price.end() || cmd.kwh_price > 0.0)
      a.cost = (price != cmd.gpu_hour_price.end() ? price->second * a.gpu_hours : 0.0) + cmd.kwh_price * a.energy_kwh;

    // Beside the answer: the analytic estimate, the effective peak multiple and utilization.
    const double f = s.gpu.peak_flops(s.dtype);
    const RateEstimate est =
        analytic_estimate_rate(s.model.params, demand.tokens_per_s(), cmd.peak_multiple, f, cmd.utilization);
    const double flops_per_s = mean_of(ap, [](const Probe& p) { return p.window_s > 0 ? p.flops / p.window_s : 0.0; });
    const double flops_fleet = flops_per_s / f;  // GPUs the mean FLOPs need at 100 % utilization
    const double mfu = mean_of(ap, [](const Probe& p) { return p.mfu; });
    const auto& w = ap.front().evaluated(o.window);
    Scenario at_answer = s;
    at_answer.replicas = n;
    const int prefill = prefill_pool_size(at_answer);  // disaggregated: the pools at that size
    std::cout << fmt::format("  answer: {} replicas = {} GPUs of {}{}\n", n, a.gpus, a.gpu,
                             prefill > 0 ? fmt::format(" ({} prefill + {} decode)", prefill, n - prefill) : "");
    std::cout << fmt::format("    TTFT p99 {}   TPOT p99 {}   attainment {:.2f} %   busy {:.1f} %   energy {:.2f} kWh\n",
                             spread(ap, o.window, true), spread(ap, o.window, false), w.attainment * 100.0,
                             mean_of(ap, [](const Probe& p) { return p.busy_fraction; }) * 100.0, a.energy_kwh);
    if (!a.sizing.below_probes.empty()) {
      const auto& b = a.sizing.below_probes.front().evaluated(o.window);
      std::cout << fmt::format("    one replica fewer ({}) fails: TTFT p99 {:.1f} ms, TPOT p99 {:.1f} ms\n", n - 1,
                               b.ttft_p99_s * 1e3, b.tpot_p99_s * 1e3);
    }
    // The fleet the mean load needs at the same targets: the same lengths arriving as a Poisson stream at the
    // mean rate of the measurement window (sessions become independent requests; not defined for a trace).
    const auto& arr = s.workload.arrival;
    const bool constant_rate = arr.process == "poisson" && arr.spikes.empty() && arr.burst.multiple <= 0.0 &&
                               !s.workload.session.enabled && !s.workload.trace.enabled;
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
      std::cout << fmt::format("  the mean load ({:.3f} requests/s as a Poisson stream, same lengths) at the same "
                               "targets:\n",
                               demand.requests_per_s());
      SizingOptions flat_options = o;
      flat_options.per_hour = false;
      const SizingResult mean_sizing = size_fleet(flat, flat_options);
      if (mean_sizing.found) {
        mean_fleet = mean_sizing.replicas;
        peak_multiple_vs_mean_fleet = static_cast<double>(n) / mean_fleet;
      } else {
        mean_fleet_note = "the mean load itself has no answer: " + mean_sizing.reason;
      }
    }
    std::cout << fmt::format(
        "  the analytic estimate for the same demand ({:.1f} tokens/s, 2 x P per token, k = {:g}, u = {:g}): {:.1f} "
        "GPUs = {:.1f} replicas\n",
        demand.tokens_per_s(), cmd.peak_multiple, cmd.utilization, est.gpus, est.gpus / s.tensor_parallel);
    std::cout << fmt::format(
        "  effective utilization (FLOPs done / FLOPs the fleet could do): {:.2f} %\n"
        "  effective peak multiple over the fleet the mean FLOPs need at 100 % utilization ({:.3f} GPUs): {:.1f}\n",
        mfu * 100.0, flops_fleet, flops_fleet > 0 ? a.gpus / flops_fleet : 0.0);
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
    g.prefill_replicas = prefill;
    g.gpus = a.gpus;
    for (const auto& p : ap) {
      const auto& f = p.evaluated(o.window);
      g.answer.push_back({p.seed, f.ttft_p99_s, f.tpot_p99_s, f.attainment, p.mfu, p.busy_fraction, p.energy_kwh});
    }
    if (!a.sizing.below_probes.empty()) {
      const auto& b = a.sizing.below_probes.front().evaluated(o.window);
      g.one_fewer = SizingOneFewer{n - 1, b.ttft_p99_s, b.tpot_p99_s, b.met};
    }
    g.gpu_hours = a.gpu_hours;
    g.energy_kwh = a.energy_kwh;
    if (a.cost >= 0) g.cost = a.cost;
    g.analytic_estimate = {cmd.peak_multiple, cmd.utilization, est.gpus, est.gpus / s.tensor_parallel};
    g.effective.utilization = mfu;
    g.effective.mean_flops_gpus_at_full_utilization = flops_fleet;
    g.effective.peak_multiple_vs_mean_flops_fleet = flops_fleet > 0 ? a.gpus / flops_fleet : 0.0;
    g.effective.mean_load_fleet_replicas = std::max(0, mean_fleet);
    g.effective.peak_multiple_vs_mean_load_fleet = peak_multiple_vs_mean_fleet;
    g.effective.peak_multiple_vs_mean_load_fleet_note = mean_fleet_note;
    if (o.per_hour) {
      const auto& hours = ap.front().hours;
      double hourly_gpu_hours = 0.0, fixed_gpu_hours = 0.0;
      int peak = 0;
      std::cout << "  per hour (an autoscaling schedule; each hour's fleet meets the targets over its own requests "
                   "in a whole-run simulation at that size):\n";
      g.per_hour.emplace();
      for (std::size_t h = 0; h < hours.size(); ++h) {
        const int nh = a.sizing.per_hour_replicas[h];
        const double len_h = (hours[h].end_s - hours[h].start_s) / 3600.0;
        hourly_gpu_hours += nh * s.tensor_parallel * len_h;
        fixed_gpu_hours += n * s.tensor_parallel * len_h;
        peak = std::max(peak, nh);
        std::cout << fmt::format("    {:>7.0f} s - {:>7.0f} s  {:>8} requests  {:>5} replicas  {}\n", hours[h].start_s,
                                 hours[h].end_s, hours[h].requests, nh, std::string(static_cast<std::size_t>(std::min(60, nh)), '#'));
        g.per_hour->push_back({hours[h].start_s, hours[h].end_s, hours[h].requests, nh});
      }
      std::cout << fmt::format("    GPU-hours: {:.1f} following the schedule, {:.1f} with a fixed fleet of {} replicas "
                               "({:.1f} % saved)\n",
                               hourly_gpu_hours, fixed_gpu_hours, n,
                               fixed_gpu_hours > 0 ? 100.0 * (1.0 - hourly_gpu_hours / fixed_gpu_hours) : 0.0);
      g.gpu_hours_per_hour_schedule = hourly_gpu_hours;
      g.gpu_hours_fixed_fleet = fixed_gpu_hours;
    }
    std::cout << "\n";
    out.results.push_back(g);
    answers.push_back(a);
  }
  if (answers.size() > 1) {
    std::vector<const GpuAnswer*> ranked;
    for (const auto& a : answers)
      if (a.sizing.found) ranked.push_back(&a);
    std::sort(ranked.begin(), ranked.end(), [](const GpuAnswer* x, const GpuAnswer* y) {
      if (x->cost >= 0 && y->cost >= 0 && x->cost != y->cost) return x->cost < y->cost;
      if (x->gpus != y->gpus) return x->gpus < y->gpus;
      return x->energy_kwh < y->energy_kwh;
    });
    std::cout << fmt::format("Ranking ({}):\n  {:<4} {:<12} {:>9} {:>7} {:>12} {:>12} {:>12}\n",
                             ranked.size() > 0 && ranked.front()->cost >= 0 ? "by cost" : "by GPUs, then energy", "rank",
                             "gpu", "replicas", "GPUs", "GPU-hours", "energy kWh", "cost $");
    int rank = 1;
    for (const auto* a : ranked)
      std::cout << fmt::format("  {:<4} {:<12} {:>9} {:>7.0f} {:>12.1f} {:>12.2f} {:>12}\n", rank++, a->gpu,
                               a->sizing.replicas, a->gpus, a->gpu_hours, a->energy_kwh,
                               a->cost >= 0 ? fmt::format("{:.2f}", a->cost) : "-");
    for (const auto& a : answers)
      if (!a.sizing.found) std::cout << fmt::format("  -    {:<12} no fleet meets the targets\n", a.gpu);
  }
  {
    const Demand& demand = measurement.exact();
    out.demand = {demand.requests, demand.window_s, demand.requests_per_s(), demand.tokens_per_s(),
                  demand.output_tokens_per_s()};
  }
  if (!cmd.out_dir.empty() && mpi::writes_outputs()) {
    write_file_atomically((fs::path(cmd.out_dir) / "probes.csv").string(), probes_csv(answers, o.window));
    write_file_atomically((fs::path(cmd.out_dir) / "scenario.toml").string(),
                          scenario_text(cmd.scenario_path, cmd.overrides));
    write_file_atomically((fs::path(cmd.out_dir) / "sizing.json").string(),
                          nlohmann::ordered_json(out).dump(2) + "\n");
    std::cout << "results written to " << cmd.out_dir << "/ (sizing.json, probes.csv, scenario.toml)\n";
    if (cmd.report) {
      const int report_status = make_report(cmd.out_dir);
      if (report_status != exit_ok) return report_status;
    }
  }
  return status;
}

}  // namespace

}  // namespace tf
