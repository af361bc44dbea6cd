// The range simulation (start_s: the full run's requests from start_s on).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "helpers.hpp"
#include "sim/scenario/scenario.hpp"
#include "workloads/generator.hpp"

using namespace tf;

namespace {

std::vector<Request> all_requests(const WorkloadSpec& spec, std::uint64_t seed, double duration_s) {
  std::vector<Request> out;
  RequestGenerator gen(spec, seed, duration_s);
  while (auto r = gen.next()) out.push_back(*r);
  return out;
}

// The requests of `full` from start_s on are `range`'s, field for field (ids shifted by those before).
void check_same_from(const std::vector<Request>& full, const std::vector<Request>& range, double start_s) {
  const auto first = std::find_if(full.begin(), full.end(), [&](const Request& r) { return r.arrival_s >= start_s; });
  const auto before = static_cast<std::size_t>(first - full.begin());
  REQUIRE(before > 0);
  REQUIRE(range.size() == full.size() - before);
  REQUIRE(!range.empty());
  for (std::size_t i = 0; i < range.size(); ++i) {
    const Request& a = full[before + i];
    const Request& b = range[i];
    INFO("request " << i << " of the range");
    REQUIRE(b.id == i);
    REQUIRE(a.id == before + i);
    REQUIRE(b.arrival_s == a.arrival_s);
    REQUIRE(b.prompt_tokens == a.prompt_tokens);
    REQUIRE(b.output_tokens == a.output_tokens);
    REQUIRE(b.priority == a.priority);
    REQUIRE(b.trace_line == a.trace_line);
  }
}

}  // namespace

TEST_CASE("start_s: the range gives the full run's requests from start_s on, bit for bit", "[per-hour][range]") {
  SECTION("a daily curve with priority classes") {
    WorkloadSpec spec = load_scenario_text(R"(
duration_s = 14400
[workload]
arrival = { process = "diurnal", rate_per_s = 3.0, peak_to_mean = 1.6, peak_hour = 20 }
prompt_tokens = { dist = "lognormal", mean = 800, p99 = 4000 }
output_tokens = { dist = "lognormal", mean = 200, p99 = 1000 }
)",
                                           "d")
                            .workload;
    spec.priority_shares = {0.3, 0.7};
    const auto full = all_requests(spec, 7, 4 * 3600.0);
    WorkloadSpec from = spec;
    from.start_s = 9000.0;
    check_same_from(full, all_requests(from, 7, 4 * 3600.0), 9000.0);
  }
  SECTION("a trace replayed at 1.7 times its rate (copies jittered from the trace's stream)") {
    WorkloadSpec spec;
    spec.trace.enabled = true;
    spec.trace.path = std::string(TF_DATA_DIR) + "/traces/azure-llm-2023-conv.csv";
    spec.trace.rate_scale = 1.7;
    const auto full = all_requests(spec, 5, 600.0);
    REQUIRE(full.size() > 100);
    const double start = full[full.size() / 2].arrival_s;
    WorkloadSpec from = spec;
    from.start_s = start;
    check_same_from(full, all_requests(from, 5, 600.0), start);
  }
  SECTION("sessions: the visits from start_s on arrive as in the full run; earlier visits go on asking") {
    WorkloadSpec spec;
    spec.arrival.process = "poisson";
    spec.arrival.rate_per_s = 0.5;
    spec.session.enabled = true;
    spec.prompt_tokens.dist = "fixed";
    spec.prompt_tokens.value = 100;
    spec.output_tokens.dist = "fixed";
    spec.output_tokens.value = 50;
    const auto full = all_requests(spec, 3, 3600.0);
    WorkloadSpec from = spec;
    from.start_s = 1800.0;
    const auto range = all_requests(from, 3, 3600.0);
    std::vector<double> visits_full, visits_range;
    for (const auto& r : full)
      if (r.turn == 1 && r.arrival_s >= 1800.0) visits_full.push_back(r.arrival_s);
    bool follow_up_of_earlier_visit = false;
    for (std::size_t i = 0; i < range.size(); ++i) {
      REQUIRE(range[i].arrival_s >= 1800.0);
      REQUIRE(range[i].id == i);
      if (range[i].turn == 1) visits_range.push_back(range[i].arrival_s);
      if (range[i].turn > 1 && range[i].arrival_s < 1800.0 + 60.0) follow_up_of_earlier_visit = true;
    }
    CHECK(visits_range == visits_full);
    CHECK(follow_up_of_earlier_visit);
  }
}

TEST_CASE("start_s in a scenario: the warm-up counts from it, and bad values are refused naming the key", "[per-hour][range]") {
  const std::string head = "name = \"r\"\nduration_s = 7200\n";
  const Scenario s = load_scenario_text(head + "start_s = 3600\nwarmup_s = 600\n", "r");
  CHECK(s.workload.start_s == 3600.0);
  CHECK(s.warmup_s == 4200.0);
  const Scenario d = load_scenario_text(head + "start_s = 6000\n", "r");
  CHECK(d.warmup_s == Approx(6000.0 + 60.0));
  CHECK(load_scenario_text(head, "r").workload.start_s == 0.0);
  CHECK_THROWS_WITH(load_scenario_text(head + "start_s = 7200\n", "r"),
                    Catch::Matchers::Contains("start_s") && Catch::Matchers::Contains("less than duration_s"));
  CHECK_THROWS_WITH(load_scenario_text(head + "start_s = -1\n", "r"), Catch::Matchers::Contains("start_s"));
  CHECK_THROWS_WITH(load_scenario_text(head + "start_s = 3600\nwarmup_s = 3600\n", "r"),
                    Catch::Matchers::Contains("warmup_s") && Catch::Matchers::Contains("duration_s - start_s (3600)"));
}

