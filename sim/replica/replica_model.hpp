#pragma once
// The state machine of one replica running continuous batching, in plain C++ (no SimGrid): the
// replica actor in sim/engine/engine.cpp drives it, and tests drive it directly.
//
// Time advances by steps, not iterations. A step is either one iteration that runs the prefills of
// newly admitted requests (with one decode token for every running request), or a decode-only
// stretch of k identical-shape iterations that lasts until the first running request finishes; its
// duration comes in closed form from the cost model. A stretch can be cut short at an iteration
// boundary when new work arrives that the batching policy would admit. With a paged KV cache and swap
// preemption, a step can also be a swap: KV copied between GPU and host memory over PCIe, no tokens produced.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "cluster/cost_model.hpp"
#include "cluster/power.hpp"
#include "policies/batching.hpp"
#include "policies/kv_cache.hpp"
#include "policies/prefix_cache.hpp"
#include "results/records.hpp"
#include "results/timeseries.hpp"
#include "workloads/request.hpp"

namespace tf {

// Totals inside a time window [start, end]; an interval that straddles an edge counts in proportion.
struct WindowTotals {
  double busy_s = 0.0;
  double flops = 0.0;
  double iterations = 0.0;
  double batched_requests = 0.0;
  double prompt_tokens = 0.0;   // prompt tokens prefilled
  double output_tokens = 0.0;   // output tokens produced
  double energy_above_idle_j = 0.0;  // the replica's GPUs: (step power - idle power) x time, summed over steps
};

class ReplicaModel {
 public:
  // swap: KV copied out to host memory (preempted requests) and back in (requests resuming), over PCIe, before
  // the next iteration; it runs alone (vLLM v0 issues the copies before the forward pass and waits for them).
  enum class StepKind { none, prefill, decode, swap };
  struct Step {
    StepKind kind = StepKind::none;
    double start_s = 0.0;
    double end_s = 0.0;
    std::int64_t iterations = 0;
  };

  ReplicaModel(int index, const CostModel& cost, const BatchingPolicy& policy, double window_start_s,
               double window_end_s);

  // At an iteration boundary `now_s`: admits from the head of `waiting` what the policy allows (popping
  // them) and plans the next step. With exact_iterations every step is a single iteration, costed by
  // CostModel::iteration_time_s. A step of kind none means there is nothing to run.
  const Step& begin_step(double now_s, std::deque<Request>& waiting, bool exact_iterations);

  // Whether the policy would admit anything from `waiting` at `now_s`, the batch being as now.
  bool could_admit(const std::deque<Request>& waiting, double now_s = 0.0) const;
  // After a step of kind none: when the policy wants to look at the queue again without a new arrival
  // (a batch timeout); +infinity when only an arrival can change its mind.
  double wake_at_s() const { return wake_at_s_; }

  // The KV-cache policy (policies/kv_cache.hpp; whole-answer reservations by default). With a paged cache a request
  // is admitted when the blocks for its prompt fit (leaving the policy's watermark free), takes a block whenever
  // its context crosses a block boundary, and when a step's blocks do not fit, the policy's victim is preempted:
  // its blocks freed, it goes back to the front of the queue and recomputes its prompt and answer so far, or with
  // swap has its KV copied to host memory over PCIe (each GPU its 1/t share over its own link, so a swap step lasts
  // bytes / (t x GpuSpec::pcie_Bps)) and, when admitted again, copied back before it decodes on without a prefill.
  // Throws std::invalid_argument for swap on a GPU without PCIe bandwidth.
  void use_kv_cache(std::shared_ptr<const KvCachePolicy> kv);
  const KvCachePolicy& kv_cache() const { return *kv_; }
  std::int64_t preemptions() const { return preemptions_; }
  // KV tokens thrown away by preemptions (to be computed again): prefilled chunks and answers so far.
  double recomputed_tokens() const { return recomputed_tokens_; }
  std::int64_t swapped_out_tokens() const { return swapped_out_tokens_; }
  std::int64_t swapped_in_tokens() const { return swapped_in_tokens_; }
  double swap_s() const { return swap_s_; }  // time spent in swap steps, whole run

  // Prefix caching (policies/prefix_cache.hpp; needs a paged KV cache): the whole blocks of an admitted prompt,
  // named as `ids` says, are looked up in this replica's cache; the longest cached prefix is not prefilled (its
  // attention still reads it: it counts as KV already there), at most the prompt less its last token. The prompt's
  // blocks are cached from its admission (vLLM v1 caches a block when it is scheduled), pinned while it runs, and
  // cached when it ends or is preempted, in the KV capacity that the running requests and held KV leave free, evicted
  // least recently used as that shrinks (at step boundaries). Throws std::invalid_argument without a paged cache.
  void use_prefix_cache(const PrefixIds& ids);
  bool prefix_caching() const { return prefix_ != nullptr; }
  const PrefixIds& prefix_ids() const { return prefix_ids_; }
  // The prompt tokens of r (whose whole prompt blocks, named by prefix_ids(), are `blocks`) that admission would find
  // in this cache now; 0 without prefix caching.
  std::int64_t cached_prefix_tokens(const Request& r, const std::vector<PrefixCache::BlockId>& blocks) const {
    if (!prefix_) return 0;
    const auto hit = static_cast<std::int64_t>(prefix_->match(blocks));
    return std::max<std::int64_t>(0, std::min(hit * block_tokens_, r.prompt_tokens + r.generated_before - 1));
  }
  const PrefixCache* prefix_cache() const { return prefix_.get(); }
  // Counted at requests' first admissions: whole prompt blocks looked up and found, their prompt tokens and the
  // tokens found (Request::cached_tokens); and prompt tokens not prefilled thanks to the cache, every admission
  // (a request preempted and admitted again looks again).
  struct PrefixTotals {
    std::int64_t lookup_blocks = 0, hit_blocks = 0, prompt_tokens = 0, hit_tokens = 0, saved_tokens = 0;
  };
  const PrefixTotals& prefix_totals() const { return prefix_totals_; }

  // Cuts the current decode stretch short so that it ends at the first iteration boundary at or after
  // `t_s`; returns the new end. Other steps are left as they are.
  double end_at_boundary_after(double t_s);

  // The first iteration boundary at or after `t_s` of the current step (its end for a prefill step;
  // `t_s` itself when nothing runs): when this replica could next take new work.
  double next_boundary_after(double t_s) const;

  // Applies the current step, which ended at its end_s: tokens generated, first tokens, completions.
  // Appends the requests it finished to `finished` (their finished_s set).
  void finish_step(std::vector<Request>& finished);

  // [failures]: the replica failed at `now_s`. The step under way is lost (its time up to now counts as busy, with
  // no tokens); every running request is appended to `evicted` in admission order, with what it had made by the
  // last boundary (generated_before, first admission, first token) and its KV lost (kv = none: prefilled again where
  // it runs next). The replica is left empty. Returns the KV tokens thrown away.
  double fail(double now_s, std::vector<Request>& evicted);

  const Step& step() const { return step_; }
  bool busy() const { return !running_.empty(); }
  int running_requests() const { return static_cast<int>(running_.size()); }
  // KV tokens in use: reserved (or in blocks) by the running requests, plus any held (below).
  std::int64_t kv_reserved_tokens() const { return kv_reserved_ + held_; }
  std::int64_t kv_capacity_tokens() const { return kv_capacity_; }
  // Disaggregated serving: a prefill replica keeps a finished prefill's KV cache until it has moved to its decode
  // replica. Held tokens count as used: admission and the paged cache see that much less room.
  void hold_kv(std::int64_t tokens) {
    held_ += tokens;
    trim_prefix_cache();
  }
  void release_kv(std::int64_t tokens) { held_ -= tokens; }
  std::int64_t held_kv_tokens() const { return held_; }
  // Prompt tokens not yet prefilled plus output tokens not yet produced, of the running requests, as of the
  // last boundary; and as of `now_s`, counting the iterations of the current decode stretch ended by then
  // (so that routers see the same load in the event mode and in --exact-iterations).
  std::int64_t outstanding_tokens() const { return outstanding_tokens_; }
  std::int64_t outstanding_tokens_at(double now_s) const;
  std::int64_t kv_reserved_tokens_at(double now_s) const;
  // What the last begin_step took from its queue and gave back to it (preemptions), in queued_work_tokens of
  // those requests.
  std::int64_t last_queue_tokens_delta() const { return queue_tokens_delta_; }
  const WindowTotals& window_totals() const { return totals_; }
  // Power (cluster/power.hpp): each step draws power_w(step) on each of the replica's `gpus` GPUs; none by default
  // (then no energy is counted). The energy above idle power, whole run (window_totals() has it in the window):
  // the replica's energy is gpus x idle power x the run's length plus this.
  void use_power_model(const PowerModel* power, int gpus) {
    power_ = power;
    gpus_ = gpus;
  }
  double energy_above_idle_j() const { return energy_above_idle_j_; }
  double step_power_w() const { return step_power_w_; }  // per GPU, of the current step (0 without a model)
  // Called with every step as it is accounted, over the whole run (for the time series); none by default.
  void set_step_observer(std::function<void(const StepActivity&)> observer) { observer_ = std::move(observer); }

 private:
  // A running request. Decoding requests all gain a token per iteration, so their counts are kept relative to the
  // replica's decode clock (the iterations its decoding requests have run): a step costs O(1) for them, not
  // O(batch); only the requests still prefilling are visited.
  struct Running {
    Request request;             // its replica, first admission and first token are kept in it as they happen
    std::uint64_t seq = 0;       // admission order (running_ and prefilling_ are sorted by it)
    // Output tokens produced so far: while prefilling, this count; once decoding, this plus the decode clock.
    std::int64_t gen = 0;
    std::int64_t prefilled = 0;  // prompt tokens prefilled so far
    std::int64_t chunk = 0;      // prompt tokens prefilled by the current step
    bool decoding = false;       // its prefill is done (prefilled == prefill_target): it makes a token each iteration
    std::int64_t prefill_target = 0;  // tokens to prefill: the prompt, plus the answer so far after a preemption
    std::int64_t g0 = 0;              // output tokens it had when admitted (after a preemption)
    std::vector<PrefixCache::BlockId> blocks;  // prefix caching: its prompt's whole blocks, pinned while it runs
  };
  std::int64_t generated(const Running& r) const { return r.decoding ? r.gen + decode_clock_ : r.gen; }
  // A decoding request joins the heap of decoding requests by when (on the decode clock) it makes its last token.
  void start_decoding(Running& r, std::int64_t generated_now);
  struct DecodeEnd {
    std::int64_t at = 0;  // decode clock of its last token
    std::uint64_t seq = 0;
    Running* r = nullptr;
    bool operator>(const DecodeEnd& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  // The top of decode_ends_ after dropping entries of requests no longer decoding here (preempted).
  const DecodeEnd* first_decode_end();
  // Paged KV: tokens of KV the request needs for `ahead` more iterations after the next one.
  std::int64_t kv_need_tokens(const Running& r, std::int64_t ahead) const;
  std::int64_t paged_blocks_tokens(std::int64_t ahead) const;  // the running batch's blocks, in tokens
  void preempt_to_fit(std::deque<Request>& waiting);
  // Prefix caching: looks up an admitted request's prompt and pins its blocks; unpins them when it leaves; evicts
  // cached blocks beyond the KV capacity left free.
  void admit_prefix(Running& run, Request& r, bool first_admission);
  void release_prefix(Running& run);
  void trim_prefix_cache();
  ReplicaView view() const;
  struct StepWork {
    double flops = 0.0, iterations = 0.0, batched = 0.0, prompt_tokens = 0.0, output_tokens = 0.0;
  };
  void account(double start_s, double end_s, const StepWork& work);
  std::int64_t iterations_by(double t_s) const;

  int index_;
  const CostModel& cost_;
  const BatchingPolicy& policy_;
  double window_start_s_, window_end_s_;
  std::int64_t kv_capacity_;
  // In admission order. Held by pointer, so that taking finished requests out moves pointers, not requests; the
  // spare ones are reused.
  std::vector<std::unique_ptr<Running>> running_;
  std::vector<Running*> prefilling_;        // those still prefilling, in admission order
  std::vector<DecodeEnd> decode_ends_;      // min-heap (std::greater) over the decoding ones, stale entries skipped
  std::size_t stale_decode_ends_ = 0;       // entries of decode_ends_ left by preempted requests
  std::int64_t decode_clock_ = 0;
  std::uint64_t next_seq_ = 1;
  std::vector<std::unique_ptr<Running>> spare_;
  std::unique_ptr<Running> new_running(Running run);
  std::int64_t kv_reserved_ = 0;
  std::int64_t held_ = 0;
  std::int64_t context_tokens_ = 0;     // sum over decoding requests of prompt + generated
  std::int64_t outstanding_tokens_ = 0;
  double wake_at_s_ = 0.0;
  std::int64_t block_tokens_ = 0;      // kv_'s, kept at hand
  std::int64_t watermark_tokens_ = 0;  // kv_'s for this replica's capacity
  std::int64_t queue_tokens_delta_ = 0;
  std::int64_t decode_iterations_ended_by(double now_s) const;
  std::int64_t preemptions_ = 0;
  double recomputed_tokens_ = 0.0;
  std::shared_ptr<const KvCachePolicy> kv_;
  std::unique_ptr<PrefixCache> prefix_;
  PrefixIds prefix_ids_;
  PrefixTotals prefix_totals_;
  std::int64_t swap_tokens_pending_ = 0;  // KV tokens to copy (out and in) before the next iteration
  std::int64_t swapped_out_tokens_ = 0, swapped_in_tokens_ = 0;
  double swap_s_ = 0.0;
  Step step_;
  double step_flops_ = 0.0;
  std::int64_t step_prompt_tokens_ = 0;
  std::int64_t step_batch_ = 0;
  double step_power_w_ = 0.0;
  const PowerModel* power_ = nullptr;
  int gpus_ = 1;
  double energy_above_idle_j_ = 0.0;
  WindowTotals totals_;
  std::function<void(const StepActivity&)> observer_;
};

}  // namespace tf

namespace tf {

// Output tokens per second of one replica offered `requests` identical requests at once (the
// "requests offered without limit" set-up of published serving benchmarks): its capacity.
double saturated_output_tokens_per_s(const CostModel& cost, const BatchingPolicy& policy, std::int64_t prompt_tokens,
                                     std::int64_t output_tokens, int requests);
// The same for requests of the given mean lengths (rounded, at least 1 token each), offered 4 x max_batch at once;
// 0 when one such request does not fit the replica's KV cache. What sizing's capacity bound, the time series'
// capacity and a mixed fleet's split all take.
double saturated_capacity(const CostModel& cost, const BatchingPolicy& policy, double mean_prompt, double mean_output,
                          int max_batch);

}  // namespace tf
