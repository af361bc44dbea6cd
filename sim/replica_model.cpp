#include "sim/replica_model.hpp"

#include <algorithm>
#include <limits>

namespace tf {

ReplicaModel::ReplicaModel(int index, const CostModel& cost, const BatchingPolicy& policy, double window_start_s,
                           double window_end_s)
    : index_(index),
      cost_(cost),
      policy_(policy),
      window_start_s_(window_start_s),
      window_end_s_(window_end_s),
      kv_capacity_(cost.kv_capacity_tokens()) {}

ReplicaView ReplicaModel::view() const {
  ReplicaView v;
  v.running_requests = static_cast<int>(running_.size());
  v.kv_reserved_tokens = kv_reserved_;
  v.kv_capacity_tokens = kv_capacity_;
  return v;
}

bool ReplicaModel::could_admit(const std::deque<Request>& waiting) const {
  return !waiting.empty() && policy_.admit(view(), waiting) > 0;
}

const ReplicaModel::Step& ReplicaModel::begin_step(double now_s, std::deque<Request>& waiting,
                                                   bool exact_iterations) {
  step_ = Step{};
  step_.start_s = step_.end_s = now_s;
  newly_admitted_ = 0;
  const std::size_t admit = waiting.empty() ? 0 : policy_.admit(view(), waiting);
  if (admit > 0) {
    IterationShape shape;
    shape.decode_tokens = static_cast<std::int64_t>(running_.size());
    shape.decode_context_tokens = context_tokens_;
    for (std::size_t i = 0; i < admit; ++i) {
      const Request r = waiting.front();
      waiting.pop_front();
      Running run;
      run.record.id = r.id;
      run.record.arrival_s = r.arrival_s;
      run.record.prompt_tokens = r.prompt_tokens;
      run.record.output_tokens = r.output_tokens;
      run.record.replica = index_;
      run.record.admitted_s = now_s;
      running_.push_back(run);
      kv_reserved_ += kv_reservation_tokens(r);
      const double p = static_cast<double>(r.prompt_tokens);
      shape.prefill_tokens += r.prompt_tokens;
      shape.prefill_attention_context += p * (p + 1.0) / 2.0;
    }
    newly_admitted_ = admit;
    step_.kind = StepKind::prefill;
    step_.iterations = 1;
    step_.end_s = now_s + cost_.iteration_time_s(shape);
    step_flops_ = cost_.iteration_flops(shape);
    step_batch_ = static_cast<std::int64_t>(running_.size());
    step_prompt_tokens_ = shape.prefill_tokens;
    return step_;
  }
  if (running_.empty()) return step_;
  // Decode-only: every running request has produced its first token; the stretch lasts until the
  // first of them finishes.
  std::int64_t k = std::numeric_limits<std::int64_t>::max();
  for (const Running& r : running_) k = std::min(k, r.record.output_tokens - r.generated);
  if (exact_iterations) k = 1;
  const auto b = static_cast<std::int64_t>(running_.size());
  step_.kind = StepKind::decode;
  step_.iterations = k;
  step_batch_ = b;
  if (exact_iterations) {
    IterationShape shape;
    shape.decode_tokens = b;
    shape.decode_context_tokens = context_tokens_;
    step_.end_s = now_s + cost_.iteration_time_s(shape);
    step_flops_ = cost_.iteration_flops(shape);
  } else {
    step_.end_s = now_s + cost_.decode_stretch_s(b, context_tokens_, k);
    step_flops_ = cost_.decode_stretch_flops(b, context_tokens_, k);
  }
  return step_;
}

std::int64_t ReplicaModel::iterations_by(double t_s) const {
  // Iterations of the current decode stretch that have ended at the first boundary at or after t_s.
  const std::int64_t b = step_batch_;
  std::int64_t j = cost_.decode_iterations_done(b, context_tokens_, t_s - step_.start_s);
  if (step_.start_s + cost_.decode_stretch_s(b, context_tokens_, j) < t_s) ++j;
  return std::min(j, step_.iterations);
}

double ReplicaModel::next_boundary_after(double t_s) const {
  if (step_.kind == StepKind::none) return t_s;
  if (step_.kind != StepKind::decode || t_s >= step_.end_s) return std::max(t_s, step_.end_s);
  const std::int64_t j = iterations_by(t_s);
  if (j == step_.iterations) return step_.end_s;
  return step_.start_s + cost_.decode_stretch_s(step_batch_, context_tokens_, j);
}

double ReplicaModel::end_at_boundary_after(double t_s) {
  if (step_.kind != StepKind::decode || t_s >= step_.end_s) return step_.end_s;
  const std::int64_t b = step_batch_;
  const std::int64_t j = iterations_by(t_s);
  if (j == step_.iterations) return step_.end_s;
  step_.iterations = j;
  step_.end_s = step_.start_s + cost_.decode_stretch_s(b, context_tokens_, j);
  step_flops_ = cost_.decode_stretch_flops(b, context_tokens_, j);
  return step_.end_s;
}

void ReplicaModel::account(double start_s, double end_s, const StepWork& work) {
  const double length = end_s - start_s;
  if (length <= 0.0) return;
  if (observer_)
    observer_(StepActivity{start_s, end_s, static_cast<double>(step_batch_), static_cast<double>(kv_reserved_),
                           work.iterations, work.flops, work.prompt_tokens, work.output_tokens});
  const double lo = std::max(start_s, window_start_s_);
  const double hi = std::min(end_s, window_end_s_);
  if (hi <= lo) return;
  const double share = (hi - lo) / length;
  totals_.busy_s += hi - lo;
  totals_.flops += work.flops * share;
  totals_.iterations += work.iterations * share;
  totals_.batched_requests += work.batched * share;
  totals_.prompt_tokens += work.prompt_tokens * share;
  totals_.output_tokens += work.output_tokens * share;
}

void ReplicaModel::finish_step(std::vector<RequestRecord>& finished) {
  if (step_.kind == StepKind::none) return;
  const double end = step_.end_s;
  const std::int64_t k = step_.iterations;
  StepWork work;
  work.flops = step_flops_;
  work.iterations = static_cast<double>(k);
  work.batched = static_cast<double>(step_batch_ * k);
  // Every request in the batch produces one token per iteration; a prefill step also prefills its prompts.
  work.output_tokens = static_cast<double>(step_batch_ * k);
  work.prompt_tokens = step_.kind == StepKind::prefill ? static_cast<double>(step_prompt_tokens_) : 0.0;
  account(step_.start_s, end, work);
  if (step_.kind == StepKind::prefill) {
    const std::size_t first_new = running_.size() - newly_admitted_;
    for (std::size_t i = 0; i < running_.size(); ++i) {
      Running& r = running_[i];
      if (i >= first_new) {
        r.generated = 1;
        r.record.first_token_s = end;
        context_tokens_ += r.record.prompt_tokens + 1;
      } else {
        r.generated += 1;
        context_tokens_ += 1;
      }
    }
  } else {
    for (Running& r : running_) r.generated += k;
    context_tokens_ += k * static_cast<std::int64_t>(running_.size());
  }
  newly_admitted_ = 0;
  // Remove finished requests, keeping the others in admission order.
  std::size_t out = 0;
  for (std::size_t i = 0; i < running_.size(); ++i) {
    Running& r = running_[i];
    if (r.generated >= r.record.output_tokens) {
      r.record.finished_s = end;
      kv_reserved_ -= kv_reservation_tokens(Request{r.record.id, r.record.arrival_s, r.record.prompt_tokens,
                                                    r.record.output_tokens});
      context_tokens_ -= r.record.prompt_tokens + r.generated;
      finished.push_back(r.record);
    } else {
      if (out != i) running_[out] = std::move(r);
      ++out;
    }
  }
  running_.resize(out);
  step_.kind = StepKind::none;
}

}  // namespace tf

namespace tf {

double saturated_output_tokens_per_s(const CostModel& cost, const BatchingPolicy& policy, std::int64_t prompt_tokens,
                                     std::int64_t output_tokens, int requests) {
  ReplicaModel model(0, cost, policy, 0.0, 0.0);
  std::deque<Request> waiting;
  for (int i = 0; i < requests; ++i)
    waiting.push_back(Request{static_cast<std::uint64_t>(i), 0.0, prompt_tokens, output_tokens});
  double now = 0.0;
  std::vector<RequestRecord> finished;
  while (true) {
    const auto& step = model.begin_step(now, waiting, false);
    if (step.kind == ReplicaModel::StepKind::none) break;
    now = step.end_s;
    model.finish_step(finished);
  }
  if (now <= 0.0 || static_cast<int>(finished.size()) != requests) return 0.0;
  return static_cast<double>(requests) * static_cast<double>(output_tokens) / now;
}

}  // namespace tf
