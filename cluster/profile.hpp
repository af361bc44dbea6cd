#pragma once
// A measured profile of one GPU (tools/profile/profile_gpu.py writes it): kernel times that take the place of
// the cost model's analytic efficiencies (`[cost] profile = "file.csv"`). Plain C++: no SimGrid.
//
// The file is CSV with a header; lines starting with '#' are comments:
//   gpu,dtype,op,m,n,k,heads,kv_heads,head_dim,context,batch,seconds
// op = gemm (m x k times k x n), attention_prefill (batch prompts of `context` tokens, causal),
// attention_decode (batch requests, one query each over `context` tokens of KV), allreduce (n bytes over k GPUs),
// layer (a whole Llama-shaped layer: m tokens; kept for checking, not fitted).
#include <string>

#include "cluster/catalog.hpp"
#include "cluster/cost_model.hpp"

namespace tf {

struct ProfileFit {
  CostParams params;          // the given parameters with the measured ones in place
  int gemm_rows = 0, attention_prefill_rows = 0, attention_decode_rows = 0, allreduce_rows = 0, layer_rows = 0;
};

// Reads `path`, checks that it was measured on `gpu` in `dtype`, and returns `base` with what the file measures
// in place: the GEMM efficiency curve (by M), mbu (the best bandwidth of small-M GEMMs), the attention
// efficiencies (medians), and the all-reduce latency and bus efficiency (a least-squares line, when the file has
// two or more all-reduce sizes). Throws std::runtime_error "path:line: field: what was expected".
ProfileFit load_profile(const std::string& path, const GpuSpec& gpu, Dtype dtype, const CostParams& base);

}  // namespace tf
