#include "sim/study/calibration.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <stdexcept>

#include "io/csv.hpp"
#include "policies/batching.hpp"
#include "policies/registry.hpp"
#include "sim/replica/replica_model.hpp"

namespace tf {

extern const char* const kCalibrationFiguresCsv;  // generated from cluster/calibration/figures.csv

namespace {

const std::vector<std::string> kColumns = {"id",    "split",     "engine", "source", "kind",      "model",   "gpu",
                                           "dtype", "tp",        "input",  "output", "published", "setting", "notes"};

template <class T>
T parse_number(std::string_view s, const std::string& where) {
  T v{};
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc{} || r.ptr != s.data() + s.size()) throw std::runtime_error(where + ": expected a number, got '" + std::string(s) + "'");
  return v;
}

// "key=value key=value" (spaces or semicolons between).
std::map<std::string, std::string> setting_pairs(const std::string& s) {
  std::map<std::string, std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ';')) ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != ';') ++j;
    if (j > i) {
      const std::string item = s.substr(i, j - i);
      const auto eq = item.find('=');
      if (eq == std::string::npos) out[item] = "";
      else out[item.substr(0, eq)] = item.substr(eq + 1);
    }
    i = j;
  }
  return out;
}

}  // namespace

std::vector<CalibrationFigure> parse_calibration_figures(const std::string& csv_text, const std::string& name) {
  std::vector<CalibrationFigure> out;
  const auto records = parse_csv(csv_text);
  bool header = false;
  int line = 0;
  for (const auto& rec : records) {
    ++line;
    if (rec.empty() || (rec.size() == 1 && rec[0].empty())) continue;
    if (!rec[0].empty() && rec[0][0] == '#') continue;
    const std::string where = fmt::format("{}:{}", name, line);
    if (!header) {
      if (rec != kColumns) throw std::runtime_error(where + ": expected the header " + fmt::format("{}", fmt::join(kColumns, ",")));
      header = true;
      continue;
    }
    if (rec.size() != kColumns.size())
      throw std::runtime_error(fmt::format("{}: expected {} fields, got {}", where, kColumns.size(), rec.size()));
    CalibrationFigure f;
    f.line = line;
    f.id = rec[0];
    f.split = rec[1];
    if (f.split != "train" && f.split != "validation") throw std::runtime_error(where + ": split: expected train or validation");
    f.engine = rec[2];
    if (!engine_profile(f.engine)) throw std::runtime_error(where + ": engine: unknown engine '" + f.engine + "'");
    f.source = rec[3];
    f.kind = rec[4];
    if (f.kind != "throughput" && f.kind != "ttft" && f.kind != "tpot")
      throw std::runtime_error(where + ": kind: expected throughput, ttft or tpot");
    f.model = rec[5];
    if (!find_model(f.model)) throw std::runtime_error(where + ": model: not in the catalogue: " + f.model);
    f.gpu = rec[6];
    if (!find_gpu(f.gpu)) throw std::runtime_error(where + ": gpu: not in the catalogue: " + f.gpu);
    const auto d = parse_dtype(rec[7]);
    if (!d) throw std::runtime_error(where + ": dtype: expected fp16, bf16 or fp8");
    f.dtype = *d;
    f.tensor_parallel = parse_number<int>(rec[8], where + ": tp");
    f.input_tokens = parse_number<long long>(rec[9], where + ": input");
    f.output_tokens = parse_number<long long>(rec[10], where + ": output");
    if (f.tensor_parallel < 1) throw std::runtime_error(where + ": tp: expected at least 1");
    if (f.input_tokens < 1) throw std::runtime_error(where + ": input: expected at least 1 token");
    if (f.output_tokens < (f.kind == "ttft" ? 0 : 1))
      throw std::runtime_error(where + ": output: expected at least 1 token for a " + f.kind + " figure");
    f.published = parse_number<double>(rec[11], where + ": published");
    if (!(f.published > 0.0)) throw std::runtime_error(where + ": published: expected a value greater than 0");
    f.setting = rec[12];
    f.notes = rec[13];
    for (const auto& g : out)
      if (g.id == f.id) throw std::runtime_error(where + ": id: '" + f.id + "' is used twice");
    out.push_back(std::move(f));
  }
  return out;
}

const std::vector<CalibrationFigure>& calibration_figures() {
  static const std::vector<CalibrationFigure> figures =
      parse_calibration_figures(kCalibrationFiguresCsv, "cluster/calibration/figures.csv");
  return figures;
}

FigureSettings figure_settings(const CalibrationFigure& f, const CostParams& params) {
  (void)params;
  FigureSettings s;
  const auto pairs = setting_pairs(f.setting);
  if (pairs.count("trtllm-bench")) {
    // trtllm-bench's build heuristic (TensorRT-LLM's bench/build tuning, read for its settings): the requests that
    // fit in 95 % of the memory left after the weights at the target lengths, capped at 4096, rounded up; a token
    // budget of that batch times (1 + input/output), capped at 32768, at least 2048, rounded up.
    const ModelSpec m = *find_model(f.model);
    const GpuSpec g = *find_gpu(f.gpu);
    const double t = f.tensor_parallel;
    const double bpe = bytes_per_element(f.dtype);
    const double per_token = 2.0 * m.layers * std::max<double>(t, m.kv_heads) * m.head_dim * bpe;
    const double available = t * g.hbm_bytes - m.params * bpe;
    const double requests = 0.95 * available / per_token / static_cast<double>(f.input_tokens + f.output_tokens);
    const double raw_bs = std::min(requests, 4096.0);
    const double raw_tokens =
        std::min(raw_bs * (1.0 + static_cast<double>(f.input_tokens) / static_cast<double>(f.output_tokens)), 32768.0);
    auto round_up = [](double v, double step) { return step * std::ceil(v / step); };
    double bs;
    if (raw_bs < 256) bs = std::max(64.0, round_up(raw_bs, 32));
    else if (raw_bs < 1024) bs = round_up(raw_bs, 128);
    else bs = round_up(raw_bs, 256);
    double tokens;
    if (raw_tokens < 4096) tokens = std::max(2048.0, round_up(raw_tokens, 256));
    else if (raw_tokens < 8192) tokens = round_up(raw_tokens, 512);
    else tokens = round_up(raw_tokens, 1024);
    s.max_batch = static_cast<int>(bs);
    s.max_tokens = static_cast<long long>(tokens);
    s.requests = std::max(1000, 3 * s.max_batch);
    s.kv_fraction = 0.9;
  }
  auto get = [&](const char* k) -> const std::string* {
    auto it = pairs.find(k);
    return it == pairs.end() ? nullptr : &it->second;
  };
  const std::string where = fmt::format("cluster/calibration/figures.csv:{}: setting", f.line);
  if (auto v = get("policy")) s.policy = *v;
  if (auto v = get("max_batch")) s.max_batch = parse_number<int>(*v, where);
  if (auto v = get("max_tokens")) s.max_tokens = parse_number<long long>(*v, where);
  if (auto v = get("requests")) s.requests = parse_number<int>(*v, where);
  if (auto v = get("kv_fraction")) s.kv_fraction = parse_number<double>(*v, where);
  if (auto v = get("batch")) s.batch = parse_number<int>(*v, where);
  return s;
}

double simulate_figure(const CalibrationFigure& f, const CostParams& params) {
  const ModelSpec model = *find_model(f.model);
  const GpuSpec gpu = *find_gpu(f.gpu);
  const FigureSettings set = figure_settings(f, params);
  CostParams p = params;
  if (f.kind == "throughput") {
    // The KV cache holds kv_fraction of the memory left after the weights.
    const double total = f.tensor_parallel * gpu.hbm_bytes;
    const double weights = model.params * bytes_per_element(f.dtype);
    p.kv_reserve_fraction = std::clamp((1.0 - set.kv_fraction) * (total - weights) / total, 0.0, 0.99);
  }
  const CostModel cost(model, gpu, f.dtype, f.tensor_parallel, p);
  if (f.kind == "ttft") {
    IterationShape s;
    s.prefill_tokens = f.input_tokens * set.batch;
    s.prefill_sequences = set.batch;
    s.prefill_attention_context =
        set.batch * static_cast<double>(f.input_tokens) * static_cast<double>(f.input_tokens + 1) / 2.0;
    return cost.iteration_time_s(s);
  }
  if (f.kind == "tpot") {
    IterationShape s;
    s.decode_tokens = set.batch;
    s.decode_context_tokens = set.batch * (f.input_tokens + f.output_tokens / 2);
    return cost.iteration_time_s(s);
  }
  PolicyParams pp;
  pp.set("max_batch", set.max_batch);
  pp.set("max_batched_tokens", static_cast<std::int64_t>(set.max_tokens));
  const auto policy = make_batching_policy(set.policy, pp);
  return saturated_output_tokens_per_s(cost, *policy, f.input_tokens, f.output_tokens, set.requests);
}

double simulate_figure(const CalibrationFigure& f) { return simulate_figure(f, *engine_profile(f.engine)); }

namespace {

// The fitted parameters, each mapped to the whole real line (logit for a fraction, log for a positive number).
struct Knob {
  const char* name;
  double CostParams::*field;
  bool fraction;
  double lo, hi;  // bounds kept in the fit
};

const std::vector<Knob>& knobs() {
  static const std::vector<Knob> k = {
      {"mfu", &CostParams::mfu, true, 0.05, 0.98},
      {"gemm_half_m", &CostParams::gemm_half_m, false, 4.0, 4096.0},
      {"fp8_efficiency", &CostParams::fp8_efficiency, true, 0.4, 0.999},
      {"mbu", &CostParams::mbu, true, 0.2, 0.95},
      {"attention_prefill_efficiency", &CostParams::attention_prefill_efficiency, true, 0.05, 0.95},
      {"attention_decode_efficiency", &CostParams::attention_decode_efficiency, true, 0.05, 0.95},
      {"allreduce_bus_efficiency", &CostParams::allreduce_bus_efficiency, true, 0.05, 0.98},
      {"allreduce_latency_s", &CostParams::allreduce_latency_s, false, 1e-6, 200e-6},
      {"overhead_s", &CostParams::overhead_s, false, 1e-5, 0.05},
      {"per_request_overhead_s", &CostParams::per_request_overhead_s, false, 1e-8, 1e-3},
      {"per_prefill_overhead_s", &CostParams::per_prefill_overhead_s, false, 1e-7, 0.05},
  };
  return k;
}

double to_line(const Knob& k, double v) {
  v = std::clamp(v, k.lo, k.hi);
  if (k.fraction) return std::log(v / (1.0 - v));
  return std::log(v);
}
double from_line(const Knob& k, double x) {
  const double v = k.fraction ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x);
  return std::clamp(v, k.lo, k.hi);
}

}  // namespace

FitResult fit_engine_profile(const std::string& engine, int max_evaluations) {
  const auto start = engine_profile(engine);
  if (!start) throw std::invalid_argument("unknown engine '" + engine + "'");
  std::vector<const CalibrationFigure*> train;
  for (const auto& f : calibration_figures())
    if (f.engine == engine && f.split == "train") train.push_back(&f);
  if (train.empty()) throw std::invalid_argument("no training figures for engine '" + engine + "'");
  // With fewer figures than knobs, fit only the first ones that matter most (overhead and efficiencies).
  const auto& all = knobs();
  std::vector<Knob> used;
  for (const Knob& k : all) used.push_back(k);
  // With fewer training figures than twice the knobs, fit only the efficiencies and overheads that the figures
  // tell apart; the rest (M_half, FP8, all-reduce) keep the profile's values (trtllm's, for vllm and sglang).
  if (train.size() < 15) {
    used.clear();
    for (const Knob& k : all) {
      const std::string n = k.name;
      if (n == "mfu" || n == "mbu" || n == "attention_prefill_efficiency" || n == "attention_decode_efficiency" ||
          n == "overhead_s" || n == "per_request_overhead_s" || n == "per_prefill_overhead_s")
        used.push_back(k);
    }
  }
  if (train.size() < 4) used = {all[0], all[3], all[8]};  // mfu, mbu, overhead_s

  auto params_at = [&](const std::vector<double>& x) {
    CostParams p = *start;
    for (std::size_t i = 0; i < used.size(); ++i) p.*(used[i].field) = from_line(used[i], x[i]);
    return p;
  };
  int evaluations = 0;
  auto objective = [&](const std::vector<double>& x) {
    ++evaluations;
    const CostParams p = params_at(x);
    double sum = 0.0;
    for (const auto* f : train) {
      const double sim = simulate_figure(*f, p);
      const double e = sim > 0.0 ? std::log(sim / f->published) : 10.0;
      sum += e * e;
    }
    return std::sqrt(sum / static_cast<double>(train.size()));
  };
  // Nelder-Mead (the standard reflection 1, expansion 2, contraction 0.5, shrink 0.5).
  const std::size_t n = used.size();
  std::vector<std::vector<double>> simplex(n + 1, std::vector<double>(n));
  for (std::size_t i = 0; i < n; ++i) simplex[0][i] = to_line(used[i], (*start).*(used[i].field));
  for (std::size_t j = 1; j <= n; ++j) {
    simplex[j] = simplex[0];
    simplex[j][j - 1] += 0.4;
  }
  std::vector<double> value(n + 1);
  for (std::size_t j = 0; j <= n; ++j) value[j] = objective(simplex[j]);
  while (evaluations < max_evaluations) {
    std::vector<std::size_t> order(n + 1);
    for (std::size_t j = 0; j <= n; ++j) order[j] = j;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return value[a] < value[b]; });
    std::vector<std::vector<double>> s2;
    std::vector<double> v2;
    for (auto j : order) {
      s2.push_back(simplex[j]);
      v2.push_back(value[j]);
    }
    simplex = s2;
    value = v2;
    if (value[n] - value[0] < 1e-7) break;
    std::vector<double> centroid(n, 0.0);
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t i = 0; i < n; ++i) centroid[i] += simplex[j][i] / static_cast<double>(n);
    auto along = [&](double t) {
      std::vector<double> x(n);
      for (std::size_t i = 0; i < n; ++i) x[i] = centroid[i] + t * (simplex[n][i] - centroid[i]);
      return x;
    };
    const auto xr = along(-1.0);
    const double fr = objective(xr);
    if (fr < value[0]) {
      const auto xe = along(-2.0);
      const double fe = objective(xe);
      if (fe < fr) { simplex[n] = xe; value[n] = fe; } else { simplex[n] = xr; value[n] = fr; }
    } else if (fr < value[n - 1]) {
      simplex[n] = xr;
      value[n] = fr;
    } else {
      const auto xc = fr < value[n] ? along(-0.5) : along(0.5);
      const double fc = objective(xc);
      if (fc < std::min(fr, value[n])) {
        simplex[n] = xc;
        value[n] = fc;
      } else {
        for (std::size_t j = 1; j <= n; ++j) {
          for (std::size_t i = 0; i < n; ++i) simplex[j][i] = simplex[0][i] + 0.5 * (simplex[j][i] - simplex[0][i]);
          value[j] = objective(simplex[j]);
        }
      }
    }
  }
  const auto best = std::min_element(value.begin(), value.end()) - value.begin();
  FitResult r;
  r.params = params_at(simplex[static_cast<std::size_t>(best)]);
  r.training_rms_log_error = value[static_cast<std::size_t>(best)];
  r.evaluations = evaluations;
  return r;
}

}  // namespace tf
