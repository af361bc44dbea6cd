#include "sim/study/estimate.hpp"

#include "cluster/catalog.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace tf {

EstimateResult analytic_estimate(const EstimateInputs& in) {
  EstimateResult r;
  r.tokens = in.visits_per_year * in.qa_per_visit * in.tokens_per_qa;
  r.flops_per_token = 2.0 * in.params;
  r.compute_flops = r.flops_per_token * r.tokens * in.peak_multiple;
  const double capacity = in.gpu_flops * in.utilization * in.seconds;  // FLOPs one GPU does in the period
  r.gpus = capacity > 0.0 ? r.compute_flops / capacity : 0.0;
  const double active = in.active_params > 0.0 ? in.active_params : in.params;
  r.gpus_active = capacity > 0.0 ? 2.0 * active * r.tokens * in.peak_multiple / capacity : 0.0;
  const double ctx = in.context_tokens > 0.0 ? in.context_tokens : in.tokens_per_qa;
  r.attention_flops_per_token = 2.0 * in.layers * ctx * in.d_attn;
  r.gpus_with_attention =
      capacity > 0.0 ? (r.flops_per_token + r.attention_flops_per_token) * r.tokens * in.peak_multiple / capacity : 0.0;
  return r;
}

std::vector<EstimateInputs> huafu_2024_preset() {
  // Reconstruction in docs/reference/analytic-estimate.md: P = 1.8 T (GPT-4), 5 Q&A per visit, visits
  // growing 60 / 50 / 30 %, F the mean of a two-generation GPU mix, u rising from 30 to 42 %.
  // The gpt4-class shape (active parameters derived from it, layers, attention width heads x head_dim): the
  // catalogue's (cluster/catalog.cpp, after SemiAnalysis's public estimates). P stays the report's 1.8 T.
  const ModelSpec gpt4 = *find_model("gpt4-class");
  auto year = [&gpt4](const char* label, double visits, double tokens_per_qa, double k, double f_tflops, double u) {
    EstimateInputs in;
    in.label = label;
    in.params = 1.8e12;
    in.active_params = gpt4.active_params;
    in.visits_per_year = visits;
    in.qa_per_visit = 5.0;
    in.tokens_per_qa = tokens_per_qa;
    in.peak_multiple = k;
    in.gpu_flops = f_tflops * 1e12;
    in.utilization = u;
    in.layers = gpt4.layers;
    in.d_attn = static_cast<double>(gpt4.heads) * gpt4.head_dim;
    return in;
  };
  return {
      year("2023", 18.0e9, 1077, 5.0, (989 + 312) / 2.0, 0.30),
      year("2024", 28.8e9, 4980, 4.0, (989 + 312) / 2.0, 0.34),
      year("2025", 43.2e9, 39860, 3.5, (2250 + 989) / 2.0, 0.38),
      year("2026", 56.16e9, 197670, 3.0, (4500 + 2250) / 2.0, 0.42),
  };
}

double override_number(const std::string& o, const std::string& text) {
  double value = 0.0;
  try {
    std::size_t used = 0;
    value = std::stod(text, &used);
    if (used != text.size()) throw std::invalid_argument("trailing characters");
  } catch (const std::exception&) {
    throw std::invalid_argument(fmt::format("--set {}: expected a number, got '{}'", o, text));
  }
  if (!(value > 0.0) || !std::isfinite(value))
    throw std::invalid_argument(fmt::format("--set {}: expected a positive number, got {}", o, text));
  return value;
}

void apply_estimate_overrides(std::vector<EstimateInputs>& years, const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) {
    const auto eq = o.find('=');
    const auto dot = o.find('.');
    if (eq == std::string::npos || dot == std::string::npos || dot > eq)
      throw std::invalid_argument(fmt::format("--set {}: expected YEAR.field=value, e.g. 2025.peak_multiple=2.5", o));
    const std::string label = o.substr(0, dot), field = o.substr(dot + 1, eq - dot - 1), text = o.substr(eq + 1);
    EstimateInputs* target = nullptr;
    for (auto& y : years)
      if (y.label == label) target = &y;
    if (!target) {
      std::string known;
      for (const auto& y : years) known += (known.empty() ? "" : ", ") + y.label;
      throw std::invalid_argument(fmt::format("--set {}: unknown year '{}' (the preset has {})", o, label, known));
    }
    const double value = override_number(o, text);
    static const std::map<std::string, double EstimateInputs::*> fields = {
        {"params", &EstimateInputs::params},
        {"active_params", &EstimateInputs::active_params},
        {"visits_per_year", &EstimateInputs::visits_per_year},
        {"qa_per_visit", &EstimateInputs::qa_per_visit},
        {"tokens_per_qa", &EstimateInputs::tokens_per_qa},
        {"peak_multiple", &EstimateInputs::peak_multiple},
        {"gpu_flops", &EstimateInputs::gpu_flops},
        {"utilization", &EstimateInputs::utilization},
        {"seconds", &EstimateInputs::seconds},
        {"layers", &EstimateInputs::layers},
        {"d_attn", &EstimateInputs::d_attn},
        {"context_tokens", &EstimateInputs::context_tokens},
    };
    const auto it = fields.find(field);
    if (it == fields.end()) {
      std::string known;
      for (const auto& [name, member] : fields) known += (known.empty() ? "" : ", ") + name;
      throw std::invalid_argument(fmt::format("--set {}: unknown field '{}' (expected one of {})", o, field, known));
    }
    if (field == "utilization" && value > 1.0)
      throw std::invalid_argument(fmt::format("--set {}: utilization is a fraction in (0, 1], got {}", o, text));
    target->*(it->second) = value;
  }
}

RateEstimate analytic_estimate_rate(double params, double tokens_per_s, double peak_multiple, double gpu_flops,
                                    double utilization) {
  RateEstimate r;
  r.tokens_per_s = tokens_per_s;
  r.flops_per_s = 2.0 * params * tokens_per_s;
  r.gpus = gpu_flops > 0.0 && utilization > 0.0 ? r.flops_per_s * peak_multiple / (gpu_flops * utilization) : 0.0;
  r.gpus_mean_at_full = gpu_flops > 0.0 ? r.flops_per_s / gpu_flops : 0.0;
  return r;
}

}  // namespace tf
