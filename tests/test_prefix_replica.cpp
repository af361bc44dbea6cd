// Prefix caching in the replica model (sim/replica/replica_model.hpp, policies/prefix_cache.hpp): a cached prefix is
// not prefilled but read (the step costs the iteration of the uncached part with the cached part as KV already
// there); and on the Mooncake conversation trace served one request at a time, every request's cached tokens equal
// those of a reference LRU written here that keeps the replica's free KV capacity as the replica says it does.
#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/catalog.hpp"
#include "cluster/cost_model.hpp"
#include "policies/batching.hpp"
#include "policies/kv_cache.hpp"
#include "sim/replica/replica_model.hpp"
#include "tests/helpers.hpp"

using namespace tf;
using Catch::Matchers::WithinRel;

namespace {

struct Fixture {
  CostModel cost{*find_model("llama-3.1-8b"), *find_gpu("h100-sxm"), Dtype::fp16, 1, CostParams{}};
  ContinuousBatching policy{{256, 1 << 20}};
  ReplicaModel model{0, cost, policy, 0.0, 1e12};
  explicit Fixture(std::int64_t block_tokens, std::int64_t system_prompt_tokens = 0) {
    model.use_kv_cache(std::make_shared<PagedKvCache>(block_tokens, 0.01, false));
    model.use_prefix_cache(PrefixIds{block_tokens, system_prompt_tokens, 512});
  }
  // Serves r alone from `now`: returns its final record; `prefill_s` gets its prefill step's length.
  Request serve(Request r, double& now, double* prefill_s = nullptr) {
    std::deque<Request> q{std::move(r)};
    std::vector<Request> done;
    bool first = true;
    while (done.empty()) {
      const auto& s = model.begin_step(now, q, false);
      REQUIRE(s.kind != ReplicaModel::StepKind::none);
      if (first && prefill_s) *prefill_s = s.end_s - s.start_s;
      first = false;
      now = s.end_s;
      model.finish_step(done);
    }
    REQUIRE(done.size() == 1);
    return done.front();
  }
};

// The iteration of a lone prefill of `prompt` tokens whose first `cached` are in the cache.
IterationShape prefill_shape(std::int64_t prompt, std::int64_t cached) {
  IterationShape s;
  const double c = static_cast<double>(prompt - cached), before = static_cast<double>(cached);
  s.prefill_tokens = prompt - cached;
  s.prefill_sequences = 1;
  s.prefill_attention_context = c * before + c * (c + 1.0) / 2.0;
  s.prefill_prefix_tokens = cached;
  return s;
}

}  // namespace

TEST_CASE("prefix caching: a shared system prompt is prefilled once and read after", "[prefix][replica]") {
  Fixture f(16, 1000);  // 62 whole blocks of system prompt (992 tokens)
  double now = 0.0, first_s = 0.0, second_s = 0.0;
  Request a{0, 0.0, 1500, 1};
  Request b{1, 0.0, 1200, 1};
  const Request ra = f.serve(a, now, &first_s);
  const Request rb = f.serve(b, now, &second_s);
  CHECK(ra.cached_tokens == 0);
  CHECK(rb.cached_tokens == 992);
  CHECK_THAT(first_s, WithinRel(f.cost.iteration_time_s(prefill_shape(1500, 0)), 1e-12));
  CHECK_THAT(second_s, WithinRel(f.cost.iteration_time_s(prefill_shape(1200, 992)), 1e-12));
  CHECK(second_s < f.cost.iteration_time_s(prefill_shape(1200, 0)));
  const auto& t = f.model.prefix_totals();
  CHECK(t.lookup_blocks == 1500 / 16 + 1200 / 16);
  CHECK(t.hit_blocks == 62);
  CHECK(t.hit_tokens == 992);
  CHECK(t.saved_tokens == 992);
  CHECK(t.prompt_tokens == 2700);
}

TEST_CASE("prefix caching: a prompt wholly cached still computes its last token", "[prefix][replica]") {
  Fixture f(16);
  double now = 0.0;
  Request a{0, 0.0, 320, 1};
  a.session = 3;
  a.context_turn = 1;
  Request b = a;
  b.id = 1;
  f.serve(a, now);
  const Request rb = f.serve(b, now);
  CHECK(rb.cached_tokens == 319);  // 20 whole blocks found; the last token is computed for its logits
}

TEST_CASE("prefix caching: a session's next question finds the conversation its prompt repeats", "[prefix][replica]") {
  Fixture f(16);
  double now = 0.0;
  Request q1{0, 0.0, 100, 50};
  q1.session = 9, q1.turn = 1, q1.context_turn = 1;
  Request q2{1, 0.0, 100 + 50 + 30, 20};  // the conversation so far, then its question
  q2.session = 9, q2.turn = 2, q2.context_turn = 1;
  Request other = q2;
  other.id = 2, other.session = 10;
  f.serve(q1, now);
  CHECK(f.serve(q2, now).cached_tokens == 96);  // q1's 6 whole blocks; its answer was not cached
  CHECK(f.serve(other, now).cached_tokens == 0);
}

TEST_CASE("prefix caching: on the Mooncake conversation trace one at a time, cached tokens equal a reference LRU",
          "[prefix][replica][mooncake]") {
  Fixture f(512);
  const std::int64_t capacity_blocks = f.model.kv_capacity_tokens() / 512;
  REQUIRE(capacity_blocks > 200);
  std::ifstream in(test::data_dir() + "/traces/mooncake-conversation.jsonl");
  std::string line;
  std::deque<std::int64_t> lru;  // the reference: cached blocks, most recently used first
  auto drop = [&](std::int64_t id) {
    const auto it = std::find(lru.begin(), lru.end(), id);
    if (it != lru.end()) lru.erase(it);
  };
  double now = 0.0;
  std::int64_t hits_total = 0, evicted_some = 0;
  for (std::uint64_t i = 0; i < 2000 && std::getline(in, line); ++i) {
    const auto j = nlohmann::json::parse(line);
    Request r{i, now, j["input_length"].get<std::int64_t>(), 1};
    r.hash_ids = j["hash_ids"].get<std::vector<std::int64_t>>();
    std::vector<std::int64_t> own;
    for (std::size_t b = 0; b < r.hash_ids.size() && static_cast<std::int64_t>(b + 1) * 512 <= r.prompt_tokens; ++b)
      own.push_back(r.hash_ids[b]);
    std::size_t h = 0;
    while (h < own.size() && std::find(lru.begin(), lru.end(), own[h]) != lru.end()) ++h;
    const std::int64_t expected = std::min<std::int64_t>(static_cast<std::int64_t>(h) * 512, r.prompt_tokens - 1);
    // While it runs, its blocks are its own (out of the list) and the cache keeps what its KV leaves free: the
    // blocks of its prompt and first token. Then its blocks come back, its first the most recent, and the cache
    // keeps what the whole capacity holds.
    for (const auto id : own) drop(id);
    const std::int64_t need = (r.prompt_tokens + 1 + 511) / 512;
    const auto before = lru.size();
    while (static_cast<std::int64_t>(lru.size()) > capacity_blocks - need) lru.pop_back();
    evicted_some += lru.size() < before ? 1 : 0;
    for (std::size_t k = own.size(); k-- > 0;) lru.push_front(own[k]);
    while (static_cast<std::int64_t>(lru.size()) > capacity_blocks) lru.pop_back();
    const Request got = f.serve(r, now);
    INFO("request " << i);
    REQUIRE(got.cached_tokens == expected);
    hits_total += expected;
  }
  CHECK(evicted_some > 100);  // the cache was full: LRU decided
  CHECK(hits_total > 0);
  CHECK(f.model.prefix_cache()->cached_blocks() == lru.size());
  // The same blocks in the same order, named as the replica names a trace's blocks.
  std::vector<PrefixCache::BlockId> named;
  for (const auto id : lru) {
    Request one{0, 0.0, 512, 1};
    one.hash_ids = {id};
    std::vector<PrefixCache::BlockId> ids;
    prefix_block_ids(one, PrefixIds{512, 0, 512}, ids);
    named.push_back(ids.at(0));
  }
  CHECK(f.model.prefix_cache()->lru_order() == named);
}
