// [autoscaler] end to end, through the binary: a step in demand is answered exactly one decision interval (the
// first evaluation after the step) plus the cold start later; draining loses no request (every request that
// arrives finishes, those on a drained replica after its drain began); with a cold start of (almost) zero and a
// perfect predictive policy the GPU-hours are the per-hour schedule's (worked out here from the hourly curve);
// without [autoscaler] no scaling.csv and no "autoscaler" in summary.json; the loader's errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.hpp"

using namespace tf;
using namespace tf::test;

namespace {

std::string base(double duration, const std::string& arrival) {
  return "name = \"autoscale\"\nseed = 3\nduration_s = " + std::to_string(duration) +
         "\nwarmup_s = 0\n[model]\nname = \"llama-3.1-8b\"\n[hardware]\ngpu = \"h100-sxm\"\ndtype = \"fp16\"\n"
         "[fleet]\nreplicas = 1\n[workload]\narrival = " + arrival +
         "\nprompt_tokens = { dist = \"fixed\", value = 500 }\noutput_tokens = { dist = \"fixed\", value = 200 }\n";
}

struct Out {
  nlohmann::json summary;
  std::vector<std::vector<std::string>> scaling, requests;
  std::string output;
};

Out run_in(const std::string& dir, const std::string& text, const std::string& sets = "") {
  write_file(dir + "/s.toml", text);
  const auto r = run_command(binary() + " run " + dir + "/s.toml --out " + dir + "/out " + sets);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  Out o;
  o.output = r.output;
  o.summary = nlohmann::json::parse(read_file(dir + "/out/summary.json"));
  o.requests = parse_csv(read_file(dir + "/out/requests.csv"));
  if (o.summary.contains("autoscaler")) o.scaling = parse_csv(read_file(dir + "/out/scaling.csv"));
  return o;
}

// Llama-3.1-8B in FP16: 8.03e9 parameters (the catalogue's, Meta's model card) x 2 bytes.
constexpr double kWeightBytes = 8.03e9 * 2.0;

}  // namespace

TEST_CASE("autoscaler: a step in demand is followed after the decision interval plus the cold start",
          "[autoscaler]") {
  const std::string dir = temp_dir("autoscale-step");
  // 1 request/s, then 20/s from t = 100 s. Evaluations every 30 s: 0, 30, 60, 90 see the low load (about 2.4
  // requests, below the target of 8 per replica); 120 is the first after the step.
  const std::string text =
      base(300, "{ process = \"poisson\", rate_per_s = 1.0, spikes = [{ start_s = 100, duration_s = 200, multiple = 20 }] }") +
      "[autoscaler]\npolicy = \"target-load\"\ntarget_load = 8\ninterval_s = 30\nmin_replicas = 1\nmax_replicas = 6\n"
      "provision_s = 10\nstartup_s = 5\nload_gbps = 4\n";
  const Out o = run_in(dir, text);
  const double cold = 10.0 + kWeightBytes / 4e9 + 5.0;
  CHECK(o.summary["autoscaler"]["cold_start_s"].get<double>() == Approx(cold).epsilon(1e-12));
  REQUIRE(o.scaling.size() > 2);
  CHECK(o.scaling[0] == std::vector<std::string>{"time_s", "replica", "event", "serving", "starting", "draining"});
  // The first change is a start at 120 s, the first serve at 120 s + the cold start.
  CHECK(o.scaling[1][2] == "start");
  CHECK(std::stod(o.scaling[1][0]) == Approx(120.0));
  double first_serve = -1.0;
  for (std::size_t i = 1; i < o.scaling.size(); ++i)
    if (o.scaling[i][2] == "serve") {
      first_serve = std::stod(o.scaling[i][0]);
      break;
    }
  CHECK(first_serve == Approx(120.0 + cold).margin(1e-6));
  // No request goes to a replica before it serves.
  for (std::size_t i = 1; i < o.requests.size(); ++i)
    if (o.requests[i][4] != "0") CHECK(std::stod(o.requests[i][1]) >= first_serve - 1e-9);
  // GPU-hours: one replica all along, the others from their start (cold start included) to the end.
  const auto& a = o.summary["autoscaler"];
  CHECK(a["gpu_hours"].get<double>() ==
        Approx((a["serving_replica_s"].get<double>() + a["starting_replica_s"].get<double>() +
                a["draining_replica_s"].get<double>()) / 3600.0));
  CHECK(a["starting_replica_s"].get<double>() == Approx(a["scale_ups"].get<double>() * cold));
}

TEST_CASE("autoscaler: draining loses no request", "[autoscaler]") {
  const std::string dir = temp_dir("autoscale-drain");
  // A burst from 100 to 200 s, then back: the fleet grows, then drains replicas that still hold running requests.
  const std::string text =
      base(500, "{ process = \"poisson\", rate_per_s = 2.0, spikes = [{ start_s = 100, duration_s = 100, multiple = 10 }] }") +
      "[autoscaler]\npolicy = \"target-load\"\ntarget_load = 8\ninterval_s = 10\nmax_replicas = 6\n"
      "scale_down_delay_s = 20\nprovision_s = 5\nstartup_s = 5\n";
  for (const char* router : {"round-robin", "least-waiting", "central-queue"}) {
    INFO(router);
    const Out o = run_in(dir, text, std::string("--set policy.router=") + router);
    CHECK(o.summary["requests"]["unfinished"] == 0);
    CHECK(o.summary["requests"]["rejected"] == 0);
    CHECK(o.summary["requests"]["arrived"].get<std::size_t>() == o.requests.size() - 1);
    // When each replica began to drain (the last time), and when it went off after it.
    std::map<int, double> drained, off;
    int drains_with_work = 0;
    for (std::size_t i = 1; i < o.scaling.size(); ++i) {
      const int replica = std::stoi(o.scaling[i][1]);
      const double t = std::stod(o.scaling[i][0]);
      if (o.scaling[i][2] == "drain") drained[replica] = t;
      if (o.scaling[i][2] == "off" && drained.count(replica)) {
        off[replica] = t;
        if (t > drained[replica]) ++drains_with_work;
      }
    }
    CHECK(!drained.empty());
    CHECK(drains_with_work > 0);  // some drained replica had requests to finish
    // Every request finished; none was admitted by a replica while it drained or was off.
    for (std::size_t i = 1; i < o.requests.size(); ++i) {
      const auto& r = o.requests[i];
      REQUIRE(!r[8].empty());
      const int replica = std::stoi(r[4]);
      const double admitted = std::stod(r[1]) + std::stod(r[5]);
      if (drained.count(replica) && off.count(replica) && admitted > drained[replica] + 1e-9)
        CHECK(admitted >= off[replica]);  // taken only after it came back (a later start)
    }
  }
}

TEST_CASE("autoscaler: with no cold start a perfect predictive policy costs the per-hour schedule", "[autoscaler]") {
  const std::string dir = temp_dir("autoscale-predictive");
  // Four hours whose mean rates are 4, 12, 8 and 6 requests/s (hourly weights 2, 6, 4, 3 over a mean of 6 for the
  // day of 24 weights repeating them); one replica's rate 3.5/s: the schedule is ceil(rate / 3.5) = 2, 4, 3, 2.
  std::string hourly = "[";
  const double w[4] = {2, 6, 4, 3};
  for (int h = 0; h < 24; ++h) hourly += (h ? ", " : "") + std::to_string(w[h % 4]);
  hourly += "]";
  const double mean_rate = 6.0 * 3.75 / 6.0;  // the weights' mean is 3.75: a mean rate of 3.75 gives rate = weight
  const std::string text =
      base(4 * 3600, "{ process = \"diurnal\", rate_per_s = " + std::to_string(mean_rate * 2.0) + ", hourly = " + hourly + " }") +
      "[autoscaler]\npolicy = \"predictive\"\nreplica_rate_per_s = 3.5\ninterval_s = 3600\nscale_down_delay_s = 0\n"
      "max_replicas = 8\nmin_replicas = 1\nprovision_s = 0\nstartup_s = 0\nload_gbps = 1e12\n";
  const Out o = run_in(dir, text);
  // Hour h's mean rate is 2 x weight_h (a mean rate of 7.5 over weights averaging 3.75): 4, 12, 8, 6.
  double schedule_gpu_h = 0.0;
  int peak = 0;
  for (int h = 0; h < 4; ++h) {
    const int n = static_cast<int>(std::ceil(2.0 * w[h] / 3.5));
    schedule_gpu_h += n;  // one GPU per replica, one hour
    peak = std::max(peak, n);
  }
  REQUIRE(schedule_gpu_h == 11.0);
  const double gpu_h = o.summary["autoscaler"]["gpu_hours"].get<double>();
  INFO(o.summary["autoscaler"].dump());
  // Draining adds the seconds replicas finish their requests after an hour's end; nothing else differs.
  CHECK(gpu_h >= schedule_gpu_h - 1e-6);
  CHECK(gpu_h <= schedule_gpu_h * 1.002);
  CHECK(o.summary["autoscaler"]["peak_replicas"] == peak);
  // Against the fixed fleet of the busiest hour's size: 16 GPU-hours.
  CHECK(gpu_h < peak * 4.0);
  // The time series has the replica columns (per hour here).
  const auto ts = parse_csv(read_file(dir + "/out/timeseries.csv"));
  REQUIRE(ts.size() > 1);
  CHECK(ts[0][ts[0].size() - 3] == "replicas_serving");
}

TEST_CASE("autoscaler: absent, nothing of it is written", "[autoscaler]") {
  const std::string dir = temp_dir("autoscale-off");
  const Out o = run_in(dir, base(60, "{ process = \"poisson\", rate_per_s = 2.0 }"));
  CHECK_FALSE(o.summary.contains("autoscaler"));
  CHECK_FALSE(std::filesystem::exists(dir + "/out/scaling.csv"));
  const auto ts = parse_csv(read_file(dir + "/out/timeseries.csv"));
  CHECK(ts[0].back() == "power_w");
}

TEST_CASE("autoscaler: bad settings name the key", "[autoscaler][errors]") {
  const std::string dir = temp_dir("autoscale-errors");
  const std::string b = base(60, "{ process = \"poisson\", rate_per_s = 2.0 }");
  auto error = [&](const std::string& table) {
    write_file(dir + "/s.toml", b + table);
    const auto r = run_command(binary() + " validate " + dir + "/s.toml");
    CHECK(r.exit_code == 2);
    return r.output;
  };
  CHECK_THAT(error("[autoscaler]\npolicy = \"nope\"\n"),
             Catch::Matchers::Contains("autoscaler.policy: unknown autoscaler policy \"nope\"; known: predictive, "
                                       "queue-length, target-load"));
  CHECK_THAT(error("[autoscaler]\npolicy = \"target-load\"\nreplica_rate_per_s = 2\n"),
             Catch::Matchers::Contains("autoscaler.replica_rate_per_s: autoscaler policy \"target-load\" does not take it"));
  CHECK_THAT(error("[autoscaler]\npolicy = \"predictive\"\n"),
             Catch::Matchers::Contains("autoscaler.policy: predictive: replica_rate_per_s"));
  CHECK_THAT(error("[autoscaler]\ntarget_load = 0\n"),
             Catch::Matchers::Contains("autoscaler.target_load: expected a number greater than 0, got 0"));
  CHECK_THAT(error("[autoscaler]\nmax_replicas = 2\nmin_replicas = 3\n"),
             Catch::Matchers::Contains("autoscaler.min_replicas: expected an integer from 1 to 2, got 3"));
  CHECK_THAT(error("[autoscaler]\nload_gbps = 0\n"),
             Catch::Matchers::Contains("autoscaler.load_gbps: expected a number greater than 0"));
  CHECK_THAT(error("[autoscaler]\nintervl_s = 3\n"), Catch::Matchers::Contains("unknown key 'intervl_s'"));
}

TEST_CASE("autoscaler with failures: a failed replica goes off and the next evaluation starts another",
          "[autoscaler][failures]") {
  const std::string dir = temp_dir("autoscale-failures");
  // Two replicas held (min_replicas 2, a target load never reached); replica 0 fails at 100 s for longer than the
  // run. Evaluations every 30 s: the one at 120 s sees one replica and starts replica 2, which serves a cold start
  // later. The requests running on replica 0 at 100 s are retried; every request finishes.
  const std::string scaler = "[autoscaler]\npolicy = \"target-load\"\ntarget_load = 1000\ninterval_s = 30\n"
                             "min_replicas = 2\nmax_replicas = 3\nprovision_s = 10\nstartup_s = 5\nload_gbps = 4\n";
  const std::string failures = "[failures]\ngpu_mtbf_h = 0\nnode_mtbf_h = 0\n"
                               "inject = [{ replica = 0, at_s = 100, down_s = 1000 }]\n";
  const std::string text = base(300, "{ process = \"poisson\", rate_per_s = 8.0 }");
  const Out plain = run_in(dir, text + scaler);
  const Out o = run_in(dir, text + scaler + failures);
  const double cold = 10.0 + kWeightBytes / 4e9 + 5.0;
  // The truth for the retries: the requests on replica 0 admitted by 100 s and unfinished then, without the failure.
  std::size_t running = 0;
  for (std::size_t i = 1; i < plain.requests.size(); ++i) {
    const auto& r = plain.requests[i];
    const double arrival = std::stod(r[1]);
    if (r[4] == "0" && arrival + std::stod(r[5]) <= 100.0 && arrival + std::stod(r[8]) > 100.0) ++running;
  }
  CHECK(running > 0);
  CHECK(o.summary["failures"]["retried_requests"].get<std::size_t>() == running);
  CHECK(o.summary["requests"]["unfinished"] == 0);
  CHECK(o.summary["requests"]["rejected"] == 0);
  // The changes of state: replica 0 fails at 100 s, replica 2 starts at 120 s and serves at 120 s + the cold start.
  std::vector<std::vector<std::string>> changes(o.scaling.begin() + 1, o.scaling.end());
  REQUIRE(changes.size() >= 3);
  CHECK(changes[0][1] == "0");
  CHECK(changes[0][2] == "fail");
  CHECK(std::stod(changes[0][0]) == Approx(100.0));
  CHECK(changes[1][1] == "2");
  CHECK(changes[1][2] == "start");
  CHECK(std::stod(changes[1][0]) == Approx(120.0));
  CHECK(changes[2][1] == "2");
  CHECK(changes[2][2] == "serve");
  CHECK(std::stod(changes[2][0]) == Approx(120.0 + cold).margin(1e-6));
  // Nothing is admitted on replica 0 after it failed (its retried requests went elsewhere).
  for (std::size_t i = 1; i < o.requests.size(); ++i) {
    const auto& r = o.requests[i];
    REQUIRE(!r[8].empty());
    if (r[4] == "0") CHECK(std::stod(r[1]) + std::stod(r[5]) < 100.0);
  }
  // GPU-hours: replica 0 until it failed, replica 1 all along, replica 2 from its start (window [0, 300 s]).
  const auto& a = o.summary["autoscaler"];
  CHECK(a["serving_replica_s"].get<double>() == Approx(100.0 + 300.0 + (300.0 - 120.0 - cold)).margin(1e-6));
  CHECK(a["starting_replica_s"].get<double>() == Approx(cold).margin(1e-6));
  CHECK(a["gpu_hours"].get<double>() == Approx((100.0 + 300.0 + 180.0) / 3600.0).margin(1e-9));
}

TEST_CASE("size --autoscaler: the smallest max_replicas that meets the targets, against the fixed answer",
          "[autoscaler][sizing]") {
  const std::string dir = temp_dir("autoscale-size");
  // A peak in 20 minutes: 2 requests/s, then 60/s from 400 s to 800 s (one replica cannot serve it, two can).
  const std::string text =
      base(1200, "{ process = \"poisson\", rate_per_s = 2.0, spikes = [{ start_s = 400, duration_s = 400, multiple = 30 }] }") +
      "[slo]\nttft_p99_s = 2.0\ntpot_p99_s = 0.2\n"
      "[autoscaler]\npolicy = \"target-load\"\ntarget_load = 4\ninterval_s = 15\nscale_down_delay_s = 60\n"
      "provision_s = 0\nstartup_s = 10\n";
  write_file(dir + "/s.toml", text);
  const auto r = run_command(binary() + " size " + dir + "/s.toml --jobs 2 --autoscaler --out " + dir + "/out");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Matchers::Contains("autoscaled ([autoscaler] policy target-load"));
  const auto sizing = nlohmann::json::parse(read_file(dir + "/out/sizing.json"));
  INFO(sizing.dump().substr(0, 400));
  const int answer = sizing.at("results").at(0).at("replicas").get<int>();
  const auto rows = parse_csv(read_file(dir + "/out/autoscaler.csv"));
  REQUIRE(rows.size() == static_cast<std::size_t>(answer) + 2);  // header, max_replicas 1 .. answer + 1
  int smallest = -1;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    CHECK(std::stoi(rows[i][0]) == static_cast<int>(i));
    if (rows[i][7] == "1" && smallest < 0) smallest = static_cast<int>(i);
  }
  REQUIRE(smallest > 0);
  CHECK(answer >= 2);  // the peak needs more than one replica
  // Every smaller max_replicas missed; the smallest that meets them costs at most the fixed answer's GPU-hours
  // (one GPU per replica over the 1,200 s window), here a little less (the autoscaled fleet is smaller off the peak).
  for (int i = 1; i < smallest; ++i) CHECK(rows[static_cast<std::size_t>(i)][7] == "0");
  const double gpu_h = std::stod(rows[static_cast<std::size_t>(smallest)][1]);
  CHECK(smallest <= answer);
  CHECK(gpu_h <= answer * 1200.0 / 3600.0 + 1e-9);
  CHECK_THAT(r.output, Catch::Matchers::Contains("the smallest max_replicas that meets the targets: " +
                                                 std::to_string(smallest)));
}

TEST_CASE("size --autoscaler --per-hour --seeds 2: each max_replicas judged on both seeds, and the three fleets side "
          "by side", "[autoscaler][sizing]") {
  const std::string dir = temp_dir("autoscale-side");
  // Two hours: 2 requests/s, then a peak of 60/s for the first half of the second hour.
  const std::string text =
      base(7200, "{ process = \"poisson\", rate_per_s = 2.0, spikes = [{ start_s = 3600, duration_s = 1800, multiple = 30 }] }") +
      "[slo]\nttft_p99_s = 2.0\ntpot_p99_s = 0.2\n"
      "[autoscaler]\npolicy = \"target-load\"\ntarget_load = 4\ninterval_s = 15\nscale_down_delay_s = 60\n"
      "provision_s = 0\nstartup_s = 10\n";
  write_file(dir + "/s.toml", text);
  const auto r = run_command(binary() + " size " + dir + "/s.toml --jobs 2 --autoscaler --per-hour --seeds 2 --out " +
                             dir + "/out");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto sizing = nlohmann::json::parse(read_file(dir + "/out/sizing.json"));
  const auto& g = sizing.at("results").at(0);
  const int answer = g.at("replicas").get<int>();
  const auto rows = parse_csv(read_file(dir + "/out/autoscaler.csv"));
  REQUIRE(rows.size() == static_cast<std::size_t>(answer) + 2);
  REQUIRE(rows[0][8] == "seeds");
  const std::vector<std::string> margins = {"clears the targets", "within noise", "misses", "no interval"};
  int smallest = -1;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    CHECK(rows[i][8] == "2");
    CHECK(std::find(margins.begin(), margins.end(), rows[i][9]) != margins.end());
    // The safe margin (the default): a row that passes has intervals that clear the targets, and the hours' count
    // never exceeds the window's two hours.
    if (rows[i][7] == "1") CHECK(rows[i][9] == "clears the targets");
    CHECK(std::stoi(rows[i][11]) <= std::stoi(rows[i][10]));
    CHECK(std::stoi(rows[i][10]) == 2);
    if (rows[i][7] == "1" && smallest < 0) smallest = static_cast<int>(i);
  }
  REQUIRE(smallest > 0);
  // Side by side: the fixed fleet at the answer's GPU-hours, the schedule at the per-hour GPU-hours, the autoscaler
  // at its smallest passing row's.
  const auto& side = g.at("fleet_comparison");
  REQUIRE(side.size() == 3);
  CHECK(side[0]["fleet"] == "fixed");
  CHECK(side[0]["gpu_hours"].get<double>() == Approx(answer * 7200.0 / 3600.0));
  CHECK(side[1]["fleet"] == "per-hour schedule");
  CHECK(side[1]["gpu_hours"].get<double>() == Approx(g.at("gpu_hours_per_hour_schedule").get<double>()));
  CHECK(side[1]["hours_met"].get<int>() == 2);
  CHECK(side[2]["fleet"] == "autoscaler");
  CHECK(side[2]["gpu_hours"].get<double>() == Approx(std::stod(rows[static_cast<std::size_t>(smallest)][1])).epsilon(1e-6));
  CHECK(side[2]["label"] == "target-load, max_replicas " + std::to_string(smallest));
  // The peak hour needs more than the quiet one: the schedule costs less than the fixed fleet.
  CHECK(side[1]["gpu_hours"].get<double>() < side[0]["gpu_hours"].get<double>());
  CHECK_THAT(r.output, Catch::Matchers::Contains("side by side"));
}
