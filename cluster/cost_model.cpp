#include "cluster/cost_model.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace tf {

namespace {

// Activations travel in 16-bit precision even when weights are FP8.
constexpr double kActivationBytes = 2.0;

// Sum over integer i in [a, b) of (base + slope * i).
double linear_sum(double base, double slope, std::int64_t a, std::int64_t b) {
  if (b <= a) return 0.0;
  const double n = static_cast<double>(b - a);
  return n * base + slope * (static_cast<double>(a) + static_cast<double>(b - 1)) * n / 2.0;
}

// Sum over integer i in [0, k) of max(a1 + s1 i, a2 + s2 i).
double sum_of_max_lines(double a1, double s1, double a2, double s2, std::int64_t k) {
  if (k <= 0) return 0.0;
  if (s1 == s2) return a1 >= a2 ? linear_sum(a1, s1, 0, k) : linear_sum(a2, s2, 0, k);
  // Line 1 is above line 2 where (a1 - a2) + (s1 - s2) i >= 0.
  const double cross = (a2 - a1) / (s1 - s2);
  std::int64_t split;
  if (cross <= 0.0) {
    split = 0;
  } else if (cross >= static_cast<double>(k)) {
    split = k;
  } else {
    split = static_cast<std::int64_t>(std::ceil(cross));
  }
  if (s1 > s2) {  // line 2 first, line 1 from `split` on
    return linear_sum(a2, s2, 0, split) + linear_sum(a1, s1, split, k);
  }
  return linear_sum(a1, s1, 0, split) + linear_sum(a2, s2, split, k);
}

}  // namespace

CostModel::CostModel(ModelSpec model, GpuSpec gpu, Dtype dtype, int tensor_parallel, CostParams params)
    : model_(std::move(model)), gpu_(std::move(gpu)), dtype_(dtype), tp_(tensor_parallel), params_(params) {
  if (tp_ < 1) throw std::invalid_argument("tensor_parallel must be at least 1");
  if (gpu_.peak_flops(dtype_) <= 0.0) throw std::invalid_argument(gpu_.name + " has no " + to_string(dtype_) + " support");
}

double CostModel::replica_peak_flops() const { return tp_ * gpu_.peak_flops(dtype_); }

double CostModel::weight_bytes() const { return model_.params * bytes_per_element(dtype_); }

std::int64_t CostModel::kv_capacity_tokens() const {
  const double free_bytes = tp_ * gpu_.hbm_bytes * (1.0 - params_.kv_reserve_fraction) - weight_bytes();
  const double per_token = model_.kv_bytes_per_token(dtype_);
  if (free_bytes <= 0.0 || per_token <= 0.0) return 0;
  return static_cast<std::int64_t>(std::floor(free_bytes / per_token));
}

double CostModel::allreduce_s(std::int64_t tokens) const {
  if (tp_ <= 1 || tokens <= 0) return 0.0;
  // Two all-reduces per layer (after attention and after the MLP), ring algorithm over NVLink:
  // each GPU sends and receives 2 (t-1)/t of the message, at half the bidirectional NVLink rate.
  const double message_bytes = static_cast<double>(tokens) * model_.d_model * kActivationBytes;
  const double per_direction_Bps = gpu_.nvlink_Bps / 2.0;
  const double one = 2.0 * (tp_ - 1) / tp_ * message_bytes / per_direction_Bps + params_.allreduce_latency_s;
  return 2.0 * model_.layers * one;
}

double CostModel::iteration_flops(const IterationShape& s) const {
  const double tokens = static_cast<double>(s.prefill_tokens + s.decode_tokens);
  double flops = tokens * 2.0 * model_.active_params;
  if (params_.attention_flops) {
    flops += 2.0 * model_.layers * model_.d_model *
             (s.prefill_attention_context + static_cast<double>(s.decode_context_tokens));
  }
  return flops;
}

double CostModel::iteration_bytes(const IterationShape& s) const {
  const double kv = model_.kv_bytes_per_token(dtype_);
  return weight_bytes() +
         kv * static_cast<double>(s.decode_context_tokens + s.prefill_tokens + s.prefill_prefix_tokens);
}

double CostModel::iteration_time_s(const IterationShape& s) const {
  const double compute_s = iteration_flops(s) / (replica_peak_flops() * params_.mfu);
  const double memory_s = iteration_bytes(s) / (tp_ * gpu_.hbm_bandwidth_Bps * params_.mbu);
  return std::max(compute_s, memory_s) + allreduce_s(s.prefill_tokens + s.decode_tokens) + params_.overhead_s;
}

double CostModel::decode_stretch_s(std::int64_t batch, std::int64_t context_tokens, std::int64_t k) const {
  if (k <= 0 || batch <= 0) return 0.0;
  const double b = static_cast<double>(batch);
  const double flops_rate = replica_peak_flops() * params_.mfu;
  const double bytes_rate = tp_ * gpu_.hbm_bandwidth_Bps * params_.mbu;
  const double kv = model_.kv_bytes_per_token(dtype_);
  const double attn = params_.attention_flops ? 2.0 * model_.layers * model_.d_model : 0.0;
  // Iteration i: context = C + b i.
  const double c0 = (b * 2.0 * model_.active_params + attn * static_cast<double>(context_tokens)) / flops_rate;
  const double cs = attn * b / flops_rate;
  const double m0 = (weight_bytes() + kv * static_cast<double>(context_tokens)) / bytes_rate;
  const double ms = kv * b / bytes_rate;
  const double fixed = allreduce_s(batch) + params_.overhead_s;
  return sum_of_max_lines(c0, cs, m0, ms, k) + static_cast<double>(k) * fixed;
}

double CostModel::decode_stretch_flops(std::int64_t batch, std::int64_t context_tokens, std::int64_t k) const {
  if (k <= 0 || batch <= 0) return 0.0;
  const double b = static_cast<double>(batch);
  const double attn = params_.attention_flops ? 2.0 * model_.layers * model_.d_model : 0.0;
  return linear_sum(b * 2.0 * model_.active_params + attn * static_cast<double>(context_tokens), attn * b, 0, k);
}

std::int64_t CostModel::decode_iterations_done(std::int64_t batch, std::int64_t context_tokens,
                                               double elapsed_s) const {
  if (elapsed_s <= 0.0 || batch <= 0) return 0;
  // Every iteration lasts at least the first one, so the answer is at most elapsed / first.
  const double first = decode_stretch_s(batch, context_tokens, 1);
  std::int64_t hi = static_cast<std::int64_t>(std::floor(elapsed_s / first)) + 1;
  std::int64_t lo = 0;  // invariant: stretch(lo) <= elapsed, stretch(hi) > elapsed
  while (decode_stretch_s(batch, context_tokens, hi) <= elapsed_s) hi *= 2;
  while (hi - lo > 1) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    if (decode_stretch_s(batch, context_tokens, mid) <= elapsed_s) lo = mid; else hi = mid;
  }
  return lo;
}

}  // namespace tf
