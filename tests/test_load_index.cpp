// Routers' load views and indexes (policies/router.hpp, policies/load_index.hpp): the index's branch and bound
// against a brute-force scan; every router's choice over a LoadView against the full-scan code it replaced; a router
// written with the simple API (a vector of loads) run through a LoadView; and, end to end, the engine's indexed path
// against its full-scan reference (TOKENFLEET_ROUTER_LOADS=scan), requests.csv byte for byte, for every router.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "helpers.hpp"
#include "policies/load_index.hpp"
#include "policies/router.hpp"

using namespace tf;
using namespace tf::test;

namespace {

// The smallest exact value, ties to the lowest index: what MinTree::argmin must find.
int scan_argmin(const std::vector<long>& exact) {
  int best = -1;
  for (std::size_t i = 0; i < exact.size(); ++i)
    if (best < 0 || exact[i] < exact[static_cast<std::size_t>(best)]) best = static_cast<int>(i);
  return best;
}

}  // namespace

TEST_CASE("load index: branch and bound over lower bounds finds the scan's minimum, ties to the lowest index",
          "[routers][index]") {
  std::mt19937_64 rng(42);
  std::size_t evaluated = 0, leaves = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const std::size_t n = 1 + rng() % 70;
    const long spread = trial % 3 == 0 ? 3 : 1000;  // few distinct values (many ties) or many
    std::vector<long> exact(n), bound(n);
    auto draw = [&](std::size_t i) {
      exact[i] = static_cast<long>(rng() % static_cast<unsigned long>(spread));
      bound[i] = exact[i] - static_cast<long>(rng() % (trial % 2 == 0 ? 1ul : 50ul));  // equal, or below
    };
    for (std::size_t i = 0; i < n; ++i) draw(i);
    MinTree<long> tree;
    tree.build(n, [&](std::size_t i) { return bound[i]; });
    REQUIRE(tree.built());
    for (int change = 0; change < 30; ++change) {
      INFO("trial " << trial << ", n " << n << ", change " << change);
      const int got = tree.argmin([&](std::size_t i) { return exact[i]; }, &evaluated);
      leaves += n;
      REQUIRE(got == scan_argmin(exact));
      // The smallest bound, ties to the lowest index.
      std::vector<long> b = bound;
      REQUIRE(tree.min_index() == scan_argmin(b));
      const std::size_t i = rng() % n;
      draw(i);
      tree.set(i, bound[i]);
    }
  }
  // Where the bounds are the values themselves, argmin evaluates one leaf (the minimum) and prunes the rest.
  MinTree<long> exact_tree;
  std::vector<long> values(1000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<long>((i * 7919) % 1009);
  exact_tree.build(values.size(), [&](std::size_t i) { return values[i]; });
  std::size_t one = 0;
  CHECK(exact_tree.argmin([&](std::size_t i) { return values[i]; }, &one) == scan_argmin(values));
  CHECK(one == 1);
  // Loose bounds cost evaluations but never a wrong answer; on these draws it evaluates well under every leaf.
  CHECK(evaluated < leaves);
  MinTree<long> empty;
  empty.build(0, [](std::size_t) { return 0L; });
  CHECK(empty.argmin([](std::size_t) { return 0L; }) == -1);
  CHECK(empty.min_index() == -1);
}

namespace {

// The routers as they were before LoadView (a scan of the filled loads), the reference for the new code.
int old_central_queue(const std::vector<ReplicaLoad>& replicas) {
  int best = -1;
  for (std::size_t i = 0; i < replicas.size(); ++i) {
    if (replicas[i].idle) return static_cast<int>(i);
    if (!replicas[i].has_room) continue;
    if (best < 0 || replicas[i].next_boundary_s < replicas[static_cast<std::size_t>(best)].next_boundary_s)
      best = static_cast<int>(i);
  }
  return best;
}

int old_choice(const std::string& name, const std::vector<ReplicaLoad>& r) {
  if (name == "join-shortest-queue")
    return argmin(r, [](const ReplicaLoad& l) { return static_cast<std::size_t>(l.running_requests) + l.waiting_requests; });
  if (name == "least-kv") return argmin(r, [](const ReplicaLoad& l) { return std::make_pair(l.kv_used_fraction, l.waiting_requests); });
  if (name == "least-tokens") return argmin(r, [](const ReplicaLoad& l) { return l.outstanding_tokens; });
  if (name == "least-waiting")
    return argmin(r, [](const ReplicaLoad& l) { return std::make_pair(l.waiting_requests, l.running_requests); });
  if (name == "central-queue") return old_central_queue(r);
  return -2;
}

std::vector<ReplicaLoad> random_loads(std::mt19937_64& rng, std::size_t n) {
  std::vector<ReplicaLoad> loads(n);
  for (auto& l : loads) {
    l.running_requests = static_cast<int>(rng() % 4);
    l.waiting_requests = rng() % 3;
    l.idle = rng() % 5 == 0;
    l.has_room = !l.idle && rng() % 2 == 0;
    l.next_boundary_s = l.has_room ? static_cast<double>(rng() % 4) * 0.5 : 0.0;
    l.outstanding_tokens = static_cast<std::int64_t>(rng() % 5) * 100;
    l.kv_used_fraction = static_cast<double>(rng() % 4) / 4.0;
  }
  return loads;
}

// A router written with the simple API, as docs/adding-a-policy.md shows it (this block is quoted there).
// Most free KV, counted in whole tenths (ties: fewer running, then the lowest index).
class FreestKvRouter final : public Router {
 public:
  std::string name() const override { return "freest-kv"; }
  int route(const Request&, const std::vector<ReplicaLoad>& replicas) override {
    return argmin(replicas, [](const ReplicaLoad& r) {
      return std::make_pair(std::floor(r.kv_used_fraction * 10.0), r.running_requests);
    });
  }
};

}  // namespace

TEST_CASE("load view: every router's choice is the full scan's it replaced, through route() and pick()",
          "[routers][index]") {
  std::mt19937_64 rng(7);
  for (const std::string name : {"join-shortest-queue", "least-kv", "least-tokens", "least-waiting", "central-queue"}) {
    auto router = make_router(name, 1);
    REQUIRE(router);
    for (int trial = 0; trial < 500; ++trial) {
      const auto loads = random_loads(rng, 1 + rng() % 12);
      INFO(name << ", trial " << trial);
      const int want = old_choice(name, loads);
      CHECK(router->route(Request{}, loads) == want);
      CHECK(router->pick(Request{}, VectorLoadView(loads)) == want);
    }
    CHECK(router->route(Request{}, {}) == -1);
  }
  // The random routers: route() and pick() draw the same sequence from the same seed.
  for (const std::string name : {"power-of-two", "random", "round-robin"}) {
    auto a = make_router(name, 9), b = make_router(name, 9);
    for (int trial = 0; trial < 300; ++trial) {
      const auto loads = random_loads(rng, 1 + rng() % 12);
      INFO(name << ", trial " << trial);
      CHECK(a->route(Request{}, loads) == b->pick(Request{}, VectorLoadView(loads)));
    }
  }
}

TEST_CASE("load view: a router with the simple API sees every load, filled in, through a LoadView",
          "[routers][index]") {
  std::vector<ReplicaLoad> loads(4);
  loads[0] = ReplicaLoad{3, 0, false, false, 0.0, 900, 0.42};
  loads[1] = ReplicaLoad{1, 2, false, false, 0.0, 400, 0.47};
  loads[2] = ReplicaLoad{5, 1, false, true, 2.5, 100, 0.15};
  loads[3] = ReplicaLoad{0, 0, true, false, 0.0, 0, 0.19};
  FreestKvRouter r;
  CHECK(r.route(Request{}, loads) == 3);  // 0.1 like replica 2, fewer running
  const VectorLoadView view(loads);
  CHECK(r.pick(Request{}, view) == 3);     // Router::pick fills the vector and calls route
  const ReplicaLoad l = view.load(2);
  CHECK(l.running_requests == 5);
  CHECK(l.waiting_requests == 1);
  CHECK(l.has_room);
  CHECK(l.next_boundary_s == 2.5);
  CHECK(l.outstanding_tokens == 100);
  CHECK(l.kv_used_fraction == 0.15);
  // The indexed queries of the default LoadView are scans.
  CHECK(view.fewest_requests() == 3);
  CHECK(view.fewest_waiting() == 3);
  CHECK(view.least_outstanding_tokens() == 3);
  CHECK(view.least_kv() == 2);
  CHECK(view.first_idle() == 3);
}

namespace {

// Runs a scenario through the binary with TOKENFLEET_ROUTER_LOADS=mode and returns requests.csv.
std::string requests_csv(const std::string& scenario, const std::string& sets, const std::string& mode) {
  const std::string out = temp_dir("load-index");
  const auto r = run_command("TOKENFLEET_ROUTER_LOADS=" + mode + " " + binary() + " run " + scenario + " " + sets +
                             " --out " + out + " --quiet");
  INFO(mode << ": " << r.output);
  REQUIRE(r.exit_code == 0);
  std::string csv = read_file(out + "/requests.csv");
  std::filesystem::remove_all(out);
  REQUIRE(!csv.empty());
  return csv;
}

// Every router, on the scenario: the indexed path (checked against a scan at every query) chooses the replica the
// full-scan reference chooses, for every request. Without a central queue where the scenario refuses one (a decode
// router, swap preemption).
void same_choices(const std::string& golden, const std::string& sets, bool decode_router, bool central_queue = true) {
  const std::string scenario = source_dir() + "/tests/golden/" + golden + ".toml";
  std::size_t runs = 0;
  for (const std::string& name : router_names()) {
    if (name == "central-queue" && (decode_router || !central_queue)) continue;
    std::string s = sets + " --set policy.router=" + name;
    if (decode_router) s += " --set policy.decode_router=" + name;
    ++runs;
    INFO(golden << " with " << name);
    const std::string reference = requests_csv(scenario, s, "scan");
    CHECK(requests_csv(scenario, s, "check") == reference);
    CHECK(requests_csv(scenario, s, "indexed") == reference);
  }
  CHECK(runs >= 7);
}

}  // namespace

TEST_CASE("load index: co-located, 13 replicas: the indexed routers choose as the full scan", "[routers][index][e2e]") {
  same_choices("colocated", "--set fleet.replicas=13 --set workload.arrival.rate_per_s=70 --set duration_s=60", false);
}

TEST_CASE("load index: paged KV, chunked prefill, 9 replicas: the indexed routers choose as the full scan",
          "[routers][index][e2e]") {
  same_choices("paged", "--set fleet.replicas=9 --set workload.arrival.rate_per_s=40 --set duration_s=45", false);
}

TEST_CASE("load index: paged KV with swap, 6 replicas: the indexed routers choose as the full scan",
          "[routers][index][e2e]") {
  same_choices("swap", "--set fleet.replicas=6 --set workload.arrival.rate_per_s=26 --set duration_s=45", false, false);
}

TEST_CASE("load index: disaggregated, 3 prefill and 8 decode replicas: the indexed routers choose as the full scan",
          "[routers][index][e2e]") {
  same_choices("disaggregated",
               "--set fleet.replicas=11 --set policy.prefill_replicas=3 --set workload.arrival.rate_per_s=14 "
               "--set duration_s=45",
               true);
}
