// The catalogue of GPUs and models. Figures: docs/reference/calibration.md (Nvidia data sheets
// and public model cards), except where a comment says a figure is our assumption.
#include "cluster/catalog.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

namespace tf {

std::optional<Dtype> parse_dtype(const std::string& s) {
  if (s == "fp16") return Dtype::fp16;
  if (s == "bf16") return Dtype::bf16;
  if (s == "fp8") return Dtype::fp8;
  return std::nullopt;
}

std::string to_string(Dtype d) {
  switch (d) {
    case Dtype::fp16: return "fp16";
    case Dtype::bf16: return "bf16";
    case Dtype::fp8: return "fp8";
  }
  return "unknown";
}

double bytes_per_element(Dtype d) {
  switch (d) {
    case Dtype::fp16:
    case Dtype::bf16: return 2.0;
    case Dtype::fp8: return 1.0;
  }
  return 2.0;
}

double GpuSpec::peak_flops(Dtype d) const {
  return d == Dtype::fp8 ? fp8_flops : fp16_flops;
}

double ModelSpec::kv_bytes_per_token(Dtype d) const {
  return 2.0 * layers * kv_heads * head_dim * bytes_per_element(d);
}

double ModelSpec::attention_params_per_layer() const {
  // Q, K, V and the output projection.
  return static_cast<double>(d_model) * (heads + 2.0 * kv_heads) * head_dim + static_cast<double>(heads) * head_dim * d_model;
}

double ModelSpec::mlp_params() const { return (gated_mlp ? 3.0 : 2.0) * d_model * static_cast<double>(ffn_dim); }

double ModelSpec::embedding_params() const { return 2.0 * static_cast<double>(vocab) * d_model; }

double ModelSpec::shape_params() const {
  const double experts_per_layer = moe() ? experts : 1.0;
  const double router = moe() ? static_cast<double>(d_model) * experts : 0.0;
  return layers * (attention_params_per_layer() + experts_per_layer * mlp_params() + router) + embedding_params();
}

double ModelSpec::shape_active_params() const {
  const double used = moe() ? experts_per_token : 1.0;
  const double router = moe() ? static_cast<double>(d_model) * experts : 0.0;
  return layers * (attention_params_per_layer() + used * mlp_params() + router) + embedding_params();
}

namespace {

GpuSpec gpu(std::string name, double fp16, double fp8, double hbm, double hbm_bw, double nvlink, double pcie,
            double idle, double busy) {
  GpuSpec g;
  g.name = std::move(name);
  g.fp16_flops = fp16;
  g.fp8_flops = fp8;
  g.hbm_bytes = hbm;
  g.hbm_bandwidth_Bps = hbm_bw;
  g.nvlink_Bps = nvlink;
  g.pcie_Bps = pcie;
  g.idle_watts = idle;
  g.busy_watts = busy;
  return g;
}

ModelSpec model(std::string name, double params, double active, int layers, int d_model, int heads, int kv_heads,
                int head_dim, long long context, int ffn_dim, int vocab, int experts = 0, int top_k = 0,
                bool gated = true) {
  ModelSpec m;
  m.name = std::move(name);
  m.params = params;
  m.active_params = active;
  m.layers = layers;
  m.d_model = d_model;
  m.heads = heads;
  m.kv_heads = kv_heads;
  m.head_dim = head_dim;
  m.context_window = context;
  m.ffn_dim = ffn_dim;
  m.vocab = vocab;
  m.experts = experts;
  m.experts_per_token = top_k;
  m.gated_mlp = gated;
  return m;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Common short names for catalogue entries (all lowercase).
const std::vector<std::pair<std::string, std::string>>& aliases() {
  static const std::vector<std::pair<std::string, std::string>> a = {
      {"a100", "a100-80gb"},     {"a100-80g", "a100-80gb"},  {"a100-sxm", "a100-80gb"},
      {"a100-sxm-80gb", "a100-80gb"},
      {"h100", "h100-sxm"},      {"h100-80gb", "h100-sxm"},  {"h200", "h200-sxm"},
      {"h200-141gb", "h200-sxm"}, {"b200-sxm", "b200"},
      {"llama2-7b", "llama-2-7b"}, {"llama2-13b", "llama-2-13b"}, {"llama2-70b", "llama-2-70b"},
      {"llama3.1-8b", "llama-3.1-8b"}, {"llama3.1-70b", "llama-3.1-70b"}, {"llama3.1-405b", "llama-3.1-405b"},
      {"gpt3-175b", "gpt-3-175b"}, {"gpt-3", "gpt-3-175b"},
  };
  return a;
}

template <class Spec>
std::optional<Spec> find_in(const std::vector<Spec>& catalog, const std::string& name) {
  std::string key = lower(name);
  for (const auto& [alias, canonical] : aliases()) {
    if (key == alias) {
      key = canonical;
      break;
    }
  }
  for (const auto& s : catalog)
    if (s.name == key) return s;
  return std::nullopt;
}

}  // namespace

const std::vector<GpuSpec>& gpu_catalog() {
  // Idle power is NOT in calibration.md: it is our assumption, from figures commonly reported for idle
  // datacenter GPUs in SXM boards (nvidia-smi at idle, roughly 10-15 % of maximum power).
  // PCIe (the link to host memory, used by swap-to-host preemption) is per direction and the link's nominal
  // rate, not a measured copy rate: the data sheets give both directions together, "PCIe Gen4: 64 GB/s" for
  // A100 80GB SXM and "PCIe Gen5: 128 GB/s" for H100 SXM and H200 SXM, i.e. x16 links of 32 and 64 GB/s each
  // way. B200: HGX B200 boards attach each GPU to its host by PCIe Gen5 x16 (our reading; the B200 figure in
  // the HGX data sheet is for the board), so 64 GB/s each way as for Hopper.
  //                                  fp16 FLOP/s  fp8 FLOP/s   HBM bytes  HBM B/s   NVLink B/s PCIe B/s idle W busy W
  static const std::vector<GpuSpec> c = {
      gpu("a100-80gb", 312e12, 0.0, 80e9, 2.039e12, 600e9, 32e9, 50.0, 400.0),
      gpu("h100-sxm", 989e12, 1979e12, 80e9, 3.35e12, 900e9, 64e9, 75.0, 700.0),
      gpu("h200-sxm", 989e12, 1979e12, 141e9, 4.8e12, 900e9, 64e9, 75.0, 700.0),
      gpu("b200", 2250e12, 4500e12, 180e9, 8.0e12, 1800e9, 64e9, 120.0, 1000.0),
      // The Blackwell GPU of a GB200 NVL72 rack (72 GPUs, 36 Grace CPUs, one NVLink domain). NVIDIA's GB200 NVL72
      // data sheet gives the rack: FP16/BF16 360 PFLOPS and FP8 720 PFLOPS with sparsity, up to 13.4 TB of HBM3e at
      // 576 TB/s, 130 TB/s of NVLink; per GPU (/ 72, dense = sparse / 2): 2.5 PFLOPS FP16, 5 PFLOPS FP8, 186 GB
      // (the 186 GB per GPU that MLPerf Inference system descriptions give for GB200), 8 TB/s, 1.8 TB/s of NVLink 5.
      // Power: 1,200 W per GPU, the GPU's maximum TDP as relayed by third parties (NVIDIA gives a GB200 superchip,
      // two GPUs and a Grace CPU, up to 2,700 W): a secondary figure. PCIe: the GPU reaches its Grace CPU over
      // NVLink-C2C, not PCIe; 64 GB/s each way (as HGX) is our assumption for swap-to-host, not the C2C link's
      // 450 GB/s each way. Idle: our assumption (12.5 % of max, as for B200).
      gpu("gb200-nvl72", 2500e12, 5000e12, 186e9, 8.0e12, 1800e9, 64e9, 150.0, 1200.0),
  };
  static const bool domains = [] {
    for (auto& g : const_cast<std::vector<GpuSpec>&>(c))
      if (g.name == "gb200-nvl72") g.nvlink_domain = 72;
    return true;
  }();
  (void)domains;
  return c;
}

namespace {

ModelSpec gpt4_class() {
  ModelSpec m = model("gpt4-class", 1.8e12, 0.0, 120, 14336, 112, 8, 128, 32768, 21504, 100000, 16, 2);
  m.active_params = m.shape_active_params();
  return m;
}

}  // namespace

const std::vector<ModelSpec>& model_catalog() {
  // MLP intermediate sizes and vocabularies: the public model cards (config.json of each model). GPT-3 has a
  // plain (non-gated) MLP of 4 x d_model (Brown et al. 2020). Mixtral: 8 experts, top-2 routing.
  //                                    params   active   layers d_model heads kv_heads head_dim context ffn vocab
  static const std::vector<ModelSpec> c = {
      model("llama-2-7b", 6.74e9, 6.74e9, 32, 4096, 32, 32, 128, 4096, 11008, 32000),
      model("llama-2-13b", 13.0e9, 13.0e9, 40, 5120, 40, 40, 128, 4096, 13824, 32000),
      model("llama-2-70b", 69.0e9, 69.0e9, 80, 8192, 64, 8, 128, 4096, 28672, 32000),
      model("llama-3.1-8b", 8.03e9, 8.03e9, 32, 4096, 32, 8, 128, 131072, 14336, 128256),
      model("llama-3.1-70b", 70.6e9, 70.6e9, 80, 8192, 64, 8, 128, 131072, 28672, 128256),
      model("llama-3.1-405b", 405e9, 405e9, 126, 16384, 128, 8, 128, 131072, 53248, 128256),
      model("gpt-3-175b", 175e9, 175e9, 96, 12288, 96, 96, 128, 2048, 49152, 50257, 0, 0, false),
      model("mixtral-8x7b", 46.7e9, 12.9e9, 32, 4096, 32, 8, 128, 32768, 14336, 32000, 8, 2),
      // A GPT-4-class mixture of experts, after SemiAnalysis ("GPT-4 Architecture, Infrastructure, Training
      // Dataset, Costs, Vision, MoE", July 2023, as widely relayed; public estimates, not OpenAI's figures): about
      // 1.8 T parameters in 120 layers, 16 experts of about 111 B MLP parameters each, 2 experts per token, about
      // 55 B shared (attention) parameters, about 280 B active per token, context 8 k (and a 32 k variant).
      // Our assumptions, chosen so that the shape reproduces those totals: d_model 14,336 with 112 heads of 128
      // (8 KV heads, grouped-query attention) gives 440 M attention parameters a layer (52.8 B in 120 layers, with
      // the embeddings 55.7 B shared); a gated expert MLP of 21,504 gives 925 M a layer, 111.0 B an expert; a
      // vocabulary of 100 k (about that of tiktoken's cl100k_base, the GPT-4 tokenizer). The shape then holds
      // 1.831 T parameters and 277.7 B active (shape_params, shape_active_params). Total params: the public
      // 1.8 T (the report's P); active: derived from the shape. Context: the 32 k variant.
      gpt4_class(),
  };
  return c;
}

std::optional<GpuSpec> find_gpu(const std::string& name) { return find_in(gpu_catalog(), name); }

std::optional<ModelSpec> find_model(const std::string& name) { return find_in(model_catalog(), name); }

}  // namespace tf
