#include "sim/replica/replica_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace tf {

ReplicaModel::ReplicaModel(int index, const CostModel& cost, const BatchingPolicy& policy, double window_start_s,
                           double window_end_s)
    : index_(index),
      cost_(cost),
      policy_(policy),
      window_start_s_(window_start_s),
      window_end_s_(window_end_s),
      kv_capacity_(cost.kv_capacity_tokens()),
      kv_(std::make_shared<ReserveKvCache>()) {}

void ReplicaModel::use_kv_cache(std::shared_ptr<const KvCachePolicy> kv) {
  if (kv->on_preempt(true) == KvCachePolicy::Preemption::swap && !(cost_.gpu().pcie_Bps > 0.0))
    throw std::invalid_argument("swap preemption needs the GPU's PCIe bandwidth (pcie_Bps), but " + cost_.gpu().name +
                                " has none");
  kv_ = std::move(kv);
  block_tokens_ = kv_->block_tokens();
  watermark_tokens_ = kv_->watermark_tokens(kv_capacity_);
}

void ReplicaModel::use_prefix_cache(const PrefixIds& ids) {
  if (block_tokens_ <= 0) throw std::invalid_argument("prefix caching needs a paged KV cache (policy.kv_cache = \"paged\")");
  prefix_ids_ = ids;
  prefix_ids_.block_tokens = block_tokens_;
  prefix_ = std::make_unique<PrefixCache>();
}

void ReplicaModel::admit_prefix(Running& run, Request& r, bool first_admission) {
  prefix_block_ids(r, prefix_ids_, run.blocks);
  const std::size_t hit = prefix_->match(run.blocks);
  prefix_->pin(run.blocks.data(), run.blocks.size());
  // The last prompt token is always computed: its logits give the next token.
  const std::int64_t cached =
      std::min(static_cast<std::int64_t>(hit) * block_tokens_, run.prefill_target - 1);
  run.prefilled = std::max<std::int64_t>(0, cached);
  prefix_totals_.saved_tokens += run.prefilled;
  if (first_admission) {
    r.cached_tokens = run.prefilled;
    prefix_totals_.lookup_blocks += static_cast<std::int64_t>(run.blocks.size());
    prefix_totals_.hit_blocks += static_cast<std::int64_t>(hit);
    prefix_totals_.prompt_tokens += r.prompt_tokens;
    prefix_totals_.hit_tokens += run.prefilled;
  }
}

void ReplicaModel::release_prefix(Running& run) {
  if (!prefix_ || run.blocks.empty()) return;
  prefix_->unpin(run.blocks.data(), run.blocks.size());
  run.blocks.clear();
}

void ReplicaModel::trim_prefix_cache() {
  if (!prefix_) return;
  const std::int64_t free_tokens = std::max<std::int64_t>(0, kv_capacity_ - held_ - kv_reserved_);
  prefix_->evict_to(static_cast<std::size_t>(free_tokens / block_tokens_));
}

ReplicaView ReplicaModel::view() const {
  ReplicaView v;
  v.running_requests = static_cast<int>(running_.size());
  v.kv_reserved_tokens = kv_reserved_;
  v.kv_capacity_tokens = kv_capacity_ - held_;
  v.kv_block_tokens = block_tokens_;
  v.kv_watermark_tokens = watermark_tokens_;
  return v;
}

bool ReplicaModel::could_admit(const std::deque<Request>& waiting, double now_s) const {
  return !waiting.empty() && policy_.decide(view(), waiting, now_s).admit > 0;
}

const ReplicaModel::Step& ReplicaModel::begin_step(double now_s, std::deque<Request>& waiting,
                                                   bool exact_iterations) {
  step_ = Step{};
  step_.start_s = step_.end_s = now_s;
  wake_at_s_ = std::numeric_limits<double>::infinity();
  queue_tokens_delta_ = 0;
  if (!waiting.empty()) {
    if (block_tokens_ > 0) preempt_to_fit(waiting);
    const ReplicaView v = view();
    const BatchDecision d = policy_.decide(v, waiting, now_s);
    wake_at_s_ = d.wake_at_s;
    for (std::size_t i = 0; i < d.admit && !waiting.empty(); ++i) {
      Request r = std::move(waiting.front());
      waiting.pop_front();
      queue_tokens_delta_ -= queued_work_tokens(r);
      const bool first_admission = r.admitted_s < 0.0;
      Running run;
      run.seq = next_seq_++;
      run.g0 = r.generated_before;
      run.gen = r.generated_before;
      run.prefill_target = r.prompt_tokens + r.generated_before;
      if (r.kv == Request::Kv::device) {  // its KV is here already: it decodes from the next iteration on
        run.prefilled = run.prefill_target;
        context_tokens_ += run.prefill_target;
      } else if (r.kv == Request::Kv::host) {  // swapped out: its KV comes back (swap step), then it decodes on
        run.prefilled = run.prefill_target;
        context_tokens_ += run.prefill_target;
        swap_tokens_pending_ += run.prefill_target;
        swapped_in_tokens_ += run.prefill_target;
      } else if (prefix_) {  // its cached prefix is not prefilled again
        admit_prefix(run, r, first_admission);
      }
      kv_reserved_ += admission_kv_tokens(v, r);
      outstanding_tokens_ += (run.prefill_target - run.prefilled) + tokens_to_produce(r) - r.generated_before;
      r.replica = index_;
      if (r.admitted_s < 0.0) r.admitted_s = now_s;  // its first admission (it keeps it after a preemption)
      run.request = std::move(r);
      running_.push_back(new_running(std::move(run)));
      Running& added = *running_.back();
      if (added.prefilled == added.prefill_target) start_decoding(added, added.g0);
      else prefilling_.push_back(&added);
    }
    trim_prefix_cache();
  } else if (block_tokens_ > 0) {
    preempt_to_fit(waiting);
  }
  if (running_.empty()) return step_;
  if (swap_tokens_pending_ > 0) {
    // The copies of this boundary (out: the requests just preempted; in: those just admitted back) run before
    // the next iteration, each GPU moving its 1/t share over its own PCIe link. No tokens come out of it.
    const double bytes = static_cast<double>(swap_tokens_pending_) * cost_.model().kv_bytes_per_token(cost_.dtype());
    const double seconds = bytes / (cost_.layout().gpus() * cost_.gpu().pcie_Bps);
    swap_tokens_pending_ = 0;
    step_.kind = StepKind::swap;
    step_.iterations = 0;
    step_.end_s = now_s + seconds;
    step_flops_ = 0.0;
    step_batch_ = static_cast<std::int64_t>(running_.size());
    step_prompt_tokens_ = 0;
    step_power_w_ = power_ ? power_->transfer_w() : 0.0;
    swap_s_ += seconds;
    return step_;
  }
  // An iteration with prefill work: decodes (one token each) plus prompt chunks. Without chunking, a newly
  // admitted request's whole prompt; with chunking, chunks within the policy's budget, in admission order.
  const auto decode_tokens = static_cast<std::int64_t>(running_.size() - prefilling_.size());
  for (Running* r : prefilling_) r->chunk = 0;
  if (!prefilling_.empty()) {
    IterationShape shape;
    shape.decode_tokens = decode_tokens;
    shape.decode_context_tokens = context_tokens_;
    const std::int64_t budget = policy_.prefill_chunk_budget(decode_tokens);
    std::int64_t left = budget > 0 ? budget : std::numeric_limits<std::int64_t>::max();
    for (Running* rp : prefilling_) {
      Running& r = *rp;
      if (left <= 0) break;
      const std::int64_t chunk = std::min(r.prefill_target - r.prefilled, left);
      r.chunk = chunk;
      left -= chunk;
      const double c = static_cast<double>(chunk), before = static_cast<double>(r.prefilled);
      shape.prefill_tokens += chunk;
      // The chunk that completes a prompt yields its first token (the LM head) and pays the per-prefill overhead:
      // once per request, however many chunks its prompt takes.
      if (chunk > 0 && r.prefilled + chunk == r.prefill_target) ++shape.prefill_sequences;
      shape.prefill_attention_context += c * before + c * (c + 1.0) / 2.0;
      shape.prefill_prefix_tokens += r.prefilled;
    }
    step_.kind = StepKind::prefill;
    step_.iterations = 1;
    step_.end_s = now_s + cost_.iteration_time_s(shape);
    step_flops_ = cost_.iteration_flops(shape);
    step_batch_ = static_cast<std::int64_t>(running_.size());
    step_prompt_tokens_ = shape.prefill_tokens;
    step_power_w_ = power_ ? power_->prefill_w(step_batch_, shape.prefill_tokens + decode_tokens) : 0.0;
    return step_;
  }
  // Decode-only: every running request has produced its first token; the stretch lasts until the
  // first of them finishes.
  std::int64_t k = first_decode_end()->at - decode_clock_;
  if (exact_iterations) k = 1;
  if (block_tokens_ > 0 && k > 1 && paged_blocks_tokens(k - 1) > kv_capacity_ - held_) {
    // The stretch ends where the blocks run out: the largest k whose last iteration still fits.
    std::int64_t lo = 1, hi = k;  // fits(lo), !fits(hi)
    while (hi - lo > 1) {
      const std::int64_t mid = lo + (hi - lo) / 2;
      (paged_blocks_tokens(mid - 1) <= kv_capacity_ - held_ ? lo : hi) = mid;
    }
    k = lo;
  }
  const auto b = static_cast<std::int64_t>(running_.size());
  step_.kind = StepKind::decode;
  step_.iterations = k;
  step_batch_ = b;
  step_prompt_tokens_ = 0;
  step_power_w_ = power_ ? power_->decode_w(b) : 0.0;
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

void ReplicaModel::start_decoding(Running& r, std::int64_t generated_now) {
  r.decoding = true;
  r.gen = generated_now - decode_clock_;
  decode_ends_.push_back(DecodeEnd{tokens_to_produce(r.request) - r.gen, r.seq, &r});
  std::push_heap(decode_ends_.begin(), decode_ends_.end(), std::greater<>{});
}

const ReplicaModel::DecodeEnd* ReplicaModel::first_decode_end() {
  while (!decode_ends_.empty()) {
    const DecodeEnd& top = decode_ends_.front();
    // Without preemptions no entry is stale, and the request itself (likely out of cache) need not be read.
    if (stale_decode_ends_ == 0 || (top.r->seq == top.seq && top.r->decoding)) return &top;
    std::pop_heap(decode_ends_.begin(), decode_ends_.end(), std::greater<>{});
    decode_ends_.pop_back();
    --stale_decode_ends_;
  }
  return nullptr;
}

std::unique_ptr<ReplicaModel::Running> ReplicaModel::new_running(Running run) {
  if (spare_.empty()) return std::make_unique<Running>(std::move(run));
  std::unique_ptr<Running> p = std::move(spare_.back());
  spare_.pop_back();
  *p = std::move(run);
  return p;
}

std::int64_t ReplicaModel::iterations_by(double t_s) const {
  // Iterations of the current decode stretch that have ended at the first boundary at or after t_s.
  const std::int64_t b = step_batch_;
  std::int64_t j = cost_.decode_iterations_done(b, context_tokens_, t_s - step_.start_s);
  if (step_.start_s + cost_.decode_stretch_s(b, context_tokens_, j) < t_s) ++j;
  return std::min(j, step_.iterations);
}

std::int64_t ReplicaModel::decode_iterations_ended_by(double now_s) const {
  if (step_.kind != StepKind::decode || now_s <= step_.start_s) return 0;
  if (now_s >= step_.end_s) return step_.iterations;
  return std::min(step_.iterations, cost_.decode_iterations_done(step_batch_, context_tokens_, now_s - step_.start_s));
}

std::int64_t ReplicaModel::outstanding_tokens_at(double now_s) const {
  return outstanding_tokens_ - decode_iterations_ended_by(now_s) * step_batch_;
}

std::int64_t ReplicaModel::kv_reserved_tokens_at(double now_s) const {
  if (block_tokens_ <= 0) return kv_reserved_ + held_;
  const std::int64_t j = decode_iterations_ended_by(now_s);
  return (j > 0 ? paged_blocks_tokens(j) : kv_reserved_) + held_;
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

std::int64_t ReplicaModel::kv_need_tokens(const Running& r, std::int64_t ahead) const {
  // Prefilling: the prompt (and recomputed answer) plus the next token. Decoding: its context plus the token
  // of the next iteration, `ahead` iterations further on.
  if (r.prefilled < r.prefill_target) return r.prefill_target + 1;
  return r.prefill_target + (generated(r) - r.g0) + ahead;
}

std::int64_t ReplicaModel::paged_blocks_tokens(std::int64_t ahead) const {
  std::int64_t blocks = 0;
  for (const auto& r : running_) blocks += (kv_need_tokens(*r, ahead) + block_tokens_ - 1) / block_tokens_;
  return blocks * block_tokens_;
}

void ReplicaModel::preempt_to_fit(std::deque<Request>& waiting) {
  while (running_.size() > 1 && paged_blocks_tokens(0) > kv_capacity_ - held_) {
    const std::size_t victim = kv_->victim(running_.size());
    std::unique_ptr<Running> vp = std::move(running_[victim]);
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(victim));
    Running& v = *vp;
    const std::int64_t v_generated = generated(v);
    if (!v.decoding)
      prefilling_.erase(std::lower_bound(prefilling_.begin(), prefilling_.end(), v.seq,
                                         [](const Running* a, std::uint64_t seq) { return a->seq < seq; }));
    else
      ++stale_decode_ends_;  // its entry in decode_ends_ goes stale: its seq is no longer running
    v.decoding = false;
    v.seq = 0;
    // Back to the front of the queue with what it had done (its first admission and first token stay with it).
    Request back = std::move(v.request);
    back.generated_before = v_generated;
    back.kv = Request::Kv::none;
    const bool was_decoding = v.prefilled == v.prefill_target;
    if (kv_->on_preempt(was_decoding) == KvCachePolicy::Preemption::swap) {
      // Its KV (prompt and answer so far) is copied to host memory; its blocks here are freed.
      back.kv = Request::Kv::host;
      const std::int64_t context = v.prefill_target + v_generated - v.g0;
      swap_tokens_pending_ += context;
      swapped_out_tokens_ += context;
    } else {
      // The KV it held is thrown away and will be computed again: its prefilled tokens, and its answer so far.
      // (With swap too when it was still prefilling its prompt in chunks: vLLM recomputes those as well.)
      recomputed_tokens_ += static_cast<double>(v.prefilled + (was_decoding ? v_generated - v.g0 : 0));
    }
    queue_tokens_delta_ += queued_work_tokens(back);
    waiting.push_front(std::move(back));
    if (was_decoding) context_tokens_ -= v.prefill_target + v_generated - v.g0;
    outstanding_tokens_ -= (v.prefill_target - v.prefilled) + (tokens_to_produce(back) - v_generated);
    ++preemptions_;
    release_prefix(v);
    spare_.push_back(std::move(vp));
  }
  kv_reserved_ = paged_blocks_tokens(0);
  trim_prefix_cache();
}

void ReplicaModel::account(double start_s, double end_s, const StepWork& work) {
  const double length = end_s - start_s;
  if (length <= 0.0) return;
  // The replica's GPUs draw the step's power instead of idle power while it runs.
  const double above_idle_w = power_ ? (step_power_w_ - power_->idle_w()) * gpus_ : 0.0;
  energy_above_idle_j_ += above_idle_w * length;
  if (observer_)
    observer_(StepActivity{start_s, end_s, static_cast<double>(step_batch_), static_cast<double>(kv_reserved_),
                           work.iterations, work.flops, work.prompt_tokens, work.output_tokens, above_idle_w});
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
  totals_.energy_above_idle_j += above_idle_w * (hi - lo);
}

void ReplicaModel::finish_step(std::vector<Request>& finished) {
  if (step_.kind == StepKind::none) return;
  if (step_.kind == StepKind::swap) {  // busy time, no tokens and no iteration; nothing finishes
    account(step_.start_s, step_.end_s, StepWork{});
    step_.kind = StepKind::none;
    return;
  }
  const double end = step_.end_s;
  const std::int64_t k = step_.iterations;
  std::int64_t produced = 0;
  const auto decoders = static_cast<std::int64_t>(running_.size() - prefilling_.size());
  // Requests done this step, in admission order.
  static thread_local std::vector<Running*> done;
  done.clear();
  if (step_.kind == StepKind::prefill) {
    // Every decoding request makes one token; a prompt whose last chunk ran makes its first (or next) token.
    decode_clock_ += 1;
    context_tokens_ += decoders;
    produced += decoders;
    std::size_t out = 0;
    for (std::size_t i = 0; i < prefilling_.size(); ++i) {
      Running& r = *prefilling_[i];
      bool still = true;
      if (r.chunk > 0) {
        r.prefilled += r.chunk;
        if (r.prefilled == r.prefill_target) {  // the last chunk: out comes the (first, or next) token
          if (r.request.first_token_s < 0.0) r.request.first_token_s = end;
          context_tokens_ += r.prefill_target + 1;
          ++produced;
          still = false;
          if (r.g0 + 1 >= tokens_to_produce(r.request)) {  // its only (or last) token
            r.gen = r.g0 + 1;
            done.push_back(&r);
          } else {
            start_decoding(r, r.g0 + 1);
          }
        }
      }
      if (still) prefilling_[out++] = &r;
    }
    prefilling_.resize(out);
    outstanding_tokens_ -= step_prompt_tokens_ + produced;
  } else {
    decode_clock_ += k;
    context_tokens_ += k * decoders;
    outstanding_tokens_ -= k * decoders;
    produced = k * decoders;
  }
  StepWork work;
  work.flops = step_flops_;
  work.iterations = static_cast<double>(k);
  work.batched = static_cast<double>(step_batch_ * k);
  work.output_tokens = static_cast<double>(produced);
  work.prompt_tokens = step_.kind == StepKind::prefill ? static_cast<double>(step_prompt_tokens_) : 0.0;
  account(step_.start_s, end, work);
  // Decoding requests that made their last token.
  for (const DecodeEnd* e = first_decode_end(); e != nullptr && e->at <= decode_clock_; e = first_decode_end()) {
    Running* r = e->r;
    std::pop_heap(decode_ends_.begin(), decode_ends_.end(), std::greater<>{});
    decode_ends_.pop_back();
    done.push_back(r);
  }
  if (!done.empty()) {
    std::sort(done.begin(), done.end(), [](const Running* a, const Running* b) { return a->seq < b->seq; });
    // Out of running_, keeping the others in admission order.
    std::size_t out = 0, d = 0;
    for (std::size_t i = 0; i < running_.size(); ++i) {
      if (d < done.size() && running_[i].get() == done[d]) {
        Running& r = *running_[i];
        const std::int64_t g = generated(r);
        r.request.finished_s = end;
        if (block_tokens_ <= 0) kv_reserved_ -= kv_reservation_tokens(r.request);
        context_tokens_ -= r.prefill_target + g - r.g0;
        finished.push_back(std::move(r.request));
        r.decoding = false;
        r.seq = 0;
        release_prefix(r);
        spare_.push_back(std::move(running_[i]));
        ++d;
        continue;
      }
      if (out != i) running_[out] = std::move(running_[i]);
      ++out;
    }
    running_.resize(out);
  }
  if (block_tokens_ > 0) kv_reserved_ = paged_blocks_tokens(0);
  trim_prefix_cache();
  step_.kind = StepKind::none;
}

double ReplicaModel::fail(double now_s, std::vector<Request>& evicted) {
  if (step_.kind != StepKind::none) account(step_.start_s, std::max(step_.start_s, now_s), StepWork{});
  double lost = 0.0;
  for (auto& rp : running_) {
    Running& r = *rp;
    const std::int64_t g = generated(r);
    lost += static_cast<double>(r.prefilled + (r.decoding || r.prefilled == r.prefill_target ? g - r.g0 : 0));
    Request back = std::move(r.request);
    back.generated_before = g;
    back.kv = Request::Kv::none;
    evicted.push_back(std::move(back));
    r.decoding = false;
    r.seq = 0;
    spare_.push_back(std::move(rp));
  }
  running_.clear();
  prefilling_.clear();
  decode_ends_.clear();
  stale_decode_ends_ = 0;
  // Prefix caching: the failed GPUs' memory is lost, the cached blocks with it (their totals stay counted).
  if (prefix_) prefix_ = std::make_unique<PrefixCache>();
  for (auto& sp : spare_) sp->blocks.clear();
  kv_reserved_ = 0;
  context_tokens_ = 0;
  outstanding_tokens_ = 0;
  swap_tokens_pending_ = 0;
  queue_tokens_delta_ = 0;
  wake_at_s_ = std::numeric_limits<double>::infinity();
  step_ = Step{};
  step_.start_s = step_.end_s = now_s;
  return lost;
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
  std::vector<Request> finished;
  while (true) {
    const auto& step = model.begin_step(now, waiting, false);
    if (step.kind == ReplicaModel::StepKind::none) break;
    now = step.end_s;
    model.finish_step(finished);
  }
  if (now <= 0.0 || static_cast<int>(finished.size()) != requests) return 0.0;
  return static_cast<double>(requests) * static_cast<double>(output_tokens) / now;
}

double saturated_capacity(const CostModel& cost, const BatchingPolicy& policy, double mean_prompt, double mean_output,
                          int max_batch) {
  const auto prompt = std::max<std::int64_t>(1, std::llround(mean_prompt));
  const auto output = std::max<std::int64_t>(1, std::llround(mean_output));
  if (prompt + output > cost.kv_capacity_tokens()) return 0.0;
  return saturated_output_tokens_per_s(cost, policy, prompt, output, 4 * std::max(1, max_batch));
}

}  // namespace tf
