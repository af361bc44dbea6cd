// [failures]: GPU and node failures, their repair times, failures injected at known times, and retries.
#include <climits>
#include <cmath>
#include <limits>

#include "sim/scenario/loader.hpp"

namespace tf::loader {

namespace {

// Defaults (scenarios/README.md, [failures]; the derivation is in README.md, "Failures, repairs and N+k"): the
// Llama 3 paper's 54-day snapshot on 16,384 H100s (2,048 nodes of 8): 419 unexpected interruptions, 58.7 % of them
// GPU issues (246), about 78 % hardware (327), so 81 of other hardware (host, network, power).
//   GPU:  16,384 x 54 x 24 h / 246 = 86,300 GPU-hours between failures
//   node:  2,048 x 54 x 24 h / 81  = 32,800 node-hours between failures
// Repair times: lognormal (Schroeder and Gibson, DSN 2006: repair times across 20 HPC systems are lognormal, with
// means from under an hour to over a day); the means and p99s are assumptions within that range: a GPU's replica
// back in 1 h (p99 12 h: a replacement part), a node's in 4 h (p99 48 h).
constexpr double kGpuMtbfH = 86300.0;
constexpr double kNodeMtbfH = 32800.0;

DistributionSpec lognormal_s(double mean, double p99) {
  DistributionSpec d;
  d.dist = "lognormal";
  d.mean = mean;
  d.percentile = 99.0;
  d.percentile_value = p99;
  d.min = 0.0;
  d.max = std::numeric_limits<double>::infinity();
  return d;
}

}  // namespace

}  // namespace tf::loader

namespace tf {

FailureSpec default_failure_spec() {
  FailureSpec spec;
  spec.enabled = true;
  spec.gpu_mtbf_h = loader::kGpuMtbfH;
  spec.node_mtbf_h = loader::kNodeMtbfH;
  spec.gpu_repair_s = loader::lognormal_s(3600.0, 12.0 * 3600.0);
  spec.node_repair_s = loader::lognormal_s(4.0 * 3600.0, 48.0 * 3600.0);
  return spec;
}

}  // namespace tf

namespace tf::loader {

void read_failures(const Section& top, Scenario& s) {
  const Section f = top.table("failures");
  if (!f.present()) return;
  if (s.pods > 1)
    top.fail("failures", fmt::format("failures are not simulated in a fleet of pods (fleet.pods = {}) yet; size one "
                                     "pod, or leave [failures] out", s.pods));
  if (s.batching == "disaggregated")
    top.fail("failures", "failures are not simulated with disaggregated serving (KV caches held for, or moving to, a "
                         "failed replica); use co-located batching, or leave [failures] out");
  FailureSpec& spec = s.failures;
  spec = default_failure_spec();
  spec.gpu_mtbf_h = f.number_in("gpu_mtbf_h", spec.gpu_mtbf_h, Section::at_least(0));
  spec.node_mtbf_h = f.number_in("node_mtbf_h", spec.node_mtbf_h, Section::at_least(0));
  const double inf = std::numeric_limits<double>::infinity();
  spec.gpu_repair_s = read_distribution(f, "gpu_repair_s", spec.gpu_repair_s, 0.0, inf, false);
  spec.node_repair_s = read_distribution(f, "node_repair_s", spec.node_repair_s, 0.0, inf, false);
  spec.max_retries = static_cast<int>(f.integer_in("max_retries", 3, 0, 1000000));
  if (const toml::node* n = f.node("inject")) {
    if (!n->is_array()) f.wrong_type("inject", "an array of tables { replica = ..., at_s = ..., down_s = ... }");
    const toml::array& list = *n->as_array();
    for (std::size_t i = 0; i < list.size(); ++i) {
      const toml::node& e = *list.get(i);
      const std::string where = fmt::format("failure {}", i + 1);
      if (!e.is_table())
        f.fail("inject", fmt::format("{}: expected a table {{ replica, at_s, down_s }}, got {}", where, describe(e)));
      const toml::table& t = *e.as_table();
      InjectedFailure inj;
      for (auto&& [k, v] : t) {
        const std::string key(k.str());
        if (key == "replica") {
          if (!v.is_integer()) f.fail("inject", fmt::format("{}: replica: expected an integer, got {}", where, describe(v)));
          const auto r = v.as_integer()->get();
          if (r < 0 || r >= s.replicas)
            f.fail("inject", fmt::format("{}: replica: expected a replica from 0 to {} (fleet.replicas = {}), got {}",
                                         where, s.replicas - 1, s.replicas, r));
          inj.replica = static_cast<int>(r);
          continue;
        }
        if (key != "at_s" && key != "down_s")
          f.fail("inject", fmt::format("{}: unknown key '{}' (known: replica, at_s, down_s)", where, key));
        double x = 0.0;
        if (v.is_integer()) x = static_cast<double>(v.as_integer()->get());
        else if (v.is_floating_point()) x = v.as_floating_point()->get();
        else f.fail("inject", fmt::format("{}: {}: expected a number, got {}", where, key, describe(v)));
        if (!(x >= 0.0) || !std::isfinite(x))
          f.fail("inject", fmt::format("{}: {}: expected a number of seconds at least 0, got {}", where, key, num(x)));
        (key == "at_s" ? inj.at_s : inj.down_s) = x;
      }
      for (const char* k : {"replica", "at_s", "down_s"})
        if (!t.contains(k))
          f.fail("inject", fmt::format("{}: missing {} (a failure needs replica, at_s, down_s)", where, k));
      spec.inject.push_back(inj);
    }
  }
}

}  // namespace tf::loader
