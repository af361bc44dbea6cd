#pragma once
// The catalogue of GPUs and models tokenfleet knows. Figures: docs/reference/calibration.md
// (data sheets and model cards); power at idle is our assumption, stated in catalog.cpp; power while busy:
// cluster/power.hpp.
#include <optional>
#include <string>
#include <vector>

namespace tf {

enum class Dtype { fp16, bf16, fp8 };
// Parses "fp16" | "bf16" | "fp8"; nothing for anything else.
std::optional<Dtype> parse_dtype(const std::string& s);
std::string to_string(Dtype d);
// Bytes per weight / per KV element for a dtype.
double bytes_per_element(Dtype d);

struct GpuSpec {
  std::string name;
  double fp16_flops = 0.0;            // dense BF16/FP16 peak, FLOP/s
  double fp8_flops = 0.0;             // dense FP8 peak, FLOP/s; 0 when the GPU has no FP8
  double hbm_bytes = 0.0;             // memory per GPU
  double hbm_bandwidth_Bps = 0.0;     // bytes/s
  double nvlink_Bps = 0.0;            // NVLink bandwidth per GPU, both directions together, bytes/s
  double pcie_Bps = 0.0;              // PCIe link to the host, per direction, bytes/s (nominal); 0 when unknown
  double idle_watts = 0.0;
  double busy_watts = 0.0;            // at full load (the data sheet's max power, TDP)
  // Measured decode power per GPU at batch 1 and 128 (cluster/power.hpp); 0: H100's curve scaled to this GPU.
  double decode_batch1_watts = 0.0;
  double decode_batch128_watts = 0.0;
  // GPUs in one NVLink domain: 8 on HGX boards (A100, H100, H200, B200), 72 in a GB200 NVL72 rack. It bounds
  // hardware.gpus_per_node: a "node" here is an NVLink domain.
  int nvlink_domain = 8;
  // Peak FLOP/s for a dtype; 0 when unsupported (FP8 on A100).
  double peak_flops(Dtype d) const;
};

struct ModelSpec {
  std::string name;
  double params = 0.0;          // total parameters (what must sit in memory)
  double active_params = 0.0;   // parameters used per token (MoE: fewer than params)
  int layers = 0;
  int d_model = 0;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  long long context_window = 0; // tokens, prompt + output
  // The operator-level cost model's shape (public model cards).
  int ffn_dim = 0;              // MLP intermediate size (per expert for a mixture of experts)
  int vocab = 32000;            // vocabulary: the LM head is d_model x vocab
  bool gated_mlp = true;        // SwiGLU (gate, up, down: 3 matrices) or a plain MLP (up, down: 2)
  int experts = 0;              // mixture of experts: experts per layer (0: dense)
  int experts_per_token = 0;    // top-k routing
  bool moe() const { return experts > 0; }
  // Parameters of one layer's attention projections, of one MLP (or one expert), and of the embeddings
  // and LM head (untied).
  double attention_params_per_layer() const;
  double mlp_params() const;
  double embedding_params() const;
  // Total and active parameters as the shape gives them.
  double shape_params() const;
  double shape_active_params() const;
  // KV-cache bytes per token: 2 (K and V) x layers x kv_heads x head_dim x bytes per element.
  double kv_bytes_per_token(Dtype d) const;
};

const std::vector<GpuSpec>& gpu_catalog();
const std::vector<ModelSpec>& model_catalog();
// Look-ups by name, case-insensitive; nothing when unknown.
std::optional<GpuSpec> find_gpu(const std::string& name);
std::optional<ModelSpec> find_model(const std::string& name);

}  // namespace tf
