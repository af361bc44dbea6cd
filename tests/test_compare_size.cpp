// compare --size: each policy's fleet for the same demand, the same as `size` gives it, with k and u beside the
// analytic estimate.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "helpers.hpp"

using namespace tf::test;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

TEST_CASE("compare --size: each policy's fleet is size's answer for it, the same demand under each, and the "
          "estimate beside it",
          "[cli][compare][sizing]") {
  const std::string short_run = " --set duration_s=200 --set warmup_s=20 --set slo.tpot_p99_s=0.03";
  const std::string out = temp_dir("compare-size");
  const auto r = run_command(binary() + " compare --jobs 2 --policies continuous,chunked-prefill --routers "
                                        "round-robin,least-tokens --size" + short_run + " --out " + out);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("Each policy sized for the same demand") && Contains("estimate/sim."));
  const auto rows = parse_csv(read_file(out + "/compare_size.csv"));
  REQUIRE(rows.size() == 5);  // header and 2 x 2
  CHECK(rows[0][0] == "batching");
  CHECK(rows[0][6] == "utilization_2p");
  double demand_flops = -1.0, estimate = -1.0;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    INFO(rows[i][0] << " / " << rows[i][1]);
    REQUIRE(rows[i][2] == "1");
    const int gpus = std::stoi(rows[i][4]);
    const double u = std::stod(rows[i][6]);
    // u x GPUs = 2 P x the window's tokens/s / F: the same demand under every policy.
    if (demand_flops < 0) demand_flops = u * gpus;
    CHECK(u * gpus == Approx(demand_flops).epsilon(1e-9));
    if (estimate < 0) estimate = std::stod(rows[i][9]);
    CHECK(std::stod(rows[i][9]) == Approx(estimate).epsilon(1e-9));
    CHECK(std::stod(rows[i][10]) == Approx(estimate / gpus).epsilon(1e-6));
    // The same answer as size for that policy and router.
    const auto sz = run_command(binary() + " size --jobs 2" + short_run + " --set policy.batching=" + rows[i][0] +
                                " --set policy.router=" + rows[i][1] + " --out " + out + "/size-" + std::to_string(i));
    REQUIRE(sz.exit_code == 0);
    const auto j = nlohmann::json::parse(read_file(out + "/size-" + std::to_string(i) + "/sizing.json"));
    CHECK(j["results"][0]["replicas"].get<int>() == std::stoi(rows[i][3]));
    CHECK(j["results"][0]["decomposition"]["conventions"][0]["utilization"].get<double>() == Approx(u).epsilon(1e-8));
  }
  fs::remove_all(out);
}
