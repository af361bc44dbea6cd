#include "cluster/cost_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

namespace tf {

namespace {

// Activations travel in 16-bit precision even when weights are FP8.
constexpr double kActivationBytes = 2.0;

}  // namespace

double GemmEfficiencyCurve::at(double tokens) const {
  if (m.empty()) return 0.0;
  if (tokens <= m.front()) return efficiency.front();
  if (tokens >= m.back()) return efficiency.back();
  const auto hi = static_cast<std::size_t>(std::upper_bound(m.begin(), m.end(), tokens) - m.begin());
  const std::size_t lo = hi - 1;
  const double f = (std::log(tokens) - std::log(m[lo])) / (std::log(m[hi]) - std::log(m[lo]));
  return efficiency[lo] + f * (efficiency[hi] - efficiency[lo]);
}

namespace {

Layout tensor_parallel_only(int tensor_parallel) {
  Layout l;
  l.tensor_parallel = tensor_parallel;
  return l;
}

}  // namespace

CostModel::CostModel(ModelSpec model, GpuSpec gpu, Dtype dtype, int tensor_parallel, CostParams params)
    : CostModel(std::move(model), std::move(gpu), dtype, tensor_parallel_only(tensor_parallel), std::move(params)) {}

CostModel::CostModel(ModelSpec model, GpuSpec gpu, Dtype dtype, const Layout& layout, CostParams params)
    : model_(std::move(model)), gpu_(std::move(gpu)), layout_(layout), dtype_(dtype), tp_(layout.tensor_parallel),
      params_(std::move(params)) {
  if (tp_ < 1) throw std::invalid_argument("tensor_parallel must be at least 1");
  const int p = layout_.pipeline_parallel, e = layout_.expert_parallel;
  if (p < 1) throw std::invalid_argument("pipeline_parallel must be at least 1");
  if (e < 1) throw std::invalid_argument("expert_parallel must be at least 1");
  if (layout_.micro_batches < 0) throw std::invalid_argument("micro_batches must not be negative");
  if (model_.layers > 0 && p > model_.layers)
    throw std::invalid_argument("pipeline_parallel (" + std::to_string(p) + ") exceeds " + model_.name + "'s " +
                                std::to_string(model_.layers) + " layers: every stage needs at least one layer");
  if (e > 1 && !model_.moe())
    throw std::invalid_argument("expert_parallel (" + std::to_string(e) + ") needs a mixture-of-experts model; " +
                                model_.name + " is dense (no experts to spread)");
  if (e > 1 && tp_ % e != 0)
    throw std::invalid_argument("expert_parallel (" + std::to_string(e) + ") must divide tensor_parallel (" +
                                std::to_string(tp_) + "): the experts are spread over the GPUs of a stage's "
                                "tensor-parallel group");
  if (e > 1 && model_.experts % e != 0)
    throw std::invalid_argument("expert_parallel (" + std::to_string(e) + ") must divide " + model_.name + "'s " +
                                std::to_string(model_.experts) + " experts per layer");
  if (gpu_.peak_flops(dtype_) <= 0.0) throw std::invalid_argument(gpu_.name + " has no " + to_string(dtype_) + " support");
  flops_rate_ = gpu_.peak_flops(dtype_);
  bytes_rate_ = gpu_.hbm_bandwidth_Bps;
  weight_bpe_ = bytes_per_element(dtype_);
  compute_scale_ = dtype_ == Dtype::fp8 ? params_.fp8_efficiency : 1.0;
  kv_share_ = std::max<double>(model_.kv_heads, tp_) / model_.kv_heads / tp_;
  decode_attention_s_per_token_ =
      model_.layers * std::max(decode_attention_compute_per_token(), decode_attention_memory_per_token());
  if (params_.formula_utilization > 0.0) {
    if (!(params_.formula_utilization <= 1.0))
      throw std::invalid_argument("formula_utilization must be in (0, 1]");
    if (!(gpu_.fp16_flops > 0.0)) throw std::invalid_argument(gpu_.name + " has no dense FP16 FLOP/s figure");
    decode_attention_s_per_token_ = 0.0;
    formula_s_per_token_ = 2.0 * model_.params / (layout_.gpus() * gpu_.fp16_flops * params_.formula_utilization);
  }
}

double CostModel::replica_peak_flops() const { return layout_.gpus() * gpu_.peak_flops(dtype_); }

double CostModel::weight_bytes() const { return model_.params * bytes_per_element(dtype_); }

std::int64_t CostModel::kv_capacity_tokens() const {
  if (layout_.pipeline_parallel > 1) {
    // Every GPU holds its stage's share of each token's KV: the GPU of the heaviest stage runs out first.
    const double free_per_gpu = gpu_.hbm_bytes * (1.0 - params_.kv_reserve_fraction) - weight_bytes_per_gpu();
    const double per_token = kv_bytes_per_token_per_gpu();
    if (free_per_gpu <= 0.0 || per_token <= 0.0) return 0;
    return static_cast<std::int64_t>(std::floor(free_per_gpu / per_token));
  }
  const double free_bytes = tp_ * gpu_.hbm_bytes * (1.0 - params_.kv_reserve_fraction) - weight_bytes();
  // With more GPUs than KV heads, KV heads are replicated: the group holds t x kv_share of each token's KV.
  const double per_token = model_.kv_bytes_per_token(dtype_) * kv_share_ * tp_;
  if (free_bytes <= 0.0 || per_token <= 0.0) return 0;
  return static_cast<std::int64_t>(std::floor(free_bytes / per_token));
}

int CostModel::stage_layers() const {
  const int p = layout_.pipeline_parallel;
  return (model_.layers + p - 1) / p;
}

double CostModel::weight_bytes_per_gpu() const {
  if (layout_.pipeline_parallel <= 1) return weight_bytes() / tp_;
  // The shape's share of the parameters in the heaviest stage (its layers plus the embeddings or the LM head, one
  // vocab x d_model matrix), applied to the model's parameters; with the experts spread over e GPUs each GPU holds
  // experts / e experts of (t / e) shards each: E / t of the expert weights, the same bytes as without e.
  const ModelSpec& m = model_;
  const double experts = m.moe() ? m.experts : 1.0;
  const double router = m.moe() ? static_cast<double>(m.d_model) * m.experts : 0.0;
  const double per_layer = m.attention_params_per_layer() + experts * m.mlp_params() + router;
  const double stage = stage_layers() * per_layer + static_cast<double>(m.vocab) * m.d_model;
  const double total = m.shape_params();
  const double share = total > 0.0 ? std::min(1.0, stage / total) : 1.0 / layout_.pipeline_parallel;
  return weight_bytes() * share / tp_;
}

double CostModel::kv_bytes_per_token_per_gpu() const {
  const double layer_share = model_.layers > 0 ? static_cast<double>(stage_layers()) / model_.layers : 1.0;
  return model_.kv_bytes_per_token(dtype_) * kv_share_ * layer_share;
}

bool CostModel::handoff_crosses_nodes(int stage) const {
  // Stage s starts at GPU s x t of the replica; replicas start on a node's boundary or inside one node.
  return stage > 0 && layout_.gpus() > layout_.gpus_per_node &&
         (stage * tp_) % layout_.gpus_per_node == 0;
}

double CostModel::handoff_s(std::int64_t tokens, int stage) const {
  if (tokens <= 0 || stage <= 0 || stage >= layout_.pipeline_parallel) return 0.0;
  // After the all-reduce each of stage s - 1's t GPUs holds the whole activation (tokens x d_model x 2 bytes); the
  // hand-off sends it once, each GPU its 1/t of it to its counterpart in stage s (t links in parallel).
  const double bytes = static_cast<double>(tokens) * model_.d_model * kActivationBytes / tp_;
  if (handoff_crosses_nodes(stage)) {
    // Across nodes all t pairs share the node's network link: the whole activation over network_Bps.
    return layout_.network_latency_s + bytes * tp_ / layout_.network_Bps;
  }
  return layout_.nvlink_latency_s + bytes / (gpu_.nvlink_Bps / 2.0);
}

double CostModel::alltoall_s(double tokens) const {
  const int e = layout_.expert_parallel;
  if (e <= 1 || tokens <= 0.0 || !model_.moe()) return 0.0;
  const double bytes = (e - 1.0) / e * tokens * model_.experts_per_token * model_.d_model * kActivationBytes;
  const double bus_Bps = gpu_.nvlink_Bps / 2.0 * params_.allreduce_bus_efficiency;
  // Dispatch and combine: two all-to-alls per MoE layer.
  return 2.0 * (bytes / bus_Bps + params_.allreduce_latency_s);
}

std::int64_t CostModel::micro_batches_for(std::int64_t tokens) const {
  const std::int64_t m = layout_.micro_batch_count();
  return std::max<std::int64_t>(1, std::min<std::int64_t>(m, tokens));
}

double CostModel::decode_attention_per_token(std::int64_t batch) const {
  const int p = layout_.pipeline_parallel;
  if (p <= 1) return decode_attention_s_per_token_;
  const double mb = static_cast<double>(micro_batches_for(batch));
  return decode_attention_s_per_token_ * stage_layers() / model_.layers * (mb + p - 1.0) / mb;
}

double CostModel::experts_touched(double tokens) const {
  if (!model_.moe() || tokens <= 0.0) return 0.0;
  const double e = model_.experts, k = model_.experts_per_token;
  // Each token picks k distinct experts of E: a given expert is missed by one token with probability 1 - k/E.
  return e * (1.0 - std::pow(1.0 - k / e, tokens));
}

double CostModel::gemm_efficiency(double m) const {
  if (params_.gemm_profile) return params_.gemm_profile->at(m);  // measured in this dtype
  return compute_scale_ * params_.mfu * m / (m + params_.gemm_half_m);
}

double CostModel::gemm_s(double m, double n, double k) const {
  if (m <= 0.0) return 0.0;
  const double flops = 2.0 * m * n * k;
  const double bytes = n * k * weight_bpe_ + (m * k + m * n) * kActivationBytes;
  return std::max(flops / (flops_rate_ * gemm_efficiency(m)), bytes / (bytes_rate_ * params_.mbu));
}

double CostModel::weight_bytes_read(double tokens) const {
  const ModelSpec& m = model_;
  const double experts = m.moe() ? experts_touched(tokens) : 1.0;
  const double router = m.moe() ? static_cast<double>(m.d_model) * m.experts : 0.0;
  const double per_layer = m.attention_params_per_layer() + experts * m.mlp_params() + router;
  return (m.layers * per_layer + static_cast<double>(m.vocab) * m.d_model) * weight_bpe_;
}

double CostModel::allreduce_s(std::int64_t tokens) const {
  if (tp_ <= 1 || tokens <= 0) return 0.0;
  // Two all-reduces per layer (after attention and after the MLP). Bus-bandwidth model: each GPU moves
  // 2 (t-1)/t of the message at the achieved bus bandwidth, plus a latency per all-reduce.
  const double message_bytes = static_cast<double>(tokens) * model_.d_model * kActivationBytes;
  const double bus_Bps = gpu_.nvlink_Bps / 2.0 * params_.allreduce_bus_efficiency;
  const double one = 2.0 * (tp_ - 1) / tp_ * message_bytes / bus_Bps + params_.allreduce_latency_s;
  return 2.0 * model_.layers * one;
}

OperatorTimes CostModel::fixed_times(const IterationShape& s) const {
  if (formula_s_per_token_ > 0.0) {
    OperatorTimes o;
    o.formula = formula_s_per_token_ * static_cast<double>(s.prefill_tokens + s.decode_tokens);
    return o;
  }
  return layout_.pipeline_parallel > 1 ? pipelined_fixed_times(s) : plain_fixed_times(s);
}

OperatorTimes CostModel::pipelined_fixed_times(const IterationShape& s) const {
  // GPipe / Megatron-LM schedule (Huang et al. 2019; Narayanan et al. 2021): the batch splits into m micro-batches
  // of ceil(x / m) of each count; each stage takes its share of the layers of one micro-batch (the heaviest: ceil(L/p)
  // layers plus the LM head of the last stage); m micro-batches pass the heaviest stage, and (p - 1) more stage times
  // fill and drain the pipeline (the bubble); the first micro-batch's p - 1 hand-offs lie on the critical path.
  const int p = layout_.pipeline_parallel;
  const std::int64_t mb = micro_batches_for(s.prefill_tokens + s.decode_tokens);
  auto part = [mb](std::int64_t x) { return (x + mb - 1) / mb; };
  IterationShape micro;
  micro.prefill_tokens = part(s.prefill_tokens);
  micro.prefill_attention_context = s.prefill_attention_context / static_cast<double>(mb);
  micro.prefill_sequences = part(s.prefill_sequences);
  micro.decode_tokens = part(s.decode_tokens);
  micro.decode_context_tokens = part(s.decode_context_tokens);
  micro.prefill_prefix_tokens = part(s.prefill_prefix_tokens);
  const OperatorTimes one = plain_fixed_times(micro);
  const double share = static_cast<double>(stage_layers()) / model_.layers;
  const double m = static_cast<double>(mb);
  OperatorTimes o;
  o.qkv = m * share * one.qkv;
  o.attn_out = m * share * one.attn_out;
  o.mlp = m * share * one.mlp;
  o.router = m * share * one.router;
  o.attention_prefill = m * share * one.attention_prefill;
  o.allreduce = m * share * one.allreduce;
  o.alltoall = m * share * one.alltoall;
  o.lm_head = m * one.lm_head;
  const double stage = share * (one.qkv + one.attn_out + one.mlp + one.router + one.attention_prefill + one.allreduce +
                                one.alltoall) +
                       one.lm_head;
  o.bubble = (p - 1.0) * stage;
  for (int st = 1; st < p; ++st) o.handoff += handoff_s(micro.prefill_tokens + micro.decode_tokens, st);
  // The host's overhead, once per iteration, for the whole batch.
  o.overhead = params_.overhead_s +
               params_.per_request_overhead_s * static_cast<double>(s.decode_tokens + s.prefill_sequences) +
               params_.per_prefill_overhead_s * static_cast<double>(s.prefill_sequences);
  return o;
}

OperatorTimes CostModel::plain_fixed_times(const IterationShape& s) const {
  const ModelSpec& m = model_;
  const double t = tp_;
  const double tokens = static_cast<double>(s.prefill_tokens + s.decode_tokens);
  const double d = m.d_model, hd = m.head_dim, ff = m.ffn_dim;
  const double layers = m.layers;
  OperatorTimes o;
  o.qkv = layers * gemm_s(tokens, (m.heads / t + 2.0 * std::max(m.kv_heads / t, 1.0)) * hd, d);
  o.attn_out = layers * gemm_s(tokens, d, m.heads * hd / t);
  auto mlp_at = [&](double rows) {
    return m.gated_mlp ? gemm_s(rows, 2.0 * ff / t, d) + gemm_s(rows, d, ff / t)
                       : gemm_s(rows, ff / t, d) + gemm_s(rows, d, ff / t);
  };
  if (m.moe() && layout_.expert_parallel > 1) {
    // Expert parallelism: each GPU holds experts / e experts, each sharded over t / e GPUs; it runs the experts of
    // its own the batch touches (touched / e on average), each on the tokens routed to it.
    const double e = layout_.expert_parallel, te = t / e;
    const double touched = experts_touched(tokens);
    auto expert_at = [&](double rows) {
      return m.gated_mlp ? gemm_s(rows, 2.0 * ff / te, d) + gemm_s(rows, d, ff / te)
                         : gemm_s(rows, ff / te, d) + gemm_s(rows, d, ff / te);
    };
    if (touched > 0.0) o.mlp = layers * touched / e * expert_at(tokens * m.experts_per_token / touched);
    o.router = layers * gemm_s(tokens, m.experts, d);
    o.alltoall = layers * alltoall_s(tokens);
  } else if (m.moe()) {
    const double touched = experts_touched(tokens);
    if (touched > 0.0) o.mlp = layers * touched * mlp_at(tokens * m.experts_per_token / touched);
    o.router = layers * gemm_s(tokens, m.experts, d);
  } else {
    o.mlp = layers * mlp_at(tokens);
  }
  if (s.prefill_tokens > 0) {
    const double flops = 4.0 * (m.heads / t) * hd * s.prefill_attention_context;
    const double kv_per_layer = m.kv_bytes_per_token(dtype_) / layers * kv_share_;
    // The KV of the prompt written, and that of earlier chunks read.
    const double bytes = kv_per_layer * static_cast<double>(s.prefill_tokens + s.prefill_prefix_tokens);
    o.attention_prefill = layers * std::max(flops / (flops_rate_ * compute_scale_ * params_.attention_prefill_efficiency),
                                            bytes / (bytes_rate_ * params_.mbu));
  }
  const double logits = static_cast<double>(s.decode_tokens + s.prefill_sequences);
  o.lm_head = gemm_s(logits, m.vocab / t, d);
  o.allreduce = allreduce_s(s.prefill_tokens + s.decode_tokens);
  o.overhead = params_.overhead_s +
               params_.per_request_overhead_s * static_cast<double>(s.decode_tokens + s.prefill_sequences) +
               params_.per_prefill_overhead_s * static_cast<double>(s.prefill_sequences);
  return o;
}

double CostModel::decode_attention_compute_per_token() const {
  return 4.0 * (model_.heads / static_cast<double>(tp_)) * model_.head_dim /
         (flops_rate_ * compute_scale_ * params_.attention_prefill_efficiency);
}

double CostModel::decode_attention_memory_per_token() const {
  return model_.kv_bytes_per_token(dtype_) / model_.layers * kv_share_ / (bytes_rate_ * params_.attention_decode_efficiency);
}

OperatorTimes CostModel::operator_times(const IterationShape& s) const {
  OperatorTimes o = fixed_times(s);
  if (formula_s_per_token_ > 0.0) return o;
  if (layout_.pipeline_parallel > 1) {
    // Each micro-batch reads its share of the context on each stage: m of them on the heaviest stage, and the bubble's
    // p - 1 stage times.
    const int p = layout_.pipeline_parallel;
    const double mb = static_cast<double>(micro_batches_for(s.prefill_tokens + s.decode_tokens));
    const double per_micro = decode_attention_s_per_token_ * stage_layers() / model_.layers *
                             static_cast<double>(s.decode_context_tokens) / mb;
    o.attention_decode = mb * per_micro;
    o.bubble += (p - 1.0) * per_micro;
    return o;
  }
  o.attention_decode = decode_attention_s_per_token_ * static_cast<double>(s.decode_context_tokens);
  return o;
}

double CostModel::attention_flops_per_pair() const {
  // Q K^T and P V: 2 x head_dim each, per head, per (query, key) pair, every layer.
  return 4.0 * model_.heads * model_.head_dim * model_.layers;
}

double CostModel::gemm_flops(double tokens, double logits_tokens) const {
  const ModelSpec& m = model_;
  const double used = m.moe() ? m.experts_per_token : 1.0;
  const double router = m.moe() ? static_cast<double>(m.d_model) * m.experts : 0.0;
  const double per_token = m.layers * (m.attention_params_per_layer() + used * m.mlp_params() + router);
  return 2.0 * tokens * per_token + 2.0 * logits_tokens * m.d_model * static_cast<double>(m.vocab);
}

double CostModel::iteration_flops(const IterationShape& s) const {
  const double tokens = static_cast<double>(s.prefill_tokens + s.decode_tokens);
  if (formula_s_per_token_ > 0.0) return 2.0 * model_.params * tokens;
  return gemm_flops(tokens, static_cast<double>(s.decode_tokens + s.prefill_sequences)) +
         attention_flops_per_pair() * (s.prefill_attention_context + static_cast<double>(s.decode_context_tokens));
}

double CostModel::iteration_bytes(const IterationShape& s) const {
  const double kv = model_.kv_bytes_per_token(dtype_);
  return weight_bytes_read(static_cast<double>(s.prefill_tokens + s.decode_tokens)) +
         kv * static_cast<double>(s.decode_context_tokens + s.prefill_tokens + s.prefill_prefix_tokens);
}

double CostModel::iteration_time_s(const IterationShape& s) const { return operator_times(s).total(); }

double CostModel::decode_stretch_s(std::int64_t batch, std::int64_t context_tokens, std::int64_t k) const {
  if (k <= 0 || batch <= 0) return 0.0;
  const double fixed = decode_fixed_s(batch);
  const double per_token = decode_attention_per_token(batch);
  // Iteration i (from 0) reads a context of C + b i: the sum over k iterations is k C + b k (k - 1) / 2.
  const double kk = static_cast<double>(k), b = static_cast<double>(batch);
  const double context_sum = kk * static_cast<double>(context_tokens) + b * kk * (kk - 1.0) / 2.0;
  return kk * fixed + per_token * context_sum;
}

double CostModel::decode_stretch_flops(std::int64_t batch, std::int64_t context_tokens, std::int64_t k) const {
  if (k <= 0 || batch <= 0) return 0.0;
  const double kk = static_cast<double>(k), b = static_cast<double>(batch);
  if (formula_s_per_token_ > 0.0) return kk * 2.0 * model_.params * b;
  const double context_sum = kk * static_cast<double>(context_tokens) + b * kk * (kk - 1.0) / 2.0;
  return kk * gemm_flops(b, b) + attention_flops_per_pair() * context_sum;
}

double CostModel::decode_fixed_s_slow(std::int64_t batch) const {
  constexpr std::int64_t kTable = 1 << 16;
  auto compute = [this, batch] {
    IterationShape s;
    s.decode_tokens = batch;
    return fixed_times(s).total();
  };
  if (batch >= kTable) return compute();
  auto& table = decode_fixed_by_batch_;
  if (static_cast<std::int64_t>(table.size()) <= batch)
    table.resize(static_cast<std::size_t>(std::max<std::int64_t>(batch + 1, 2 * static_cast<std::int64_t>(table.size()))),
                 std::numeric_limits<double>::quiet_NaN());
  double& v = table[static_cast<std::size_t>(batch)];
  if (std::isnan(v)) v = compute();
  return v;
}

std::int64_t CostModel::decode_iterations_done(std::int64_t batch, std::int64_t context_tokens,
                                               double elapsed_s) const {
  if (elapsed_s <= 0.0 || batch <= 0) return 0;
  // The largest k with stretch(k) <= elapsed. stretch(k) = k F + p (k C + b k (k - 1) / 2) is a quadratic in k,
  // A k^2 + B k with A = p b / 2 and B = F + p C - A, increasing for k >= 0: its root gives k to within rounding,
  // and the exact stretch, checked on either side, settles it (the same answer as a search over stretch(k)).
  const double fixed = decode_fixed_s(batch);
  const double per_token = decode_attention_per_token(batch);
  const double a = per_token * static_cast<double>(batch) / 2.0;
  const double b = fixed + per_token * static_cast<double>(context_tokens) - a;
  double root = a > 0.0 ? (-b + std::sqrt(b * b + 4.0 * a * elapsed_s)) / (2.0 * a) : elapsed_s / b;
  if (!std::isfinite(root) || root < 0.0) root = 0.0;
  std::int64_t k = static_cast<std::int64_t>(std::min(root, 9.0e15));
  while (k > 0 && decode_stretch_s(batch, context_tokens, k) > elapsed_s) --k;
  while (decode_stretch_s(batch, context_tokens, k + 1) <= elapsed_s) ++k;
  return k;
}

}  // namespace tf
