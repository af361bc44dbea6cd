#include "sim/study/calibration.hpp"

#include "cluster/cost_model.hpp"
#include "policies/batching.hpp"
#include "sim/replica/replica_model.hpp"

namespace tf {

const std::vector<CalibrationFigure>& calibration_figures() {
  static const std::vector<CalibrationFigure> figures = [] {
    const std::string v15 = "TensorRT-LLM v0.15 performance overview";
    const std::string v061 = "TensorRT-LLM v0.6.1, static batching, batch 1";
    std::vector<CalibrationFigure> f = {
        {v15, "throughput", "llama-3.1-8b", "h100-sxm", Dtype::fp8, 1, 128, 128, 27792, true},
        {v15, "throughput", "llama-3.1-8b", "h100-sxm", Dtype::fp8, 1, 1000, 1000, 14797, true},
        {v15, "throughput", "llama-3.1-8b", "h100-sxm", Dtype::fp8, 1, 2048, 2048, 8980, true},
        {v15, "throughput", "llama-3.1-8b", "h100-sxm", Dtype::fp16, 1, 128, 128, 16117, true},
        {v15, "throughput", "llama-3.1-8b", "h100-sxm", Dtype::fp16, 1, 1000, 1000, 7721, true},
        {v15, "throughput", "llama-3.1-8b", "h100-sxm", Dtype::fp16, 1, 2048, 2048, 4371, true},
        {v15, "throughput", "llama-3.1-8b", "a100-80gb", Dtype::fp16, 1, 128, 128, 6553, true},
        {v15, "throughput", "llama-3.1-8b", "a100-80gb", Dtype::fp16, 1, 1000, 1000, 3753, true},
        {v15, "throughput", "llama-3.1-8b", "a100-80gb", Dtype::fp16, 1, 2048, 2048, 2367, true},
        {v15, "throughput", "llama-3.1-70b", "h100-sxm", Dtype::fp8, 4, 128, 128, 10589, true},
        {v15, "throughput", "llama-3.1-70b", "h100-sxm", Dtype::fp8, 4, 1000, 1000, 7306, true},
        {v15, "throughput", "llama-3.1-70b", "h100-sxm", Dtype::fp16, 4, 128, 128, 6393, true},
        {v15, "throughput", "llama-3.1-70b", "h100-sxm", Dtype::fp16, 4, 1000, 1000, 4076, true},
        {v15, "throughput", "llama-3.1-70b", "a100-80gb", Dtype::fp16, 4, 128, 128, 2717, true},
        {v15, "throughput", "llama-3.1-70b", "a100-80gb", Dtype::fp16, 4, 1000, 1000, 1890, true},
        {v15, "throughput", "llama-3.1-70b", "h100-sxm", Dtype::fp8, 8, 1000, 1000, 11087, true},
        {v15, "throughput", "llama-3.1-70b", "h100-sxm", Dtype::fp16, 8, 1000, 1000, 6984, true},
        {v15, "throughput", "llama-3.1-70b", "a100-80gb", Dtype::fp16, 8, 1000, 1000, 3285, true},
        {"TensorRT-LLM v1.0", "throughput", "llama-3.1-8b", "h200-sxm", Dtype::fp8, 1, 1000, 1000, 17744, true},
        {"TensorRT-LLM v1.0", "throughput", "llama-3.1-8b", "h100-sxm", Dtype::fp8, 1, 1000, 1000, 15220, true},
        {v061, "ttft", "llama-2-7b", "h100-sxm", Dtype::fp8, 1, 128, 0, 0.007, false},
        {v061, "ttft", "llama-2-7b", "h100-sxm", Dtype::fp8, 1, 2048, 0, 0.036, false},
        {v061, "ttft", "llama-2-7b", "a100-80gb", Dtype::fp16, 1, 128, 0, 0.016, true},
        {v061, "ttft", "llama-2-7b", "a100-80gb", Dtype::fp16, 1, 2048, 0, 0.133, true},
        {v061, "ttft", "llama-2-70b", "h100-sxm", Dtype::fp8, 4, 128, 0, 0.026, false},
        {v061, "ttft", "llama-2-70b", "h100-sxm", Dtype::fp8, 4, 2048, 0, 0.109, true},
        {v061, "ttft", "llama-2-70b", "a100-80gb", Dtype::fp16, 4, 128, 0, 0.047, false},
        {v061, "ttft", "llama-2-70b", "a100-80gb", Dtype::fp16, 4, 2048, 0, 0.377, true},
    };
    return f;
  }();
  return figures;
}

double simulate_figure(const CalibrationFigure& f) {
  const CostModel cost(*find_model(f.model), *find_gpu(f.gpu), f.dtype, f.tensor_parallel, CostParams{});
  if (f.kind == "ttft") {
    IterationShape s;
    s.prefill_tokens = f.input_tokens;
    s.prefill_attention_context = static_cast<double>(f.input_tokens) * static_cast<double>(f.input_tokens + 1) / 2.0;
    return cost.iteration_time_s(s);
  }
  const ContinuousBatching policy({256, 8192});
  return saturated_output_tokens_per_s(cost, policy, f.input_tokens, f.output_tokens, 1024);
}

}  // namespace tf
