// Calibration: the cost model's defaults against published figures in
// ../shared/reference/calibration.md. Each test case names the figure it checks.
#include <catch2/catch.hpp>

#include <cmath>

#include "cluster/catalog.hpp"
#include "cluster/cost_model.hpp"
#include "policies/batching.hpp"
#include "sim/replica_model.hpp"

using namespace tf;

namespace {

constexpr double kTolerance = 0.25;

// TensorRT-LLM v0.15 performance overview: total output tokens/s of one replica, in-flight batching,
// requests offered without limit. We offer 1024 identical requests at once, max_batch 256,
// max_batched_tokens 8192 (our defaults).
double simulated_throughput(const std::string& model, const std::string& gpu, Dtype d, int tp, std::int64_t in,
                            std::int64_t out) {
  const CostModel cost(*find_model(model), *find_gpu(gpu), d, tp, CostParams{});
  const ContinuousBatching policy({256, 8192});
  return saturated_output_tokens_per_s(cost, policy, in, out, 1024);
}

// TensorRT-LLM v0.6.1, static batching, batch size 1: time to first token = one prefill iteration.
double simulated_ttft(const std::string& model, const std::string& gpu, Dtype d, int tp, std::int64_t in) {
  const CostModel cost(*find_model(model), *find_gpu(gpu), d, tp, CostParams{});
  IterationShape s;
  s.prefill_tokens = in;
  s.prefill_attention_context = static_cast<double>(in) * (in + 1) / 2.0;
  return cost.iteration_time_s(s);
}

void check_within(double simulated, double published) {
  INFO("simulated " << simulated << ", published " << published << ", error "
                    << 100.0 * (simulated / published - 1.0) << " %");
  CHECK(std::abs(simulated / published - 1.0) <= kTolerance);
}

}  // namespace

TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-8B H100 FP8 TP1 128/128 = 27792 tok/s", "[calibration]") {
  check_within(simulated_throughput("llama-3.1-8b", "h100-sxm", Dtype::fp8, 1, 128, 128), 27792);
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-8B H100 FP8 TP1 1000/1000 = 14797 tok/s", "[calibration]") {
  check_within(simulated_throughput("llama-3.1-8b", "h100-sxm", Dtype::fp8, 1, 1000, 1000), 14797);
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-8B H100 FP8 TP1 2048/2048 = 8980 tok/s", "[calibration]") {
  check_within(simulated_throughput("llama-3.1-8b", "h100-sxm", Dtype::fp8, 1, 2048, 2048), 8980);
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-8B H100 FP16 TP1 1000/1000 = 7721 tok/s", "[calibration]") {
  check_within(simulated_throughput("llama-3.1-8b", "h100-sxm", Dtype::fp16, 1, 1000, 1000), 7721);
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-8B A100 FP16 TP1 1000/1000 = 3753 tok/s", "[calibration]") {
  check_within(simulated_throughput("llama-3.1-8b", "a100-80gb", Dtype::fp16, 1, 1000, 1000), 3753);
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-70B H100 FP8 TP4 128/128 = 10589 tok/s", "[calibration]") {
  check_within(simulated_throughput("llama-3.1-70b", "h100-sxm", Dtype::fp8, 4, 128, 128), 10589);
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-70B H100 FP8 TP4 1000/1000 = 7306 tok/s", "[calibration]") {
  check_within(simulated_throughput("llama-3.1-70b", "h100-sxm", Dtype::fp8, 4, 1000, 1000), 7306);
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-70B H100 FP16 TP4 1000/1000 = 4076 tok/s", "[calibration]") {
  check_within(simulated_throughput("llama-3.1-70b", "h100-sxm", Dtype::fp16, 4, 1000, 1000), 4076);
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-70B A100 FP16 TP4 1000/1000 = 1890 tok/s", "[calibration]") {
  check_within(simulated_throughput("llama-3.1-70b", "a100-80gb", Dtype::fp16, 4, 1000, 1000), 1890);
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-70B H100 FP8 TP8 1000/1000 = 11087 tok/s", "[calibration]") {
  check_within(simulated_throughput("llama-3.1-70b", "h100-sxm", Dtype::fp8, 8, 1000, 1000), 11087);
}
TEST_CASE("calibration: TRT-LLM v0.6.1 TTFT Llama-70B H100 FP8 TP4 - 2048 input tokens = 109 ms", "[calibration]") {
  check_within(simulated_ttft("llama-2-70b", "h100-sxm", Dtype::fp8, 4, 2048), 0.109);
}
TEST_CASE("calibration: TRT-LLM v0.6.1 TTFT Llama-70B A100 FP16 TP4 - 2048 input tokens = 377 ms", "[calibration]") {
  check_within(simulated_ttft("llama-2-70b", "a100-80gb", Dtype::fp16, 4, 2048), 0.377);
}
TEST_CASE("calibration: TRT-LLM v0.6.1 TTFT Llama-7B A100 FP16 - 2048 input tokens = 133 ms", "[calibration]") {
  check_within(simulated_ttft("llama-2-7b", "a100-80gb", Dtype::fp16, 1, 2048), 0.133);
}
TEST_CASE("calibration: a faster GPU is never slower: H200 >= H100 on the same replica", "[calibration]") {
  // TRT-LLM v1.0: Llama-3.1-8B FP8 TP1 1000/1000, H200 17,744 vs H100 15,220 tok/s (ratio 1.166).
  const double h200 = simulated_throughput("llama-3.1-8b", "h200-sxm", Dtype::fp8, 1, 1000, 1000);
  const double h100 = simulated_throughput("llama-3.1-8b", "h100-sxm", Dtype::fp8, 1, 1000, 1000);
  CHECK(h200 > h100);
  check_within(h200 / h100, 17744.0 / 15220.0);
}
