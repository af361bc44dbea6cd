// The named engine profiles: each serving engine's efficiencies and overheads for the operator-level cost model.
// The figures below are the output of `tokenfleet calibrate --fit` on the training rows of
// cluster/calibration/figures.csv (see README.md, "The cost model v2", for the fit, its held-out split and the
// errors); `tests/test_calibration.cpp` checks them against every figure.
#include <algorithm>

#include "cluster/cost_model.hpp"

namespace tf {

namespace {

CostParams profile(std::string name, double mfu, double half_m, double fp8, double mbu, double attn_prefill, double attn_decode,
                   double ar_bus, double ar_latency_us, double overhead_ms, double per_request_us, double per_prefill_us,
                   double reserve) {
  CostParams p;
  p.engine = std::move(name);
  p.mfu = mfu;
  p.gemm_half_m = half_m;
  p.fp8_efficiency = fp8;
  p.mbu = mbu;
  p.attention_prefill_efficiency = attn_prefill;
  p.attention_decode_efficiency = attn_decode;
  p.allreduce_bus_efficiency = ar_bus;
  p.allreduce_latency_s = ar_latency_us * 1e-6;
  p.overhead_s = overhead_ms * 1e-3;
  p.per_request_overhead_s = per_request_us * 1e-6;
  p.per_prefill_overhead_s = per_prefill_us * 1e-6;
  p.kv_reserve_fraction = reserve;
  return p;
}

const std::vector<CostParams>& profiles() {
  // clang-format off
  //                                   mfu   M_half  fp8   mbu  attn_pf attn_dec ar_bus ar_lat_us ovh_ms per_req_us pf_us reserve
  // trtllm is CostParams's defaults (cluster/cost_model.hpp), listed first: all its knobs fitted on 20 figures.
  // vllm and sglang (7 training figures each) fit mfu, mbu, the two attention efficiencies and the three overheads;
  // M_half, the FP8 share and the all-reduce keep trtllm's values. Their per-prefill overhead (7.7 ms, 3.8 ms) is the
  // per-request cost of the figures' online benchmark (API server, tokenization), which the cost model charges to
  // the iteration that prefills the request.
  static const std::vector<CostParams> p = {
      CostParams{},
      profile("vllm",   0.8063, 46.6, 0.7658, 0.8714, 0.9500, 0.9500, 0.7662, 84.10, 3.477, 0.010, 7651.805, 0.10),
      profile("sglang", 0.7465, 46.6, 0.7658, 0.6540, 0.7793, 0.9500, 0.7662, 84.10, 1.321, 31.562, 3831.356, 0.10),
  };
  // clang-format on
  return p;
}

}  // namespace

const std::vector<std::string>& engine_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const CostParams& p : profiles()) n.push_back(p.engine);
    return n;
  }();
  return names;
}

std::optional<CostParams> engine_profile(const std::string& name) {
  const auto& all = profiles();
  const auto it = std::find_if(all.begin(), all.end(), [&](const CostParams& p) { return p.engine == name; });
  if (it == all.end()) return std::nullopt;
  return *it;
}

}  // namespace tf
