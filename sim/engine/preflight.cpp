// Before a run: the longest request a workload sends, a trace scanned as the run would read it, and remedies for
// what does not fit, each checked against the scenario at hand.
#include "sim/engine/preflight.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include <fmt/format.h>

#include "cluster/catalog.hpp"
#include "cluster/cost_model.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/limits.hpp"
#include "workloads/distribution.hpp"
#include "workloads/trace.hpp"

namespace tf {

std::string Remedy::flags() const {
  std::string out;
  for (const auto& [key, value] : sets) out += fmt::format("{}--set {}={}", out.empty() ? "" : " ", key, value);
  return out;
}

std::string remedies_text(const std::vector<Remedy>& remedies) {
  std::string out;
  for (const auto& r : remedies) out += fmt::format("{}{} ({})", out.empty() ? "" : "; or ", r.flags(), r.effect);
  return out;
}

std::int64_t longest_request_bound(const Scenario& s) {
  const WorkloadSpec& w = s.workload;
  const std::int64_t window = w.context_window > 0 ? w.context_window : std::numeric_limits<std::int64_t>::max();
  if (w.trace.enabled) {
    if (w.trace.max_prompt_tokens > 0 && w.trace.max_output_tokens > 0)
      return std::min(window, w.trace.max_prompt_tokens + w.trace.max_output_tokens);
    return window;
  }
  long long prompt = 0, output = 0;
  try {
    prompt = make_distribution(w.prompt_tokens)->longest();
    output = make_distribution(w.output_tokens)->longest();
  } catch (const std::exception&) {  // checked when the scenario loaded; nothing better to say here
    return window;
  }
  // Each is at most 9e18 (clamp_length): add in double, then bound.
  const double sum = static_cast<double>(prompt) + static_cast<double>(output);
  return sum >= static_cast<double>(window) ? window : static_cast<std::int64_t>(sum);
}

std::int64_t kv_tokens_needed(const Scenario& s, std::int64_t tokens) {
  const std::int64_t block = s.kv_block_tokens;
  return block > 0 ? (tokens + block - 1) / block * block : tokens;
}

namespace {

struct Config {
  GpuSpec gpu;
  Dtype dtype;
  int tp;
  int pp = 1;  // pipeline stages
};

Layout layout_of(const Scenario& s, const Config& c) {
  Layout l = s.layout();
  l.tensor_parallel = c.tp;
  l.pipeline_parallel = c.pp;
  if (c.pp != s.pipeline_parallel) l.micro_batches = 0;
  if (c.tp % l.expert_parallel != 0) l.expert_parallel = 1;
  return l;
}

// Whether the loader and check_servable take this configuration for the scenario (its model, node and fleet).
bool accepted(const Scenario& s, const Config& c) {
  if (c.tp < 1 || c.tp > s.gpus_per_node || s.gpus_per_node % c.tp != 0) return false;
  if (s.model.heads % c.tp != 0) return false;  // attention heads split evenly over the GPUs of a replica
  if (c.tp > 1 && c.gpu.nvlink_Bps <= 0) return false;
  if (c.gpu.peak_flops(c.dtype) <= 0) return false;
  const int g = c.tp * c.pp;
  if (c.pp < 1 || c.pp > s.model.layers) return false;
  if (g <= s.gpus_per_node ? s.gpus_per_node % g != 0 : g % s.gpus_per_node != 0) return false;
  const std::int64_t per_pod = s.replicas / std::max(1, s.pods);
  return per_pod * g <= limits::kMaxGpus;
}

std::int64_t capacity(const Scenario& s, const Config& c) {
  if (c.pp == 1 && s.pipeline_parallel == 1 && s.expert_parallel == 1)
    return CostModel(s.model, c.gpu, c.dtype, c.tp, s.cost).kv_capacity_tokens();
  return CostModel(s.model, c.gpu, c.dtype, layout_of(s, c), s.cost).kv_capacity_tokens();
}

}  // namespace

bool layout_accepted(const Scenario& s, const GpuSpec& gpu, int tp) {
  return accepted(s, Config{gpu, s.dtype, tp, s.pipeline_parallel});
}

std::int64_t layout_kv_capacity(const Scenario& s, const GpuSpec& gpu, int tp) {
  return capacity(s, Config{gpu, s.dtype, tp, s.pipeline_parallel});
}

std::string memory_per_gpu_text(const Scenario& s) {
  const CostModel cost(s.model, s.gpu, s.dtype, s.layout(), s.cost);
  const double hbm = s.gpu.hbm_bytes;
  const double reserve = hbm * s.cost.kv_reserve_fraction;
  const double weights = cost.weight_bytes_per_gpu();
  const double kv_room = hbm - reserve - weights;
  return fmt::format(
      "per GPU of a replica of {} x {} (tensor_parallel x pipeline_parallel), {} layers on its heaviest stage: "
      "{:.1f} GB of weights + {:.1f} GB kept for activations and fragmentation ({:.0f} % of HBM) against {:.1f} GB of "
      "HBM, leaving {:.1f} GB for the KV cache ({:.1f} kB per token on this GPU)",
      s.tensor_parallel, s.pipeline_parallel, cost.stage_layers(), weights / 1e9, reserve / 1e9,
      s.cost.kv_reserve_fraction * 100.0, hbm / 1e9, kv_room / 1e9, cost.kv_bytes_per_token_per_gpu() / 1e3);
}

std::vector<Remedy> fit_remedies(const Scenario& s, std::int64_t need_tokens, std::size_t at_most) {
  // GPUs: the scenario's, then the catalogue's with more memory per GPU. Number formats: the scenario's, then those
  // with smaller weights and KV cache.
  std::vector<GpuSpec> gpus = {s.gpu};
  for (const auto& g : gpu_catalog())
    if (g.name != s.gpu.name && g.hbm_bytes > s.gpu.hbm_bytes) gpus.push_back(g);
  std::vector<Dtype> dtypes = {s.dtype};
  for (const Dtype d : {Dtype::fp8, Dtype::fp16, Dtype::bf16})
    if (bytes_per_element(d) < bytes_per_element(s.dtype)) dtypes.push_back(d);
  struct Found {
    int changes;
    Config config;
    std::int64_t kv_tokens;
  };
  std::vector<Found> found;
  for (const auto& g : gpus)
    for (const Dtype d : dtypes) {
      // The smallest tensor parallelism from the scenario's up that holds it (more GPUs per replica only add room).
      for (int tp = s.tensor_parallel; tp <= s.gpus_per_node; ++tp) {
        const Config c{g, d, tp, s.pipeline_parallel};
        if (!accepted(s, c)) continue;
        const std::int64_t kv = capacity(s, c);
        if (kv <= 0 || kv < need_tokens) continue;
        const int changes = (g.name != s.gpu.name) + (d != s.dtype) + (tp != s.tensor_parallel);
        if (changes > 0) found.push_back({changes, c, kv});
        break;
      }
    }
  if (found.empty()) {
    // Nothing within the scenario's pipeline: more stages (2, 4, 8, ... up to the layers), each of a whole node's
    // tensor parallelism (the largest the heads allow), the fewest stages that hold it.
    for (const auto& g : gpus)
      for (const Dtype d : dtypes) {
        int tp = s.gpus_per_node;
        while (tp > 1 && (s.model.heads % tp != 0 || s.gpus_per_node % tp != 0)) --tp;
        for (int pp = std::max(2, s.pipeline_parallel * 2); pp <= s.model.layers; pp *= 2) {
          const Config c{g, d, tp, pp};
          if (!accepted(s, c)) continue;
          const std::int64_t kv = capacity(s, c);
          if (kv <= 0 || kv < need_tokens) continue;
          const int changes = 1 + (g.name != s.gpu.name) + (d != s.dtype) + (tp != s.tensor_parallel);
          found.push_back({changes, c, kv});
          break;
        }
      }
  }
  std::stable_sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    return std::tie(a.changes, a.config.pp, a.config.tp, a.config.gpu.hbm_bytes) <
           std::tie(b.changes, b.config.pp, b.config.tp, b.config.gpu.hbm_bytes);
  });
  std::vector<Remedy> out;
  for (const auto& f : found) {
    if (out.size() >= at_most) break;
    Remedy r;
    if (f.config.gpu.name != s.gpu.name) r.sets.emplace_back("hardware.gpu", f.config.gpu.name);
    if (f.config.dtype != s.dtype) r.sets.emplace_back("hardware.dtype", to_string(f.config.dtype));
    if (f.config.tp != s.tensor_parallel) r.sets.emplace_back("hardware.tensor_parallel", std::to_string(f.config.tp));
    if (f.config.pp != s.pipeline_parallel)
      r.sets.emplace_back("hardware.pipeline_parallel", std::to_string(f.config.pp));
    const double kv_gb = static_cast<double>(f.kv_tokens) * s.model.kv_bytes_per_token(f.config.dtype) / 1e9;
    if (f.config.pp == 1) {
      r.effect = fmt::format("{} x {} in {}: {:.1f} GB of weights, a KV cache of {} tokens ({:.1f} GB) per replica",
                             f.config.tp, f.config.gpu.name, to_string(f.config.dtype),
                             CostModel(s.model, f.config.gpu, f.config.dtype, f.config.tp, s.cost).weight_bytes() / 1e9,
                             f.kv_tokens, kv_gb);
    } else {
      const CostModel c(s.model, f.config.gpu, f.config.dtype, layout_of(s, f.config), s.cost);
      r.effect = fmt::format("{} x {} stages of {} in {} ({} GPUs): {:.1f} GB of weights per GPU, a KV cache of {} "
                             "tokens ({:.1f} GB) per replica",
                             f.config.tp, f.config.pp, f.config.gpu.name, to_string(f.config.dtype),
                             f.config.tp * f.config.pp, c.weight_bytes_per_gpu() / 1e9, f.kv_tokens, kv_gb);
    }
    out.push_back(std::move(r));
  }
  return out;
}

TraceScan scan_trace(const Scenario& s) {
  TraceScan scan;
  if (!s.workload.trace.enabled) return scan;
  const std::int64_t cap = CostModel(s.model, s.gpu, s.dtype, s.layout(), s.cost).kv_capacity_tokens();
  // One pass is enough: a looped trace repeats the lengths of its first, and gives the same requests until then.
  // Bad rows are skipped to count them all, and requests beyond the context window marked to count them: the run
  // (without skip_bad_rows, with over_context = "refuse") stops at the first of either, which `error` says.
  WorkloadSpec spec = s.workload;
  spec.trace.loop = false;
  spec.trace.skip_bad_rows = true;
  spec.over_context = OverContext::drop;
  const std::int64_t window = spec.context_window;
  const auto source = make_workload_source(spec, s.seed, s.duration_s);
  auto fail = [&scan](TraceScan::Failure f, const std::string& why) {
    if (scan.failure != TraceScan::Failure::none) return;
    scan.failure = f;
    scan.error = why;
  };
  for (;;) {
    const double t = source->next_arrival_s();
    // Rows read so far include a bad one: the run, reading the same rows up to here, would have stopped at it.
    if (!s.workload.trace.skip_bad_rows && source->skipped_bad_rows() > 0)
      fail(TraceScan::Failure::bad_row, source->bad_row_examples().front());
    if (t == std::numeric_limits<double>::infinity()) break;
    Request r = source->take();
    ++scan.requests;
    if (scan.first_arrival_s < 0.0) scan.first_arrival_s = r.arrival_s;
    scan.last_arrival_s = r.arrival_s;
    if (r.over_context) {
      ++scan.over_context;
      if (s.workload.over_context == OverContext::refuse) {
        if (scan.first_over_context.empty())
          scan.first_over_context = over_context_refusal(r, window, s.workload.trace.path);
        fail(TraceScan::Failure::over_context, scan.first_over_context);
        continue;
      }
      if (s.workload.over_context == OverContext::drop) continue;  // turned away on arrival: never on a replica
      cut_to_context(r, window);
      r.over_context = false;
    }
    const std::int64_t tokens = r.prompt_tokens + r.output_tokens;
    if (tokens > scan.longest_tokens) {
      scan.longest_tokens = tokens;
      scan.longest_prompt = r.prompt_tokens;
      scan.longest_output = r.output_tokens;
    }
    if (std::string why = kv_shortfall(s, r, cap); !why.empty()) {
      if (scan.kv_short++ == 0) scan.first_kv_short = why;
      fail(TraceScan::Failure::kv_cache, why);
    }
  }
  scan.bad_rows = source->skipped_bad_rows();
  scan.bad_examples = source->bad_row_examples();
  return scan;
}

LengthSample sample_lengths(const Scenario& s, std::uint64_t n) {
  LengthSample out;
  if (s.workload.trace.enabled || n == 0) return out;
  // One request a second for n seconds: only the arrival stream changes; the lengths are the run's first ones.
  WorkloadSpec spec = s.workload;
  spec.session.enabled = false;
  spec.arrival = ArrivalSpec{};
  spec.arrival.process = "poisson";
  spec.arrival.rate_per_s = 1.0;
  spec.priority_shares.clear();
  spec.over_context = OverContext::drop;  // marked, to count
  const std::int64_t cap = CostModel(s.model, s.gpu, s.dtype, s.layout(), s.cost).kv_capacity_tokens();
  const auto source = make_workload_source(spec, s.seed, std::numeric_limits<double>::max());
  for (; out.drawn < n; ++out.drawn) {
    Request r = source->take();
    if (r.over_context) {
      ++out.over_context;
      if (s.workload.over_context != OverContext::cut) continue;  // refused or turned away: never on a replica
      cut_to_context(r, spec.context_window);
    }
    out.longest = std::max(out.longest, r.prompt_tokens + r.output_tokens);
    if (kv_tokens_needed(s, r.prompt_tokens + r.output_tokens) > cap) ++out.kv_short;
  }
  return out;
}

std::string short_trace_warning(const Scenario& s, double first_arrival_s, double last_arrival_s,
                                std::uint64_t requests) {
  const TraceSpec& t = s.workload.trace;
  if (!t.enabled || t.loop || s.duration_from_trace || last_arrival_s < 0.0) return "";
  const double tail = s.duration_s - last_arrival_s;
  const double gap =
      requests >= 2 ? (last_arrival_s - first_arrival_s) / static_cast<double>(requests - 1) : 0.0;
  if (!(tail > 0.01 * s.duration_s && tail > 3.0 * gap)) return "";
  const double fitting = std::ceil(last_arrival_s + 1e-9);
  const std::string shorter =
      fitting > s.warmup_s
          ? fmt::format("leave duration_s out (the run then lasts the trace's span), set duration_s = {:.0f}, ", fitting)
          : fmt::format("every request arrives within the warm-up (warmup_s = {} s), so none is measured: lower "
                        "warmup_s, ",
                        s.warmup_s);
  return fmt::format(
      "the trace's last request arrives at {:.1f} s, but duration_s = {} s: the last {:.1f} s ({:.0f} % of the run) "
      "have no arrivals, and the run's rates, utilization and costs are averaged over them too; {}replay faster "
      "(workload.trace.speed) or loop it (workload.trace.loop = true)",
      last_arrival_s, s.duration_s, tail, 100.0 * tail / s.duration_s, shorter);
}

}  // namespace tf
