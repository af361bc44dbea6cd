// The formula's decomposition of a simulated fleet: GPUs = f x D x k / (F x u x T) as an identity, k and u by hand,
// and through `tokenfleet size --out` for a dense and an MoE model.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "results/decomposition.hpp"

using namespace tf;
using namespace tf::test;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// A day of 24 hours whose tokens follow a curve with its peak at 20:00, after a warm-up of 600 s (hour 0 clipped).
DecompositionInputs day(double params, double active, int gpus) {
  DecompositionInputs in;
  in.params = params;
  in.active_params = active;
  in.peak_flops = 989e12;
  in.gpus = gpus;
  in.span_start_s = 600.0;
  in.span_end_s = 86400.0;
  for (int h = 0; h < 24; ++h) {
    const double start = std::max(in.span_start_s, h * 3600.0);
    const double end = (h + 1) * 3600.0;
    const double rate = 1e4 * (1.0 + 0.6 * std::cos((h - 20.0) * 2.0 * M_PI / 24.0));  // tokens/s
    in.hours.push_back({start, end, rate * (end - start)});
    in.span_tokens += rate * (end - start);
  }
  in.model_flops = 2.1 * params * in.span_tokens;
  return in;
}

double formula(const Decomposition& d, const DecompositionConvention& c) {
  return c.flops_per_token * d.tokens * d.peak_multiple / (d.peak_flops * c.utilization * d.span_s);
}

}  // namespace

TEST_CASE("decomposition: 2 P D k / (F u T) is the simulated fleet, with k and u by hand - a dense day", "[decomposition]") {
  const DecompositionInputs in = day(70e9, 70e9, 37);
  const Decomposition d = decompose(in);
  // The busiest whole hour is 20:00-21:00 (the curve's peak at 20:30).
  CHECK(d.window == "busiest hour");
  CHECK(d.window_start_s == 20 * 3600.0);
  const double peak = 1e4 * 1.6;  // cos(0) at hour 20
  const double mean = in.span_tokens / (86400.0 - 600.0);
  CHECK(d.window_tokens_per_s == Approx(peak).epsilon(1e-12));
  CHECK(d.peak_multiple == Approx(peak / mean).epsilon(1e-12));
  CHECK(d.peak_multiple > 1.5);
  CHECK(d.peak_multiple_meaningful);
  CHECK(d.peak_multiple_note.empty());
  REQUIRE(d.conventions.size() == 3);
  CHECK(d.conventions[0].name == "2P");
  CHECK(d.conventions[0].utilization == Approx(2 * 70e9 * peak / (37 * 989e12)).epsilon(1e-12));
  // The cost model's FLOPs per token: 2.1 P here.
  CHECK(d.conventions[2].flops_per_token == Approx(2.1 * 70e9).epsilon(1e-12));
  for (const auto& c : d.conventions) {
    INFO(c.name);
    CHECK(std::abs(formula(d, c) / 37.0 - 1.0) < 1e-9);
    CHECK(std::abs(c.gpus / 37.0 - 1.0) < 1e-9);
  }
  // The day's average utilization contains the trough: below the formula's u by the factor k.
  CHECK(d.average_utilization == Approx(d.conventions[2].utilization / d.peak_multiple).epsilon(1e-9));
  const std::string text = decomposition_text(d, "  ");
  CHECK_THAT(text, Contains("= 37.000000 GPUs") && Contains("busiest hour (20:00 - 21:00"));
}

TEST_CASE("decomposition: an MoE's 2 x P and 2 x active parameters give u a factor P / P_active apart, each exact",
          "[decomposition]") {
  const DecompositionInputs in = day(1.8e12, 280e9, 4096);
  const Decomposition d = decompose(in);
  REQUIRE(d.conventions.size() == 3);
  CHECK(d.conventions[0].utilization / d.conventions[1].utilization == Approx(1.8e12 / 280e9).epsilon(1e-12));
  for (const auto& c : d.conventions) CHECK(std::abs(formula(d, c) / 4096.0 - 1.0) < 1e-9);
  CHECK_THAT(d.conventions[1].label, Contains("MoE"));
}

TEST_CASE("decomposition: a span that is one window (the peak hour alone) has k = 1, said not to be meaningful",
          "[decomposition]") {
  DecompositionInputs in;
  in.params = 8e9;
  in.peak_flops = 989e12;
  in.gpus = 3;
  in.span_start_s = 72000.0;
  in.span_end_s = 75600.0;
  in.span_tokens = 5e7;
  in.hours = {{72000.0, 75600.0, 5e7}};
  const Decomposition d = decompose(in);
  CHECK(d.window == "the whole span");
  CHECK(d.peak_multiple == 1.0);
  CHECK_FALSE(d.peak_multiple_meaningful);
  CHECK_THAT(d.peak_multiple_note, Contains("single window"));
  REQUIRE(d.conventions.size() == 2);  // no cost-model FLOPs given
  for (const auto& c : d.conventions) CHECK(std::abs(formula(d, c) / 3.0 - 1.0) < 1e-9);
  CHECK_THAT(decomposition_text(d, ""), Contains("k is not meaningful here"));
  // A constant rate over hours: k near 1 by construction, also said.
  DecompositionInputs flat = day(8e9, 8e9, 5);
  flat.constant_rate = true;
  const Decomposition f = decompose(flat);
  CHECK_FALSE(f.peak_multiple_meaningful);
  CHECK_THAT(f.peak_multiple_note, Contains("constant"));
  // A span of a few hours: meaningful for that span, with a note that it is not a day.
  DecompositionInputs part = day(8e9, 8e9, 5);
  part.hours.resize(6);
  part.span_end_s = 6 * 3600.0;
  part.span_tokens = 0.0;
  for (const auto& h : part.hours) part.span_tokens += h.tokens;
  const Decomposition p = decompose(part);
  CHECK(p.peak_multiple_meaningful);
  CHECK_THAT(p.peak_multiple_note, Contains("not a day"));
  CHECK(std::abs(formula(p, p.conventions[0]) / 5.0 - 1.0) < 1e-9);
}

TEST_CASE("decomposition: inputs that define nothing are refused", "[decomposition]") {
  DecompositionInputs in = day(8e9, 8e9, 5);
  in.gpus = 0;
  CHECK_THROWS_AS(decompose(in), std::invalid_argument);
  in = day(8e9, 8e9, 5);
  in.span_tokens = 0.0;
  CHECK_THROWS_AS(decompose(in), std::invalid_argument);
}

TEST_CASE("size --out: sizing.json's decomposition multiplies back to the answer's GPUs, dense and MoE",
          "[decomposition][cli]") {
  struct Case {
    const char* model;
    double params, active;
    const char* extra;
  };
  // Three hours of chat-day's curve (from midnight) at a fifth of its rate; an MoE on one H100.
  for (const Case& c : {Case{"llama-3.1-70b", 70.6e9, 70.6e9, ""},
                        Case{"mixtral-8x7b", 46.7e9, 12.9e9, " --set hardware.tensor_parallel=2 --set hardware.dtype=fp8"}}) {
    const std::string out = temp_dir("decomposition");
    const auto r = run_command(binary() + " size " + source_dir() +
                               "/scenarios/chat-day.toml --jobs 2 --set duration_s=10800 --set warmup_s=300"
                               " --set workload.arrival.rate_per_s=4 --set model.name=" +
                               c.model + c.extra + " --out " + out);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Contains("the formula's decomposition of this fleet"));
    const auto j = nlohmann::json::parse(read_file(out + "/sizing.json"));
    const auto& g = j["results"][0];
    REQUIRE(g["found"].get<bool>());
    const auto& d = g["decomposition"];
    const double gpus = g["gpus"].get<double>();
    CHECK(d["gpus"].get<double>() == gpus);
    CHECK(d["params"].get<double>() == Approx(c.params).epsilon(0.01));
    CHECK(d["active_params"].get<double>() == Approx(c.active).epsilon(0.01));
    CHECK(d["window"] == "busiest hour");
    // A clock hour the span holds at least half of (here the first, 00:05-01:00, chat-day's night falling).
    CHECK(d["window_end_s"].get<double>() - d["window_start_s"].get<double>() >= 1800.0);
    CHECK(d["window_end_s"].get<double>() - d["window_start_s"].get<double>() <= 3600.0);
    CHECK(d["span_s"].get<double>() == 10500.0);
    const double k = d["peak_multiple"].get<double>();
    CHECK(k >= 1.0);
    CHECK(k == Approx(d["window_tokens_per_s"].get<double>() / d["mean_tokens_per_s"].get<double>()).epsilon(1e-12));
    REQUIRE(d["conventions"].size() == 3);
    for (const auto& conv : d["conventions"]) {
      INFO(conv.dump());
      const double back = conv["flops_per_token"].get<double>() * d["tokens"].get<double>() * k /
                          (d["peak_flops"].get<double>() * conv["utilization"].get<double>() * d["span_s"].get<double>());
      CHECK(std::abs(back / gpus - 1.0) < 1e-9);
      CHECK(conv["utilization"].get<double>() > 0.0);
      CHECK(conv["utilization"].get<double>() < 1.0);
    }
    const auto& u = d["conventions"];
    CHECK(u[0]["utilization"].get<double>() / u[1]["utilization"].get<double>() == Approx(c.params / c.active).epsilon(0.01));
    fs::remove_all(out);
  }
}
