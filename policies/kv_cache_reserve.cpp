// Whole-answer reservations: see policies/kv_cache.hpp. Everything is inline there; this file gives the policy its
// place among the policies and builds the scenario's choice.
#include "policies/kv_cache.hpp"

namespace tf {

std::unique_ptr<KvCachePolicy> make_kv_cache_policy(std::int64_t block_tokens, double watermark, bool swap) {
  if (block_tokens <= 0) return std::make_unique<ReserveKvCache>();
  return std::make_unique<PagedKvCache>(block_tokens, watermark, swap);
}

}  // namespace tf
