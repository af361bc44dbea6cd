// The prefix cache's LRU of KV blocks and the naming of a prompt's blocks: see policies/prefix_cache.hpp.
#include "policies/prefix_cache.hpp"
#include "workloads/random.hpp"

#include <algorithm>
#include <stdexcept>

namespace tf {

std::size_t PrefixCache::match(const BlockId* ids, std::size_t n) const {
  std::size_t k = 0;
  while (k < n && blocks_.count(ids[k]) > 0) ++k;
  return k;
}

void PrefixCache::pin(const BlockId* ids, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    auto [it, added] = blocks_.try_emplace(ids[i]);
    Node& node = it->second;
    if (!added && node.users == 0) lru_.erase(node.at);
    ++node.users;
  }
}

void PrefixCache::unpin(const BlockId* ids, std::size_t n) {
  for (std::size_t i = n; i-- > 0;) {
    const auto it = blocks_.find(ids[i]);
    if (it == blocks_.end() || it->second.users <= 0)
      throw std::logic_error("prefix cache: a block unpinned that was not pinned");
    Node& node = it->second;
    if (--node.users == 0) {
      lru_.push_front(ids[i]);
      node.at = lru_.begin();
    }
  }
}

std::size_t PrefixCache::evict_to(std::size_t max_cached) {
  std::size_t gone = 0;
  while (lru_.size() > max_cached) {
    blocks_.erase(lru_.back());
    lru_.pop_back();
    ++gone;
  }
  evictions_ += gone;
  return gone;
}

namespace {

std::uint64_t id_of(std::uint64_t space, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  return mix64(mix64(mix64(mix64(space) ^ a) ^ b) ^ c);
}

// The id spaces, so that ids of different origins never meet.
constexpr std::uint64_t kSystem = 1, kTrace = 2, kSession = 3, kOwn = 4;

}  // namespace

void prefix_block_ids(const Request& r, const PrefixIds& how, std::vector<PrefixCache::BlockId>& out) {
  out.clear();
  if (how.block_tokens <= 0 || r.prompt_tokens <= 0) return;
  const std::int64_t bt = how.block_tokens;
  const std::int64_t blocks = r.prompt_tokens / bt;
  out.reserve(static_cast<std::size_t>(blocks));
  // Blocks of ours per trace block (the loader has checked that ours divide the trace's; never 0).
  const std::int64_t per_trace_block = std::max<std::int64_t>(1, how.trace_block_tokens / bt);
  for (std::int64_t b = 0; b < blocks; ++b) {
    const auto ub = static_cast<std::uint64_t>(b);
    if ((b + 1) * bt <= how.system_prompt_tokens) {
      out.push_back(id_of(kSystem, 0, 0, ub));
    } else if (!r.hash_ids.empty()) {
      const std::int64_t t = b / per_trace_block;
      if (t < static_cast<std::int64_t>(r.hash_ids.size()))
        out.push_back(id_of(kTrace, static_cast<std::uint64_t>(r.hash_ids[static_cast<std::size_t>(t)]),
                            static_cast<std::uint64_t>(b % per_trace_block), 0));
      else
        out.push_back(id_of(kOwn, r.id, ub, 0));
    } else if (r.context_turn > 0 && !r.context_cut) {
      out.push_back(id_of(kSession, r.session, static_cast<std::uint64_t>(r.context_turn), ub));
    } else {
      out.push_back(id_of(kOwn, r.id, ub, 0));
    }
  }
}

}  // namespace tf
