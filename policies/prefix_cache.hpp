#pragma once
// Prefix caching (vLLM's automatic prefix caching, SGLang's radix cache): a replica keeps the KV blocks of prompts it
// has computed, so that a later prompt that begins with the same tokens skips their prefill. Plain C++, no SimGrid;
// the replica model (sim/replica/) owns one per replica and keeps the books of its KV capacity.
//
// A block is named by a 64-bit id that stands for its content and everything before it (a prefix hash, as the
// hash_ids of a Mooncake trace, or ids derived by prefix_block_ids below): two prompts share their first n blocks
// exactly when their first n ids are equal. A block is either pinned (in use by running requests: a count of them)
// or cached (no request uses it; it may be evicted). Cached blocks are kept in least-recently-used order, and the
// replica evicts from the least recently used end whenever the KV capacity its running requests leave free shrinks
// below them. Every operation costs O(blocks touched): a hash map of id -> node of the LRU list.
#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "workloads/request.hpp"

namespace tf {

class PrefixCache {
 public:
  using BlockId = std::uint64_t;

  // How many of ids[0 .. n) are present here (pinned or cached), counted from the first: the longest cached prefix.
  std::size_t match(const BlockId* ids, std::size_t n) const;
  std::size_t match(const std::vector<BlockId>& ids) const { return match(ids.data(), ids.size()); }
  // Pins ids[0 .. n): a present block gains a user (a cached one leaves the LRU list); a block not present is added,
  // pinned (its KV was just computed).
  void pin(const BlockId* ids, std::size_t n);
  // Unpins ids[0 .. n), each pinned before, in reverse order: a block whose last user leaves becomes cached, the most
  // recently used; so the last block of a prompt is evicted before its first (vLLM frees a request's blocks in
  // reverse, for that reason).
  void unpin(const BlockId* ids, std::size_t n);
  // Evicts cached blocks, least recently used first, until at most `max_cached` are left; returns how many went.
  std::size_t evict_to(std::size_t max_cached);

  bool contains(BlockId id) const { return blocks_.count(id) > 0; }
  std::size_t cached_blocks() const { return lru_.size(); }
  std::size_t pinned_blocks() const { return blocks_.size() - lru_.size(); }
  std::size_t evictions() const { return evictions_; }
  // Cached blocks from the most recently used to the least (tests).
  std::vector<BlockId> lru_order() const { return {lru_.begin(), lru_.end()}; }

 private:
  struct Node {
    int users = 0;
    std::list<BlockId>::iterator at{};  // in lru_ while users == 0
  };
  std::unordered_map<BlockId, Node> blocks_;
  std::list<BlockId> lru_;  // cached blocks, most recently used first
  std::size_t evictions_ = 0;
};

// How a replica names the blocks of a prompt (README, "Prefix caching"): block b holds prompt tokens
// [b x block_tokens, (b + 1) x block_tokens); only whole blocks are named (a partial last block is never shared).
//   - a block inside the shared system prompt (workload.system_prompt_tokens): the same id for every request;
//   - a trace's hash_ids (Mooncake: trace_block_tokens = 512 tokens each, a multiple of block_tokens): the id of the
//     trace block it lies in and its place in it;
//   - a session's question that carries the conversation so far: the session, the turn its conversation starts at
//     (Request::context_turn) and the block's index, so that a later question of the visit finds the blocks of the
//     earlier ones;
//   - otherwise, or past the hash_ids given: the request itself (never shared).
struct PrefixIds {
  std::int64_t block_tokens = 16;
  std::int64_t system_prompt_tokens = 0;
  std::int64_t trace_block_tokens = 512;
};
// The ids of r's whole prompt blocks, into `out` (cleared first).
void prefix_block_ids(const Request& r, const PrefixIds& how, std::vector<PrefixCache::BlockId>& out);

}  // namespace tf
