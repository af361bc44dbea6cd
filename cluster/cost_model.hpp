#pragma once
// The cost of one iteration of a replica (design.md, "The cost model"):
//   flops = tokens x 2 x P_active (+ attention 2 x layers x context x d_model, opt-in)
//   bytes = weights + KV cache read (+ KV written by prefill tokens)
//   time  = max(flops / (t F mfu), bytes / (t B mbu)) + tensor-parallel all-reduce + overhead
// Plain C++: no SimGrid.
#include <cstdint>

#include "cluster/catalog.hpp"

namespace tf {

struct CostParams {
  // Calibrated against docs/reference/calibration.md (TensorRT-LLM throughput and TTFT tables);
  // tests/test_calibration.cpp checks the figures and README.md lists the errors.
  double mfu = 0.60;                  // achievable fraction of peak FLOP/s
  double mbu = 0.80;                  // achievable fraction of HBM bandwidth
  double overhead_s = 0.003;          // fixed cost per iteration (scheduling, kernel launches)
  double allreduce_latency_s = 20e-6; // per all-reduce (2 all-reduces per layer)
  double kv_reserve_fraction = 0.10; // share of HBM kept free (activations, fragmentation)
  bool attention_flops = false;      // add Kaplan's attention FLOPs term
};

// What one iteration processes.
struct IterationShape {
  std::int64_t prefill_tokens = 0;         // prompt tokens prefilled in this iteration
  double prefill_attention_context = 0.0;  // sum over prefill tokens of their position (sum p(p+1)/2)
  std::int64_t decode_tokens = 0;          // one per decoding request
  std::int64_t decode_context_tokens = 0;  // sum of the decoding requests' context lengths (KV read)
  std::int64_t prefill_prefix_tokens = 0;  // chunked prefill: KV of earlier chunks read by this iteration's chunks
};

class CostModel {
 public:
  CostModel(ModelSpec model, GpuSpec gpu, Dtype dtype, int tensor_parallel, CostParams params);

  double iteration_flops(const IterationShape& s) const;
  double iteration_bytes(const IterationShape& s) const;
  double iteration_time_s(const IterationShape& s) const;

  // A decode-only stretch: `batch` requests decoding, `context_tokens` their summed context before
  // the first iteration; each iteration adds `batch` to the context. Time of k iterations, in closed
  // form (the sum of a max of two linear functions of the iteration index).
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

  double replica_peak_flops() const;  // t x F for the dtype
  const ModelSpec& model() const { return model_; }
  const GpuSpec& gpu() const { return gpu_; }
  Dtype dtype() const { return dtype_; }
  int tensor_parallel() const { return tp_; }
  const CostParams& params() const { return params_; }

 private:
  double allreduce_s(std::int64_t tokens) const;
  ModelSpec model_;
  GpuSpec gpu_;
  Dtype dtype_;
  int tp_;
  CostParams params_;
};

}  // namespace tf
