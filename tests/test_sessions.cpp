// Sessions (closed loop): questions per visit, think time after each answer, prompts that carry the conversation;
// and the engine's completion hook end to end.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"
#include "workloads/source.hpp"

namespace {

tf::WorkloadSpec session_workload() {
  tf::WorkloadSpec w;
  w.arrival.process = "poisson";
  w.arrival.rate_per_s = 0.5;  // visits per second
  w.session.enabled = true;
  w.session.questions = tf::DistributionSpec{};
  w.session.questions.dist = "geometric";
  w.session.questions.mean = 5.0;
  w.session.think_time_s = tf::DistributionSpec{};
  w.session.think_time_s.dist = "exponential";
  w.session.think_time_s.mean = 30.0;
  w.session.think_time_s.min = 0.0;
  w.prompt_tokens.dist = "uniform";
  w.prompt_tokens.low = 20;
  w.prompt_tokens.high = 80;
  w.output_tokens.dist = "exponential";
  w.output_tokens.mean = 100;
  w.context_window = 1000000;
  w.prompt_tokens.max = w.output_tokens.max = 1000000;
  return w;
}

std::vector<tf::Request> drain(const tf::WorkloadSpec& w, double duration_s, double service_s) {
  auto src = tf::make_workload_source(w, 7, duration_s);
  std::vector<tf::Request> out;
  tf::drain_source(*src, service_s, [&](const tf::Request& r) { out.push_back(r); });
  return out;
}

}  // namespace

TEST_CASE("sessions: mean questions per visit and mean think time match their settings", "[sessions]") {
  const double duration = 200000.0, service = 2.0;
  const auto reqs = drain(session_workload(), duration, service);
  std::map<std::uint64_t, std::vector<const tf::Request*>> by_session;
  bool ordered = true;
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    by_session[reqs[i].session].push_back(&reqs[i]);
    if (i) ordered = ordered && reqs[i].arrival_s >= reqs[i - 1].arrival_s && reqs[i].id == reqs[i - 1].id + 1;
  }
  CHECK(ordered);
  // Visits: Poisson at 0.5/s.
  const double visits = static_cast<double>(by_session.size());
  CHECK(std::abs(visits - 0.5 * duration) < 4.0 * std::sqrt(0.5 * duration));
  // Questions: geometric with mean 5 (sd sqrt(1 - p) / p = 4.47), visits near the end cut short (negligible here).
  double questions = 0.0, think_sum = 0.0, gaps = 0.0;
  for (const auto& [id, list] : by_session) {
    questions += static_cast<double>(list.size());
    for (std::size_t k = 0; k < list.size(); ++k) {
      CHECK(list[k]->turn == static_cast<int>(k + 1));
      if (k == 0) continue;
      think_sum += list[k]->arrival_s - (list[k - 1]->arrival_s + service);
      gaps += 1.0;
    }
  }
  const double mean_q = questions / visits;
  INFO("mean questions per visit " << mean_q << ", mean think time " << think_sum / gaps);
  CHECK(std::abs(mean_q - 5.0) < 4.0 * std::sqrt(0.8) / 0.2 / std::sqrt(visits));
  CHECK(std::abs(think_sum / gaps - 30.0) < 4.0 * 30.0 / std::sqrt(gaps));
}

TEST_CASE("sessions: each prompt carries the conversation so far capped by the context window", "[sessions]") {
  auto w = session_workload();
  auto check = [](const std::vector<tf::Request>& reqs, std::int64_t window) {
    std::map<std::uint64_t, const tf::Request*> last;
    std::size_t grown = 0, capped = 0;
    for (const auto& r : reqs) {
      CHECK(r.prompt_tokens + r.output_tokens <= window);
      const auto it = last.find(r.session);
      if (it != last.end()) {
        const std::int64_t carried = it->second->prompt_tokens + it->second->output_tokens;
        const std::int64_t question = r.prompt_tokens - carried;
        if (r.prompt_tokens + r.output_tokens < window) {
          // Not capped: exactly the conversation plus a new question of 20..80 tokens.
          CHECK(question >= 20);
          CHECK(question <= 80);
          ++grown;
        } else {
          CHECK(r.prompt_tokens == window - r.output_tokens);
          ++capped;
        }
      }
      last[r.session] = &r;
    }
    return std::pair{grown, capped};
  };
  const auto [grown, capped] = check(drain(w, 20000.0, 0.0), w.context_window);
  CHECK(grown > 10000);
  CHECK(capped == 0);
  w.context_window = 600;
  w.prompt_tokens.max = 600;
  w.output_tokens.max = 300;
  const auto [grown2, capped2] = check(drain(w, 20000.0, 0.0), 600);
  CHECK(grown2 > 1000);
  CHECK(capped2 > 1000);
  // Without carry_context, prompts are the question alone.
  w.session.carry_context = false;
  for (const auto& r : drain(w, 2000.0, 0.0)) CHECK((r.prompt_tokens >= 20 && r.prompt_tokens <= 80));
}

TEST_CASE("sessions in the engine: each next question arrives think time after the previous answer finished",
          "[sessions][engine]") {
  const std::string text = R"(
name = "sessions"
duration_s = 300
warmup_s = 10
[model]
name = "llama-3.1-8b"
[fleet]
replicas = 2
[workload]
arrival = { process = "poisson", rate_per_s = 2.0 }
prompt_tokens = { dist = "fixed", value = 100 }
output_tokens = { dist = "fixed", value = 50 }
session = { questions = 3, think_time_s = 10 }
)";
  const tf::Scenario s = tf::load_scenario_text(text, "sessions.toml");
  const tf::RunResult result = tf::run_simulation(s);
  REQUIRE(!result.records.empty());
  // Turn k's prompt: k questions of 100 tokens and k - 1 answers of 50.
  std::multiset<double> next_due;  // each answer's end plus the think time
  std::size_t turns[4] = {0, 0, 0, 0};
  for (const auto& r : result.records) {
    REQUIRE(r.finished());
    const auto k = static_cast<std::size_t>((r.prompt_tokens + 50) / 150);
    REQUIRE(r.prompt_tokens == static_cast<std::int64_t>(150 * k - 50));
    REQUIRE(k >= 1);
    REQUIRE(k <= 3);
    ++turns[k];
  }
  for (const auto& r : result.records)
    if (r.prompt_tokens != 400) next_due.insert(r.finished_s + 10.0);  // the last turn leads to no question
  std::size_t matched = 0;
  for (const auto& r : result.records) {
    if (r.prompt_tokens == 100) continue;  // a visit's first question arrives by the arrival process
    auto it = next_due.lower_bound(r.arrival_s - 1e-9);
    if (it != next_due.end() && *it <= r.arrival_s + 1e-9) {
      ++matched;
      next_due.erase(it);
    }
  }
  CHECK(matched == turns[2] + turns[3]);
  CHECK(turns[1] > 400);
  CHECK(turns[2] > 300);  // all but the visits whose follow-up would come after duration_s
  CHECK(turns[3] > 200);
  CHECK(turns[2] <= turns[1]);
  CHECK(turns[3] <= turns[2]);
}

TEST_CASE("sessions: questions cut at the end of the arrival period are counted - with those asked they keep the mean",
          "[sessions]") {
  // 3,000 visits in 600 s, about 5 questions each a minute apart: many visits are still going at 600 s. Their
  // remaining questions are not asked (arrivals end at duration_s), but counted; asked + cut per visit must then
  // match the geometric mean of 5, while the questions asked alone fall short of it.
  tf::WorkloadSpec w = session_workload();
  w.arrival.rate_per_s = 5.0;
  w.session.think_time_s.mean = 60.0;
  auto src = tf::make_workload_source(w, 7, 600.0);
  std::set<std::uint64_t> visits;
  double asked = 0.0;
  tf::drain_source(*src, 2.0, [&](const tf::Request& r) {
    visits.insert(r.session);
    asked += 1.0;
  });
  const double n = static_cast<double>(visits.size());
  const double cut = static_cast<double>(src->questions_cut());
  INFO(n << " visits, " << asked << " questions asked, " << cut << " cut");
  CHECK(cut > 0.1 * asked);
  const double bound = 4.0 * std::sqrt(0.8) / 0.2 / std::sqrt(n);  // 4 sd of the mean of geometric(p = 0.2)
  CHECK(std::abs((asked + cut) / n - 5.0) < bound);
  CHECK(5.0 - asked / n > bound);
}

TEST_CASE("sessions with admission control: a rejected question is followed by the next one and the run drains",
          "[sessions][engine]") {
  // One replica, at most 2 waiting: under 20 visits a second of long prompts most questions are turned away. Each
  // rejected one leads, as an answer would, to the visit's next question a think time later (before, the run never
  // ended: the source waited for an answer that would never come).
  const std::string text = R"(
name = "sessions-rejected"
duration_s = 120
warmup_s = 10
[model]
name = "llama-3.1-8b"
[fleet]
replicas = 1
[workload]
arrival = { process = "poisson", rate_per_s = 20.0 }
prompt_tokens = { dist = "fixed", value = 2000 }
output_tokens = { dist = "fixed", value = 50 }
session = { questions = 3, think_time_s = 5 }
[policy]
max_queued = 2
)";
  const tf::Scenario s = tf::load_scenario_text(text, "sessions.toml");
  const tf::RunResult result = tf::run_simulation(s);
  std::size_t rejected = 0, finished = 0, turns[4] = {0, 0, 0, 0};
  for (const auto& r : result.records) {
    if (r.rejected) ++rejected;
    else if (r.finished()) ++finished;
    // Turn k's prompt carries the conversation: k questions of 2,000 tokens and k - 1 answers of 50.
    const auto k = static_cast<std::size_t>((r.prompt_tokens + 50) / 2050);
    REQUIRE(r.prompt_tokens == static_cast<std::int64_t>(2050 * k - 50));
    ++turns[k];
  }
  CHECK(rejected + finished == result.records.size());  // drained: nothing left waiting or running
  CHECK(rejected > result.records.size() / 2);
  // Every visit goes on to its third question, rejected or not, except those cut at duration_s (the last ~10 s).
  CHECK(turns[2] > turns[1] * 8 / 10);
  CHECK(turns[3] > turns[1] * 8 / 10);
}
