#pragma once
// The analytic estimate that tokenfleet validates (docs/reference/analytic-estimate.md):
//   compute demand [FLOP/period] = 2 x P x D x k
//   GPUs                         = compute demand / (F x u x T)
// Plain C++: no SimGrid.
#include <map>
#include <string>
#include <vector>

namespace tf {

struct EstimateInputs {
  std::string label;               // e.g. "2024"
  double params = 0.0;             // P
  double active_params = 0.0;      // for the 2 x active variant (0: same as params)
  double visits_per_year = 0.0;
  double qa_per_visit = 0.0;
  double tokens_per_qa = 0.0;      // question + answer tokens
  double peak_multiple = 1.0;      // k
  double gpu_flops = 0.0;          // F, per GPU, dense FLOP/s
  double utilization = 1.0;        // u
  double seconds = 365.0 * 86400.0;  // T, seconds of serving per period
  // For Kaplan's attention term, 2 x n_layer x n_ctx x d_attn per token:
  double layers = 0.0;
  double d_attn = 0.0;
  double context_tokens = 0.0;     // n_ctx (0: tokens_per_qa)
};

struct EstimateResult {
  double tokens = 0.0;             // D = visits x Q&A x tokens per Q&A
  double flops_per_token = 0.0;    // 2 x P
  double compute_flops = 0.0;      // 2 x P x D x k
  double gpus = 0.0;
  // The same with 2 x active parameters, and with the attention term added to 2 x P.
  double gpus_active = 0.0;
  double attention_flops_per_token = 0.0;
  double gpus_with_attention = 0.0;
};

EstimateResult analytic_estimate(const EstimateInputs& in);

// The report's 2023-2026 table (Huafu Securities, August 2024), as reconstructed in analytic-estimate.md.
std::vector<EstimateInputs> huafu_2024_preset();

// Applies "YEAR.field=value" overrides (fields: params, active_params, visits_per_year, qa_per_visit,
// tokens_per_qa, peak_multiple, gpu_flops, utilization, seconds, layers, d_attn, context_tokens).
// Throws std::invalid_argument naming the override when the year or field is unknown or the value is
// not a positive number.
void apply_estimate_overrides(std::vector<EstimateInputs>& years, const std::vector<std::string>& overrides);
// The value of override `o` ("YEAR.field=value"), `text`: a positive finite number, else std::invalid_argument.
double override_number(const std::string& o, const std::string& text);

// Demand per second in the formula's terms: GPUs = 2 x P x tokens_per_s x k / (F x u).
struct RateEstimate {
  double tokens_per_s = 0.0;
  double flops_per_s = 0.0;          // 2 x P x tokens/s (mean, no peak multiple)
  double gpus = 0.0;                 // with k and u
  double gpus_mean_at_full = 0.0;    // mean FLOPs at 100 % utilization, k = 1
};
RateEstimate analytic_estimate_rate(double params, double tokens_per_s, double peak_multiple, double gpu_flops,
                                    double utilization);

}  // namespace tf
