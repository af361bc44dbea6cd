// Energy and money per day, per month and per million tokens: by hand, and through size --out.
#include <catch2/catch.hpp>

#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "results/economics.hpp"

using namespace tf;
using namespace tf::test;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

TEST_CASE("economics: a 6-hour window of 4 GPUs at $3 per GPU-hour, by hand", "[economics]") {
  EconomicsInputs in;
  in.gpus = 4;
  in.window_s = 6 * 3600.0;
  in.energy_kwh = 10.0;
  in.tokens = 2e8;
  in.usd_per_gpu_hour = 3.0;
  in.price_source = "test";
  Economics e = economics(in);
  CHECK(e.window.gpu_hours == Approx(24.0));
  CHECK(e.window.usd == Approx(72.0));
  CHECK(e.day_scale == Approx(4.0));
  CHECK(e.per_day.gpu_hours == Approx(96.0));  // 4 GPUs x 24 h
  CHECK(e.per_day.kwh == Approx(40.0));
  CHECK(e.per_day.usd == Approx(288.0));
  CHECK(e.per_month.usd == Approx(288.0 * 365.25 / 12.0));
  CHECK(e.usd_per_million_tokens == Approx(72.0 / 200.0));
  CHECK(e.kwh_per_million_tokens == Approx(10.0 / 200.0));
  // Owned hardware: an energy price adds the kWh.
  in.usd_per_kwh = 0.1;
  e = economics(in);
  CHECK(e.window.usd == Approx(72.0 + 1.0));
  CHECK_THAT(economics_text(e, ""), Contains("per day (the 6.00 h window's demand all day long)") &&
                                        Contains("$0.100 per kWh"));
  in.window_s = 0.0;
  CHECK_THROWS_AS(economics(in), std::invalid_argument);
}

TEST_CASE("economics: every catalogue GPU has a default price with its source", "[economics]") {
  const auto r = run_command(binary() + " catalog --json");
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.output);
  for (const auto& g : j["gpus"]) {
    const std::string name = g["name"].get<std::string>();
    INFO(name);
    const auto p = default_gpu_price(name);
    REQUIRE(p.has_value());
    CHECK(p->usd_per_gpu_hour > 0.5);
    CHECK(p->usd_per_gpu_hour < 20.0);
    CHECK_THAT(p->source, Contains("2026"));
  }
  CHECK_FALSE(default_gpu_price("no-such-gpu").has_value());
}

TEST_CASE("size --out: economics at the default price, and at a given one - per day is GPUs x 24 h", "[economics][cli]") {
  const std::string out = temp_dir("economics");
  const std::string args = " size --jobs 2 --set duration_s=200 --set warmup_s=20 --gpus h100-sxm,b200"
                           " --gpu-hour-price b200=7 --out " + out;
  const auto r = run_command(binary() + args);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("per million tokens") && Contains("busy (holding a request)"));
  const auto j = nlohmann::json::parse(read_file(out + "/sizing.json"));
  for (const auto& g : j["results"]) {
    INFO(g["gpu"]);
    const auto& e = g["economics"];
    const double gpus = g["gpus"].get<double>();
    CHECK(e["per_day"]["gpu_hours"].get<double>() == Approx(gpus * 24.0));
    CHECK(e["window"]["usd"].get<double>() == Approx(g["cost"].get<double>()));
    CHECK(e["window"]["gpu_hours"].get<double>() == Approx(gpus * 180.0 / 3600.0));
    const bool b200 = g["gpu"] == "b200";
    CHECK(e["usd_per_gpu_hour"].get<double>() == (b200 ? 7.0 : 3.0));
    CHECK_THAT(e["price_source"].get<std::string>(), Contains(b200 ? "given" : "Mercatus"));
    CHECK(g["batch_occupancy"].get<double>() > 0.0);
    CHECK(g["batch_occupancy"].get<double>() < 1.0);
  }
  fs::remove_all(out);
}
