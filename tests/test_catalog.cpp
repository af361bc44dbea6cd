// The catalogue against calibration.md's data sheets and model cards.
#include <catch2/catch.hpp>

#include <string>

#include "cluster/catalog.hpp"

using tf::Dtype;

TEST_CASE("every GPU of the catalogue is present with the data-sheet figures", "[catalog]") {
  for (const char* name : {"a100-80gb", "h100-sxm", "h200-sxm", "b200", "gb200-nvl72"}) {
    INFO(name);
    auto g = tf::find_gpu(name);
    REQUIRE(g);
    CHECK(g->name == name);
    CHECK(g->idle_watts > 0.0);
    CHECK(g->idle_watts < 0.2 * g->busy_watts);
  }
  CHECK(tf::gpu_catalog().size() == 5);
  // GB200 NVL72's GPU: the rack's data-sheet figures / 72 (calibration.md), one NVLink domain of 72.
  const auto gb = *tf::find_gpu("gb200-nvl72");
  CHECK(gb.fp16_flops == 2500e12);
  CHECK(gb.fp8_flops == 5000e12);
  CHECK(gb.hbm_bytes == 186e9);
  CHECK(gb.hbm_bandwidth_Bps == 8.0e12);
  CHECK(gb.nvlink_Bps == 1800e9);
  CHECK(gb.busy_watts == 1200.0);
  CHECK(gb.nvlink_domain == 72);

  const auto a100 = *tf::find_gpu("a100-80gb");
  CHECK(a100.fp16_flops == 312e12);
  CHECK(a100.fp8_flops == 0.0);
  CHECK(a100.hbm_bytes == 80e9);
  CHECK(a100.hbm_bandwidth_Bps == 2.039e12);
  CHECK(a100.nvlink_Bps == 600e9);
  CHECK(a100.pcie_Bps == 32e9);  // PCIe per direction, nominal
  CHECK(a100.busy_watts == 400.0);

  const auto h100 = *tf::find_gpu("h100-sxm");
  CHECK(h100.fp16_flops == 989e12);
  CHECK(h100.fp8_flops == 1979e12);
  CHECK(h100.hbm_bytes == 80e9);
  CHECK(h100.hbm_bandwidth_Bps == 3.35e12);
  CHECK(h100.nvlink_Bps == 900e9);
  CHECK(h100.pcie_Bps == 64e9);  // PCIe per direction, nominal
  CHECK(h100.busy_watts == 700.0);

  const auto h200 = *tf::find_gpu("h200-sxm");
  CHECK(h200.fp16_flops == 989e12);
  CHECK(h200.fp8_flops == 1979e12);
  CHECK(h200.hbm_bytes == 141e9);
  CHECK(h200.hbm_bandwidth_Bps == 4.8e12);
  CHECK(h200.nvlink_Bps == 900e9);
  CHECK(h200.pcie_Bps == 64e9);  // PCIe per direction, nominal
  CHECK(h200.busy_watts == 700.0);

  const auto b200 = *tf::find_gpu("b200");
  CHECK(b200.fp16_flops == 2250e12);
  CHECK(b200.fp8_flops == 4500e12);
  CHECK(b200.hbm_bytes == 180e9);
  CHECK(b200.hbm_bandwidth_Bps == 8.0e12);
  CHECK(b200.nvlink_Bps == 1800e9);
  CHECK(b200.pcie_Bps == 64e9);  // PCIe per direction, nominal
  CHECK(b200.busy_watts == 1000.0);
}

TEST_CASE("peak FLOP/s by dtype - no FP8 on A100", "[catalog]") {
  const auto h100 = *tf::find_gpu("h100-sxm");
  CHECK(h100.peak_flops(Dtype::fp16) == 989e12);
  CHECK(h100.peak_flops(Dtype::bf16) == 989e12);
  CHECK(h100.peak_flops(Dtype::fp8) == 1979e12);
  const auto a100 = *tf::find_gpu("a100-80gb");
  CHECK(a100.peak_flops(Dtype::bf16) == 312e12);
  CHECK(a100.peak_flops(Dtype::fp8) == 0.0);
}

TEST_CASE("every model of the catalogue is present with the model-card shapes", "[catalog]") {
  for (const char* name : {"llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b",
                           "llama-3.1-405b", "gpt-3-175b", "mixtral-8x7b", "gpt4-class"}) {
    INFO(name);
    auto m = tf::find_model(name);
    REQUIRE(m);
    CHECK(m->name == name);
    CHECK(m->active_params > 0.0);
    CHECK(m->active_params <= m->params);
    CHECK(m->heads * m->head_dim == m->d_model);
    CHECK(m->context_window > 0);
  }
  CHECK(tf::model_catalog().size() == 9);

  const auto l7 = *tf::find_model("llama-2-7b");
  CHECK(l7.params == 6.74e9);
  CHECK(l7.active_params == l7.params);
  CHECK(l7.layers == 32);
  CHECK(l7.kv_heads == 32);
  CHECK(l7.context_window == 4096);

  const auto l70 = *tf::find_model("llama-3.1-70b");
  CHECK(l70.params == 70.6e9);
  CHECK(l70.active_params == 70.6e9);
  CHECK(l70.layers == 80);
  CHECK(l70.d_model == 8192);
  CHECK(l70.heads == 64);
  CHECK(l70.kv_heads == 8);
  CHECK(l70.head_dim == 128);
  CHECK(l70.context_window == 131072);

  const auto l405 = *tf::find_model("llama-3.1-405b");
  CHECK(l405.params == 405e9);
  CHECK(l405.layers == 126);
  CHECK(l405.d_model == 16384);

  const auto gpt3 = *tf::find_model("gpt-3-175b");
  CHECK(gpt3.params == 175e9);
  CHECK(gpt3.layers == 96);
  CHECK(gpt3.kv_heads == 96);
  CHECK(gpt3.context_window == 2048);

  const auto mixtral = *tf::find_model("mixtral-8x7b");
  CHECK(mixtral.params == 46.7e9);
  CHECK(mixtral.active_params == 12.9e9);
  CHECK(mixtral.kv_heads == 8);
  CHECK(mixtral.context_window == 32768);

  const auto gpt4 = *tf::find_model("gpt4-class");
  CHECK(gpt4.params == 1.8e12);
  CHECK(gpt4.active_params < gpt4.params);
}

TEST_CASE("KV bytes per token", "[catalog]") {
  // Llama-3.1-70B, FP16, by hand: 2 (K and V) x 80 layers x 8 KV heads x 128 head dim x 2 bytes = 327,680.
  const auto l70 = *tf::find_model("llama-3.1-70b");
  CHECK(l70.kv_bytes_per_token(Dtype::fp16) == 327680.0);
  CHECK(l70.kv_bytes_per_token(Dtype::bf16) == 327680.0);
  CHECK(l70.kv_bytes_per_token(Dtype::fp8) == 163840.0);
  // Llama-2-7B has no grouped-query attention: 2 x 32 x 32 x 128 x 2 = 524,288 (512 KiB).
  CHECK(tf::find_model("llama-2-7b")->kv_bytes_per_token(Dtype::fp16) == 524288.0);
}

TEST_CASE("look-ups are case-insensitive and know common aliases", "[catalog]") {
  CHECK(tf::find_gpu("H100-SXM")->name == "h100-sxm");
  CHECK(tf::find_gpu("h100")->name == "h100-sxm");
  CHECK(tf::find_gpu("H100")->name == "h100-sxm");
  CHECK(tf::find_gpu("h200")->name == "h200-sxm");
  CHECK(tf::find_gpu("a100")->name == "a100-80gb");
  CHECK(tf::find_gpu("A100-80GB")->name == "a100-80gb");
  CHECK(tf::find_gpu("B200")->name == "b200");
  CHECK(tf::find_model("Llama-3.1-70B")->name == "llama-3.1-70b");
  CHECK(tf::find_model("MIXTRAL-8X7B")->name == "mixtral-8x7b");
}

TEST_CASE("unknown names give nothing", "[catalog]") {
  CHECK_FALSE(tf::find_gpu("v100"));
  CHECK_FALSE(tf::find_gpu(""));
  CHECK_FALSE(tf::find_gpu("h100-sxm "));
  CHECK_FALSE(tf::find_model("llama-4"));
  CHECK_FALSE(tf::find_model(""));
}

TEST_CASE("parse_dtype", "[catalog]") {
  CHECK(tf::parse_dtype("fp16") == Dtype::fp16);
  CHECK(tf::parse_dtype("bf16") == Dtype::bf16);
  CHECK(tf::parse_dtype("fp8") == Dtype::fp8);
  CHECK_FALSE(tf::parse_dtype("FP16"));
  CHECK_FALSE(tf::parse_dtype("fp32"));
  CHECK_FALSE(tf::parse_dtype("int8"));
  CHECK_FALSE(tf::parse_dtype(""));
  CHECK(tf::bytes_per_element(Dtype::fp16) == 2.0);
  CHECK(tf::bytes_per_element(Dtype::bf16) == 2.0);
  CHECK(tf::bytes_per_element(Dtype::fp8) == 1.0);
  for (Dtype d : {Dtype::fp16, Dtype::bf16, Dtype::fp8}) CHECK(tf::parse_dtype(tf::to_string(d)) == d);
}
