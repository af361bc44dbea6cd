// The streaming outputs (results/streaming.hpp) against the in-memory ones they replace (summarize,
// requests_csv, build_timeseries, window_figures) as the reference: the same bytes on small runs of the engine,
// percentiles within the stated relative error on large samples, and merged halves equal to one pass.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "helpers.hpp"
#include "results/quantiles.hpp"
#include "results/streaming.hpp"
#include "results/summary.hpp"
#include "results/timeseries.hpp"
#include "results/window.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"

using namespace tf;

namespace {

// Hands every record to every sink.
class Tee final : public RecordSink {
 public:
  Tee(std::initializer_list<RecordSink*> sinks) : sinks_(sinks) {}
  void arrived(const RequestRecord& r) override {
    for (RecordSink* s : sinks_) s->arrived(r);
  }
  void ended(const RequestRecord& r) override {
    for (RecordSink* s : sinks_) s->ended(r);
  }

 private:
  std::vector<RecordSink*> sinks_;
};

std::vector<std::pair<double, double>> hours_and_whole(const Scenario& s) {
  std::vector<std::pair<double, double>> w{{s.warmup_s, s.duration_s}};
  for (double h = 0; h < s.duration_s; h += 60.0) w.emplace_back(std::max(h, s.warmup_s), std::min(h + 60.0, s.duration_s));
  return w;
}

// One run through both sinks; every output compared byte for byte.
void check_same_outputs(const Scenario& s, double window_s, bool expect_rejections = false) {
  const std::string dir = test::temp_dir("streaming-" + s.name);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/requests.csv";
  StreamingOptions so;
  so.warmup_s = s.warmup_s;
  so.slo = s.slo;
  so.priority_classes = static_cast<int>(s.workload.priority_shares.size());
  so.with_priority = !s.workload.priority_shares.empty();
  so.requests_csv_path = path;
  so.timeseries_window_s = window_s;
  so.windows = hours_and_whole(s);
  StreamingSink stream(so);
  // The same through a window that spills all but a few requests to its file.
  StreamingOptions spill_o = so;
  spill_o.requests_csv_path = dir + "/spilled.csv";
  spill_o.spill_after = 8;
  StreamingSink spilled(spill_o);
  RecordVector all;
  Tee tee{&all, &stream, &spilled};
  RunOptions o;
  o.timeseries_window_s = window_s;
  o.record_sink = &tee;
  const RunResult r = run_simulation(s, o);
  stream.finish(r.totals.simulated_s);
  spilled.finish(r.totals.simulated_s);
  REQUIRE(all.records.size() > 100);
  CHECK(stream.spilled_requests() == 0);
  CHECK(spilled.spilled_requests() > all.records.size() / 2);
  CHECK(spilled.max_window() >= stream.max_window());  // a spilled segment waits for all its requests
  REQUIRE(stream.arrived_count() == all.records.size());
  CHECK(stream.max_window() < all.records.size());
  CHECK(!std::filesystem::exists(path));  // not before commit
  stream.commit_requests_csv();
  CHECK(test::read_file(path) == requests_csv(all.records, so.with_priority));
  spilled.commit_requests_csv();
  CHECK(test::read_file(spill_o.requests_csv_path) == test::read_file(path));

  const Summary want = summarize(s.name, s.seed, all.records, s.warmup_s, r.totals, s.slo, so.priority_classes);
  const Summary got = stream.summary().summary(s.name, s.seed, r.totals);
  if (expect_rejections) CHECK(want.requests_rejected > 0);
  if (so.priority_classes > 1) CHECK(want.priority_classes.size() == 2);
  CHECK(to_json(got).dump(2) == to_json(want).dump(2));
  CHECK(summary_table(got) == summary_table(want));
  CHECK(to_json(spilled.summary().summary(s.name, s.seed, r.totals)).dump(2) == to_json(want).dump(2));

  FleetFacts fleet;
  fleet.replicas = s.replicas;
  fleet.gpus_per_replica = s.tensor_parallel;
  fleet.idle_watts_per_gpu = s.gpu.idle_watts;
  fleet.kv_capacity_tokens_per_replica = 1e6;
  fleet.slo = s.slo;
  CHECK(stream.last_event_s() == last_event_s(all.records, r.totals.simulated_s));
  const std::string ts_want = timeseries_csv(build_timeseries(all.records, r.activity, fleet, r.totals.simulated_s));
  const std::string ts_got = timeseries_csv(stream.timeseries()->rows(r.activity, fleet, stream.last_event_s()));
  CHECK(ts_got == ts_want);
  CHECK(timeseries_csv(spilled.timeseries()->rows(r.activity, fleet, spilled.last_event_s())) == ts_want);

  for (std::size_t i = 0; i < so.windows.size(); ++i) {
    const auto& [a, b] = so.windows[i];
    const nlohmann::ordered_json want_w = window_figures(all.records, a, b, s.slo);
    const nlohmann::ordered_json got_w = stream.windows()[i].figures();
    CHECK(got_w.dump() == want_w.dump());
    CHECK(nlohmann::ordered_json(spilled.windows()[i].figures()).dump() == want_w.dump());
  }
  std::filesystem::remove_all(dir);
}

std::string small_scenario(double rate, const std::string& extra) {
  return R"(
name = "stream"
seed = 5
duration_s = 240
warmup_s = 30
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[fleet]
replicas = 3
[workload]
arrival = { process = "poisson", rate_per_s = )" + std::to_string(rate) + R"( }
prompt_tokens = { dist = "lognormal", mean = 600, p99 = 4000 }
output_tokens = { dist = "lognormal", mean = 150, p99 = 900 }
)" + extra + R"(
[slo]
ttft_p99_s = 0.5
tpot_p99_s = 0.05
)";
}


}  // namespace

TEST_CASE("streaming outputs equal the in-memory ones byte for byte: priority classes, least-tokens router",
          "[streaming]") {
  const Scenario s = load_scenario_text(small_scenario(12.0, R"(priority_shares = [0.3, 0.7]
[policy]
queue_order = "priority"
router = "least-tokens")"),
                                        "stream");
  check_same_outputs(s, 10.0);
}

TEST_CASE("streaming outputs equal the in-memory ones byte for byte: disaggregated golden scenario", "[streaming]") {
  check_same_outputs(load_scenario_file(test::source_dir() + "/tests/golden/disaggregated.toml"), 10.0);
}

TEST_CASE("streaming outputs equal the in-memory ones byte for byte: sessions golden scenario", "[streaming]") {
  check_same_outputs(load_scenario_file(test::source_dir() + "/tests/golden/sessions.toml"), 10.0);
}

TEST_CASE("streaming outputs equal the in-memory ones byte for byte: overload with rejections", "[streaming]") {
  const Scenario s = load_scenario_text(small_scenario(60.0, R"([policy]
max_batch = 8
max_queued_per_replica = 6)"),
                                        "stream");
  check_same_outputs(s, 7.0, true);
}

namespace {

std::vector<std::vector<double>> samples(std::size_t n) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> lognormal(-1.0, 1.2);
  std::exponential_distribution<double> expo(3.0);
  std::uniform_real_distribution<double> uniform(0.001, 20.0);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  std::vector<std::vector<double>> out(4);
  for (std::size_t i = 0; i < n; ++i) {
    out[0].push_back(lognormal(rng));
    out[1].push_back(expo(rng));
    out[2].push_back(uniform(rng));
    // Heavy tail with a third of the values exactly 0 (requests that never queued).
    const double x = u01(rng);
    out[3].push_back(x < 0.33 ? 0.0 : 0.01 / std::pow(1.0 - x, 1.5));
  }
  return out;
}

}  // namespace

TEST_CASE("sketch percentiles are within the stated relative error of the exact ones on 1.5e6 values",
          "[streaming][quantiles]") {
  const auto all = samples(1500000);
  for (std::size_t d = 0; d < all.size(); ++d) {
    INFO("distribution " << d);
    const auto& v = all[d];
    QuantileSketch q;
    for (double x : v) q.add(x);
    REQUIRE(!q.exact());
    REQUIRE(q.count() == v.size());
    std::vector<double> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    for (double pct : {0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
      const double want = percentile_sorted(sorted, pct);
      const double got = q.percentile(pct);
      INFO("p" << pct << " want " << want << " got " << got);
      CHECK(std::fabs(got - want) <= QuantileSketch::kRelativeError * want + 1e-300);
    }
    // Never served: 2 % of the requests at the top.
    const std::size_t missed = v.size() / 50;
    std::vector<double> with = sorted;
    with.insert(with.end(), missed, 1e300);
    CHECK(q.percentile(99.0, missed, 1e300) == percentile_sorted(with, 99.0));
    const double want97 = percentile_sorted(with, 97.0), got97 = q.percentile(97.0, missed, 1e300);
    CHECK(std::fabs(got97 - want97) <= QuantileSketch::kRelativeError * want97);
    const LatencyStats st = q.stats();
    const LatencyStats ex = latency_stats(v);
    CHECK(st.count == ex.count);
    CHECK(st.max == ex.max);
    CHECK(std::fabs(st.mean - ex.mean) <= 1e-12 * ex.mean);
    for (std::size_t k : {std::size_t{0}, v.size() / 3, v.size() - 1}) {
      const double want = sorted[k], got = q.value_at_rank(k);
      CHECK(std::fabs(got - want) <= QuantileSketch::kRelativeError * want);
    }
  }
}

TEST_CASE("a sketch below its bound gives latency_stats exactly", "[streaming][quantiles]") {
  const auto all = samples(20000);
  for (const auto& v : all) {
    QuantileSketch q;
    for (double x : v) q.add(x);
    REQUIRE(q.exact());
    nlohmann::ordered_json a = q.stats(), b = latency_stats(v);
    CHECK(a.dump() == b.dump());
  }
}

TEST_CASE("merged sketches equal one pass: exact halves, histogram halves, one of each", "[streaming][quantiles]") {
  const auto all = samples(700000);
  for (std::size_t bound : {std::size_t{1} << 20, QuantileSketch::kExactSamples, std::size_t{1000}}) {
    for (const auto& v : all) {
      INFO("bound " << bound);
      QuantileSketch one(bound), a(bound), b(bound);
      const std::size_t half = v.size() / 3;  // unequal halves
      for (std::size_t i = 0; i < v.size(); ++i) {
        one.add(v[i]);
        (i < half ? a : b).add(v[i]);
      }
      a.merge(b);
      CHECK(a.count() == one.count());
      CHECK(a.exact() == one.exact());
      CHECK(a.max() == one.max());
      CHECK(a.min() == one.min());
      for (double pct : {0.0, 50.0, 90.0, 99.0, 99.9, 100.0}) CHECK(a.percentile(pct) == one.percentile(pct));
      CHECK(a.percentile(99.0, 777, 1e300) == one.percentile(99.0, 777, 1e300));
      CHECK(std::fabs(a.mean() - one.mean()) <= 1e-13 * one.mean());
    }
  }
}

TEST_CASE("merged builders of two halves of a run's records equal one pass", "[streaming]") {
  // Records of a run through RecordVector, then split by id parity (two pods' requests interleave in time).
  const Scenario s = load_scenario_text(small_scenario(20.0, R"(priority_shares = [0.5, 0.5]
[policy]
queue_order = "priority")"),
                                        "stream");
  RunOptions o;
  o.timeseries_window_s = 15.0;
  const RunResult r = run_simulation(s, o);
  REQUIRE(r.records.size() > 1000);
  const int classes = 2;
  SummaryBuilder one(s.warmup_s, s.slo, classes), even(s.warmup_s, s.slo, classes), odd(s.warmup_s, s.slo, classes);
  TimeseriesBuilder t_one(15.0, s.slo, true), t_even(15.0, s.slo, true), t_odd(15.0, s.slo, true);
  WindowBuilder w_one(s.warmup_s, 120.0, s.slo), w_even(s.warmup_s, 120.0, s.slo), w_odd(s.warmup_s, 120.0, s.slo);
  const double last = last_event_s(r.records, r.totals.simulated_s);
  for (const auto& rec : r.records) {
    one.add(rec);
    t_one.add(rec, last);
    w_one.add(rec);
    (rec.id % 2 ? odd : even).add(rec);
    (rec.id % 2 ? t_odd : t_even).add(rec, last);
    (rec.id % 2 ? w_odd : w_even).add(rec);
  }
  even.merge(odd);
  t_even.merge(t_odd);
  w_even.merge(w_odd);
  // Sums of times in another order differ in their last bits: compare the written figures (rounded).
  const Summary a = even.summary(s.name, s.seed, r.totals), b = one.summary(s.name, s.seed, r.totals);
  CHECK(summary_table(a) == summary_table(b));
  CHECK(a.requests_measured == b.requests_measured);
  CHECK(a.ttft.p99 == b.ttft.p99);
  CHECK(a.tpot.p50 == b.tpot.p50);
  CHECK(a.e2e.max == b.e2e.max);
  CHECK(a.queue.count == b.queue.count);
  CHECK(a.slo_attainment == b.slo_attainment);
  REQUIRE(a.priority_classes.size() == 2);
  CHECK(a.priority_classes[1].ttft.p99 == b.priority_classes[1].ttft.p99);
  CHECK(std::fabs(a.ttft.mean - b.ttft.mean) <= 1e-12 * b.ttft.mean);
  FleetFacts fleet;
  fleet.replicas = s.replicas;
  fleet.slo = s.slo;
  CHECK(timeseries_csv(t_even.rows(r.activity, fleet, last)) == timeseries_csv(t_one.rows(r.activity, fleet, last)));
  // And one pass equals the in-memory reference.
  CHECK(timeseries_csv(t_one.rows(r.activity, fleet, last)) ==
        timeseries_csv(build_timeseries(r.records, r.activity, fleet, r.totals.simulated_s)));
  const nlohmann::ordered_json wa = w_even.figures(), wb = w_one.figures();
  CHECK(wa.dump() == wb.dump());
  // A time series that dropped its windows' values cannot merge.
  TimeseriesBuilder flat(15.0, s.slo);
  CHECK_THROWS_AS(flat.merge(t_one), std::logic_error);
}

TEST_CASE("a streamed requests.csv is not in place before commit and removed when abandoned", "[streaming]") {
  const std::string dir = test::temp_dir("streamed-file");
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/requests.csv";
  {
    StreamingOptions so;
    so.requests_csv_path = path;
    StreamingSink sink(so);
    RequestRecord r;
    r.arrival_s = 1.0;
    sink.arrived(r);
    sink.finish(2.0);
  }  // never committed: an error or an interrupt
  CHECK(std::filesystem::is_empty(dir));
  StreamingOptions so;
  so.requests_csv_path = dir + "/missing/requests.csv";
  StreamingSink sink(so);
  sink.finish(0.0);
  CHECK_THROWS_AS(sink.commit_requests_csv(), WriteError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a spilling window gives the same outputs for any order of ends, unfinished requests included",
          "[streaming][spill]") {
  std::mt19937_64 rng(11);
  const std::string dir = test::temp_dir("streaming-spill");
  std::filesystem::create_directories(dir);
  // 5,000 requests arriving 0.01 s apart; each ends after an exponential time (a few very late), 2 % never.
  struct Event {
    double t;
    bool end;
    RequestRecord r;
  };
  std::vector<Event> events;
  std::exponential_distribution<double> late(1.0 / 3.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (std::uint64_t i = 0; i < 5000; ++i) {
    RequestRecord a;
    a.id = i;
    a.arrival_s = 0.01 * static_cast<double>(i);
    a.prompt_tokens = 100 + static_cast<std::int64_t>(i % 97);
    a.output_tokens = 10 + static_cast<std::int64_t>(i % 13);
    events.push_back({a.arrival_s, false, a});
    if (u(rng) < 0.02) continue;
    RequestRecord e = a;
    e.replica = static_cast<int>(i % 4);
    e.admitted_s = a.arrival_s + 0.001;
    e.first_token_s = e.admitted_s + 0.05;
    e.finished_s = e.first_token_s + late(rng) * (u(rng) < 0.01 ? 100.0 : 1.0);
    events.push_back({e.finished_s, true, e});
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.t < b.t; });
  auto outputs = [&](std::size_t spill_after, const std::string& name, std::uint64_t* spilled) {
    // 2 % of the requests never end: segments stay out until the end, and the file reuses the places of those read
    // back, so that it is never larger than what is held at once (64 bytes a request).
    StreamingOptions so;
    so.warmup_s = 1.0;
    so.requests_csv_path = dir + "/" + name;
    so.timeseries_window_s = 5.0;
    so.windows = {{1.0, 20.0}, {20.0, 50.0}};
    so.spill_after = spill_after;
    StreamingSink sink(so);
    for (const Event& e : events) e.end ? sink.ended(e.r) : sink.arrived(e.r);
    sink.finish(200.0);
    sink.commit_requests_csv();
    *spilled = sink.spilled_requests();
    CHECK(sink.spill_file_bytes() <= 64 * sink.max_window());
    RunTotals totals;
    totals.simulated_s = 200.0;
    return test::read_file(so.requests_csv_path) + to_json(sink.summary().summary("s", 1, totals)).dump() +
           nlohmann::ordered_json(sink.windows()[0].figures()).dump() +
           nlohmann::ordered_json(sink.windows()[1].figures()).dump();
  };
  std::uint64_t none = 0, some = 0;
  const std::string want = outputs(0, "memory.csv", &none);
  CHECK(none == 0);
  for (std::size_t after : {2, 5, 64, 1000}) {
    CAPTURE(after);
    CHECK(outputs(after, "spill.csv", &some) == want);
    CHECK(some > 0);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("the window gives back records whose numbers do not fit its one-line slot, in memory and spilled",
          "[streaming][spill]") {
  // The window packs a record into 64 bytes (32-bit token counts, a 16-bit priority, 8-bit retries); a record that
  // does not fit is kept whole beside it. Some records here are wide when they arrive and narrow when they end, some
  // the other way round, some both, some never end.
  std::mt19937_64 rng(5);
  std::exponential_distribution<double> late(1.0 / 2.0);
  struct Event {
    double t;
    bool end;
    RequestRecord r;
  };
  std::vector<Event> events;
  std::vector<RequestRecord> last(3000);  // each request's final record: what requests.csv must show
  for (std::uint64_t i = 0; i < last.size(); ++i) {
    RequestRecord a;
    a.id = i;
    a.arrival_s = 0.01 * static_cast<double>(i);
    a.prompt_tokens = i % 50 == 0 ? std::int64_t{3'000'000'000} + static_cast<std::int64_t>(i) : 100 + static_cast<std::int64_t>(i % 7);
    a.output_tokens = i % 70 == 0 ? std::int64_t{1} << 40 : 10;
    a.priority = i % 30 == 0 ? 40000 + static_cast<int>(i) : static_cast<int>(i % 3);
    a.cached_tokens = i % 45 == 0 ? -(std::int64_t{1} << 33) : 0;  // wide at arrival, narrow at its end
    events.push_back({a.arrival_s, false, a});
    last[i] = a;
    if (i % 37 == 5) continue;  // never ends
    RequestRecord e = a;
    e.replica = static_cast<int>(i % 5);
    e.prefill_replica = i % 11 == 0 ? -7 : -1;
    e.admitted_s = a.arrival_s + 0.002;
    e.first_token_s = e.admitted_s + 0.03;
    e.finished_s = e.first_token_s + late(rng);
    e.kv_transfer_s = i % 11 == 0 ? 1e-7 * static_cast<double>(i) : -1.0;
    e.cached_tokens = i % 45 == 0 ? 64 : (i % 40 == 0 ? std::int64_t{5'000'000'000} : 32);  // narrow, or now wide
    e.retries = i % 90 == 0 ? 300 + static_cast<int>(i) : static_cast<int>(i % 2);
    e.failed = i % 90 == 0;
    e.rejected = i % 90 == 0 || i % 53 == 0;
    events.push_back({e.finished_s, true, e});
    last[i] = e;
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.t < b.t; });
  const std::string want = requests_csv(last, true, true, true);
  const std::string dir = test::temp_dir("streaming-wide");
  std::filesystem::create_directories(dir);
  for (std::size_t after : {0, 3, 100}) {
    CAPTURE(after);
    StreamingOptions so;
    so.requests_csv_path = dir + "/requests.csv";
    so.with_priority = so.with_cached_tokens = so.with_retries = true;
    so.spill_after = after;
    StreamingSink sink(so);
    for (const Event& e : events) e.end ? sink.ended(e.r) : sink.arrived(e.r);
    sink.finish(100.0);
    sink.commit_requests_csv();
    CHECK((after == 0) == (sink.spilled_requests() == 0));
    CHECK(test::read_file(so.requests_csv_path) == want);
  }
  std::filesystem::remove_all(dir);
}
