#pragma once
// The cost of one iteration of a replica, operator by operator (design.md, "The cost model"; README,
// "The cost model v2"). Per layer, on one GPU of the tensor-parallel group, one kernel after another:
//   GEMMs (QKV, output, MLP or the experts a batch touches): max(flops / (F e_c(M)), bytes / (B e_m)),
//     where M is the GEMM's token dimension and e_c(M) = e_c,max M / (M + M_half) (small-M GEMMs do not reach
//     peak), or a measured efficiency table (`[cost] profile`);
//   attention: prefill (flash attention, causal, compute-bound) and decode (memory-bound on the KV read),
//     each its own kernel with its own efficiencies;
//   two tensor-parallel all-reduces: latency + 2 (t-1)/t x message / bus bandwidth;
// then the LM head once, and a fixed plus a per-request host overhead. The times add.
// Plain C++: no SimGrid.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/catalog.hpp"

namespace tf {

// A measured GEMM efficiency curve: achieved fraction of peak FLOP/s by token dimension M (from the GPU
// profiling kit, tools/profile/). Between points: linear in log M; outside: the nearest point.
struct GemmEfficiencyCurve {
  std::vector<double> m;           // increasing
  std::vector<double> efficiency;  // in (0, 1]
  double at(double tokens) const;
};

struct CostParams {
  // The defaults are the trtllm profile: `tokenfleet calibrate --fit --engine trtllm` on the training rows of
  // cluster/calibration/figures.csv (README.md, "The cost model v2", gives the errors).
  // The serving engine these efficiencies stand for (engine_profile()); informative once loaded.
  std::string engine = "trtllm";
  double mfu = 0.7231;                   // e_c,max: large GEMMs' achievable fraction of peak FLOP/s
  double gemm_half_m = 46.6;           // M_half: the token dimension at which a GEMM reaches half of mfu
  double fp8_efficiency = 0.7658;         // FP8 kernels reach this share of the compute efficiencies above
  double mbu = 0.7515;                   // e_m: achievable fraction of HBM bandwidth reading weights
  double attention_prefill_efficiency = 0.1960;  // flash attention's fraction of peak FLOP/s
  double attention_decode_efficiency = 0.95;   // decode attention's fraction of HBM bandwidth (KV read)
  double allreduce_bus_efficiency = 0.7662;      // achieved bus bandwidth / NVLink bandwidth per direction
  double allreduce_latency_s = 84.10e-6;          // per all-reduce (two per layer)
  double overhead_s = 3.275e-3;                   // per iteration (scheduling on the host, launches)
  double per_request_overhead_s = 0.040e-6;         // per request in the batch, per iteration
  double per_prefill_overhead_s = 761.2e-6;         // per request whose prompt the iteration completes (input
                                                    // preparation and scheduling of a new sequence on the host)
  double kv_reserve_fraction = 0.10;           // share of HBM kept free (activations, fragmentation)
  // Measured GEMM efficiencies in place of mfu / gemm_half_m (empty: the analytic curve).
  std::shared_ptr<const GemmEfficiencyCurve> gemm_profile;
  // Above 0: the cost model reduced to the top-down formula's (README, "The seed report, simulated"): every token,
  // prompt or answer, costs 2 x the model's (total) parameters in FLOPs, done at this fraction of the replica's dense
  // FP16 peak (GPUs x F x u), and nothing else: no attention, no memory-bound decoding, no communication, no pipeline
  // bubble, no host overheads. A replica is then a server of a fixed number of tokens per second, whatever its batch.
  // For checking the formula's arithmetic by simulation, not for planning.
  double formula_utilization = 0.0;
};

// The named engine profiles: "trtllm" (the default; the catalogue's figures come from it), "vllm", "sglang".
// Fitted by `tokenfleet calibrate --fit` on cluster/calibration/figures.csv (training rows); see README.
const std::vector<std::string>& engine_names();
// Nothing when the name is unknown.
std::optional<CostParams> engine_profile(const std::string& name);

// How a replica's GPUs are laid out (README, "Replicas larger than a node"): tensor_parallel GPUs per pipeline stage,
// pipeline_parallel stages of successive layers on the tensor-parallel groups that follow one another (successive
// nodes when tp x p exceeds a node), the experts of each MoE layer spread over expert_parallel GPUs of a stage's
// tensor-parallel group (e divides tp: vLLM/SGLang-style expert parallelism, attention tensor parallel over the same
// GPUs), and micro_batches micro-batches per iteration through the pipeline (0: p). The network figures cost the
// activation hand-off between stages on different nodes; within a node it goes over NVLink.
struct Layout {
  int tensor_parallel = 1;
  int pipeline_parallel = 1;
  int expert_parallel = 1;
  int micro_batches = 0;            // 0: pipeline_parallel (the smallest m that can keep every stage busy)
  int gpus_per_node = 8;
  double network_Bps = 50e9;        // per node, to the core switch
  double network_latency_s = 5e-6;
  double nvlink_latency_s = 1e-6;   // as the topology's NVLink links (cluster/topology.hpp)
  int gpus() const { return tensor_parallel * pipeline_parallel; }
  int micro_batch_count() const { return micro_batches > 0 ? micro_batches : pipeline_parallel; }
};

// What one iteration processes.
struct IterationShape {
  std::int64_t prefill_tokens = 0;         // prompt tokens prefilled in this iteration
  double prefill_attention_context = 0.0;  // sum over prefill tokens of the positions they attend to (causal)
  std::int64_t prefill_sequences = 0;      // requests whose prompt this iteration completes (their first token)
  std::int64_t decode_tokens = 0;          // one per decoding request
  std::int64_t decode_context_tokens = 0;  // sum of the decoding requests' context lengths (KV read)
  std::int64_t prefill_prefix_tokens = 0;  // chunked prefill: KV of earlier chunks read by this iteration's chunks
};

// The time of each operator of one iteration, summed over layers (seconds).
struct OperatorTimes {
  double qkv = 0, attn_out = 0, mlp = 0, router = 0;  // GEMMs (mlp: dense MLP or the experts touched)
  double attention_prefill = 0, attention_decode = 0;
  double lm_head = 0;
  double allreduce = 0;
  double overhead = 0;
  // Pipeline and expert parallelism (0 without them): the MoE dispatch and combine (all-to-all), the activation
  // hand-offs between stages, and the pipeline's bubble (the (p - 1) stage times of filling and draining it).
  double alltoall = 0, handoff = 0, bubble = 0;
  // The reduced cost model (CostParams::formula_utilization): the whole iteration, 2 x P per token at u of FP16 peak.
  double formula = 0;
  double total() const {
    return qkv + attn_out + mlp + router + attention_prefill + attention_decode + lm_head + allreduce + overhead +
           alltoall + handoff + bubble + formula;
  }
};

class CostModel {
 public:
  CostModel(ModelSpec model, GpuSpec gpu, Dtype dtype, int tensor_parallel, CostParams params);
  // Throws std::invalid_argument for a layout the model cannot take (e > 1 on a dense model, e not dividing tp or the
  // experts, p more than the layers).
  CostModel(ModelSpec model, GpuSpec gpu, Dtype dtype, const Layout& layout, CostParams params);

  double iteration_flops(const IterationShape& s) const;
  double iteration_bytes(const IterationShape& s) const;  // HBM bytes read and written, all GPUs
  double iteration_time_s(const IterationShape& s) const;
  OperatorTimes operator_times(const IterationShape& s) const;

  // A decode-only stretch: `batch` requests decoding, `context_tokens` their summed context before
  // the first iteration; each iteration adds `batch` to the context. Time of k iterations, in closed
  // form (everything but decode attention is the same in every iteration; decode attention is the max
  // of two linear functions of the iteration index).
  double decode_stretch_s(std::int64_t batch, std::int64_t context_tokens, std::int64_t k) const;
  // FLOPs of the same k iterations.
  double decode_stretch_flops(std::int64_t batch, std::int64_t context_tokens, std::int64_t k) const;
  // The number of whole iterations of such a stretch that have ended `elapsed_s` after it began
  // (the largest j with decode_stretch_s(batch, ctx, j) <= elapsed_s).
  std::int64_t decode_iterations_done(std::int64_t batch, std::int64_t context_tokens,
                                      double elapsed_s) const;

  // Bytes of weights per replica, and KV-cache capacity in tokens (t x HBM x (1 - reserve) - weights,
  // divided by KV bytes per token); <= 0 when the model does not fit.
  double weight_bytes() const;
  std::int64_t kv_capacity_tokens() const;
  // Pipeline stages: the layers of the largest stage (ceil(layers / p)), the weight bytes on one GPU of the stage that
  // holds the most (that stage's layers / t, plus the embeddings or the LM head of the first or last stage), and the
  // KV bytes of one token on one GPU (its stage's layers only). With p = 1: weight_bytes() / t and the whole KV share.
  int stage_layers() const;
  double weight_bytes_per_gpu() const;
  double kv_bytes_per_token_per_gpu() const;
  // The activation hand-off of `tokens` tokens from stage s - 1 to stage s (1 <= s < p): latency + bytes / bandwidth,
  // over NVLink within a node, the network across nodes.
  double handoff_s(std::int64_t tokens, int stage) const;
  bool handoff_crosses_nodes(int stage) const;
  // Expert parallelism: one MoE layer's dispatch and combine for `tokens` tokens, each an all-to-all in which every GPU
  // sends (e - 1)/e x tokens x k x d_model x 2 bytes at the achieved NVLink bus bandwidth, plus a latency.
  double alltoall_s(double tokens) const;
  const Layout& layout() const { return layout_; }
  // Mixture of experts: the expected number of distinct experts (per layer) that `tokens` tokens route to,
  // E (1 - (1 - k/E)^tokens); 0 for a dense model.
  double experts_touched(double tokens) const;
  // Weight bytes read by one iteration of `tokens` tokens (all GPUs): from the active to the total
  // parameters as a batch touches more experts.
  double weight_bytes_read(double tokens) const;
  // The GEMM compute efficiency at token dimension M.
  double gemm_efficiency(double m) const;

  double replica_peak_flops() const;  // t x p x F for the dtype
  const ModelSpec& model() const { return model_; }
  const GpuSpec& gpu() const { return gpu_; }
  Dtype dtype() const { return dtype_; }
  int tensor_parallel() const { return tp_; }
  const CostParams& params() const { return params_; }

 private:
  // One GEMM of token dimension m, n x k weights per GPU: its time and FLOPs on one GPU.
  double gemm_s(double m, double n, double k) const;
  // Everything of an iteration but decode attention (seconds), for `tokens` tokens in `requests` requests.
  OperatorTimes fixed_times(const IterationShape& s) const;
  OperatorTimes plain_fixed_times(const IterationShape& s) const;  // one stage holding every layer (p = 1)
  // Decode attention for one layer: seconds of compute and of memory per token of context.
  double decode_attention_compute_per_token() const;
  double decode_attention_memory_per_token() const;
  double allreduce_s(std::int64_t tokens) const;
  double gemm_flops(double tokens, double logits_tokens) const;  // all GPUs
  double attention_flops_per_pair() const;                        // all layers, all GPUs

  // Everything of an iteration of p stages and m micro-batches but decode attention (Layout with p > 1).
  OperatorTimes pipelined_fixed_times(const IterationShape& s) const;
  // The micro-batches an iteration of `tokens` tokens splits into: min(m, tokens), at least 1.
  std::int64_t micro_batches_for(std::int64_t tokens) const;
  // Decode attention per token of context, as the whole iteration pays it (with p > 1: the largest stage's share,
  // times (m + p - 1) / m for the micro-batches of a batch of `batch`).
  double decode_attention_per_token(std::int64_t batch) const;

  ModelSpec model_;
  GpuSpec gpu_;
  Layout layout_;
  Dtype dtype_;
  int tp_;
  CostParams params_;
  double flops_rate_ = 0.0;  // one GPU, dtype peak
  double bytes_rate_ = 0.0;  // one GPU, HBM
  double weight_bpe_ = 2.0;
  // Each GPU's share of a token's KV bytes: 1/t, or more when t exceeds the KV heads (each GPU keeps at least one
  // KV head, replicated).
  double kv_share_ = 1.0;
  double compute_scale_ = 1.0;  // fp8_efficiency in FP8, else 1
  double decode_attention_s_per_token_ = 0.0;  // all layers, per token of context
  double formula_s_per_token_ = 0.0;  // the reduced cost model: 2 P / (GPUs x F_fp16 x u); 0 when off
  // The last batch a decode stretch was costed for, and the part of its iteration time that does not depend on
  // the context (a stretch is asked about many times; the simulation is single-threaded).
  // The fixed part of a decode iteration by batch size (replicas of one fleet share the cost model and run different
  // batches: a table, filled as asked; NaN: not yet). Batches beyond its size are computed each time.
  double decode_fixed_s(std::int64_t batch) const {
    if (batch >= 0 && batch < static_cast<std::int64_t>(decode_fixed_by_batch_.size())) {
      const double v = decode_fixed_by_batch_[static_cast<std::size_t>(batch)];
      if (v == v) return v;  // not NaN: computed before
    }
    return decode_fixed_s_slow(batch);
  }
  double decode_fixed_s_slow(std::int64_t batch) const;
  mutable std::vector<double> decode_fixed_by_batch_;
};

}  // namespace tf
