// `tokenfleet catalog`: the GPUs and models tokenfleet knows.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cluster/catalog.hpp"
#include "cluster/power.hpp"
#include "io/json.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"

namespace tf {

// `catalog --json`: a GPU in the units of its data sheet (TFLOP/s, GB, TB/s, GB/s), a model as it is.
void to_json(nlohmann::ordered_json& j, const GpuSpec& g) {
  j = {{"name", g.name},
       {"fp16_tflops", g.fp16_flops / 1e12},
       {"fp8_tflops", g.fp8_flops / 1e12},
       {"hbm_gb", g.hbm_bytes / 1e9},
       {"hbm_bandwidth_tbps", g.hbm_bandwidth_Bps / 1e12},
       {"nvlink_gbps", g.nvlink_Bps / 1e9},
       {"pcie_gbps", g.pcie_Bps / 1e9},
       {"idle_watts", g.idle_watts},
       {"busy_watts", g.busy_watts}};
  // The decode power curve's two points as used (the GPU's own, or H100's scaled to it: cluster/power.hpp).
  const PowerModel power(g);
  j["decode_batch1_watts"] = power.decode_w(1);
  j["decode_batch128_watts"] = power.decode_w(128);
}

void from_json(const nlohmann::ordered_json& j, GpuSpec& g) {
  j.at("name").get_to(g.name);
  g.fp16_flops = j.at("fp16_tflops").get<double>() * 1e12;
  g.fp8_flops = j.at("fp8_tflops").get<double>() * 1e12;
  g.hbm_bytes = j.at("hbm_gb").get<double>() * 1e9;
  g.hbm_bandwidth_Bps = j.at("hbm_bandwidth_tbps").get<double>() * 1e12;
  g.nvlink_Bps = j.at("nvlink_gbps").get<double>() * 1e9;
  g.pcie_Bps = j.at("pcie_gbps").get<double>() * 1e9;
  j.at("idle_watts").get_to(g.idle_watts);
  j.at("busy_watts").get_to(g.busy_watts);
  g.decode_batch1_watts = j.value("decode_batch1_watts", 0.0);
  g.decode_batch128_watts = j.value("decode_batch128_watts", 0.0);
}

TF_JSON_FIELDS(ModelSpec, name, params, active_params, layers, d_model, heads, kv_heads, head_dim, context_window,
               ffn_dim, vocab, gated_mlp, experts, experts_per_token)

namespace {

int catalog_command(bool json) {
  if (json) {
    nlohmann::ordered_json j;
    j["gpus"] = gpu_catalog();
    j["models"] = model_catalog();
    std::cout << j.dump(2) << "\n";
    return exit_ok;
  }
  std::cout << "GPUs (dense peak; power per GPU: idle / decode at batch 1 / at batch 128 / max)\n";
  std::cout << fmt::format("  {:<12} {:>10} {:>10} {:>8} {:>10} {:>12} {:>11} {:>24}\n", "name", "FP16 TF/s",
                           "FP8 TF/s", "HBM GB", "HBM TB/s", "NVLink GB/s", "PCIe GB/s*", "power W");
  for (const auto& g : gpu_catalog()) {
    std::cout << fmt::format("  {:<12} {:>10.0f} {:>10} {:>8.0f} {:>10.3f} {:>12.0f} {:>11.0f} {:>24}\n", g.name,
                             g.fp16_flops / 1e12, g.fp8_flops > 0 ? fmt::format("{:.0f}", g.fp8_flops / 1e12) : "-",
                             g.hbm_bytes / 1e9, g.hbm_bandwidth_Bps / 1e12, g.nvlink_Bps / 1e9, g.pcie_Bps / 1e9,
                             fmt::format("{:.0f} / {:.0f} / {:.0f} / {:.0f}", g.idle_watts,
                                         PowerModel(g).decode_w(1), PowerModel(g).decode_w(128), g.busy_watts));
  }
  std::cout << "  * PCIe to the host, per direction (the link's nominal rate; swap-to-host preemption)\n";
  std::cout << "\nModels\n";
  std::cout << fmt::format("  {:<16} {:>10} {:>10} {:>7} {:>8} {:>6} {:>9} {:>9} {:>9} {:>12} {:>7} {:>7} {:>8}\n",
                           "name", "params", "active", "layers", "d_model", "heads", "kv_heads", "head_dim", "context",
                           "KV B/token*", "ffn", "vocab", "experts");
  for (const auto& m : model_catalog()) {
    std::cout << fmt::format(
        "  {:<16} {:>9.2f}B {:>9.2f}B {:>7} {:>8} {:>6} {:>9} {:>9} {:>9} {:>12.0f} {:>7} {:>7} {:>8}\n", m.name,
        m.params / 1e9, m.active_params / 1e9, m.layers, m.d_model, m.heads, m.kv_heads, m.head_dim, m.context_window,
        m.kv_bytes_per_token(Dtype::fp16), m.ffn_dim, m.vocab,
        m.moe() ? fmt::format("{} top-{}", m.experts, m.experts_per_token) : std::string("-"));
  }
  std::cout << "  * KV-cache bytes per token in FP16 (half in FP8)\n";
  return exit_ok;
}

}  // namespace

int command_catalog(bool json) {
  return guarded([&] { return catalog_command(json); });
}

}  // namespace tf
