// Calibration: the cost model's defaults against published figures in
// docs/reference/calibration.md. One test case per figure, named after it.
#include <catch2/catch.hpp>

#include <cmath>

#include <fmt/format.h>

#include "sim/study/calibration.hpp"

using namespace tf;

namespace {

constexpr double kTolerance = 0.25;

void check_figure(const std::string& model, const std::string& gpu, Dtype d, int tp, long long in, long long out,
                  const std::string& kind) {
  for (const auto& f : calibration_figures()) {
    if (f.model == model && f.gpu == gpu && f.dtype == d && f.tensor_parallel == tp && f.input_tokens == in &&
        f.output_tokens == out && f.kind == kind && f.source.find("v1.0") == std::string::npos) {
      REQUIRE(f.tested);
      const double simulated = simulate_figure(f);
      INFO(f.source << ": simulated " << simulated << ", published " << f.published << ", error "
                    << 100.0 * (simulated / f.published - 1.0) << " %");
      CHECK(std::abs(simulated / f.published - 1.0) <= kTolerance);
      return;
    }
  }
  FAIL("figure not in the calibration table");
}

}  // namespace

// Throughput: TensorRT-LLM v0.15 performance overview, output tokens/s of one replica, requests offered
// without limit (in-flight batching).
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-8B H100 FP8 TP1 128/128 = 27792 tok/s", "[calibration]") {
  check_figure("llama-3.1-8b", "h100-sxm", Dtype::fp8, 1, 128, 128, "throughput");
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-8B H100 FP8 TP1 1000/1000 = 14797 tok/s", "[calibration]") {
  check_figure("llama-3.1-8b", "h100-sxm", Dtype::fp8, 1, 1000, 1000, "throughput");
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-8B H100 FP8 TP1 2048/2048 = 8980 tok/s", "[calibration]") {
  check_figure("llama-3.1-8b", "h100-sxm", Dtype::fp8, 1, 2048, 2048, "throughput");
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-8B H100 FP16 TP1 128/128 = 16117 tok/s", "[calibration]") {
  check_figure("llama-3.1-8b", "h100-sxm", Dtype::fp16, 1, 128, 128, "throughput");
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-8B H100 FP16 TP1 1000/1000 = 7721 tok/s", "[calibration]") {
  check_figure("llama-3.1-8b", "h100-sxm", Dtype::fp16, 1, 1000, 1000, "throughput");
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-8B A100 FP16 TP1 1000/1000 = 3753 tok/s", "[calibration]") {
  check_figure("llama-3.1-8b", "a100-80gb", Dtype::fp16, 1, 1000, 1000, "throughput");
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-70B H100 FP8 TP4 128/128 = 10589 tok/s", "[calibration]") {
  check_figure("llama-3.1-70b", "h100-sxm", Dtype::fp8, 4, 128, 128, "throughput");
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-70B H100 FP8 TP4 1000/1000 = 7306 tok/s", "[calibration]") {
  check_figure("llama-3.1-70b", "h100-sxm", Dtype::fp8, 4, 1000, 1000, "throughput");
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-70B H100 FP16 TP4 1000/1000 = 4076 tok/s", "[calibration]") {
  check_figure("llama-3.1-70b", "h100-sxm", Dtype::fp16, 4, 1000, 1000, "throughput");
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-70B A100 FP16 TP4 1000/1000 = 1890 tok/s", "[calibration]") {
  check_figure("llama-3.1-70b", "a100-80gb", Dtype::fp16, 4, 1000, 1000, "throughput");
}
TEST_CASE("calibration: TRT-LLM v0.15 Llama-3.1-70B H100 FP8 TP8 1000/1000 = 11087 tok/s", "[calibration]") {
  check_figure("llama-3.1-70b", "h100-sxm", Dtype::fp8, 8, 1000, 1000, "throughput");
}
// Time to first token: TensorRT-LLM v0.6.1, static batching, batch size 1 (one prefill iteration).
TEST_CASE("calibration: TRT-LLM v0.6.1 TTFT Llama-70B H100 FP8 TP4 2048 input tokens = 109 ms", "[calibration]") {
  check_figure("llama-2-70b", "h100-sxm", Dtype::fp8, 4, 2048, 0, "ttft");
}
TEST_CASE("calibration: TRT-LLM v0.6.1 TTFT Llama-70B A100 FP16 TP4 2048 input tokens = 377 ms", "[calibration]") {
  check_figure("llama-2-70b", "a100-80gb", Dtype::fp16, 4, 2048, 0, "ttft");
}
TEST_CASE("calibration: TRT-LLM v0.6.1 TTFT Llama-7B A100 FP16 2048 input tokens = 133 ms", "[calibration]") {
  check_figure("llama-2-7b", "a100-80gb", Dtype::fp16, 1, 2048, 0, "ttft");
}

TEST_CASE("calibration: every figure marked as tested is within 25 % of its published value", "[calibration]") {
  int tested = 0;
  for (const auto& f : calibration_figures()) {
    if (!f.tested) continue;
    ++tested;
    const double simulated = simulate_figure(f);
    INFO(fmt::format("{} {} {} {} TP{} {}/{}: simulated {:.4g}, published {:.4g}", f.source, f.model, f.gpu,
                     to_string(f.dtype), f.tensor_parallel, f.input_tokens, f.output_tokens, simulated, f.published));
    CHECK(std::abs(simulated / f.published - 1.0) <= kTolerance);
  }
  CHECK(tested >= 20);
}

TEST_CASE("calibration: TRT-LLM v1.0 H200 over H100 for Llama-3.1-8B FP8 1000/1000 = 17744 / 15220", "[calibration]") {
  double h200 = 0, h100 = 0;
  for (const auto& f : calibration_figures()) {
    if (f.source != "TensorRT-LLM v1.0") continue;
    (f.gpu == "h200-sxm" ? h200 : h100) = simulate_figure(f);
  }
  REQUIRE(h100 > 0);
  INFO("simulated ratio " << h200 / h100 << ", published " << 17744.0 / 15220.0);
  CHECK(h200 > h100);
  CHECK(std::abs((h200 / h100) / (17744.0 / 15220.0) - 1.0) <= kTolerance);
}
