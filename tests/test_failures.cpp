// The failure process (policies/failures.hpp), without SimGrid: counts over a long run against renewal theory,
// availability against the product formula, node failures taking a node's replicas down together, injected
// failures at their times, overlapping outages, and draws that do not depend on the fleet's size.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "cluster/topology.hpp"
#include "policies/failures.hpp"

using namespace tf;

namespace {

DistributionSpec fixed_s(double v) {
  DistributionSpec d;
  d.dist = "fixed";
  d.value = v;
  d.min = 0.0;
  return d;
}

DistributionSpec exponential_s(double mean) {
  DistributionSpec d;
  d.dist = "exponential";
  d.mean = mean;
  d.min = 0.0;
  return d;
}

// Runs the process to `until_s`: the transitions, and each replica's down time within [0, until_s).
struct Trace {
  std::vector<ReplicaTransition> transitions;
  std::vector<double> down_s;
};
Trace run(FailureProcess& p, double until_s) {
  Trace t;
  t.down_s.assign(static_cast<std::size_t>(p.replicas()), 0.0);
  std::vector<double> since(static_cast<std::size_t>(p.replicas()), -1.0);
  std::vector<ReplicaTransition> out;
  while (p.next_time() < until_s) {
    out.clear();
    p.advance(out);
    for (const auto& tr : out) {
      auto i = static_cast<std::size_t>(tr.replica);
      if (tr.down) {
        REQUIRE(since[i] < 0.0);  // transitions alternate
        since[i] = tr.t_s;
      } else {
        REQUIRE(since[i] >= 0.0);
        t.down_s[i] += tr.t_s - since[i];
        since[i] = -1.0;
      }
      t.transitions.push_back(tr);
    }
  }
  for (std::size_t i = 0; i < since.size(); ++i)
    if (since[i] >= 0.0) t.down_s[i] += until_s - since[i];
  return t;
}

}  // namespace

TEST_CASE("failures: GPU failures over a long run match the rate (renewal theory)", "[failures]") {
  // 16 replicas of 4 GPUs; each GPU up for an exponential time of mean m, then down for a fixed r. The count of
  // failures of one GPU over T is a renewal count: mean about T / (m + r), variance about T m^2 / (m + r)^3 (cycle
  // variance m^2 over the cubed cycle mean).
  FailureSpec spec;
  spec.enabled = true;
  spec.gpu_mtbf_h = 100.0;
  spec.gpu_repair_s = fixed_s(3600.0);
  const auto layout = layout_replicas(16, 4, 8);
  FailureProcess p(spec, layout, 8, 7);
  const double T = 20000.0 * 3600.0;
  run(p, T);
  const double m = 100.0 * 3600.0, r = 3600.0;
  const double gpus = 64.0;
  const double mean = gpus * T / (m + r);
  const double sd = std::sqrt(gpus * T * m * m / std::pow(m + r, 3));
  const double n = static_cast<double>(p.counts().gpu_failures);
  INFO("failures " << n << ", expected " << mean << " +- " << sd);
  CHECK(std::abs(n - mean) < 4.0 * sd);
  CHECK(p.counts().node_failures == 0);
  CHECK(p.counts().injected == 0);
}

TEST_CASE("failures: availability matches the product of the units' up shares", "[failures]") {
  FailureSpec spec;
  spec.enabled = true;
  spec.gpu_mtbf_h = 50.0;
  spec.gpu_repair_s = exponential_s(4.0 * 3600.0);
  spec.node_mtbf_h = 200.0;
  spec.node_repair_s = fixed_s(8.0 * 3600.0);
  const auto layout = layout_replicas(8, 2, 8);  // 2 nodes of 4 replicas
  FailureProcess p(spec, layout, 8, 11);
  const double T = 100000.0 * 3600.0;
  const Trace t = run(p, T);
  // Each replica: 2 GPUs and a node, independent; up when all three are.
  const double expected = std::pow(50.0 / 54.0, 2) * (200.0 / 208.0);
  CHECK(replica_availability(spec, 2, 4.0 * 3600.0, 8.0 * 3600.0) == Approx(expected).epsilon(1e-12));
  double down = 0.0;
  for (double d : t.down_s) down += d;
  const double measured = 1.0 - down / (8.0 * T);
  INFO("availability " << measured << ", expected " << expected);
  CHECK(measured == Approx(expected).margin(0.005));
  CHECK(p.counts().node_failures > 0);
  CHECK(p.counts().gpu_failures > 0);
}

TEST_CASE("failures: a node's failure takes all its replicas down at once, and up at once", "[failures]") {
  FailureSpec spec;
  spec.enabled = true;
  spec.node_mtbf_h = 10.0;
  spec.node_repair_s = fixed_s(600.0);
  const auto layout = layout_replicas(8, 2, 8);  // replicas 0-3 on node 0, 4-7 on node 1
  FailureProcess p(spec, layout, 8, 3);
  const Trace t = run(p, 1000.0 * 3600.0);
  REQUIRE(t.transitions.size() >= 8);
  REQUIRE(t.transitions.size() % 4 == 0);
  std::map<int, double> down_at;  // node -> when it went down
  for (std::size_t i = 0; i < t.transitions.size(); i += 4) {
    const ReplicaTransition& first = t.transitions[i];
    for (std::size_t j = 1; j < 4; ++j) {
      CHECK(t.transitions[i + j].t_s == first.t_s);
      CHECK(t.transitions[i + j].down == first.down);
      CHECK(t.transitions[i + j].replica / 4 == first.replica / 4);  // the same node
    }
    const int node = first.replica / 4;
    if (first.down) down_at[node] = first.t_s;
    else CHECK(first.t_s - down_at.at(node) == Approx(600.0));
  }
  CHECK(p.counts().outages == p.counts().node_failures * 4);
}

TEST_CASE("failures: injected failures happen at their times - overlapping ones keep the replica down", "[failures]") {
  FailureSpec spec;
  spec.enabled = true;
  spec.inject = {{1, 30.0, 60.0}, {1, 50.0, 100.0}, {0, 10.0, 5.0}};
  const auto layout = layout_replicas(2, 1, 8);
  FailureProcess p(spec, layout, 8, 1);
  const Trace t = run(p, 1e9);
  REQUIRE(t.transitions.size() == 4);
  CHECK((t.transitions[0].replica == 0 && t.transitions[0].down && t.transitions[0].t_s == 10.0));
  CHECK((t.transitions[1].replica == 0 && !t.transitions[1].down && t.transitions[1].t_s == 15.0));
  CHECK((t.transitions[2].replica == 1 && t.transitions[2].down && t.transitions[2].t_s == 30.0));
  // The first outage's repair at 90 s leaves the second (until 150 s) holding it down.
  CHECK((t.transitions[3].replica == 1 && !t.transitions[3].down && t.transitions[3].t_s == 150.0));
  CHECK(p.counts().injected == 3);
  CHECK(p.counts().outages == 2);
  CHECK(p.next_time() == std::numeric_limits<double>::infinity());
  spec.inject = {{2, 1.0, 1.0}};
  CHECK_THROWS_AS(FailureProcess(spec, layout, 8, 1), std::invalid_argument);
}

TEST_CASE("failures: a GPU fails at the same times whatever the fleet's size (N + 1 sees N's failures)", "[failures]") {
  FailureSpec spec;
  spec.enabled = true;
  spec.gpu_mtbf_h = 20.0;
  spec.gpu_repair_s = exponential_s(3600.0);
  spec.node_mtbf_h = 100.0;
  spec.node_repair_s = exponential_s(7200.0);
  const double T = 2000.0 * 3600.0;
  FailureProcess small(spec, layout_replicas(6, 4, 8), 8, 5);
  FailureProcess large(spec, layout_replicas(7, 4, 8), 8, 5);
  const Trace a = run(small, T), b = run(large, T);
  std::vector<ReplicaTransition> b_first6;
  for (const auto& tr : b.transitions)
    if (tr.replica < 6) b_first6.push_back(tr);
  REQUIRE(a.transitions.size() == b_first6.size());
  for (std::size_t i = 0; i < a.transitions.size(); ++i) {
    CHECK(a.transitions[i].t_s == b_first6[i].t_s);
    CHECK(a.transitions[i].replica == b_first6[i].replica);
    CHECK(a.transitions[i].down == b_first6[i].down);
  }
  CHECK(b.transitions.size() > a.transitions.size());
  // Another seed gives other times.
  FailureProcess other(spec, layout_replicas(6, 4, 8), 8, 6);
  const Trace c = run(other, T);
  CHECK((c.transitions.empty() || a.transitions.empty() || c.transitions[0].t_s != a.transitions[0].t_s));
}

TEST_CASE("failures: the counter-based draws are uniform", "[failures]") {
  // Mean 1/2 and variance 1/12 over 200,000 draws, and a 10-bin chi-square below its 0.1 % point (27.9 for 9
  // degrees of freedom).
  const int n = 200000;
  std::vector<int> bins(10, 0);
  double sum = 0.0, sum2 = 0.0;
  for (int k = 0; k < n; ++k) {
    const double u = FailureProcess::uniform(1, static_cast<std::uint64_t>(k % 97), static_cast<std::uint64_t>(k / 97), 0);
    REQUIRE(u > 0.0);
    REQUIRE(u < 1.0);
    sum += u;
    sum2 += u * u;
    ++bins[static_cast<std::size_t>(u * 10.0)];
  }
  const double mean = sum / n, var = sum2 / n - mean * mean;
  CHECK(mean == Approx(0.5).margin(0.005));
  CHECK(var == Approx(1.0 / 12.0).margin(0.002));
  double chi2 = 0.0;
  for (int c : bins) chi2 += (c - n / 10.0) * (c - n / 10.0) / (n / 10.0);
  CHECK(chi2 < 27.9);
}
