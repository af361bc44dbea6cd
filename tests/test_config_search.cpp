// size --search tp,max_batch and --gpus name:tp: the configurations tried, the ranking, the best per GPU type, and
// the binding limit on scenarios built so that one limit binds.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "helpers.hpp"

using namespace tf::test;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

const std::string kShort = " size --jobs 2 --set duration_s=200 --set warmup_s=20";

nlohmann::json size_json(const std::string& args, std::string* output = nullptr) {
  const std::string out = temp_dir("config-search");
  const auto r = run_command(binary() + kShort + args + " --out " + out);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  if (output) *output = r.output;
  auto j = nlohmann::json::parse(read_file(out + "/sizing.json"));
  fs::remove_all(out);
  return j;
}

// The label size gives a configuration of --search tp,max_batch.
std::string fmt_label(const nlohmann::json& g) {
  return g["gpu_type"].get<std::string>() + ":" + std::to_string(g["tensor_parallel"].get<int>()) + " max_batch " +
         std::to_string(g["max_batch"].get<int>());
}

}  // namespace

TEST_CASE("size: the binding limit where one limit is built to bind - batch cap, KV capacity, memory bandwidth",
          "[cli][sizing][search]") {
  // A cap of 8 requests per iteration with loose TPOT: requests wait for a place in the batch.
  auto j = size_json(" --set policy.max_batch=8 --set slo.tpot_p99_s=1 --set slo.ttft_p99_s=1");
  CHECK(j["results"][0]["binding_limit"] == "batch cap");
  CHECK(j["results"][0]["max_batch"] == 8);
  // Prompts of 8,000 tokens: the KV cache of one H100 (426,788 tokens of llama-3.1-8b) holds about 52 requests of
  // the mean length, far below max_batch 256.
  j = size_json(" --set workload.prompt_tokens.mean=8000 --set workload.prompt_tokens.p99=20000"
                " --set workload.arrival.rate_per_s=5 --set slo.tpot_p99_s=1 --set slo.ttft_p99_s=5");
  CHECK(j["results"][0]["binding_limit"] == "KV capacity");
  // (The sample's mean prompt is a little below 8,000: 53 requests.)
  CHECK_THAT(j["results"][0]["binding_evidence"].get<std::string>(),
             Contains("the KV cache holds 5") && Contains("requests of the mean length (426788 tokens)"));
  // A TPOT target of 15 ms with a loose TTFT: decode iterations must stay short, which at MFU of a few per cent is
  // the weights' and the KV cache's reads from memory.
  j = size_json(" --set slo.tpot_p99_s=0.015 --set slo.ttft_p99_s=30");
  CHECK(j["results"][0]["binding_limit"] == "memory bandwidth (decode)");
  // One replica enough: nothing binds.
  j = size_json(" --set workload.arrival.rate_per_s=0.5");
  CHECK(j["results"][0]["replicas"] == 1);
  CHECK(j["results"][0]["binding_limit"] == "none");
}

TEST_CASE("size --gpus name:tp pins the tensor parallelism - and a degree the node or model cannot take is refused",
          "[cli][sizing][search]") {
  std::string output;
  const auto j = size_json(" --gpus h200-sxm:2,h100-sxm", &output);
  REQUIRE(j["results"].size() == 2);
  CHECK(j["results"][0]["gpu"] == "h200-sxm:2");
  CHECK(j["results"][0]["gpu_type"] == "h200-sxm");
  CHECK(j["results"][0]["tensor_parallel"] == 2);
  CHECK(j["results"][0]["gpus"].get<int>() == 2 * j["results"][0]["replicas"].get<int>());
  CHECK(j["results"][1]["gpu"] == "h100-sxm");
  CHECK(j["results"][1]["tensor_parallel"] == 1);
  CHECK_THAT(output, Contains("(2 x h200-sxm per replica"));
  for (const char* bad : {"h100-sxm:3", "h100-sxm:16", "h100-sxm:x", "h100-sxm:"}) {
    const auto r = run_command(binary() + kShort + " --gpus " + bad);
    INFO(bad << "\n" << r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains("expected GPU:TP"));
  }
}

TEST_CASE("size --search tp,max_batch tries every degree that serves the model and the batch caps, ranks them, and "
          "names the best per GPU type",
          "[cli][sizing][search]") {
  std::string output;
  // llama-3.1-8b (32 heads) in fp16 fits one H100: TP 1, 2, 4 and 8 of a node of 8; caps 64, 256 (the scenario's),
  // 1024 - and 8, the scenario's here.
  const auto j = size_json(" --set policy.max_batch=8 --search tp,max_batch --gpus h100-sxm", &output);
  std::set<std::pair<int, int>> tried;
  int best = 0;
  for (const auto& g : j["results"]) {
    REQUIRE(g["found"].get<bool>());
    tried.insert({g["tensor_parallel"].get<int>(), g["max_batch"].get<int>()});
    CHECK(g["gpu"] == fmt_label(g));
    best += g["best_of_type"].get<bool>() ? 1 : 0;
  }
  CHECK(tried.size() == 16);
  for (int tp : {1, 2, 4, 8})
    for (int cap : {8, 64, 256, 1024}) CHECK(tried.count({tp, cap}) == 1);
  CHECK(best == 1);
  // The best is one of the fewest GPUs (no prices: ranked by GPUs, then energy).
  int fewest = 1 << 30, best_gpus = 0;
  for (const auto& g : j["results"]) {
    fewest = std::min(fewest, g["gpus"].get<int>());
    if (g["best_of_type"].get<bool>()) best_gpus = g["gpus"].get<int>();
  }
  CHECK(best_gpus == fewest);
  CHECK_THAT(output, Contains("Best configuration per GPU type:") && Contains("binding limit"));
  // TP 1 does not serve llama-3.1-70b on an H100 (70.6 GB of weights in fp8 leave too little KV cache for its
  // longest request): --search tp skips it.
  const auto big = size_json(" --set model.name=llama-3.1-70b --set hardware.dtype=fp8 --search tp --gpus h100-sxm"
                             " --set workload.arrival.rate_per_s=2");
  for (const auto& g : big["results"]) CHECK(g["tensor_parallel"].get<int>() >= 2);
}

TEST_CASE("size --search split tries prefill shares of a disaggregated fleet - refused for a co-located one",
          "[cli][sizing][search]") {
  const auto j = size_json(" --set policy.batching=disaggregated --set fleet.replicas=8 --set "
                           "workload.arrival.rate_per_s=60 --search split");
  REQUIRE(j["results"].size() == 4);
  const double shares[] = {0.125, 0.25, 0.375, 0.5};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& g = j["results"][i];
    INFO(g["gpu"]);
    REQUIRE(g["found"].get<bool>());
    CHECK_THAT(g["gpu"].get<std::string>(), Contains(" prefill "));
    // The pools at the answer: the share of its replicas, rounded, at least 1 and leaving 1 to decode.
    const int n = g["replicas"].get<int>();
    const int p = std::clamp(static_cast<int>(std::llround(shares[i] * n)), 1, n - 1);
    CHECK(g["prefill_replicas"].get<int>() == p);
  }
  const auto r = run_command(binary() + kShort + " --search split");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("--search split: the prefill/decode split is searched for disaggregated serving only"));
}
