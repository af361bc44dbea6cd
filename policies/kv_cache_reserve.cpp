// Whole-answer reservations (see policies/kv_cache.hpp): a request reserves its prompt and whole answer when
// admitted, so a running request never runs out and nothing is preempted.
#include "policies/kv_cache.hpp"

namespace tf {

namespace {

const RegisterPolicy<KvCachePolicy> registered{
    "reserve", "each request reserves its prompt and whole answer when admitted; nothing is ever preempted", {},
    [](const PolicyParams&) { return std::make_unique<ReserveKvCache>(); }};

}  // namespace

std::unique_ptr<KvCachePolicy> make_kv_cache_policy(std::int64_t block_tokens, double watermark, bool swap) {
  if (block_tokens <= 0) return make_policy<KvCachePolicy>("reserve", {});
  PolicyParams p;
  p.set("kv_block_tokens", block_tokens).set("kv_watermark", watermark).set("preemption", swap ? "swap" : "recompute");
  return make_policy<KvCachePolicy>("paged", p);
}

}  // namespace tf
