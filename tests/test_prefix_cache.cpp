// The prefix cache (policies/prefix_cache.hpp): its LRU against a reference LRU written here independently (a plain
// list scanned front to back), on hand-built sequences and on the block sequence of the Mooncake conversation
// trace; with a cache larger than the trace, its hits against the trace's own reuse computed from its hash_ids; and
// the naming of a prompt's blocks.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policies/prefix_cache.hpp"
#include "policies/router.hpp"
#include "tests/helpers.hpp"

using namespace tf;
using Id = PrefixCache::BlockId;

namespace {

// The reference: requests served one after another. A request's hits are the leading blocks present before it;
// then it uses its blocks and leaves them, its first block the most recently used and its last the least; the
// cache keeps at most `capacity` blocks, dropping the least recently used.
struct ReferenceLru {
  std::size_t capacity;
  std::deque<Id> order;  // most recently used first
  bool has(Id id) const { return std::find(order.begin(), order.end(), id) != order.end(); }
  std::size_t serve(const std::vector<Id>& blocks) {
    std::size_t hits = 0;
    while (hits < blocks.size() && has(blocks[hits])) ++hits;
    // Touch them from the last to the first: each goes to the front.
    for (std::size_t i = blocks.size(); i-- > 0;) {
      const auto it = std::find(order.begin(), order.end(), blocks[i]);
      if (it != order.end()) order.erase(it);
      order.push_front(blocks[i]);
    }
    while (order.size() > capacity) order.pop_back();
    return hits;
  }
};

// The same through PrefixCache as a replica uses it: look up, pin, unpin when done, evict to the capacity.
std::size_t serve(PrefixCache& c, const std::vector<Id>& blocks, std::size_t capacity) {
  const std::size_t hits = c.match(blocks);
  c.pin(blocks.data(), blocks.size());
  c.unpin(blocks.data(), blocks.size());
  c.evict_to(capacity);
  return hits;
}

struct TraceRequest {
  std::int64_t prompt = 0;
  std::vector<Id> blocks;  // whole 512-token blocks
};
std::vector<TraceRequest> mooncake_conversation() {
  std::ifstream in(test::data_dir() + "/traces/mooncake-conversation.jsonl");
  std::vector<TraceRequest> out;
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    TraceRequest r;
    r.prompt = j["input_length"].get<std::int64_t>();
    const auto ids = j["hash_ids"].get<std::vector<std::int64_t>>();
    for (std::size_t b = 0; b < ids.size() && static_cast<std::int64_t>(b + 1) * 512 <= r.prompt; ++b)
      r.blocks.push_back(static_cast<Id>(ids[b]));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

TEST_CASE("prefix cache: hand-built prompts hit their shared prefix and nothing after a difference", "[prefix]") {
  PrefixCache c;
  const std::vector<Id> a{1, 2, 3, 4}, b{1, 2, 3, 9}, d{7, 2, 3}, e{1, 2, 5, 4};
  CHECK(serve(c, a, 100) == 0);
  CHECK(serve(c, b, 100) == 3);
  CHECK(serve(c, d, 100) == 0);  // block 2 is cached, but not as the first block
  CHECK(serve(c, e, 100) == 2);  // 4 is cached, but after a block not cached: not a prefix
  CHECK(serve(c, a, 100) == 4);
  // Blocks: 4 + 4 + 3 + 4 + 4 looked up, 0 + 3 + 0 + 2 + 4 found: a hit rate of 9 / 19.
  CHECK(c.cached_blocks() == 7);  // 1 2 3 4 9 7 5
  CHECK(c.pinned_blocks() == 0);
}

TEST_CASE("prefix cache: a pinned block is never evicted and is shared while pinned", "[prefix]") {
  PrefixCache c;
  const std::vector<Id> a{1, 2, 3};
  c.pin(a.data(), a.size());
  CHECK(c.pinned_blocks() == 3);
  CHECK(c.evict_to(0) == 0);
  CHECK(c.match(a) == 3);  // a running request's blocks are found by another
  c.pin(a.data(), 2);      // a second user of 1 and 2
  c.unpin(a.data(), a.size());
  CHECK(c.pinned_blocks() == 2);
  CHECK(c.cached_blocks() == 1);
  CHECK(c.evict_to(0) == 1);
  CHECK(c.match(a) == 2);
  c.unpin(a.data(), 2);
  // Unpinned in reverse: 2 first, then 1, so 1 is the most recently used and 2 goes first.
  CHECK(c.lru_order() == std::vector<Id>{1, 2});
  CHECK(c.evict_to(1) == 1);
  CHECK(c.contains(1));
  CHECK_FALSE(c.contains(2));
  CHECK_THROWS_AS(c.unpin(a.data(), 1) , std::logic_error);  // 1 is cached, not pinned
}

TEST_CASE("prefix cache: LRU hits equal a reference LRU on random prompts and capacities", "[prefix]") {
  // Prompts over a small tree of prefixes, so that they share often.
  std::uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  std::vector<std::vector<Id>> prompts;
  for (int i = 0; i < 3000; ++i) {
    std::vector<Id> p;
    Id id = 0;
    const auto len = 1 + next() % 12;
    for (std::uint64_t b = 0; b < len; ++b) {
      id = id * 5 + 1 + next() % (b < 2 ? 2 : 5);  // a few roots, wider further down: an id names its whole prefix
      p.push_back(id);
    }
    prompts.push_back(std::move(p));
  }
  for (std::size_t capacity : {1, 5, 20, 60, 200, 100000}) {
    INFO("capacity " << capacity);
    PrefixCache c;
    ReferenceLru ref{capacity, {}};
    std::size_t hits = 0, ref_hits = 0;
    for (const auto& p : prompts) {
      const std::size_t h = serve(c, p, capacity), rh = ref.serve(p);
      REQUIRE(h == rh);
      hits += h;
      ref_hits += rh;
    }
    CHECK(hits == ref_hits);
    CHECK(c.cached_blocks() == ref.order.size());
    CHECK(c.lru_order() == std::vector<Id>(ref.order.begin(), ref.order.end()));
  }
}

TEST_CASE("prefix cache: on the Mooncake conversation trace, hits equal the trace's reuse and a reference LRU",
          "[prefix][mooncake]") {
  const auto trace = mooncake_conversation();
  REQUIRE(trace.size() == 12031);
  // The trace's own reuse: a request's leading blocks that some earlier request had (any of its whole blocks).
  std::set<Id> seen;
  std::size_t looked = 0, reused = 0;
  for (const auto& r : trace) {
    std::size_t h = 0;
    while (h < r.blocks.size() && seen.count(r.blocks[h])) ++h;
    looked += r.blocks.size();
    reused += h;
    seen.insert(r.blocks.begin(), r.blocks.end());
  }
  {
    PrefixCache c;
    std::size_t hits = 0;
    for (const auto& r : trace) hits += serve(c, r.blocks, seen.size());
    CHECK(hits == reused);
    CHECK(c.evictions() == 0);
    // The figure README quotes: 38.2 % of the trace's whole blocks are a reused prefix.
    CHECK(static_cast<double>(reused) / static_cast<double>(looked) == Approx(0.3819).margin(0.0001));
  }
  // Finite caches against the reference (which is slow: the first 1,500 requests), and below an unbounded one.
  constexpr std::size_t kFirst = 1500;
  std::size_t unbounded = 0;
  {
    PrefixCache c;
    for (std::size_t i = 0; i < kFirst; ++i) unbounded += serve(c, trace[i].blocks, seen.size());
  }
  std::size_t before = 0;
  for (std::size_t capacity : {100, 1000, 5000}) {
    INFO("capacity " << capacity);
    PrefixCache c;
    ReferenceLru ref{capacity, {}};
    std::size_t hits = 0, ref_hits = 0;
    for (std::size_t i = 0; i < kFirst; ++i) {
      hits += serve(c, trace[i].blocks, capacity);
      ref_hits += ref.serve(trace[i].blocks);
    }
    CHECK(hits == ref_hits);
    CHECK(hits < unbounded);
    CHECK(hits > before);  // a larger cache hits more
    before = hits;
  }
}

TEST_CASE("prefix cache: block ids of system prompts sessions traces and others", "[prefix]") {
  PrefixIds how;
  how.block_tokens = 16;
  how.system_prompt_tokens = 40;  // two whole blocks, the third straddles its end
  std::vector<Id> a, b;
  Request r;
  r.id = 1;
  r.prompt_tokens = 100;  // six whole blocks
  prefix_block_ids(r, how, a);
  REQUIRE(a.size() == 6);
  Request s = r;
  s.id = 2;
  s.prompt_tokens = 95;
  prefix_block_ids(s, how, b);
  REQUIRE(b.size() == 5);
  CHECK(a[0] == b[0]);
  CHECK(a[1] == b[1]);
  CHECK(a[2] != b[2]);  // past the system prompt: each request its own
  // A session's next question carries the conversation: its blocks start as the earlier prompt's.
  Request q1 = r, q2 = r, q3 = r, other = r;
  q1.session = q2.session = q3.session = 7;
  q1.context_turn = q2.context_turn = 1;
  q3.context_turn = 3;  // its conversation was cut to the window: begins elsewhere
  q1.id = 10, q2.id = 11, q3.id = 12;
  q2.prompt_tokens = 300;
  other.session = 8, other.context_turn = 1, other.id = 13;
  std::vector<Id> i1, i2, i3, io;
  prefix_block_ids(q1, how, i1);
  prefix_block_ids(q2, how, i2);
  prefix_block_ids(q3, how, i3);
  prefix_block_ids(other, how, io);
  CHECK(std::equal(i1.begin(), i1.end(), i2.begin()));
  CHECK(i2.size() == 18);
  CHECK(i3[1] == i1[1]);  // the system prompt stays
  CHECK(i3[2] != i1[2]);
  CHECK(io[2] != i1[2]);
  // A trace's 512-token blocks: blocks of 16 inside the same trace block share its id and their place in it.
  PrefixIds t;
  t.block_tokens = 16;
  Request x, y;
  x.id = 20, y.id = 21;
  x.prompt_tokens = 1100, y.prompt_tokens = 1030;
  x.hash_ids = {5, 6, 7};
  y.hash_ids = {5, 6, 8};
  std::vector<Id> ix, iy;
  prefix_block_ids(x, t, ix);
  prefix_block_ids(y, t, iy);
  REQUIRE(ix.size() == 68);
  REQUIRE(iy.size() == 64);
  CHECK(std::equal(iy.begin(), iy.end(), ix.begin()));
  CHECK(std::set<Id>(ix.begin(), ix.end()).size() == 68);
  y.hash_ids = {5, 9, 8};
  prefix_block_ids(y, t, iy);
  CHECK(PrefixCache().match(iy) == 0);
  CHECK(std::mismatch(ix.begin(), ix.end(), iy.begin()).first - ix.begin() == 32);
}

TEST_CASE("prefix-aware router: cached prompt tokens weighed against outstanding tokens", "[prefix][router]") {
  std::vector<ReplicaLoad> loads(3);
  loads[0].outstanding_tokens = 1000;
  loads[1].outstanding_tokens = 5000;
  loads[1].cached_prefix_tokens = 4500;
  loads[2].outstanding_tokens = 0;
  const Request r{0, 0.0, 6000, 10};
  auto pick = [&](double weight) {
    PolicyParams p;
    p.set("prefix_load_weight", weight);
    return make_router("prefix-aware", p, 1)->route(r, loads);
  };
  CHECK(pick(1.0) == 2);   // 1000, 500, 0: the idle one
  CHECK(pick(0.1) == 1);   // 100, 500 - 4500, 0: where the prefix is
  CHECK(pick(0.0) == 1);   // affinity alone
  CHECK(pick(0.9) == 1);   // 900, 4500 - 4500, 0: a tie with the idle one, broken by fewer requests...
  loads[1].running_requests = 1;
  CHECK(pick(0.9) == 2);   // ...which the idle one has
  REQUIRE(make_router("prefix-aware", 1)->uses_prefix_cache());
  PolicyParams bad;
  bad.set("prefix_load_weight", -1.0);
  CHECK_THROWS_AS(make_router("prefix-aware", bad, 1), std::invalid_argument);
}
