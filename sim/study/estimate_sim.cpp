#include "sim/study/estimate_sim.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cluster/catalog.hpp"
#include "cluster/cost_model.hpp"
#include "results/record_sink.hpp"
#include "results/streaming.hpp"
#include "results/summary.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/pods.hpp"
#include "workloads/curve.hpp"

namespace tf {

namespace {

// The report's 2026 "next generation" GPU, taken as the reconstruction does: two B200s in one package (4,500 dense
// FP16 TFLOP/s). Every figure is B200's doubled, an assumption, not a data sheet.
GpuSpec next_gen_gpu() {
  GpuSpec g = *find_gpu("b200");
  g.name = "next-gen-2x-b200";
  g.fp16_flops = 4500e12;
  g.fp8_flops = 9000e12;
  g.hbm_bytes = 360e9;
  g.hbm_bandwidth_Bps = 16e12;
  g.nvlink_Bps = 3600e9;
  g.pcie_Bps = 128e9;
  g.idle_watts = 240;
  g.busy_watts = 2000;
  g.decode_batch1_watts = g.decode_batch128_watts = 0.0;
  return g;
}

GpuSpec gpu_of(const std::string& name) {
  if (name == "next-gen") return next_gen_gpu();
  auto g = find_gpu(name);
  if (!g) throw std::invalid_argument("unknown GPU '" + name + "'");
  return *g;
}

// A catalogue GPU by name; next gen as a table of its figures (next_gen_gpu's), so that the pod scenario stands alone.
std::string gpu_toml(const std::string& name) {
  if (name != "next-gen") return fmt::format("\"{}\"", name);
  const GpuSpec g = next_gen_gpu();
  return fmt::format("{{ name = \"{}\", fp16_tflops = {}, fp8_tflops = {}, hbm_gb = {}, hbm_bandwidth_tbps = {}, "
                     "nvlink_gbps = {}, pcie_gbps = {}, idle_watts = {}, busy_watts = {} }}",
                     g.name, g.fp16_flops / 1e12, g.fp8_flops / 1e12, g.hbm_bytes / 1e9, g.hbm_bandwidth_Bps / 1e12,
                     g.nvlink_Bps / 1e9, g.pcie_Bps / 1e9, g.idle_watts, g.busy_watts);
}

struct Layout1 {
  Dtype dtype = Dtype::fp16;
  int tp = 8, pp = 1;
  double kv_tokens = 0.0;
};

// The cost model of a replica of this layout (nodes of 8 GPUs).
CostModel cost_model(const ModelSpec& m, const GpuSpec& g, const Layout1& l, const CostParams& cost) {
  Layout lay;
  lay.tensor_parallel = l.tp;
  lay.pipeline_parallel = l.pp;
  lay.gpus_per_node = 8;
  return CostModel(m, g, l.dtype, lay, cost);
}

// FP8 where the GPU has it; tensor parallel 8; the fewest pipeline stages (1, 2, 4, 8) whose KV cache holds 16 visits
// at their longest (else the most that fit).
Layout1 choose_layout(const ModelSpec& m, const GpuSpec& g, const CostParams& cost, double longest) {
  Layout1 best;
  best.dtype = g.peak_flops(Dtype::fp8) > 0 ? Dtype::fp8 : Dtype::fp16;
  for (int pp : {1, 2, 4, 8, 15}) {
    best.pp = pp;
    best.kv_tokens = static_cast<double>(cost_model(m, g, best, cost).kv_capacity_tokens());
    if (best.kv_tokens >= 16.0 * longest) break;
  }
  return best;
}

struct Derived {
  double q = 0, a = 0, longest = 0;
  int context = 0;
  ModelSpec model;
  CostParams cost;        // the trtllm profile, or reduced to the formula (SimulatedYearInputs::formula)
  double peak_to_mean = 0;  // the curve's
  Layout1 cur, prev;
  GpuSpec gcur, gprev;
  int ncur = 0, nprev = 0;
  double floor_cur = 0, floor_prev = 0;  // a decode iteration of 32 requests at the mean context (s)
  double tpot_target = 0;                // the target used (the given one, or raised above the floors)
  double ttft_target = 0;                // the same for TTFT (raised when even an idle fleet misses it)
  std::string ttft_note;
  std::string tpot_note;
};

double decode_floor(const ModelSpec& m, const GpuSpec& g, const Layout1& l, double mean_context, const CostParams& cost) {
  IterationShape sh;
  sh.decode_tokens = 32;
  sh.decode_context_tokens = static_cast<std::int64_t>(32 * mean_context);
  return cost_model(m, g, l, cost).iteration_time_s(sh);
}

// The batching's token budget per iteration (year_toml's max_batched_tokens).
constexpr int kBatchedTokens = 2048;

// Seconds of one iteration of `tokens` prompt tokens (the formula's cost model: linear in the tokens).
double tokens_time(const ModelSpec& m, const GpuSpec& g, const Layout1& l, double tokens, const CostParams& cost) {
  IterationShape sh;
  sh.prefill_tokens = static_cast<std::int64_t>(tokens);
  return cost_model(m, g, l, cost).iteration_time_s(sh);
}

Derived derive(const SimulatedYearInputs& in) {
  Derived d;
  d.a = std::round(in.answer_tokens);
  const double n = in.report.qa_per_visit;
  // The j-th question's prompt (j = 0 .. n - 1) is q + j (q + a): its mean over a visit, plus the answer a, is
  // (n + 1) / 2 x (q + a), which is to be the report's tokens per Q&A.
  // The formula check takes the report's Q&A as it does: each one on its own, the question all of its tokens but the
  // answer's (no conversation carried, no sessions).
  d.q = std::round(in.formula ? in.report.tokens_per_qa - d.a : in.report.tokens_per_qa * 2.0 / (n + 1.0) - d.a);
  if (d.q < 1) throw std::invalid_argument(fmt::format("{}: tokens per Q&A {} leave no room for a question beside the "
                                                       "answer's {} tokens{}",
                                                       in.report.label, in.report.tokens_per_qa, d.a,
                                                       in.formula ? "" : " with the conversation carried"));
  d.longest = in.formula ? d.q + d.a : d.q + (n - 1) * (d.q + d.a) + d.a;
  d.context = static_cast<int>(std::ceil((d.longest + 1) / 1024.0) * 1024);
  d.model = *find_model("gpt4-class");
  d.model.context_window = std::max<std::int64_t>(d.model.context_window, d.context);
  if (in.formula) d.cost.formula_utilization = in.report.utilization;
  d.peak_to_mean = in.formula ? peak_to_mean_for_busiest_hour(in.report.peak_multiple) : in.peak_to_mean;
  d.gcur = gpu_of(in.current_gpu);
  d.gprev = gpu_of(in.previous_gpu);
  d.cur = choose_layout(d.model, d.gcur, d.cost, d.longest);
  d.prev = choose_layout(d.model, d.gprev, d.cost, d.longest);
  // Half and half by GPUs: the fewest replicas of each with as many GPUs.
  // TPOT's floor on each GPU: one decode iteration of 32 requests at the visit's mean context, no prefill beside it.
  const double mean_context = d.q + (n - 1) / 2.0 * (d.q + d.a) + d.a / 2.0;
  d.floor_cur = decode_floor(d.model, d.gcur, d.cur, mean_context, d.cost);
  d.floor_prev = decode_floor(d.model, d.gprev, d.prev, mean_context, d.cost);
  d.tpot_target = in.tpot_p99_s;
  d.ttft_target = in.ttft_p99_s;
  const double floor = std::max(d.floor_cur, d.floor_prev);
  if (in.formula) {
    // Targets that only a fleet falling behind misses: an iteration is at most the token budget, and a prompt's
    // prefill alone is its tokens at the replica's rate (the formula's cost model is linear in the tokens).
    const double full = std::max(tokens_time(d.model, d.gcur, d.cur, kBatchedTokens, d.cost),
                                 tokens_time(d.model, d.gprev, d.prev, kBatchedTokens, d.cost));
    const double prompt = d.longest - d.a;
    const double alone = std::max(tokens_time(d.model, d.gcur, d.cur, prompt, d.cost),
                                  tokens_time(d.model, d.gprev, d.prev, prompt, d.cost));
    d.tpot_target = std::max(in.tpot_p99_s, std::ceil(1.5 * full / 0.05 - 1e-9) * 0.05);
    d.ttft_target = std::max(in.ttft_p99_s, std::ceil(2.0 * alone / 0.5 - 1e-9) * 0.5);
    d.tpot_note = fmt::format("formula check: TPOT p99 target {:.0f} ms (1.5 x an iteration of the full {}-token "
                              "budget, {:.0f} ms), TTFT p99 target {:.1f} s (2 x the longest prompt's {:.0f} tokens "
                              "prefilled alone, {:.2f} s: a wait of one such prefill): only a fleet that falls behind misses them",
                              d.tpot_target * 1e3, kBatchedTokens, full * 1e3, d.ttft_target, prompt, alone);
  } else if (1.5 * floor > in.tpot_p99_s) {
    d.tpot_target = std::ceil(1.5 * floor / 0.05 - 1e-9) * 0.05;
    d.tpot_note = fmt::format("TPOT p99 target raised from {:.0f} ms to {:.0f} ms: a decode iteration of 32 requests "
                              "takes {:.0f} ms on {} and {:.0f} ms on {} (memory-bound: the stages read their weights "
                              "one after the other), so no fleet of this mix meets {:.0f} ms",
                              in.tpot_p99_s * 1e3, d.tpot_target * 1e3, d.floor_cur * 1e3, d.gcur.name,
                              d.floor_prev * 1e3, d.gprev.name, in.tpot_p99_s * 1e3);
  }
  const int gc = d.cur.tp * d.cur.pp, gp = d.prev.tp * d.prev.pp;
  const int l = std::lcm(gc, gp);
  d.ncur = l / gc;
  d.nprev = l / gp;
  return d;
}

std::string year_toml(const SimulatedYearInputs& in, const Derived& d, int units, double share) {
  const double peak_h = 20.0;
  auto pool = [&](const char* name, const std::string& gpu, const Layout1& l, int replicas) {
    return fmt::format("[[fleet.pool]]\nname = \"{}\"\ngpu = {}\ndtype = \"{}\"\ntensor_parallel = {}\n"
                       "pipeline_parallel = {}\nreplicas = {}\n\n",
                       name, gpu_toml(gpu), to_string(l.dtype), l.tp, l.pp, replicas);
  };
  return fmt::format(
             "# The seed report's {} (Huafu Securities, August 2024), simulated: a pod serving {:.6g} of the whole demand\n"
             "# (its visits a share of the report's {:.6g} a year, a thinning of the whole's arrivals; see\n"
             "# sim/study/estimate_sim.hpp). Made by tokenfleet estimate --preset huafu-2024 --simulate.\n"
             "name = \"huafu-2024-{}\"\nseed = {}\nstart_s = {}\nwarmup_s = {}\nduration_s = {}\n\n"
             "[model]\nname = \"gpt4-class\"\ncontext_window = {}\n\n[fleet]\n",
             in.report.label, share, in.report.visits_per_year, in.report.label, in.seed,
             (peak_h - 0.5) * 3600.0 - in.warmup_s, in.warmup_s,
             (peak_h + 0.5) * 3600.0, d.model.context_window) +
         pool("current", in.current_gpu, d.cur, units * d.ncur) +
         pool("previous", in.previous_gpu, d.prev, units * d.nprev) +
         fmt::format(
             "[workload]\ndemand = {{ visits_per_year = {}, qa_per_visit = {}, question_tokens = {}, answer_tokens = {} "
             "}}\narrival = {{ process = \"diurnal\", peak_to_mean = {}, peak_hour = {} }}\n{}\n"
             "[policy]\nbatching = \"chunked-prefill\"\nmax_batch = 256\nmax_batched_tokens = {}\n"
             "kv_cache = \"paged\"\nkv_block_tokens = 256\nprefix_cache = {}\nrouter = \"{}\"\n\n"
             "[slo]\nttft_p99_s = {}\ntpot_p99_s = {}\n",
             in.report.visits_per_year * share, in.report.qa_per_visit, d.q, d.a, d.peak_to_mean, peak_h,
             in.formula ? std::string("# The report's Q&A, each on its own (no sessions): an open stream of them.\n")
                        : fmt::format("session = {{ think_time_s = {{ dist = \"exponential\", mean = {} }} }}\n",
                                      in.think_time_s),
             kBatchedTokens, in.formula ? "false" : "true", in.formula ? "least-tokens" : "prefix-aware",
             d.ttft_target, d.tpot_target) +
         (in.formula ? fmt::format("\n# The cost model reduced to the report's formula: 2 x P per token at u of FP16 "
                                   "peak.\n[cost]\nformula_utilization = {}\n",
                                   in.report.utilization)
                     : std::string());
}

// Feeds the final records to a summary.
class SummarySink final : public RecordSink {
 public:
  SummarySink(double warmup_s, const SloTargets& slo) : b(warmup_s, slo) {}
  void arrived(const RequestRecord&) override { ++arrived_; }
  void ended(const RequestRecord& r) override { b.add(r); }
  SummaryBuilder b;
  std::size_t arrived_ = 0;
};

struct ProbeOut {
  SimulatedProbe p;
  Summary sum;
};

ProbeOut probe(const SimulatedYearInputs& in, const Derived& d, int units, double share, int jobs,
               const volatile std::sig_atomic_t* interrupt) {
  ProbeOut o;
  const auto t0 = std::chrono::steady_clock::now();
  Scenario s = load_scenario_text(year_toml(in, d, units, share), "<estimate --simulate " + in.report.label + ">");
  SummarySink sink(s.warmup_s, s.slo);
  RunOptions opt;
  opt.record_sink = &sink;
  opt.interrupt_flag = interrupt;
  const RunResult r = run_fleet(s, opt, jobs);
  o.sum = sink.b.summary(s.name, s.seed, r.totals);
  o.p.share = share;
  o.p.units = units;
  o.p.gpus = static_cast<int>(s.fleet_gpus());
  o.p.ttft_p99_s = o.sum.ttft.p99;
  o.p.tpot_p99_s = o.sum.tpot.p99;
  o.p.requests = o.sum.requests_measured;
  o.p.pass = o.sum.requests_measured > 0 && o.sum.requests_unfinished == 0 && o.sum.ttft_p99_met && o.sum.tpot_p99_met;
  o.p.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return o;
}

}  // namespace

double busiest_hour_multiple(double peak_to_mean) {
  RateCurveSpec c;
  c.kind = "parametric";
  c.mean_rate_per_s = 1.0;
  c.peak_to_mean = peak_to_mean;
  c.peak_hour = 20.0;
  const auto curve = make_rate_curve(c);
  return curve->integral(19.5 * 3600.0, 20.5 * 3600.0) / 3600.0 / curve->mean_rate();
}

double peak_to_mean_for_busiest_hour(double k) {
  if (!(k > 1.0) || !std::isfinite(k))
    throw std::invalid_argument(fmt::format("a peak multiple above 1 is expected for the daily curve, not {}", k));
  // The busiest hour rises with the peak-to-mean: bisect, the peak being above the hour around it.
  double lo = 1.0, hi = k * 1.5;
  try {
    while (busiest_hour_multiple(hi) < k) hi *= 1.5;
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(fmt::format("no smooth daily curve has a busiest hour of {} times its mean", k));
  }
  for (int i = 0; i < 60; ++i) {
    const double mid = (lo + hi) / 2.0;
    (busiest_hour_multiple(mid) < k ? lo : hi) = mid;
  }
  return hi;
}

std::vector<SimulatedYearInputs> huafu_2024_formula_preset() {
  auto years = huafu_2024_simulated_preset();
  for (auto& y : years) {
    y.formula = true;
    y.pod_units = 32;
  }
  return years;
}

std::vector<SimulatedYearInputs> huafu_2024_simulated_preset() {
  std::vector<SimulatedYearInputs> out;
  for (const EstimateInputs& y : huafu_2024_preset()) {
    if (y.label == "2023") continue;  // the report's base year: its stated result is for 2024-2026
    SimulatedYearInputs s;
    s.report = y;
    if (y.label == "2024") s.current_gpu = "h100-sxm", s.previous_gpu = "a100-80gb";
    if (y.label == "2025") s.current_gpu = "b200", s.previous_gpu = "h100-sxm";
    if (y.label == "2026") s.current_gpu = "next-gen", s.previous_gpu = "b200";
    out.push_back(s);
  }
  return out;
}

void apply_simulated_overrides(std::vector<SimulatedYearInputs>& years, const std::vector<std::string>& overrides) {
  static const std::map<std::string, double SimulatedYearInputs::*> own = {
      {"answer_tokens", &SimulatedYearInputs::answer_tokens}, {"think_time_s", &SimulatedYearInputs::think_time_s},
      {"peak_to_mean", &SimulatedYearInputs::peak_to_mean},   {"ttft_p99_s", &SimulatedYearInputs::ttft_p99_s},
      {"tpot_p99_s", &SimulatedYearInputs::tpot_p99_s},       {"pod_units", &SimulatedYearInputs::pod_units},
      {"warmup_s", &SimulatedYearInputs::warmup_s}};
  std::vector<std::string> report;
  for (const std::string& o : overrides) {
    const auto eq = o.find('='), dot = o.find('.');
    const std::string field = dot != std::string::npos && eq != std::string::npos && dot < eq ? o.substr(dot + 1, eq - dot - 1) : "";
    const auto it = own.find(field);
    if (it == own.end()) {
      report.push_back(o);
      continue;
    }
    const std::string label = o.substr(0, dot), text = o.substr(eq + 1);
    SimulatedYearInputs* target = nullptr;
    for (auto& y : years)
      if (y.report.label == label) target = &y;
    if (!target) throw std::invalid_argument(fmt::format("--set {}: unknown year '{}' (the simulation has 2024, 2025, 2026)", o, label));
    const double v = override_number(o, text);
    if (field == "peak_to_mean" && !(v > 1.0))
      throw std::invalid_argument(fmt::format("--set {}: a peak-to-mean above 1 is expected", o));
    target->*(it->second) = v;
  }
  std::vector<EstimateInputs> inputs;
  for (const auto& y : years) inputs.push_back(y.report);
  apply_estimate_overrides(inputs, report);
  for (std::size_t i = 0; i < years.size(); ++i) years[i].report = inputs[i];
}

SimulatedYear simulate_year(const SimulatedYearInputs& in, int jobs, const SimulatedProgress& progress,
                            const volatile std::sig_atomic_t* interrupt) {
  const auto t0 = std::chrono::steady_clock::now();
  SimulatedYear y;
  y.in = in;
  Derived d = derive(in);
  y.question_tokens = d.q;
  y.max_context_tokens = d.longest;
  y.current_gpus_per_replica = d.cur.tp * d.cur.pp;
  y.previous_gpus_per_replica = d.prev.tp * d.prev.pp;
  y.current_layout = fmt::format("tp {} x pp {} of {} ({})", d.cur.tp, d.cur.pp, d.gcur.name, to_string(d.cur.dtype));
  y.previous_layout = fmt::format("tp {} x pp {} of {} ({})", d.prev.tp, d.prev.pp, d.gprev.name, to_string(d.prev.dtype));
  y.unit_current_replicas = d.ncur;
  y.unit_previous_replicas = d.nprev;
  y.unit_gpus = d.ncur * y.current_gpus_per_replica + d.nprev * y.previous_gpus_per_replica;
  y.kv_requests_current = d.cur.kv_tokens / d.longest;
  y.kv_requests_previous = d.prev.kv_tokens / d.longest;
  y.tpot_floor_current_s = d.floor_cur;
  y.tpot_floor_previous_s = d.floor_prev;
  y.tpot_target_s = d.tpot_target;
  y.tpot_note = d.tpot_note;
  y.ttft_target_s = d.ttft_target;
  if (progress && !d.tpot_note.empty()) progress("  " + d.tpot_note);
  // F as the report takes it: the mean dense FP16 FLOP/s of the GPUs, half and half.
  y.mix_flops = (d.gcur.fp16_flops + d.gprev.fp16_flops) / 2.0;
  y.report_gpus = analytic_estimate(in.report).gpus;
  y.active_ratio = d.model.active_params / in.report.params;
  // The demand: tokens/s over the year, and the curve's busiest hour (centred on its peak) over its mean.
  const double qa_per_s = in.report.visits_per_year * in.report.qa_per_visit / in.report.seconds;
  y.mean_tokens_per_s = qa_per_s * in.report.tokens_per_qa;
  y.peak_to_mean = d.peak_to_mean;
  y.peak_multiple = busiest_hour_multiple(d.peak_to_mean);
  // The pods: the share whose saturated demand pod_units units of the mix carry, and twice that.
  const Scenario one = load_scenario_text(year_toml(in, d, 1, 1e-3), "<estimate --simulate>");
  double unit_cap = 0;  // output tokens/s, saturated, at the mean lengths
  for (double c1 : pool_capacities(one)) unit_cap += c1;
  const double peak_out_per_s = qa_per_s * y.peak_multiple * d.a;
  if (!(unit_cap > 0)) {
    y.error = "no replica of the mix holds a visit at its longest";
    return y;
  }
  const double base_share = std::min(1.0, in.pod_units * unit_cap / peak_out_per_s);
  // The scale check: the share doubles until the whole fleet the pod stands for moves by less than 3 % (at most 6
  // shares, or the whole demand).
  for (double share = base_share;; share = std::min(1.0, 2 * share)) {
    if (y.pods.size() >= 2) {
      const double a = y.pods[y.pods.size() - 2].gpus_per_share, b = y.pods.back().gpus_per_share;
      if (std::abs(b - a) <= 0.03 * a || y.pods.size() >= 6 || y.pods.back().share >= 1.0) break;
    }
    if (interrupt && *interrupt) throw RunInterrupted("stopped during estimate --simulate");
    // From the saturation bound up, doubling until a pass, then bisecting.
    const int bound = std::max(1, static_cast<int>(std::ceil(share * peak_out_per_s / unit_cap)));
    std::map<int, ProbeOut> seen;
    auto run = [&](int units) -> const ProbeOut& {
      auto it = seen.find(units);
      if (it != seen.end()) return it->second;
      ProbeOut o = probe(in, d, units, share, jobs, interrupt);
      y.probes.push_back(o.p);
      if (progress)
        progress(fmt::format("  {} pod {:.3g} of the demand: {} units = {} GPUs: TTFT p99 {:.0f} ms, TPOT p99 {:.1f} ms "
                             "over {} requests: {} ({:.1f} s)",
                             in.report.label, share, units, o.p.gpus, o.p.ttft_p99_s * 1e3, o.p.tpot_p99_s * 1e3,
                             o.p.requests, o.p.pass ? "pass" : "fail", o.p.wall_s));
      return seen.emplace(units, std::move(o)).first->second;
    };
    int lo = bound - 1, hi = bound;  // lo fails (or is 0), hi is probed
    while (!run(hi).p.pass) {
      // TTFT that no longer falls as the pod doubles, with TPOT met: the prefill of the longest prompts alone is
      // slower than the target (a floor no fleet size moves). The target is raised to 1.5 x that floor, said, and
      // the search starts again.
      if (lo >= bound && d.ttft_note.empty()) {
        const auto& a = run(lo).p;
        const auto& b = run(hi).p;
        if (b.tpot_p99_s <= d.tpot_target && b.ttft_p99_s > d.ttft_target && b.ttft_p99_s > 0.97 * a.ttft_p99_s) {
          const double raised = std::ceil(1.5 * b.ttft_p99_s / 0.5) * 0.5;
          d.ttft_note = fmt::format("TTFT p99 target raised from {:.1f} s to {:.1f} s: it stays at {:.2f} s from {} to {} "
                                    "units (the prefill of the longest prompts, {:.0f} new tokens with attention over "
                                    "{:.0f} carried, alone), so no fleet of this mix meets {:.1f} s",
                                    d.ttft_target, raised, b.ttft_p99_s, lo, hi, d.q, d.longest - d.q - d.a,
                                    d.ttft_target);
          if (progress) progress("  " + d.ttft_note);
          d.ttft_target = raised;
          seen.clear();
          lo = bound - 1;
          hi = bound;
          continue;
        }
      }
      lo = hi;
      hi *= 2;
      if (hi > 16 * bound + 16) {
        const std::string why = fmt::format("no pod of up to {} units meets the targets at share {:.3g} (TTFT p99 {:.0f} "
                                            "ms, TPOT p99 {:.0f} ms at the largest)",
                                            lo, share, run(lo).p.ttft_p99_s * 1e3, run(lo).p.tpot_p99_s * 1e3);
        y.ttft_target_s = d.ttft_target;
        y.ttft_note = d.ttft_note;
        y.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (y.pods.empty()) {
          y.error = why;
          return y;
        }
        y.scale_note = why + "; the answer is the largest pod that met them";
        break;
      }
    }
    if (!y.scale_note.empty()) break;
    // Below the bound too: the saturated capacity is not a floor over one busy hour (a backlog can build and drain
    // within it), so the unit below a first pass is probed, and the search goes down while it passes.
    for (int step = 1; lo >= 1 && run(lo).p.pass; step *= 2) {
      hi = lo;
      lo = std::max(0, lo - step);
    }
    while (hi - lo > 1) {
      const int mid = (lo + hi) / 2;
      if (run(mid).p.pass) hi = mid; else lo = mid;
    }
    const ProbeOut& a = run(hi);
    SimulatedPod pod;
    pod.share = share;
    pod.units = hi;
    pod.gpus = a.p.gpus;
    pod.gpus_per_share = a.p.gpus / share;
    pod.ttft_p99_s = a.p.ttft_p99_s;
    pod.tpot_p99_s = a.p.tpot_p99_s;
    pod.mfu = a.sum.mfu;
    pod.mean_batch = a.sum.mean_batch_size;
    pod.prefix_hit_rate = a.sum.prefix_cache.token_hit_rate;
    const double served = a.sum.totals.served_prompt_tokens + a.sum.totals.served_output_tokens;
    pod.cost_model_flops_per_token = served > 0 ? a.sum.totals.flops / served : 0.0;
    pod.mean_prompt_tokens = a.sum.offered_requests_per_s > 0
                                 ? (a.sum.offered_total_tokens_per_s - a.sum.offered_output_tokens_per_s) /
                                       a.sum.offered_requests_per_s
                                 : 0.0;
    pod.mean_output_tokens = a.sum.offered_requests_per_s > 0
                                 ? a.sum.offered_output_tokens_per_s / a.sum.offered_requests_per_s
                                 : 0.0;
    y.pods.push_back(pod);
  }
  y.ttft_target_s = d.ttft_target;
  y.ttft_note = d.ttft_note;
  const SimulatedPod& big = y.pods.back();
  y.simulated_gpus = big.gpus_per_share;
  y.scenario_toml = year_toml(in, d, big.units, big.share);
  // The identity in the formula's convention (2 x P, F the mix's mean): u makes 2 P D k / (F u T) the simulated fleet.
  const double f = 2.0 * in.report.params;
  y.utilization = f * y.mean_tokens_per_s * y.peak_multiple / (y.simulated_gpus * y.mix_flops);
  y.identity_gpus = f * y.mean_tokens_per_s * in.report.seconds * y.peak_multiple /
                    (y.mix_flops * y.utilization * in.report.seconds);
  y.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return y;
}

namespace {

std::string cost_model_name(const SimulatedYear& y) {
  return y.in.formula ? fmt::format("the formula's: 2 x P per token at u = {:g} of FP16 peak", y.in.report.utilization)
                      : std::string("operator-level (trtllm profile)");
}

nlohmann::ordered_json year_json(const SimulatedYear& y) {
  nlohmann::ordered_json j;
  j["year"] = y.in.report.label;
  j["cost_model"] = cost_model_name(y);
  j["report"] = {{"gpus", y.report_gpus},
                 {"peak_multiple", y.in.report.peak_multiple},
                 {"utilization", y.in.report.utilization},
                 {"gpu_flops", y.in.report.gpu_flops},
                 {"params", y.in.report.params},
                 {"visits_per_year", y.in.report.visits_per_year},
                 {"qa_per_visit", y.in.report.qa_per_visit},
                 {"tokens_per_qa", y.in.report.tokens_per_qa}};
  j["simulated"] = {{"gpus", y.simulated_gpus},
                    {"peak_multiple", y.peak_multiple},
                    {"utilization", y.utilization},
                    {"identity_gpus", y.identity_gpus},
                    {"gpu_flops", y.mix_flops},
                    {"ratio_to_report", y.report_gpus > 0 ? y.simulated_gpus / y.report_gpus : 0.0}};
  j["inputs"] = {{"current_gpu", y.in.current_gpu},   {"previous_gpu", y.in.previous_gpu},
                 {"answer_tokens", y.in.answer_tokens}, {"question_tokens", y.question_tokens},
                 {"longest_context_tokens", y.max_context_tokens}, {"think_time_s", y.in.think_time_s},
                 {"peak_to_mean", y.peak_to_mean},     {"ttft_p99_s", y.in.ttft_p99_s},
                 {"tpot_p99_s", y.in.tpot_p99_s},      {"tpot_p99_s_used", y.tpot_target_s},
                 {"seed", y.in.seed}};
  j["what_moves"]["tpot_floor_s"] = {{"current", y.tpot_floor_current_s}, {"previous", y.tpot_floor_previous_s}};
  if (!y.tpot_note.empty()) j["what_moves"]["tpot_note"] = y.tpot_note;
  j["inputs"]["ttft_p99_s_used"] = y.ttft_target_s;
  if (!y.ttft_note.empty()) j["what_moves"]["ttft_note"] = y.ttft_note;
  j["layout"] = {{"current", y.current_layout},
                 {"previous", y.previous_layout},
                 {"unit", {{"current_replicas", y.unit_current_replicas},
                           {"previous_replicas", y.unit_previous_replicas},
                           {"gpus", y.unit_gpus}}},
                 {"visits_at_longest_per_replica", {{"current", y.kv_requests_current}, {"previous", y.kv_requests_previous}}}};
  j["what_moves"]["active_over_total_params"] = y.active_ratio;
  for (const auto& p : y.pods)
    j["pods"].push_back({{"share", p.share},
                         {"units", p.units},
                         {"gpus", p.gpus},
                         {"gpus_for_whole_demand", p.gpus_per_share},
                         {"ttft_p99_s", p.ttft_p99_s},
                         {"tpot_p99_s", p.tpot_p99_s},
                         {"mfu", p.mfu},
                         {"mean_batch", p.mean_batch},
                         {"prefix_token_hit_rate", p.prefix_hit_rate},
                         {"mean_prompt_tokens", p.mean_prompt_tokens},
                         {"mean_output_tokens", p.mean_output_tokens},
                         {"cost_model_flops_per_token", p.cost_model_flops_per_token}});
  for (const auto& p : y.probes)
    j["probes"].push_back({{"share", p.share},
                           {"units", p.units},
                           {"gpus", p.gpus},
                           {"ttft_p99_s", p.ttft_p99_s},
                           {"tpot_p99_s", p.tpot_p99_s},
                           {"requests", p.requests},
                           {"pass", p.pass},
                           {"wall_s", p.wall_s}});
  j["wall_s"] = y.wall_s;
  if (!y.scale_note.empty()) j["scale_note"] = y.scale_note;
  if (!y.error.empty()) j["error"] = y.error;
  return j;
}

std::string m(double v) { return fmt::format("{:.3f} M", v / 1e6); }

}  // namespace

std::string simulated_json(const std::vector<SimulatedYear>& years) {
  nlohmann::ordered_json j;
  j["preset"] = "huafu-2024";
  j["method"] =
      "each year's demand as sessions of 5 Q&A with the conversation carried, on a parametric daily curve; a pod of "
      "the mix sized for the busiest hour (TTFT and TPOT p99 targets), at two shares of the demand, scaled to the "
      "whole; k and u in the formula's convention (2 x P, F the mix's mean FP16 FLOP/s)";
  if (std::any_of(years.begin(), years.end(), [](const SimulatedYear& y) { return y.in.formula; }))
    j["check"] = "the report's arithmetic by simulation: the cost model reduced to 2 x P per token at the report's u, "
                 "the curve's busiest hour the report's k times the mean, every prompt token computed, loose targets";
  for (const auto& y : years) j["years"].push_back(year_json(y));
  return j.dump(2) + "\n";
}

std::string simulated_csv(const std::vector<SimulatedYear>& years) {
  std::string out =
      "year,report_gpus,simulated_gpus,ratio,report_k,simulated_k,report_u,simulated_u,gpu_flops_mix,"
      "question_tokens,answer_tokens,longest_context_tokens,pod_share,pod_gpus,ttft_p99_s,tpot_p99_s,mfu,mean_batch,"
      "prefix_token_hit_rate,wall_s\n";
  for (const auto& y : years) {
    if (y.pods.empty()) {
      out += fmt::format("{},{:.0f},,,{},,{},,{},{},{},{},,,,,,,,{:.1f}\n", y.in.report.label, y.report_gpus,
                         y.in.report.peak_multiple, y.in.report.utilization, y.mix_flops, y.question_tokens,
                         y.in.answer_tokens, y.max_context_tokens, y.wall_s);
      continue;
    }
    const auto& p = y.pods.back();
    out += fmt::format("{},{:.0f},{:.0f},{:.4f},{},{:.4f},{},{:.4f},{},{},{},{},{:.6g},{},{:.4f},{:.4f},{:.4f},{:.2f},{:.4f},{:.1f}\n",
                       y.in.report.label, y.report_gpus, y.simulated_gpus, y.simulated_gpus / y.report_gpus,
                       y.in.report.peak_multiple, y.peak_multiple, y.in.report.utilization, y.utilization, y.mix_flops,
                       y.question_tokens, y.in.answer_tokens, y.max_context_tokens, p.share, p.gpus, p.ttft_p99_s,
                       p.tpot_p99_s, p.mfu, p.mean_batch, p.prefix_hit_rate, y.wall_s);
  }
  return out;
}

std::string simulated_table(const std::vector<SimulatedYear>& years) {
  std::string out = fmt::format("{:<38}", "");
  for (const auto& y : years) out += fmt::format("{:>22}", y.in.report.label);
  out += "\n";
  auto row = [&](const std::string& name, auto get) {
    out += fmt::format("{:<38}", name);
    for (const auto& y : years) out += fmt::format("{:>22}", get(y));
    out += "\n";
  };
  row("GPUs, the report's formula", [](const SimulatedYear& y) { return m(y.report_gpus); });
  if (std::any_of(years.begin(), years.end(), [](const SimulatedYear& y) { return y.in.formula; }))
    row("cost model", [](const SimulatedYear& y) {
      return y.in.formula ? fmt::format("2P at u={:g}", y.in.report.utilization) : std::string("operator-level"); });
  row("GPUs, simulated", [](const SimulatedYear& y) { return y.pods.empty() ? std::string("none found") : m(y.simulated_gpus); });
  row("  simulated / report", [](const SimulatedYear& y) { return y.pods.empty() ? std::string("-") : fmt::format("{:.3f}", y.simulated_gpus / y.report_gpus); });
  row("k: report / simulated", [](const SimulatedYear& y) { return fmt::format("{:g} / {:.3f}", y.in.report.peak_multiple, y.peak_multiple); });
  row("u (2 x P): report / simulated", [](const SimulatedYear& y) {
    return y.pods.empty() ? fmt::format("{:g} / -", y.in.report.utilization)
                          : fmt::format("{:.0f} % / {:.2f} %", y.in.report.utilization * 100, y.utilization * 100); });
  row("  identity 2PDk/(FuT)", [](const SimulatedYear& y) { return y.pods.empty() ? std::string("-") : m(y.identity_gpus); });
  row("the mix (half and half by GPUs)", [](const SimulatedYear& y) { return y.in.current_gpu + " + " + y.in.previous_gpu; });
  row("F, mean FP16 FLOP/s of the mix", [](const SimulatedYear& y) { return fmt::format("{:.4g}", y.mix_flops); });
  row("replica, current", [](const SimulatedYear& y) { return fmt::format("{} GPUs", y.current_gpus_per_replica); });
  row("replica, previous", [](const SimulatedYear& y) { return fmt::format("{} GPUs", y.previous_gpus_per_replica); });
  row("question + carried, answer (tokens)", [](const SimulatedYear& y) {
    return fmt::format("{:g} q{}, {:g} a", y.question_tokens, y.in.formula ? " (none carried)" : "", y.in.answer_tokens); });
  row("a visit's longest context", [](const SimulatedYear& y) { return fmt::format("{:.0f}", y.max_context_tokens); });
  row("visits at longest per replica (KV)", [](const SimulatedYear& y) { return fmt::format("{:.0f} / {:.0f}", y.kv_requests_current, y.kv_requests_previous); });
  row("MoE: active / total params", [](const SimulatedYear& y) { return fmt::format("{:.3f}", y.active_ratio); });
  row("cost-model FLOPs per token / 2P", [](const SimulatedYear& y) {
    return y.pods.empty() ? std::string("-") : fmt::format("{:.3f}", y.pods.back().cost_model_flops_per_token / (2 * y.in.report.params)); });
  row("pod: MFU in the busiest hour", [](const SimulatedYear& y) { return y.pods.empty() ? std::string("-") : fmt::format("{:.2f} %", y.pods.back().mfu * 100); });
  row("pod: mean batch", [](const SimulatedYear& y) { return y.pods.empty() ? std::string("-") : fmt::format("{:.1f}", y.pods.back().mean_batch); });
  row("pod: prefix-cache token hits", [](const SimulatedYear& y) { return y.pods.empty() ? std::string("-") : fmt::format("{:.1f} %", y.pods.back().prefix_hit_rate * 100); });
  row("targets used: TTFT / TPOT p99", [](const SimulatedYear& y) { return fmt::format("{:.1f} s / {:.0f} ms", y.ttft_target_s, y.tpot_target_s * 1e3); });
  row("pod: TTFT / TPOT p99 (ms)", [](const SimulatedYear& y) { return y.pods.empty() ? std::string("-") : fmt::format("{:.0f} / {:.1f}", y.pods.back().ttft_p99_s * 1e3, y.pods.back().tpot_p99_s * 1e3); });
  row("wall-clock", [](const SimulatedYear& y) { return fmt::format("{:.0f} s", y.wall_s); });
  out += "\nThe scale check: the whole fleet each pod stands for (its GPUs / its share of the demand), as the pod "
         "doubles:\n";
  for (const auto& y : years) {
    std::string line;
    for (const auto& p : y.pods)
      line += (line.empty() ? "" : " -> ") + fmt::format("{:.3f} M ({} GPUs at {:.3g})", p.gpus_per_share / 1e6, p.gpus, p.share);
    out += fmt::format("  {}: {}{}\n", y.in.report.label, line.empty() ? "-" : line,
                       y.scale_note.empty() ? "" : "; " + y.scale_note);
  }
  out += "\nWhat was changed to find a fleet at all:\n";
  bool any = false;
  for (const auto& y : years)
    for (const std::string* n : {&y.tpot_note, &y.ttft_note})
      if (!n->empty()) {
        out += fmt::format("  {}: {}\n", y.in.report.label, *n);
        any = true;
      }
  if (!any) out += "  nothing: the targets as given\n";
  return out;
}

std::string simulated_html(const std::vector<SimulatedYear>& years) {
  std::string body;
  for (const auto& y : years) {
    // One plot per year: the report's GPUs against the simulated ones, and the scale check's pods.
    const double top = std::max({y.report_gpus, y.simulated_gpus, 1.0}) * 1.15;
    auto bar = [&](int i, double v, const char* label, const char* color) {
      const double h = v / top * 220.0;
      return fmt::format("<rect x='{}' y='{:.1f}' width='70' height='{:.1f}' fill='{}'/><text x='{}' y='{:.1f}' "
                         "font-size='12' text-anchor='middle'>{}</text><text x='{}' y='262' font-size='12' "
                         "text-anchor='middle'>{}</text>",
                         60 + i * 100, 240 - h, h, color, 95 + i * 100, 235 - h, m(v), 95 + i * 100, label);
    };
    const int width = 80 + 100 * (static_cast<int>(y.pods.size()) + 1);
    std::string svg = fmt::format("<svg width='{}' height='280' xmlns='http://www.w3.org/2000/svg'>"
                                  "<line x1='40' y1='240' x2='{}' y2='240' stroke='#333'/>",
                                  width, width - 20);
    svg += bar(0, y.report_gpus, "report", "#888");
    int i = 1;
    for (const auto& p : y.pods) {
      svg += bar(i, p.gpus_per_share, fmt::format("pod {:.2g}", p.share).c_str(), i == static_cast<int>(y.pods.size()) ? "#1f77b4" : "#9ecae1");
      ++i;
    }
    svg += "</svg>";
    body += fmt::format("<h2>{}: {} + {}</h2>\n<p>One bar per pod of the scale check: the whole fleet it stands for. Report {} GPUs (k = {:g}, u = {:g} %); simulated {} (k = {:.2f}, u = {:.2f} "
                        "% in the report's convention). {}</p>\n{}\n",
                        y.in.report.label, y.in.current_gpu, y.in.previous_gpu, m(y.report_gpus),
                        y.in.report.peak_multiple, y.in.report.utilization * 100,
                        y.pods.empty() ? std::string("none found") : m(y.simulated_gpus), y.peak_multiple,
                        y.utilization * 100, y.error, svg);
  }
  return "<!doctype html><html><head><meta charset='utf-8'><title>The seed report, simulated</title>"
         "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}pre{font-size:12px;white-space:pre-wrap}</style></head><body>"
         "<h1>The seed report (Huafu Securities, August 2024), simulated" +
         (std::any_of(years.begin(), years.end(), [](const SimulatedYear& y) { return y.in.formula; })
              ? std::string(": its arithmetic checked (the cost model reduced to 2 x P at the report's u, the curve's "
                            "busiest hour its k)")
              : std::string()) +
         "</h1>\n<pre>" +
         simulated_table(years) + "</pre>\n" + body + "</body></html>\n";
}

}  // namespace tf
