// The paged KV cache (vLLM's PagedAttention), with recompute or swap preemption and an admission watermark: see
// policies/kv_cache.hpp.
#include <stdexcept>

#include "policies/kv_cache.hpp"

namespace tf {

PagedKvCache::PagedKvCache(std::int64_t block_tokens, double watermark, bool swap)
    : block_tokens_(block_tokens), watermark_(watermark), swap_(swap) {
  if (block_tokens < 1) throw std::invalid_argument("paged KV cache: block_tokens must be at least 1");
  if (!(watermark >= 0.0 && watermark < 0.5))
    throw std::invalid_argument("paged KV cache: the watermark must be in [0, 0.5)");
}

std::int64_t PagedKvCache::watermark_tokens(std::int64_t capacity_tokens) const {
  // Whole blocks, as vLLM counts them: int(watermark x blocks of the cache).
  return static_cast<std::int64_t>(watermark_ * static_cast<double>(capacity_tokens / block_tokens_)) * block_tokens_;
}

KvCachePolicy::Preemption PagedKvCache::on_preempt(bool was_decoding) const {
  return swap_ && was_decoding ? Preemption::swap : Preemption::recompute;
}

namespace {

const RegisterPolicy<KvCachePolicy> registered{
    "paged", "blocks of kv_block_tokens (vLLM's PagedAttention); the last admitted request is preempted when full",
    {ParamSpec::integer("kv_block_tokens", 16, "tokens per KV block").at_least(1).at_most(1 << 20),
     ParamSpec::number("kv_watermark", 0.01,
                       "the fraction of the blocks that admission leaves free (vLLM's watermark), except into an "
                       "empty replica")
         .at_least(0.0)
         .less_than(0.5),
     ParamSpec::string("preemption", "recompute", {"recompute", "swap"},
                       "what becomes of a preempted request's KV: thrown away and computed again, or (while decoding) "
                       "copied to host memory over PCIe and back"),
     ParamSpec::boolean("prefix_cache", false,
                        "prefix caching: a prompt skips the prefill of its longest prefix whose KV blocks an earlier "
                        "prompt left in the replica's free KV capacity (evicted least recently used)")},
    [](const PolicyParams& p) {
      return std::make_unique<PagedKvCache>(p.integer("kv_block_tokens"), p.number("kv_watermark"),
                                            p.string("preemption") == "swap");
    }};

}  // namespace

}  // namespace tf
