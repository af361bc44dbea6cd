#pragma once
// KV-cache policies: how a replica holds its requests' KV caches, and what happens when they outgrow it. Plain
// data, no SimGrid; the replica model (sim/replica/) asks its policy and keeps the books.
//
// - reserve (policies/kv_cache_reserve.cpp): a request reserves its prompt and whole answer when admitted, so a
//   running request never runs out of KV cache and nothing is ever preempted.
// - paged (policies/kv_cache_paged.cpp): blocks of block_tokens, as vLLM's PagedAttention: a request holds the blocks
//   its context fills and takes one more whenever its context crosses a block boundary; when a step's blocks do not
//   fit, the most recently admitted request is preempted, its KV either thrown away and computed again
//   (recompute) or, if it was decoding, copied to host memory over PCIe and back (swap). Admission leaves a
//   watermark of the blocks free.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "policies/registry.hpp"
#include "workloads/request.hpp"

namespace tf {

class KvCachePolicy {
 public:
  enum class Preemption { none, recompute, swap };
  virtual ~KvCachePolicy() = default;
  virtual std::string name() const = 0;
  // Tokens per block; 0: whole answers reserved at admission (no blocks, no preemption).
  virtual std::int64_t block_tokens() const = 0;
  // Tokens, in whole blocks, that admission leaves free in a cache of `capacity_tokens` (0: none).
  virtual std::int64_t watermark_tokens(std::int64_t capacity_tokens) const = 0;
  // What becomes of the KV of a running request preempted to free blocks, by whether it was decoding (or still
  // prefilling its prompt in chunks).
  virtual Preemption on_preempt(bool was_decoding) const = 0;
  // Which of the `running` requests (in admission order) gives up its blocks first: by default the most recently
  // admitted one (vLLM).
  virtual std::size_t victim(std::size_t running) const { return running - 1; }

  bool paged() const { return block_tokens() > 0; }
  // The KV tokens that `tokens` of context occupy: whole blocks, or the tokens themselves without blocks.
  std::int64_t in_blocks(std::int64_t tokens) const {
    const std::int64_t b = block_tokens();
    return b > 0 ? (tokens + b - 1) / b * b : tokens;
  }
};

class ReserveKvCache final : public KvCachePolicy {
 public:
  std::string name() const override { return "reserve"; }
  std::int64_t block_tokens() const override { return 0; }
  std::int64_t watermark_tokens(std::int64_t) const override { return 0; }
  Preemption on_preempt(bool) const override { return Preemption::none; }
};

class PagedKvCache final : public KvCachePolicy {
 public:
  // block_tokens >= 1; watermark: the fraction of the blocks admission leaves free, in [0, 0.5); swap: a request
  // preempted while decoding has its KV copied to host memory instead of thrown away (one still prefilling its
  // prompt in chunks is recomputed, as vLLM does). Throws std::invalid_argument for values out of range.
  PagedKvCache(std::int64_t block_tokens, double watermark, bool swap);
  std::string name() const override { return "paged"; }
  std::int64_t block_tokens() const override { return block_tokens_; }
  std::int64_t watermark_tokens(std::int64_t capacity_tokens) const override;
  Preemption on_preempt(bool was_decoding) const override;
  bool swaps() const { return swap_; }

 private:
  std::int64_t block_tokens_;
  double watermark_;
  bool swap_;
};

// The kind "kv-cache" in the registry: policy.kv_cache chooses one.
template <>
struct PolicyKind<KvCachePolicy> {
  static PolicyKindInfo info() {
    return {"kv-cache", "kv_cache", "KV-cache policy", "reserve",
            "how a replica holds its requests' KV caches, and what happens when they outgrow it"};
  }
  using Factory = std::function<std::unique_ptr<KvCachePolicy>(const PolicyParams&)>;
};

// The scenario's KV-cache policy from the registry: block_tokens 0 gives reserve, otherwise paged with these
// parameters.
std::unique_ptr<KvCachePolicy> make_kv_cache_policy(std::int64_t block_tokens, double watermark, bool swap);

}  // namespace tf
