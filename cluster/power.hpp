#pragma once
// Power of one GPU as a function of what it does (plain C++, no SimGrid): idle power while its replica runs no
// step; while a step runs, a draw that rises with the step's batch (decode) or tokens (prefill) between the idle
// power and the data sheet's maximum (TDP, GpuSpec::busy_watts).
//
// Measured (H100 SXM, vLLM, Llama-3.1-class models; per GPU):
//   decode at batch 1   ~300 W   ML.ENERGY Benchmark v3.0 (Chung et al., arXiv:2601.22076), as summarised by
//   decode at batch 128 ~580 W   vLLM's fleet simulator (vllm-project/semantic-router, website/docs/fleet-sim/
//                                power-model.md: "batch=1 -> 300 W", "batch=128 -> 600 W" from ML.ENERGY, and
//                                ~583 W at 128 read from the G2G paper's Fig. 2); we take 580 W, as issue 12 does.
//   the shape between them       a logistic in log2(batch) (G2G: Hassan et al., arXiv:2602.05116, Eq. 2), with
//                                the steepness k = 1.0 and midpoint x0 = 4.2 (batch ~18) that the fleet simulator
//                                fitted to G2G's Fig. 2 (its readings: ~435 W at 16, ~507 W at 32, ~557 W at 64).
// Assumed (not measured):
//   - idle power (GpuSpec::idle_watts): the catalogue's assumption (cluster/catalog.cpp).
//   - other GPUs (A100, H200, B200, custom ones): the H100 curve carried over as fractions of (TDP - idle), i.e.
//     P(b) = idle + (TDP - idle) x f(b) with H100's f(1) = 0.36 and f(128) = 0.808; unless the GPU gives its own
//     decode_batch1_watts / decode_batch128_watts (GpuSpec), which set f(1) and f(128) and keep the shape.
//   - prefill: compute-bound. An iteration of n tokens (prompt chunks plus one per decode) draws the decode curve
//     at batch n up to 128 tokens, then rises linearly in log2(n) to TDP at kPrefillFullPowerTokens (2048) tokens
//     and stays there (GEMMs that long run the tensor cores at full rate, which takes the board to its limit);
//     never less than the decode draw of its batch.
//   - a swap step (KV copied over PCIe, no compute) draws the batch-1 decode power.
// Everything is capped at TDP and never below idle.
#include <cstdint>

#include "cluster/catalog.hpp"

namespace tf {

// What a GPU does during a step, as far as its power goes.
enum class PowerActivity { decode, prefill, transfer };

class PowerModel {
 public:
  // The H100 measurements the curve is built from (see above).
  static constexpr double kH100TdpWatts = 700.0;
  static constexpr double kH100IdleWatts = 75.0;
  static constexpr double kH100Batch1Watts = 300.0;
  static constexpr double kH100Batch128Watts = 580.0;
  static constexpr double kLogisticK = 1.0;
  static constexpr double kLogisticX0 = 4.2;
  static constexpr double kPrefillFullPowerTokens = 2048.0;

  // The GPU's curve: its own decode figures when it has them (GpuSpec::decode_batch*_watts > 0), else H100's
  // fractions of (TDP - idle). Throws std::invalid_argument unless idle <= P(1) <= P(128) <= TDP.
  explicit PowerModel(const GpuSpec& gpu);
  // Busy-or-idle: `busy_w` for every step, whatever it does (tokenfleet's model before this one; for checks).
  static PowerModel flat(double idle_w, double busy_w);

  double idle_w() const { return idle_w_; }
  double tdp_w() const { return tdp_w_; }
  // Per GPU, while a step runs: decode iterations of `batch` requests.
  double decode_w(std::int64_t batch) const;
  // An iteration that prefills: `batch` requests in it, `tokens` tokens in all (prompt chunks + decodes).
  double prefill_w(std::int64_t batch, std::int64_t tokens) const;
  double transfer_w() const;
  double step_w(PowerActivity kind, std::int64_t batch, std::int64_t tokens) const;

 private:
  PowerModel() = default;
  double fraction_at(double batch) const;  // of (TDP - idle), decode, uncapped
  double watts(double fraction) const;     // capped to [idle, TDP]
  double idle_w_ = 0.0, tdp_w_ = 0.0;
  double f1_ = 0.0, f128_ = 0.0;           // fractions of (TDP - idle) at batch 1 and 128
  bool flat_ = false;
  double flat_w_ = 0.0;
};

}  // namespace tf
