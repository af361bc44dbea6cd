// The time series: windows of activity and of requests (results/timeseries.cpp), and timeseries.csv written by
// `tokenfleet run --out` agreeing with the per-request results and the summary.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "results/timeseries.hpp"

using namespace tf::test;
namespace fs = std::filesystem;

namespace {

tf::RequestRecord make(std::uint64_t id, double arrival, std::int64_t prompt, std::int64_t output, double admitted,
                       double first, double finished) {
  tf::RequestRecord r;
  r.id = id;
  r.arrival_s = arrival;
  r.prompt_tokens = prompt;
  r.output_tokens = output;
  r.replica = 0;
  r.admitted_s = admitted;
  r.first_token_s = first;
  r.finished_s = finished;
  return r;
}

// A CSV file as a header and rows of cells.
struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::size_t col(const std::string& name) const {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    FAIL("no column " << name);
    return 0;
  }
  double num(std::size_t r, const std::string& name) const { return std::stod(rows[r][col(name)]); }
};

Csv read_csv(const std::string& path) {
  Csv c;
  std::istringstream in(read_file(path));
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream l(line);
    while (std::getline(l, cell, ',')) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.push_back("");
    if (first) c.header = cells;
    else c.rows.push_back(cells);
    first = false;
  }
  return c;
}

}  // namespace

TEST_CASE("a step that straddles window edges is split in proportion to time", "[timeseries]") {
  tf::ActivityBins bins(10.0);
  // 5 s to 25 s: 5 s in window 0, 10 s in window 1, 5 s in window 2; batch 4, 1000 KV tokens, 20 iterations.
  bins.add(tf::StepActivity{5.0, 25.0, 4.0, 1000.0, 20.0, 2e12, 0.0, 80.0});
  REQUIRE(bins.bins().size() >= 3);
  const auto& b = bins.bins();
  CHECK(b[0].busy_replica_s == Approx(5.0));
  CHECK(b[1].busy_replica_s == Approx(10.0));
  CHECK(b[2].busy_replica_s == Approx(5.0));
  CHECK(b[1].iterations == Approx(10.0));
  CHECK(b[1].output_tokens == Approx(40.0));
  CHECK(b[0].kv_token_s == Approx(5000.0));
  CHECK(b[2].flops == Approx(0.5e12));
  CHECK(b[1].batched_requests / b[1].iterations == Approx(4.0));
}

TEST_CASE("hand-made requests give the expected counts - queue - running and latency per window", "[timeseries]") {
  // Window 10 s. Request 0 arrives at 1, admitted at 3, first token at 4, done at 14 (11 tokens: TPOT 1 s).
  // Request 1 arrives at 12, admitted at 12, first token at 12.5, done at 22.5 (2 tokens: TPOT 10 s).
  std::vector<tf::RequestRecord> recs{make(0, 1.0, 100, 11, 3.0, 4.0, 14.0), make(1, 12.0, 50, 2, 12.0, 12.5, 22.5)};
  tf::ActivityBins act(10.0);
  // Its 2 GPUs draw 700 W instead of 100 W during the step: 1200 W above idle.
  act.add(tf::StepActivity{3.0, 14.0, 1.0, 111.0, 11.0, 0.0, 100.0, 11.0, 1200.0});
  tf::FleetFacts fleet;
  fleet.replicas = 1;
  fleet.gpus_per_replica = 2;
  fleet.kv_capacity_tokens_per_replica = 1110.0;
  fleet.idle_watts_per_gpu = 100.0;
  fleet.slo.ttft_p99_s = 2.5;  // request 0 has TTFT 3: misses; request 1 has 0.5: meets
  const auto rows = tf::build_timeseries(recs, act, fleet, 22.5);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].arrivals == 1);
  CHECK(rows[1].arrivals == 1);
  CHECK(rows[2].arrivals == 0);
  CHECK(rows[0].completions == 0);
  CHECK(rows[1].completions == 1);
  CHECK(rows[2].completions == 1);
  CHECK(rows[2].end_s == Approx(22.5));
  CHECK(rows[0].queued_mean == Approx(0.2));   // 2 s of waiting in 10 s
  CHECK(rows[0].running_mean == Approx(0.7));  // 3 to 10
  CHECK(rows[1].running_mean == Approx((4.0 + 8.0) / 10.0));
  CHECK(rows[2].running_mean == Approx(2.5 / 2.5));
  CHECK(rows[0].ttft_p99_s == Approx(3.0));
  CHECK(rows[0].tpot_p50_s == Approx(1.0));
  CHECK(rows[1].tpot_p50_s == Approx(10.0));
  CHECK(std::isnan(rows[2].ttft_p50_s));
  CHECK(rows[0].slo_attainment == Approx(0.0));
  CHECK(rows[1].slo_attainment == Approx(1.0));
  CHECK(rows[0].busy_fraction == Approx(0.7));
  CHECK(rows[0].kv_used_fraction == Approx(0.1 * 0.7));
  // Power: 2 GPUs idle at 100 W, busy at 700 W for 7 s of 10: 200 + 600 x 2 x 0.7 = 1040 W.
  CHECK(rows[0].power_w == Approx(1040.0));
  CHECK(rows[2].power_w == Approx(200.0));
  CHECK(rows[0].offered_tokens_per_s == Approx(11.1));
  const std::string csv = tf::timeseries_csv(rows);
  CHECK(csv.rfind("start_s,end_s,arrivals,completions,", 0) == 0);
  CHECK(csv.find(",,") != std::string::npos);  // NaN latency of an empty window: an empty cell
}

TEST_CASE("timeseries.csv of a run agrees with requests.csv and summary.json", "[timeseries][cli]") {
  const std::string out = temp_dir("ts");
  const auto r = run_command(binary() + " run -q --out " + out + " --set duration_s=300 --set warmup_s=30 --window 20");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const Csv ts = read_csv(out + "/timeseries.csv");
  const Csv req = read_csv(out + "/requests.csv");
  const auto summary = nlohmann::json::parse(read_file(out + "/summary.json"));
  REQUIRE(ts.rows.size() >= 15);
  CHECK(ts.num(0, "end_s") - ts.num(0, "start_s") == Approx(20.0));
  double arrivals = 0, completions = 0, energy_j = 0, output_tokens = 0;
  for (std::size_t i = 0; i < ts.rows.size(); ++i) {
    const double len = ts.num(i, "end_s") - ts.num(i, "start_s");
    arrivals += ts.num(i, "arrivals");
    completions += ts.num(i, "completions");
    energy_j += ts.num(i, "power_w") * len;
    output_tokens += ts.num(i, "served_output_tokens_per_s") * len;
    CHECK(ts.num(i, "busy_fraction") <= 1.0 + 1e-9);
    CHECK(ts.num(i, "kv_used_fraction") <= 1.0 + 1e-9);
  }
  double requested_output = 0, arrived_in_first = 0;
  for (std::size_t i = 0; i < req.rows.size(); ++i) {
    requested_output += req.num(i, "output_tokens");
    if (req.num(i, "arrival_s") < 20.0) ++arrived_in_first;
  }
  CHECK(arrivals == static_cast<double>(req.rows.size()));
  CHECK(arrivals == summary["requests"]["arrived"].get<double>());
  CHECK(completions == static_cast<double>(req.rows.size()));  // every request finishes
  CHECK(ts.num(0, "arrivals") == arrived_in_first);
  // Every output token of every request is produced in some window.
  CHECK(output_tokens == Approx(requested_output).epsilon(1e-6));
  // Power integrated over the windows is the energy of the whole run (from the steps' power).
  CHECK(energy_j / 3.6e6 == Approx(summary["energy"]["total_kwh"].get<double>()).epsilon(1e-5));
  CHECK(ts.num(ts.rows.size() - 1, "end_s") == Approx(summary["simulated_s"].get<double>()));
  fs::remove_all(out);
}

TEST_CASE("timeseries.csv is byte-identical for the same seed and differs for another", "[timeseries][determinism]") {
  const std::string a = temp_dir("tsa"), b = temp_dir("tsb"), c = temp_dir("tsc");
  const std::string sets = " --set duration_s=120 --set warmup_s=10";
  REQUIRE(run_command(binary() + " run -q --out " + a + sets).exit_code == 0);
  REQUIRE(run_command(binary() + " run -q --out " + b + sets).exit_code == 0);
  REQUIRE(run_command(binary() + " run -q --out " + c + sets + " --set seed=5").exit_code == 0);
  for (const char* f : {"/timeseries.csv", "/scenario.toml", "/summary.json"}) {
    INFO(f);
    const std::string fa = read_file(a + f);
    REQUIRE(!fa.empty());
    CHECK(fa == read_file(b + f));
  }
  CHECK(read_file(a + "/timeseries.csv") != read_file(c + "/timeseries.csv"));
  CHECK(read_file(a + "/scenario.toml").find("# --set duration_s=120") != std::string::npos);
  fs::remove_all(a);
  fs::remove_all(b);
  fs::remove_all(c);
}

// Issue 11: the bins are sized from what they must hold, never from a huge span over a small window.
TEST_CASE("activity bins and the time series are bounded whatever the span and window", "[timeseries][limits]") {
  tf::ActivityBins bins(1e-9);
  tf::StepActivity a;
  a.start_s = 0.0;
  a.end_s = 1e300;  // a window count far past any size: was a huge double cast to size_t
  a.batch_requests = 1;
  a.iterations = 1;
  bins.add(a);
  CHECK(static_cast<double>(bins.bins().size()) <= tf::kMaxTimeseriesRows);
  double busy = 0.0;
  for (const auto& b : bins.bins()) busy += b.busy_replica_s;
  CHECK(busy == Approx(1e300));  // nothing lost: what is past the last bin counts in it

  tf::FleetFacts fleet;
  fleet.replicas = 1;
  CHECK_THROWS_WITH(tf::build_timeseries({}, bins, fleet, 1e300),
                    Catch::Matchers::Contains("more than the 1,000,000") &&
                        Catch::Matchers::Contains("windows of at least"));
  CHECK(tf::timeseries_rows(3600.0, 60.0) == 60.0);
  CHECK(tf::timeseries_rows(1e300, 1e-9) > tf::kMaxTimeseriesRows);
  // At the bound, it is built.
  tf::ActivityBins ok(1.0);
  CHECK(tf::build_timeseries({}, ok, fleet, 1e6).size() == 1000000);
}
