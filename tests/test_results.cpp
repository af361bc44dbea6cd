// Unit tests for results/: percentiles, summaries, JSON, CSV and the atomic writer.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "results/sizing_report.hpp"
#include "results/summary.hpp"
#include "results/units.hpp"

namespace {

using tf::RequestRecord;

RequestRecord make(std::uint64_t id, double arrival, std::int64_t prompt, std::int64_t output, int replica,
                   double admitted, double first, double finished) {
  RequestRecord r;
  r.id = id;
  r.arrival_s = arrival;
  r.prompt_tokens = prompt;
  r.output_tokens = output;
  r.replica = replica;
  r.admitted_s = admitted;
  r.first_token_s = first;
  r.finished_s = finished;
  return r;
}

// warm-up 10 s; id 0 arrives in the warm-up; ids 4 and 5 never finish (5 is never admitted).
std::vector<RequestRecord> sample_records() {
  return {
      make(0, 5.0, 100, 10, 0, 5.0, 6.0, 7.0),
      make(1, 10.0, 100, 11, 0, 10.5, 11.0, 12.0),   // queue 0.5, ttft 1.0, tpot 0.1, e2e 2.0
      make(2, 12.0, 50, 1, 1, 12.0, 12.25, 12.25),   // queue 0, ttft 0.25, no tpot, e2e 0.25
      make(3, 14.0, 200, 5, 1, 14.5, 14.5, 15.5),    // queue 0.5, ttft 0.5, tpot 0.25, e2e 1.5
      make(4, 16.0, 10, 20, 0, 16.5, 17.0, -1.0),
      make(5, 18.0, 30, 7, -1, -1.0, -1.0, -1.0),
  };
}

tf::RunTotals sample_totals() {
  tf::RunTotals t;
  t.replicas = 2;
  t.gpus = 8;
  t.peak_flops_per_gpu = 1e15;
  t.window_s = 100.0;
  t.busy_replica_s = 150.0;
  t.flops = 2e17;
  t.iterations = 400.0;
  t.batched_requests = 1000.0;
  t.energy_window_j = 7.2e6;
  t.energy_total_j = 1.08e7;
  t.simulated_s = 123.0;
  t.served_prompt_tokens = 300.0;
  t.served_output_tokens = 30.0;
  t.completed_in_window = 3;
  return t;
}

std::string make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "tokenfleet-results-XXXXXX").string();
  char* d = mkdtemp(tmpl.data());
  REQUIRE(d != nullptr);
  return std::string(d);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("percentile_sorted interpolates linearly between closest ranks", "[results]") {
  const std::vector<double> v{1.0, 2.0, 3.0, 4.0};
  CHECK(tf::percentile_sorted(v, 0.0) == Approx(1.0));
  CHECK(tf::percentile_sorted(v, 50.0) == Approx(2.5));
  CHECK(tf::percentile_sorted(v, 90.0) == Approx(3.7));
  CHECK(tf::percentile_sorted(v, 99.0) == Approx(3.97));
  CHECK(tf::percentile_sorted(v, 100.0) == Approx(4.0));
  CHECK(tf::percentile_sorted(v, 25.0) == Approx(1.75));
  CHECK(tf::percentile_sorted({7.0}, 99.9) == Approx(7.0));
  const std::vector<double> w{10.0, 20.0, 30.0, 40.0, 50.0};
  CHECK(tf::percentile_sorted(w, 50.0) == Approx(30.0));
  CHECK(tf::percentile_sorted(w, 90.0) == Approx(46.0));
}

TEST_CASE("latency_stats on a small set and on an empty one", "[results]") {
  const auto st = tf::latency_stats({4.0, 1.0, 3.0, 2.0});
  CHECK(st.count == 4);
  CHECK(st.mean == Approx(2.5));
  CHECK(st.p50 == Approx(2.5));
  CHECK(st.p90 == Approx(3.7));
  CHECK(st.p99 == Approx(3.97));
  CHECK(st.p999 == Approx(3.997));
  CHECK(st.max == Approx(4.0));

  const auto empty = tf::latency_stats({});
  CHECK(empty.count == 0);
  CHECK(empty.mean == 0.0);
  CHECK(empty.p50 == 0.0);
  CHECK(empty.p99 == 0.0);
  CHECK(empty.p999 == 0.0);
  CHECK(empty.max == 0.0);
}

TEST_CASE("summarize excludes warm-up arrivals and counts unfinished requests", "[results]") {
  const auto s = tf::summarize("demo", 42, sample_records(), 10.0, sample_totals(), {});
  CHECK(s.scenario == "demo");
  CHECK(s.seed == 42);
  CHECK(s.requests_arrived == 6);
  CHECK(s.requests_measured == 5);
  CHECK(s.requests_unfinished == 2);
  CHECK(s.window_s == Approx(100.0));
  // Measured: ids 1..5. Output tokens 11+1+5+20+7 = 44; prompt 100+50+200+10+30 = 390.
  CHECK(s.offered_requests_per_s == Approx(0.05));
  CHECK(s.offered_output_tokens_per_s == Approx(0.44));
  CHECK(s.offered_total_tokens_per_s == Approx(4.34));
  // Served: what the engine counted inside the window (sample_totals), over the window.
  CHECK(s.requests_per_s == Approx(3.0 / 100.0));
  CHECK(s.output_tokens_per_s == Approx(30.0 / 100.0));
  CHECK(s.total_tokens_per_s == Approx((300.0 + 30.0) / 100.0));
  // Latencies over ids 1, 2, 3 (finished, measured).
  CHECK(s.ttft.count == 3);
  CHECK(s.ttft.mean == Approx((1.0 + 0.25 + 0.5) / 3.0));
  CHECK(s.ttft.p50 == Approx(0.5));
  CHECK(s.ttft.p99 == Approx(0.5 + 0.98 * 0.5));  // pos 1.98 in {0.25, 0.5, 1.0}
  CHECK(s.ttft.max == Approx(1.0));
  CHECK(s.queue.count == 3);
  CHECK(s.queue.mean == Approx(1.0 / 3.0));
  CHECK(s.e2e.count == 3);
  CHECK(s.e2e.max == Approx(2.0));
  // TPOT only for output_tokens > 1: ids 1 (0.1) and 3 (0.25).
  CHECK(s.tpot.count == 2);
  CHECK(s.tpot.p50 == Approx(0.175));
  CHECK(s.tpot.max == Approx(0.25));
  // No targets: everything finished meets them; unfinished ones miss.
  CHECK(s.slo_attainment == Approx(3.0 / 5.0));
  CHECK(s.ttft_p99_met);
  CHECK(s.tpot_p99_met);
  CHECK(s.slo_met);
}

TEST_CASE("summarize computes SLO attainment and p99 checks against targets", "[results]") {
  const auto recs = sample_records();
  const auto totals = sample_totals();
  SECTION("tight targets") {
    // ttft <= 0.6: ids 2, 3 pass; tpot <= 0.2: id 1 passes, id 3 fails, id 2 has no TPOT.
    const auto s = tf::summarize("demo", 1, recs, 10.0, totals, {0.6, 0.2});
    CHECK(s.slo_attainment == Approx(1.0 / 5.0));  // only id 2
    CHECK_FALSE(s.ttft_p99_met);                   // p99 0.99
    CHECK_FALSE(s.tpot_p99_met);                   // p99 0.1 + 0.99 * 0.15 = 0.2485
    CHECK_FALSE(s.slo_met);
  }
  // The p99 targets are judged over every measured request: the 2 of 5 never finished count as beyond any
  // target, so no target is met while they are there.
  std::vector<RequestRecord> served;
  for (const auto& r : recs)
    if (r.finished()) served.push_back(r);
  SECTION("loose targets") {
    const auto s = tf::summarize("demo", 1, recs, 10.0, totals, {1.0, 0.25});
    CHECK(s.slo_attainment == Approx(3.0 / 5.0));
    CHECK_FALSE(s.ttft_p99_met);
    CHECK_FALSE(s.slo_met);
    const auto f = tf::summarize("demo", 1, served, 10.0, totals, {1.0, 0.25});
    CHECK(f.ttft_p99_met);
    CHECK(f.tpot_p99_met);
    CHECK(f.slo_met);
  }
  SECTION("only a TTFT target") {
    const auto s = tf::summarize("demo", 1, served, 10.0, totals, {0.995, 0.0});
    CHECK(s.slo_attainment == Approx(2.0 / 3.0));  // id 1 has ttft 1.0 > 0.995
    CHECK(s.ttft_p99_met);                         // p99 0.99 <= 0.995
    CHECK(s.tpot_p99_met);
    CHECK(s.slo_met);
  }
  SECTION("a rejected request is a miss for the p99 targets") {
    std::vector<RequestRecord> with_rejects = served;
    for (int i = 0; i < 3; ++i) {
      RequestRecord r = make(100 + i, 20.0, 10, 10, -1, -1.0, -1.0, -1.0);
      r.rejected = true;
      with_rejects.push_back(r);
    }
    const auto s = tf::summarize("demo", 1, with_rejects, 10.0, totals, {1.0, 0.25});
    CHECK(s.requests_rejected == 3);
    CHECK(s.requests_unfinished == 0);
    CHECK_FALSE(s.slo_met);
    CHECK(s.ttft.count == 3);  // the latency figures describe the served requests
  }
  SECTION("a run that measured no request never meets the SLO, with or without targets") {
    std::vector<RequestRecord> warmup_only{make(0, 1.0, 10, 10, 0, 1.0, 1.1, 2.0)};  // before warmup_s = 10
    for (const tf::SloTargets t : {tf::SloTargets{}, tf::SloTargets{1.0, 0.25}}) {
      const auto s = tf::summarize("demo", 1, warmup_only, 10.0, totals, t);
      CHECK(s.requests_measured == 0);
      CHECK_FALSE(s.slo_met);
      CHECK_THAT(tf::summary_table(s), Catch::Matchers::Contains("SLO NOT met (no request was measured)"));
    }
    const auto none = tf::summarize("demo", 1, {}, 10.0, totals, {});
    CHECK_FALSE(none.slo_met);
  }
  SECTION("nothing measured finished misses a set target") {
    std::vector<RequestRecord> stuck{make(7, 20.0, 10, 10, -1, -1.0, -1.0, -1.0)};
    const auto s = tf::summarize("demo", 1, stuck, 10.0, totals, {1.0, 0.0});
    CHECK(s.requests_unfinished == 1);
    CHECK(s.slo_attainment == 0.0);
    CHECK_FALSE(s.ttft_p99_met);
    CHECK(s.tpot_p99_met);
    CHECK_FALSE(s.slo_met);
  }
}

TEST_CASE("meets_slo: the one per-request check that summary, windows and the time series count", "[results][slo]") {
  using tf::meets_slo;
  const auto recs = sample_records();
  // id 1: ttft 1.0, tpot 0.1; id 2: ttft 0.25, one token; id 3: ttft 0.5, tpot 0.25; id 4 unfinished.
  CHECK(meets_slo(recs[1], {1.0, 0.1}));           // both targets met exactly
  CHECK_FALSE(meets_slo(recs[1], {0.99, 0.1}));    // TTFT just over
  CHECK_FALSE(meets_slo(recs[3], {1.0, 0.2}));     // TPOT over
  CHECK(meets_slo(recs[3], {1.0, 0.0}));           // no TPOT target
  CHECK(meets_slo(recs[2], {0.25, 1e-9}));         // a one-token answer has no TPOT to judge
  CHECK(meets_slo(recs[1], {0.0, 0.0}));           // no targets: a finished request meets them
  CHECK_FALSE(meets_slo(recs[4], {0.0, 0.0}));     // never finished: meets none
  RequestRecord rejected = recs[5];
  rejected.rejected = true;
  CHECK_FALSE(meets_slo(rejected, {10.0, 10.0}));
  // summarize's attainment is the share of measured requests that meet it.
  std::size_t meeting = 0, measured = 0;
  for (const auto& r : recs)
    if (r.arrival_s >= 10.0) ++measured, meeting += meets_slo(r, {0.6, 0.2}) ? 1 : 0;
  CHECK(tf::summarize("demo", 1, recs, 10.0, sample_totals(), {0.6, 0.2}).slo_attainment ==
        Approx(static_cast<double>(meeting) / static_cast<double>(measured)));
}

TEST_CASE("summarize derives batching - MFU - busy fraction and energy from the totals", "[results]") {
  const auto s = tf::summarize("demo", 1, sample_records(), 10.0, sample_totals(), {});
  CHECK(s.mean_batch_size == Approx(2.5));  // 1000 / 400
  CHECK(s.mfu == Approx(0.25));             // 2e17 / (8 * 1e15 * 100)
  CHECK(s.busy_fraction == Approx(0.75));   // 150 / (2 * 100)
  CHECK(s.energy_kwh == Approx(2.0));       // 7.2e6 J
  CHECK(s.energy_total_kwh == Approx(3.0)); // 1.08e7 J
  CHECK(s.energy_per_output_token_j == Approx(2.4e5));  // 7.2e6 J / 30 output tokens in the window
  CHECK(s.mean_power_per_gpu_w == Approx(9000.0));      // 7.2e6 J / (8 GPUs x 100 s)
  CHECK(s.simulated_s == Approx(123.0));
}

TEST_CASE("summarize guards every division against zero", "[results]") {
  const auto s = tf::summarize("empty", 0, {}, 0.0, tf::RunTotals{}, {});
  CHECK(s.requests_arrived == 0);
  CHECK(s.requests_measured == 0);
  for (double v : {s.requests_per_s, s.output_tokens_per_s, s.total_tokens_per_s, s.slo_attainment,
                   s.mean_batch_size, s.mfu, s.busy_fraction, s.energy_kwh, s.energy_per_output_token_j,
                   s.mean_power_per_gpu_w, s.ttft.p99}) {
    CHECK(std::isfinite(v));
    CHECK(v == 0.0);
  }
  CHECK_FALSE(s.slo_met);  // nothing measured: the SLO is not shown to be met (issue 11)
}

TEST_CASE("requests_csv writes one exact line per record", "[results]") {
  std::vector<RequestRecord> recs{
      make(1, 10.0, 100, 11, 0, 10.5, 11.0, 12.0),
      make(2, 12.5, 30, 7, -1, -1.0, -1.0, -1.0),
      make(3, 13.0, 10, 20, 1, 13.25, 13.5, -1.0),
  };
  recs[1].rejected = true;
  recs[0].prefill_replica = 3;  // disaggregated: prefilled on replica 3, KV moved to replica 0 in 2.5 ms
  recs[0].kv_transfer_s = 0.0025;
  const std::string header =
      "id,arrival_s,prompt_tokens,output_tokens,replica,queue_s,ttft_s,tpot_s,e2e_s,rejected,prefill_replica,"
      "kv_transfer_s\n";
  const std::string expected = header +
      "1,10.000000000,100,11,0,0.500000000,1.000000000,0.100000000,2.000000000,0,3,0.002500000\n"
      "2,12.500000000,30,7,-1,,,,,1,,\n"
      "3,13.000000000,10,20,1,0.250000000,,,,0,,\n";
  CHECK(tf::requests_csv(recs) == expected);
  CHECK(tf::requests_csv({}) == header);
}

TEST_CASE("write_file_atomically writes the content and leaves no temporary file", "[results]") {
  const std::string dir = make_temp_dir();
  const std::string path = dir + "/summary.json";
  tf::write_file_atomically(path, "first\n");
  tf::write_file_atomically(path, "second content\n");  // replaces an existing file
  CHECK(slurp(path) == "second content\n");
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  CHECK(names == std::vector<std::string>{"summary.json"});
  std::filesystem::remove_all(dir);
}

TEST_CASE("write_file_atomically throws for a path in a nonexistent folder", "[results]") {
  const std::string dir = make_temp_dir();
  const std::string missing = dir + "/no-such-folder";
  const std::string path = missing + "/out.csv";
  CHECK_THROWS_AS(tf::write_file_atomically(path, "x"), std::runtime_error);
  CHECK_THROWS_WITH(tf::write_file_atomically(path, "x"), Catch::Contains(path));
  CHECK_FALSE(std::filesystem::exists(missing));
  CHECK(std::filesystem::is_empty(dir));
  std::filesystem::remove_all(dir);
}

TEST_CASE("to_json holds the summary's keys and values", "[results]") {
  const auto s = tf::summarize("demo", 42, sample_records(), 10.0, sample_totals(), {1.0, 0.25});
  const auto j = tf::to_json(s);
  CHECK(j.at("scenario") == "demo");
  CHECK(j.at("seed") == 42);
  CHECK(j.at("requests").at("arrived") == 6);
  CHECK(j.at("requests").at("measured") == 5);
  CHECK(j.at("requests").at("unfinished") == 2);
  CHECK(j.at("window_s").get<double>() == Approx(100.0));
  CHECK(j.at("throughput").at("offered_requests_per_s").get<double>() == Approx(0.05));
  CHECK(j.at("throughput").at("offered_output_tokens_per_s").get<double>() == Approx(0.44));
  CHECK(j.at("throughput").at("offered_total_tokens_per_s").get<double>() == Approx(4.34));
  CHECK(j.at("throughput").at("requests_per_s").get<double>() == Approx(0.03));
  CHECK(j.at("throughput").at("output_tokens_per_s").get<double>() == Approx(0.3));
  for (const char* k : {"queue", "ttft", "tpot", "e2e"}) {
    const auto& st = j.at("latency_s").at(k);
    for (const char* f : {"mean", "p50", "p90", "p99", "p99.9", "max", "count"}) CHECK(st.contains(f));
  }
  CHECK(j.at("latency_s").at("ttft").at("count") == 3);
  CHECK(j.at("latency_s").at("ttft").at("p99").get<double>() == Approx(0.99));
  CHECK(j.at("latency_s").at("tpot").at("count") == 2);
  CHECK(j.at("latency_s").at("e2e").at("max").get<double>() == Approx(2.0));
  CHECK(j.at("slo").at("ttft_p99_s").get<double>() == Approx(1.0));
  CHECK(j.at("slo").at("tpot_p99_s").get<double>() == Approx(0.25));
  CHECK(j.at("slo").at("attainment").get<double>() == Approx(0.6));
  CHECK(j.at("slo").at("ttft_p99_met") == false);  // 2 of 5 never finished
  CHECK(j.at("slo").at("tpot_p99_met") == false);
  CHECK(j.at("slo").at("met") == false);
  CHECK(j.at("batching").at("mean_batch_size").get<double>() == Approx(2.5));
  CHECK(j.at("utilization").at("mfu").get<double>() == Approx(0.25));
  CHECK(j.at("utilization").at("busy_fraction").get<double>() == Approx(0.75));
  CHECK(j.at("energy").at("window_kwh").get<double>() == Approx(2.0));
  CHECK(j.at("energy").at("total_kwh").get<double>() == Approx(3.0));
  CHECK(j.at("energy").at("j_per_output_token").get<double>() == Approx(2.4e5));
  CHECK(j.at("energy").at("mean_power_per_gpu_w").get<double>() == Approx(9000.0));
  CHECK(j.at("simulated_s").get<double>() == Approx(123.0));
  CHECK(j.at("workload").at("skipped_bad_rows").get<std::uint64_t>() == 0);
  CHECK(j.size() == 12);
  // Same input, same bytes.
  CHECK(tf::to_json(s).dump(2) == j.dump(2));
}

TEST_CASE("a Summary written to summary.json and read back equals it field by field", "[results][json]") {
  tf::Summary s = tf::summarize("demo \"quoted\", with a comma", 18446744073709551615u, sample_records(), 10.0,
                                sample_totals(), {1.0, 0.25});
  // Figures no summarize of the sample sets, so that every field read back has something to be compared with.
  s.requests_rejected = 3;
  s.preemptions = 17;
  s.recomputed_tokens = 1234.5;
  s.swapped_out_tokens = 99;
  s.swapped_in_tokens = 98;
  s.swap_s = 0.1 + 0.2;
  s.kv_transfer = tf::latency_stats({0.01, 0.02, 0.04});
  s.totals.kv_transfers = 3;
  s.totals.kv_transfer_bytes = 1.5e9;
  s.totals.skipped_bad_rows = 4;
  s.totals.clamped_rows = 5;
  s.totals.questions_cut = 6;
  s.tpot_p99_met = true;
  s.offered_total_tokens_per_s = 1e-300;
  const std::string text = tf::to_json(s).dump(2);
  const auto back = nlohmann::ordered_json::parse(text).get<tf::Summary>();
  CHECK(back.scenario == s.scenario);
  CHECK(back.seed == s.seed);
  CHECK(back.requests_arrived == s.requests_arrived);
  CHECK(back.requests_measured == s.requests_measured);
  CHECK(back.requests_unfinished == s.requests_unfinished);
  CHECK(back.requests_rejected == s.requests_rejected);
  CHECK(back.preemptions == s.preemptions);
  CHECK(back.recomputed_tokens == s.recomputed_tokens);
  CHECK(back.swapped_out_tokens == s.swapped_out_tokens);
  CHECK(back.swapped_in_tokens == s.swapped_in_tokens);
  CHECK(back.swap_s == s.swap_s);
  CHECK(back.window_s == s.window_s);
  CHECK(back.requests_per_s == s.requests_per_s);
  CHECK(back.output_tokens_per_s == s.output_tokens_per_s);
  CHECK(back.total_tokens_per_s == s.total_tokens_per_s);
  CHECK(back.offered_requests_per_s == s.offered_requests_per_s);
  CHECK(back.offered_output_tokens_per_s == s.offered_output_tokens_per_s);
  CHECK(back.offered_total_tokens_per_s == s.offered_total_tokens_per_s);
  const std::vector<std::pair<const tf::LatencyStats*, const tf::LatencyStats*>> stats = {
      {&back.queue, &s.queue}, {&back.ttft, &s.ttft},           {&back.tpot, &s.tpot},
      {&back.e2e, &s.e2e},     {&back.kv_transfer, &s.kv_transfer}};
  for (const auto& [b, o] : stats) {
    CHECK(b->count == o->count);
    CHECK(b->mean == o->mean);
    CHECK(b->p50 == o->p50);
    CHECK(b->p90 == o->p90);
    CHECK(b->p99 == o->p99);
    CHECK(b->p999 == o->p999);
    CHECK(b->max == o->max);
  }
  CHECK(back.kv_transfer.count == 3);
  CHECK(back.slo.ttft_p99_s == s.slo.ttft_p99_s);
  CHECK(back.slo.tpot_p99_s == s.slo.tpot_p99_s);
  CHECK(back.slo_attainment == s.slo_attainment);
  CHECK(back.ttft_p99_met == s.ttft_p99_met);
  CHECK(back.tpot_p99_met == s.tpot_p99_met);
  CHECK(back.slo_met == s.slo_met);
  CHECK(back.mean_batch_size == s.mean_batch_size);
  CHECK(back.mfu == s.mfu);
  CHECK(back.busy_fraction == s.busy_fraction);
  CHECK(back.energy_kwh == s.energy_kwh);
  CHECK(back.energy_total_kwh == s.energy_total_kwh);
  CHECK(back.energy_per_output_token_j == s.energy_per_output_token_j);
  CHECK(back.mean_power_per_gpu_w == s.mean_power_per_gpu_w);
  CHECK(back.simulated_s == s.simulated_s);
  CHECK(back.totals.kv_transfers == s.totals.kv_transfers);
  CHECK(back.totals.kv_transfer_bytes == s.totals.kv_transfer_bytes);
  CHECK(back.totals.skipped_bad_rows == s.totals.skipped_bad_rows);
  CHECK(back.totals.clamped_rows == s.totals.clamped_rows);
  CHECK(back.totals.questions_cut == s.totals.questions_cut);
  // Written again, the same bytes.
  CHECK(tf::to_json(back).dump(2) == text);
  // A summary.json without a key is refused, naming it.
  auto j = nlohmann::ordered_json::parse(text);
  j["latency_s"]["ttft"].erase("p99.9");
  CHECK_THROWS_WITH(j.get<tf::Summary>(), Catch::Contains("p99.9"));
}

TEST_CASE("sizing.json: written and read back by the same conversions, optional parts kept or left out",
          "[results][json]") {
  tf::SizingReport r;
  r.scenario = "chat";
  r.window = "busiest-hour";
  r.seeds = 2;
  r.pass_share = 0.5;
  r.targets = {2.0, 0.2};
  r.demand = {1000.0, 3600.0, 1000.0 / 3600.0, 512.25, 128.5};
  tf::SizingGpuResult a;
  a.gpu = "h100-sxm";
  a.found = true;
  a.replicas = 7;
  a.prefill_replicas = 2;
  a.gpus = 28.0;
  a.answer = {{1, 1.5, 0.15, 0.995, 0.3, 0.7, 12.5}, {2, 1.6, 0.16, 0.994, 0.31, 0.71, 12.6}};
  a.one_fewer = tf::SizingOneFewer{6, 2.5, 0.25, false};
  a.gpu_hours = 28.0;
  a.energy_kwh = 12.55;
  a.cost = 70.0;
  a.analytic_estimate = {4.0, 0.34, 20.5, 5.125};
  a.effective.utilization = 0.3;
  a.effective.mean_flops_gpus_at_full_utilization = 8.4;
  a.effective.peak_multiple_vs_mean_flops_fleet = 28.0 / 8.4;
  a.effective.mean_load_fleet_replicas = 4;
  a.effective.peak_multiple_vs_mean_load_fleet = 1.75;
  a.per_hour = std::vector<tf::SizingHour>{{0.0, 3600.0, 1000, 7}};
  a.gpu_hours_per_hour_schedule = 28.0;
  a.gpu_hours_fixed_fleet = 28.0;
  tf::SizingGpuResult b;
  b.gpu = "b200";
  b.found = false;
  b.reason = "the TPOT target is below one decode iteration";
  tf::SizingGpuResult c = a;  // without the optional parts
  c.gpu = "h200-sxm";
  c.prefill_replicas = 0;
  c.one_fewer.reset();
  c.cost.reset();
  c.per_hour.reset();
  c.effective.mean_load_fleet_replicas = 0;
  c.effective.peak_multiple_vs_mean_load_fleet_note = "not computed for trace replay";
  r.results = {a, b, c};
  const std::string text = nlohmann::ordered_json(r).dump(2);
  const auto j = nlohmann::ordered_json::parse(text);
  CHECK(j.at("results").at(0).at("prefill_replicas") == 2);
  CHECK(j.at("results").at(1).size() == 3);  // gpu, found, reason
  for (const char* k : {"prefill_replicas", "one_fewer", "cost", "per_hour", "gpu_hours_fixed_fleet"})
    CHECK_FALSE(j.at("results").at(2).contains(k));
  CHECK_FALSE(j.at("results").at(2).at("effective").contains("mean_load_fleet_replicas"));
  const auto back = j.get<tf::SizingReport>();
  CHECK(nlohmann::ordered_json(back).dump(2) == text);
  REQUIRE(back.results.size() == 3);
  CHECK(back.results[0].answer[1].energy_kwh == 12.6);
  CHECK(back.results[0].one_fewer->replicas == 6);
  CHECK(*back.results[0].cost == 70.0);
  CHECK(back.results[0].per_hour->front().requests == 1000);
  CHECK(back.results[1].reason == b.reason);
  CHECK_FALSE(back.results[2].cost.has_value());
  CHECK(back.results[2].effective.peak_multiple_vs_mean_load_fleet_note == "not computed for trace replay");
  CHECK(back.targets.tpot_p99_s == 0.2);
  CHECK(back.demand.tokens_per_s == 512.25);
}

TEST_CASE("summary_table shows the key figures", "[results]") {
  const auto s = tf::summarize("demo", 42, sample_records(), 10.0, sample_totals(), {0.6, 0.2});
  const std::string t = tf::summary_table(s);
  CHECK_THAT(t, Catch::Contains("demo"));
  CHECK_THAT(t, Catch::Contains("TTFT"));
  CHECK_THAT(t, Catch::Contains("TPOT"));
  CHECK_THAT(t, Catch::Contains("E2E"));
  CHECK_THAT(t, Catch::Contains("990.000"));  // TTFT p99 in ms
  CHECK_THAT(t, Catch::Contains("20.00 %"));  // SLO attainment
  CHECK_THAT(t, Catch::Contains("NOT met"));
  CHECK_THAT(t, Catch::Contains("25.00 %"));  // MFU
  CHECK_THAT(t, Catch::Contains("75.00 %"));  // busy
  CHECK(t == tf::summary_table(s));
}

TEST_CASE("summary: preemptions with recomputed and swapped tokens - in summary.json order and in the table",
          "[results][kv]") {
  auto totals = sample_totals();
  const auto none = tf::summarize("demo", 42, sample_records(), 10.0, totals, {});
  CHECK_THAT(tf::summary_table(none), !Catch::Contains("paged KV"));  // no preemptions: no line
  totals.preemptions = 7;
  totals.recomputed_tokens = 1200.0;
  totals.swapped_out_tokens = 3400;
  totals.swapped_in_tokens = 3000;
  totals.swap_s = 0.25;
  const auto s = tf::summarize("demo", 42, sample_records(), 10.0, totals, {});
  const auto j = tf::to_json(s);
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.at("batching").items()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"mean_batch_size", "preemptions", "recomputed_tokens", "swapped_out_tokens",
                                         "swapped_in_tokens", "swap_s"});
  CHECK(j.at("batching").at("preemptions") == 7);
  CHECK(j.at("batching").at("swapped_out_tokens") == 3400);
  CHECK(j.at("batching").at("swapped_in_tokens") == 3000);
  CHECK(j.at("batching").at("swap_s").get<double>() == 0.25);
  CHECK_THAT(tf::summary_table(s),
             Catch::Contains("7 preemptions; 1200 tokens recomputed; 3400 tokens swapped out, 3000 in (0.250 s)"));
}

TEST_CASE("human_duration: a unit that suits the size, never four digits of ms nor 100.0 s") {
  using tf::human_duration;
  CHECK(human_duration(0.00042) == "0.42 ms");
  CHECK(human_duration(0.0142) == "14.2 ms");
  CHECK(human_duration(0.206) == "206 ms");
  CHECK(human_duration(0.9994) == "999 ms");
  CHECK(human_duration(0.9996) == "1.00 s");  // would round to "1000 ms"
  CHECK(human_duration(2.010) == "2.01 s");   // was "2010 ms"
  CHECK(human_duration(9.994) == "9.99 s");
  CHECK(human_duration(9.996) == "10.0 s");
  CHECK(human_duration(12.4) == "12.4 s");
  CHECK(human_duration(99.96) == "100 s");    // not "100.0 s"
  CHECK(human_duration(409.0) == "409 s");
  CHECK(human_duration(990.0) == "16.5 min");
  CHECK(human_duration(12966.0) == "3.6 h");
  CHECK(human_duration(-2.5) == "-2.50 s");
  CHECK(human_duration(2.5, false) == "2.50s");
  CHECK(human_duration(std::nan("")) == "-");
}
