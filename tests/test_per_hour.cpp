// `size --per-hour` from steady state: the range simulation (start_s: the full run's requests from start_s on) and
// each hour sized on probes of its own that simulate the demand before it as a warm-up.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "helpers.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/sizing.hpp"
#include "workloads/generator.hpp"

using namespace tf;

namespace {

SizingOptions quiet() {
  SizingOptions o;
  o.verbose = false;
  o.jobs = 2;
  return o;
}

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

// Four hours of a daily curve (`arrival_extra` added to its arrival table) with two priority classes.
WorkloadSpec classed_day(const std::string& arrival_extra) {
  WorkloadSpec spec = load_scenario_text("duration_s = 14400\n[workload]\n"
                                         "arrival = { process = \"diurnal\", rate_per_s = 3.0, peak_to_mean = 1.6, "
                                         "peak_hour = 20" + arrival_extra + " }\n"
                                         "prompt_tokens = { dist = \"lognormal\", mean = 800, p99 = 4000 }\n"
                                         "output_tokens = { dist = \"lognormal\", mean = 200, p99 = 1000 }\n",
                                         "d")
                          .workload;
  spec.priority_shares = {0.3, 0.7};
  return spec;
}

}  // namespace

TEST_CASE("start_s: the range gives the full run's requests from start_s on, bit for bit", "[per-hour][range]") {
  SECTION("a daily curve with priority classes") {
    const WorkloadSpec spec = classed_day("");
    const auto full = all_requests(spec, 7, 4 * 3600.0);
    WorkloadSpec from = spec;
    from.start_s = 9000.0;
    check_same_from(full, all_requests(from, 7, 4 * 3600.0), 9000.0);
  }
  // The open-loop skip draws only the arrivals and moves the length streams on by their count: a fixed length takes
  // no number, a joint empirical pair one from the prompt's stream; requests turned away (over the context window)
  // are skipped like the others.
  SECTION("skipped without building the requests: gamma on a curve, fixed and empirical lengths, a context window") {
    const std::string trace = std::string(TF_DATA_DIR) + "/traces/azure-llm-2023-conv.csv";
    for (const std::string& lengths :
         {std::string("prompt_tokens = { dist = \"fixed\", value = 700 }\n"
                      "output_tokens = { dist = \"lognormal\", mean = 200, p99 = 1000 }\n"),
          "prompt_tokens = { dist = \"empirical\", trace = \"" + trace +
              "\" }\noutput_tokens = { dist = \"empirical\", trace = \"" + trace + "\" }\n",
          std::string("prompt_tokens = { dist = \"lognormal\", mean = 900, p99 = 7000 }\n"
                      "output_tokens = { dist = \"fixed\", value = 300 }\n")}) {
      WorkloadSpec spec = load_scenario_text("duration_s = 14400\n[model]\nname = \"llama-3.1-8b\"\n[workload]\n"
                                             "arrival = { process = \"gamma\", cv = 2.0, rate_per_s = 2.0, "
                                             "peak_to_mean = 1.8 }\n"
                                             "over_context = \"drop\"\n" + lengths,
                                             "g")
                             .workload;
      spec.context_window = 3000;
      spec.priority_shares = {0.5, 0.5};
      INFO(lengths);
      const auto full = all_requests(spec, 11, 4 * 3600.0);
      WorkloadSpec from = spec;
      from.start_s = 7000.0;
      check_same_from(full, all_requests(from, 11, 4 * 3600.0), 7000.0);
    }
  }
  // Checkpoints (size --per-hour draws the arrivals once, and each hour probe resumes from its start): the same
  // requests as drawing every arrival before start_s; ignored for another seed or another arrival spec; and used (a
  // checkpoint one arrival off moves every request after it).
  SECTION("resumed from arrival checkpoints: a daily curve with bursts and priority classes") {
    const WorkloadSpec spec = classed_day(", burst = { multiple = 3, mean_burst_s = 60, mean_normal_s = 600 }");
    const auto full = all_requests(spec, 7, 4 * 3600.0);
    const auto shorter = all_requests(spec, 7, 3 * 3600.0 + 1800.0);
    const auto ck = ArrivalCheckpoints::build(spec, 7, 4 * 3600.0, {3600.0, 9000.0, 1800.0});
    REQUIRE(ck);
    REQUIRE(ck->points.size() == 3);
    CHECK(ck->points[1].time_s == 3600.0);  // in time order
    for (double start : {1800.0, 5000.0, 9000.0, 9000.5}) {
      INFO("start_s " << start);
      WorkloadSpec from = spec;
      from.start_s = start;
      from.checkpoints = {ck};
      check_same_from(full, all_requests(from, 7, 4 * 3600.0), start);
      check_same_from(shorter, all_requests(from, 7, 3 * 3600.0 + 1800.0), start);  // a shorter run, as a probe's
    }
    WorkloadSpec other = spec;  // another arrival spec: the checkpoints are not its, and not used
    other.arrival.rate_per_s = 3.5;
    const auto other_full = all_requests(other, 7, 4 * 3600.0);
    other.start_s = 9000.0;
    other.checkpoints = {ck};
    check_same_from(other_full, all_requests(other, 7, 4 * 3600.0), 9000.0);
    auto off = std::make_shared<ArrivalCheckpoints>(*ck);  // one arrival off: the checkpoint is what the run uses
    off->points[2].drawn += 1;
    WorkloadSpec from = spec;
    from.start_s = 9000.0;
    from.checkpoints = {off};
    const auto shifted = all_requests(from, 7, 4 * 3600.0);
    const auto first = std::find_if(full.begin(), full.end(), [](const Request& r) { return r.arrival_s >= 9000.0; });
    REQUIRE(shifted.size() == static_cast<std::size_t>(full.end() - first));
    std::size_t same_prompt = 0;
    for (std::size_t i = 0; i < shifted.size(); ++i) same_prompt += shifted[i].prompt_tokens == first[i].prompt_tokens;
    CHECK(same_prompt < shifted.size() / 10);
    from.checkpoints = {ck};  // seed 8: drawn, not resumed from seed 7's
    check_same_from(all_requests(spec, 8, 4 * 3600.0), all_requests(from, 8, 4 * 3600.0), 9000.0);
    // Sessions are not checkpointed.
    WorkloadSpec sessions = spec;
    sessions.session.enabled = true;
    CHECK(!ArrivalCheckpoints::build(sessions, 7, 4 * 3600.0, {3600.0}));
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

namespace {

// Eight hours of chat-day's curve (a busy midnight falling to a trough near 04:30, then rising to a lunchtime
// peak) on one 8B replica's scale: at midnight the demand is above what one replica serves. Whole-run probes starting
// empty at 00:00 gave 2 replicas to 03:00-05:59 (a backlog built at 1 replica since midnight drains into them) but 1
// to 06:00, which has more requests than any of them.
const char* kMorning = R"(
name = "morning"
seed = 5
duration_s = 28800
warmup_s = 60
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[workload]
arrival = { process = "diurnal", rate_per_s = 52.0, peak_to_mean = 1.6, peak_hour = 20, second_peak_hour = 12.5, second_peak_ratio = 0.6 }
prompt_tokens = { dist = "lognormal", mean = 800, p99 = 4000 }
output_tokens = { dist = "lognormal", mean = 200, p99 = 1000 }
[slo]
ttft_p99_s = 2.0
tpot_p99_s = 0.2
)";

}  // namespace

TEST_CASE("size --per-hour: each hour's fleet moves with its demand (no backlog carried from midnight), its probes "
          "hold the full run's requests of the hour, and the hour's answer passes where one fewer fails",
          "[per-hour][sizing]") {
  const Scenario s = load_scenario_text(kMorning, "morning");
  SizingOptions o = quiet();
  o.per_hour = true;
  const SizingResult r = size_fleet(s, o);
  REQUIRE(r.found);
  REQUIRE(r.per_hour.size() == 8);
  const Probe* day = nullptr;
  for (const auto& p : r.probes)
    if (p.hour < 0 && p.replicas == r.replicas) day = &p;
  REQUIRE(day != nullptr);
  REQUIRE(day->hours.size() == 8);
  for (std::size_t i = 0; i < r.per_hour.size(); ++i) {
    const HourSizing& h = r.per_hour[i];
    INFO("hour " << h.hour << ": " << h.requests << " requests, " << h.replicas << " replicas; " << h.reason);
    CHECK(h.hour == static_cast<int>(i));
    REQUIRE(h.found);
    CHECK(h.simulated_from_s == std::max(0.0, h.hour * 3600.0 - 1800.0));
    REQUIRE(h.answer_probes.size() == 1);
    const Probe& at = h.answer_probes.front();
    CHECK(at.hour == h.hour);
    CHECK(at.replicas == h.replicas);
    CHECK(at.whole.met);
    // The hour probe's window holds exactly the whole run's requests of that hour, the same tokens.
    CHECK(at.whole.start_s == day->hours[i].start_s);
    CHECK(at.whole.end_s == day->hours[i].end_s);
    CHECK(at.whole.requests == day->hours[i].requests);
    CHECK(at.whole.prompt_tokens == day->hours[i].prompt_tokens);
    CHECK(at.whole.output_tokens == day->hours[i].output_tokens);
    if (h.replicas > 1) {
      REQUIRE(h.below_probes.size() == 1);
      CHECK(h.below_probes.front().replicas == h.replicas - 1);
      CHECK_FALSE(h.below_probes.front().whole.met);
    }
    CHECK(r.per_hour_replicas[i] == h.replicas);
  }
  // Monotone in the hour's demand: an hour with more requests never gets fewer replicas than a quieter one.
  for (const auto& a : r.per_hour)
    for (const auto& b : r.per_hour)
      if (a.requests > b.requests) {
        INFO("hour " << a.hour << " (" << a.requests << " requests) gets " << a.replicas << ", hour " << b.hour << " ("
                     << b.requests << ") " << b.replicas);
        CHECK(a.replicas >= b.replicas);
      }
  // The schedule moves with the demand: the trough needs fewer than midnight; 03:00 (fewer requests than 06:00) no
  // more than 06:00.
  CHECK(r.per_hour[4].replicas < r.per_hour[0].replicas);
  CHECK(r.per_hour[3].requests < r.per_hour[6].requests);
  CHECK(r.per_hour[3].replicas <= r.per_hour[6].replicas);
}

TEST_CASE("size --per-hour: a constant rate gives every hour the whole run's answer", "[per-hour][sizing]") {
  const Scenario s = load_scenario_text(R"(
name = "flat"
seed = 2
duration_s = 10800
warmup_s = 300
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[workload]
arrival = { process = "poisson", rate_per_s = 40.0 }
prompt_tokens = { dist = "lognormal", mean = 800, p99 = 4000 }
output_tokens = { dist = "lognormal", mean = 200, p99 = 1000 }
[slo]
ttft_p99_s = 2.0
tpot_p99_s = 0.2
)",
                                        "flat");
  SizingOptions o = quiet();
  o.per_hour = true;
  const SizingResult r = size_fleet(s, o);
  REQUIRE(r.found);
  REQUIRE(r.per_hour.size() == 3);
  for (const auto& h : r.per_hour) {
    INFO("hour " << h.hour << ": " << h.requests << " requests");
    REQUIRE(h.found);
    CHECK(h.replicas == r.replicas);
  }
}

TEST_CASE("size --hour-warmup: bad values are refused with the option's name", "[per-hour][cli]") {
  using tf::test::binary;
  using tf::test::run_command;
  const std::string base = binary() + " size --set duration_s=200 --set warmup_s=20";
  for (const std::string& v : {"-1", "86401", "nan"}) {
    INFO(v);
    const auto r = run_command(base + " --per-hour --hour-warmup " + v);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Matchers::Contains("--hour-warmup") && Catch::Matchers::Contains("[0, 86400]"));
  }
  const auto alone = run_command(base + " --hour-warmup 600");
  CHECK(alone.exit_code == 2);
  CHECK_THAT(alone.output, Catch::Matchers::Contains("--hour-warmup: only with --per-hour"));
  const auto word = run_command(base + " --per-hour --hour-warmup soon");
  CHECK(word.exit_code != 0);
  CHECK_THAT(word.output, Catch::Matchers::Contains("--hour-warmup"));
  SizingOptions o = quiet();
  o.per_hour = true;
  o.hour_warmup_s = -5;
  CHECK_THROWS_WITH(size_fleet(load_scenario_text("duration_s = 200\n[slo]\nttft_p99_s = 1\n", "x"), o),
                    Catch::Matchers::Contains("hour warm-up"));
}

namespace {
// TOKENFLEET_SCOUT_REQUESTS for one scope (unset again even when the search throws).
struct ScoutAt {
  explicit ScoutAt(const char* requests) { setenv("TOKENFLEET_SCOUT_REQUESTS", requests, 1); }
  ~ScoutAt() { unsetenv("TOKENFLEET_SCOUT_REQUESTS"); }
  ScoutAt(const ScoutAt&) = delete;
  ScoutAt& operator=(const ScoutAt&) = delete;
};
}  // namespace

// The scout (size_fleet on a workload of at least kScoutMinRequests over at least 4 hours; lowered here by
// TOKENFLEET_SCOUT_REQUESTS): the busiest whole hour is sized alone on hour probes first, and the whole-window search
// starts there. The answer is still a whole-window pass over a whole-window failure, the same fleet as the search
// without the scout, and --per-hour's hours are the same (the scout's probes reused for its hour).
TEST_CASE("size: a large workload scouted on its busiest hour gets the same answer and the same hours",
          "[per-hour][sizing][scout]") {
  const Scenario s = load_scenario_text(kMorning, "morning");
  SizingOptions o = quiet();
  o.per_hour = true;
  const SizingResult plain = size_fleet(s, o);
  // The busiest whole hour by the generated requests themselves.
  std::vector<double> per_hour(8, 0.0);
  {
    RequestGenerator gen(s.workload, s.seed, s.duration_s);
    while (auto r = gen.next())
      if (r->arrival_s >= s.warmup_s) per_hour[static_cast<std::size_t>(r->arrival_s / 3600.0)] += 1.0;
  }
  const Demand demand = measure_demand(s);
  int busiest = 1;  // hour 0 starts before the warm-up ends: not a whole hour of the window
  for (int h = 1; h < 8; ++h)
    if (per_hour[static_cast<std::size_t>(h)] > per_hour[static_cast<std::size_t>(busiest)]) busiest = h;
  CHECK(demand.busiest_hour == busiest);
  CHECK(demand.busiest_hour_requests == per_hour[static_cast<std::size_t>(busiest)]);
  REQUIRE(demand.hour_tokens.size() == 8);

  const SizingResult scouted = [&] {
    const ScoutAt env("1000");
    return size_fleet(s, o);
  }();
  REQUIRE(plain.found);
  REQUIRE(scouted.found);
  CHECK(scouted.replicas == plain.replicas);
  std::size_t scout_probes = 0, plain_scout_hour = 0;
  for (const auto& p : scouted.probes) scout_probes += p.hour == busiest;
  for (const auto& p : plain.probes) plain_scout_hour += p.hour == busiest;
  CHECK(scout_probes >= 2);
  CHECK(scout_probes >= plain_scout_hour);
  // The answer and one fewer are whole-window probes: a pass over a failure.
  REQUIRE(scouted.answer_probes.size() == 1);
  CHECK(scouted.answer_probes.front().hour == -1);
  CHECK(scouted.answer_probes.front().replicas == scouted.replicas);
  CHECK(scouted.answer_probes.front().whole.met);
  if (scouted.replicas > 1) {
    REQUIRE(scouted.below_probes.size() == 1);
    CHECK(scouted.below_probes.front().hour == -1);
    CHECK_FALSE(scouted.below_probes.front().whole.met);
  }
  REQUIRE(scouted.per_hour.size() == plain.per_hour.size());
  for (std::size_t i = 0; i < plain.per_hour.size(); ++i) {
    INFO("hour " << plain.per_hour[i].hour);
    CHECK(scouted.per_hour[i].replicas == plain.per_hour[i].replicas);
  }
}

TEST_CASE("size: scouted at 3.5 times the morning's demand, the same answer from fewer whole-window probes",
          "[per-hour][sizing][scout]") {
  const Scenario s = load_scenario_text(kMorning, "morning", {"workload.arrival.rate_per_s=182", "duration_s=18000"});
  const SizingResult plain = size_fleet(s, quiet());
  const SizingResult scouted = [&] {
    const ScoutAt env("1000");
    return size_fleet(s, quiet());
  }();
  REQUIRE(plain.found);
  REQUIRE(scouted.found);
  CHECK(plain.replicas >= 4);
  CHECK(scouted.replicas == plain.replicas);
  auto whole_window = [](const SizingResult& r) {
    std::size_t n = 0;
    for (const auto& p : r.probes) n += p.hour < 0;
    return n;
  };
  INFO("whole-window probes: " << whole_window(plain) << " without the scout, " << whole_window(scouted) << " with it");
  CHECK(whole_window(scouted) < whole_window(plain));
  CHECK(scouted.answer_probes.front().whole.met);
  CHECK_FALSE(scouted.below_probes.front().whole.met);
}
