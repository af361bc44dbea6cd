// Issue 14, item 8: validation that catches it before the run. The context window enforced (cut, refused or
// dropped, counted), a trace's rows scanned by `validate` as the run reads them (bad rows counted, the first few
// shown), a trace shorter than duration_s warned about, remedies for what does not fit that are right for the
// scenario at hand (each one applied and validated here), and `compare` with a disaggregated split and goodput and
// energy columns.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <regex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "sim/engine/engine.hpp"
#include "sim/engine/preflight.hpp"
#include "sim/scenario/scenario.hpp"
#include "workloads/source.hpp"

using namespace tf;
using namespace tf::test;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// The line of `text` that holds `what` (without its line end), or "".
std::string line_with(const std::string& text, const std::string& what) {
  const auto at = text.find(what);
  if (at == std::string::npos) return {};
  const auto begin = text.rfind('\n', at);
  const auto end = text.find('\n', at);
  return text.substr(begin == std::string::npos ? 0 : begin + 1,
                     end == std::string::npos ? std::string::npos : end - begin - 1);
}

// The remedies an error offers: each "--set k=v [--set k=v ...]" group (they are separated by "; or " and each
// followed by its effect in parentheses), as the command-line text that applies it.
std::vector<std::string> remedies_in(const std::string& text) {
  std::vector<std::string> out;
  const std::regex group(R"((--set [^ ;()]+=[^ ;()]+)( --set [^ ;()]+=[^ ;()]+)*)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), group); it != std::sregex_iterator(); ++it)
    out.push_back(it->str());
  return out;
}

std::string write_trace_scenario(const std::string& dir, const std::string& name, const std::string& trace_rows,
                                 const std::string& top, const std::string& extra = "") {
  write_file(dir + "/" + name + ".csv", "arrival_s,prompt_tokens,output_tokens\n" + trace_rows);
  const std::string path = dir + "/" + name + ".toml";
  write_file(path, top + "[workload.trace]\npath = \"" + name + ".csv\"\n" + extra);
  return path;
}

}  // namespace

TEST_CASE("cut_to_context fills the window exactly and over_context cannot overflow", "[preflight][context]") {
  Request r;
  r.prompt_tokens = 3000;
  r.output_tokens = 3000;
  CHECK(over_context(r, 4096));
  CHECK(cut_to_context(r, 4096));
  CHECK(r.prompt_tokens == 1096);
  CHECK(r.output_tokens == 3000);
  Request a;  // an answer longer than the window: cut to the window less one, with a one-token prompt
  a.prompt_tokens = 10;
  a.output_tokens = 5000;
  CHECK(cut_to_context(a, 4096));
  CHECK(a.prompt_tokens == 1);
  CHECK(a.output_tokens == 4095);
  Request fits;
  fits.prompt_tokens = 4000;
  fits.output_tokens = 96;
  CHECK_FALSE(over_context(fits, 4096));
  CHECK_FALSE(cut_to_context(fits, 4096));
  CHECK(fits.prompt_tokens == 4000);
  Request huge;  // lengths near the int64 bound: no overflow in the check
  huge.prompt_tokens = std::numeric_limits<std::int64_t>::max() - 5;
  huge.output_tokens = 10;
  CHECK(over_context(huge, 4096));
  CHECK_FALSE(over_context(huge, 0));  // no window
  Request hashed;  // a Mooncake row's prefix blocks: the share the prompt keeps
  hashed.prompt_tokens = 4000;
  hashed.output_tokens = 2096;
  hashed.hash_ids = {1, 2, 3, 4, 5, 6, 7, 8};
  CHECK(cut_to_context(hashed, 4096));
  CHECK(hashed.prompt_tokens == 2000);
  CHECK(hashed.hash_ids.size() == 4);
}

TEST_CASE("the longest request bound comes from the distributions and the window, never a sentinel", "[preflight]") {
  const Scenario chat = load_scenario_file(source_dir() + "/scenarios/chat-hour.toml");
  CHECK(longest_request_bound(chat) == chat.model.context_window);  // two lognormals, each up to the window
  const Scenario fixed = load_scenario_text(
      "[workload]\nprompt_tokens = 500\noutput_tokens = { dist = \"uniform\", low = 10, high = 300 }\n", "<test>");
  CHECK(longest_request_bound(fixed) == 800);
  const Scenario trace = load_scenario_file(source_dir() + "/scenarios/azure-conv-replay.toml");
  CHECK(longest_request_bound(trace) == trace.model.context_window);
}

TEST_CASE("validate reads a trace's longest request from its rows (no 2e18 sentinel)", "[preflight][validate]") {
  const auto v = run_command(binary() + " validate " + source_dir() + "/scenarios/azure-conv-replay.toml");
  INFO(v.output);
  REQUIRE(v.exit_code == 0);
  CHECK_THAT(v.output, !Contains("2000000000000000000") && !Contains("exceeds a replica's KV capacity"));
  // The longest row of the trace as the run replays it (the whole hour: duration_s = 3600 holds it).
  const auto rows = parse_csv(read_file(source_dir() + "/data/traces/azure-llm-2023-conv.csv"));
  long long longest = 0;
  for (std::size_t i = 1; i < rows.size(); ++i)
    if (rows[i].size() == 3) longest = std::max(longest, std::stoll(rows[i][1]) + std::stoll(rows[i][2]));
  REQUIRE(longest > 0);
  CHECK_THAT(v.output, Contains(fmt::format("{} request(s) replayed", rows.size() - 1)) &&
                           Contains(fmt::format("the longest {} tokens", longest)));
}

TEST_CASE("remedies for a model that does not fit are right for the scenario and each one validates",
          "[preflight][remedies]") {
  const std::string chat = source_dir() + "/scenarios/chat-hour.toml";
  const std::string dflt = source_dir() + "/scenarios/default.toml";
  struct Case {
    std::string scenario, sets, current_dtype;
  };
  const std::vector<Case> cases = {
      {dflt, " --set model.name=llama-3.1-405b --set hardware.dtype=fp8", "fp8"},  // FP8 already, TP 1
      {dflt, " --set model.name=llama-3.1-405b", "fp16"},
      {chat, " --set model.name=llama-3.1-405b --set hardware.tensor_parallel=8 --set hardware.dtype=fp16", "fp16"},
      // FP8 already, and tensor parallelism at the node's size: only another GPU holds it.
      {chat, " --set model.name=llama-3.1-405b --set hardware.gpus_per_node=4", "fp8"},
      {dflt, " --set model.name=llama-3.1-405b --set hardware.gpu=a100-80gb", "fp16"},  // A100 has no FP8
      {dflt, " --set model.name=llama-3.1-70b --set hardware.gpus_per_node=4", "fp16"},
  };
  for (const auto& c : cases) {
    const auto v = run_command(binary() + " validate " + c.scenario + c.sets);
    INFO(c.scenario << c.sets << "\n" << v.output);
    REQUIRE(v.exit_code == 3);
    // Never the format in use, never a tensor parallelism the node cannot hold.
    CHECK_THAT(v.output, !Contains("hardware.dtype=" + c.current_dtype) && !Contains("use hardware.dtype"));
    const auto remedies = remedies_in(line_with(v.output, "error:"));
    CHECK(!remedies.empty());
    for (const auto& remedy : remedies) {
      if (c.sets.find("a100") != std::string::npos && remedy.find("hardware.gpu") == std::string::npos)
        CHECK_THAT(remedy, !Contains("fp8"));  // only with another GPU
      const auto applied = run_command(binary() + " validate " + c.scenario + c.sets + " " + remedy);
      INFO("applied: " << remedy << "\n" << applied.output);
      CHECK(applied.exit_code == 0);
      CHECK_THAT(applied.output, !Contains("exceeds a replica's KV capacity"));  // room for the longest request
    }
  }
  // No GPU of the catalogue holds it within one node: only pipeline stages on successive nodes do, and that remedy
  // validates.
  const auto staged = run_command(binary() + " validate " + chat + " --set model.name=gpt4-class --set hardware.dtype=fp16");
  INFO(staged.output);
  CHECK(staged.exit_code == 3);
  const auto staged_remedies = remedies_in(line_with(staged.output, "error:"));
  REQUIRE(!staged_remedies.empty());
  for (const auto& remedy : staged_remedies) {
    CHECK_THAT(remedy, Contains("hardware.pipeline_parallel="));
    const auto applied = run_command(binary() + " validate " + chat +
                                     " --set model.name=gpt4-class --set hardware.dtype=fp16 " + remedy);
    INFO("applied: " << remedy << "\n" << applied.output);
    CHECK(applied.exit_code == 0);
  }
  // Nothing holds it (pipeline stages would take more GPUs than one run simulates): said so, with nothing to apply.
  const auto none = run_command(binary() + " validate " + chat +
                                " --set model.name=gpt4-class --set hardware.dtype=fp16 --set fleet.replicas=20000");
  INFO(none.output);
  CHECK(none.exit_code == 3);
  CHECK_THAT(none.output, Contains("choose a smaller model"));
  CHECK(remedies_in(none.output).empty());
}

TEST_CASE("remedies for a request longer than the KV cache each validate", "[preflight][remedies]") {
  const std::string dir = temp_dir("pre-kv");
  // A 500,000-token request on llama-3.1-8b served with a context of a million tokens: a replica of one H100
  // holds about 427,000 tokens.
  const std::string toml = write_trace_scenario(dir, "long", "0,499000,1000\n1,100,10\n",
                                                "duration_s = 10\n[model]\nname = \"llama-3.1-8b\"\n"
                                                "context_window = 1000000\n");
  const auto v = run_command(binary() + " validate " + toml);
  const auto r = run_command(binary() + " run " + toml + " --quiet");
  INFO(v.output);
  INFO(r.output);
  REQUIRE(v.exit_code == 3);
  CHECK(r.exit_code == 3);
  CHECK(line_with(v.output, "error:") == line_with(r.output, "error:"));  // the run's words
  const auto remedies = remedies_in(line_with(v.output, "error:"));
  CHECK(remedies.size() >= 2);
  CHECK_THAT(line_with(v.output, "error:"), Contains("model.context_window="));
  for (const auto& remedy : remedies) {
    const auto applied = run_command(binary() + " validate " + toml + " " + remedy);
    INFO("applied: " << remedy << "\n" << applied.output);
    CHECK(applied.exit_code == 0);
  }
  fs::remove_all(dir);
}

TEST_CASE("validate counts a trace's bad rows and shows the first few - run prints what it skipped",
          "[preflight][validate][traces]") {
  const std::string dir = temp_dir("pre-bad");
  std::string rows;
  for (int i = 0; i < 40; ++i) {
    if (i % 5 == 2) rows += fmt::format("{},abc,10\n", i);  // 8 bad rows: lines 4, 9, 14, ... (the header is line 1)
    else rows += fmt::format("{},100,10\n", i);
  }
  rows += "46,100,10\n50,-1,10\n";  // after duration_s: the run stops reading at 46 s, nor does validate count 50
  const std::string top = "duration_s = 45\nwarmup_s = 0\n";
  const std::string strict = write_trace_scenario(dir, "bad", rows, top);
  const auto v = run_command(binary() + " validate " + strict);
  const auto r = run_command(binary() + " run " + strict + " --quiet --out " + dir + "/strict");
  INFO(v.output);
  INFO(r.output);
  CHECK(v.exit_code == 2);
  CHECK(r.exit_code == 2);
  const std::string first = line_with(r.output, "error:");
  CHECK_THAT(first, Contains("bad.csv:4: prompt_tokens"));
  CHECK(line_with(v.output, "error:") == first);
  CHECK_THAT(v.output, Contains("8 bad row(s) in all") && Contains("the first 5:") && Contains("bad.csv:24: prompt_tokens") &&
                           !Contains("bad.csv:29:") && Contains("skip_bad_rows = true"));
  CHECK_FALSE(fs::exists(dir + "/strict/summary.json"));

  const std::string skip = dir + "/skip.toml";
  write_file(skip, top + "[workload.trace]\npath = \"bad.csv\"\nskip_bad_rows = true\n");
  const auto vs = run_command(binary() + " validate " + skip);
  INFO(vs.output);
  CHECK(vs.exit_code == 0);
  CHECK_THAT(vs.output, Contains("warning: 8 bad trace row(s) will be skipped") && Contains("bad.csv:4: prompt_tokens") &&
                            Contains("32 request(s) replayed"));
  const auto rs = run_command(binary() + " run " + skip + " --quiet --out " + dir + "/skip");
  INFO(rs.output);
  REQUIRE(rs.exit_code == 0);
  CHECK_THAT(rs.output, Contains("8 bad trace row(s) skipped"));
  const auto j = nlohmann::json::parse(read_file(dir + "/skip/summary.json"));
  CHECK(j["workload"]["skipped_bad_rows"].get<int>() == 8);
  CHECK(j["requests"]["arrived"].get<int>() == 32);
  fs::remove_all(dir);
}

TEST_CASE("a trace shorter than duration_s is warned about, naming both durations", "[preflight][validate][traces]") {
  const std::string dir = temp_dir("pre-short");
  std::string rows;
  for (int i = 0; i < 10; ++i) rows += fmt::format("{},100,10\n", i);  // 0 .. 9 s
  const std::string toml = write_trace_scenario(dir, "short", rows, "duration_s = 100\nwarmup_s = 1\n");
  const auto v = run_command(binary() + " validate " + toml);
  INFO(v.output);
  CHECK(v.exit_code == 0);
  const std::string warning = line_with(v.output, "warning: the trace's last request");
  CHECK_THAT(warning, Contains("arrives at 9.0 s") && Contains("duration_s = 100 s") && Contains("91.0 s (91 %") &&
                          Contains("set duration_s = 10"));
  const auto r = run_command(binary() + " run " + toml + " --quiet");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("warning: the trace's last request arrives at 9.0 s, but duration_s = 100 s"));
  // Without duration_s (the trace's span), looped, or a trace that lasts the run: no warning.
  for (const std::string& other :
       {write_trace_scenario(dir, "span", rows, "warmup_s = 1\n"),
        write_trace_scenario(dir, "loop", rows, "duration_s = 100\nwarmup_s = 1\n", "loop = true\n"),
        write_trace_scenario(dir, "full", rows, "duration_s = 10\nwarmup_s = 1\n")}) {
    const auto o = run_command(binary() + " validate " + other);
    INFO(other << "\n" << o.output);
    CHECK(o.exit_code == 0);
    CHECK_THAT(o.output, !Contains("warning"));
  }
  fs::remove_all(dir);
}

TEST_CASE("prompt + answer beyond the context window: cut by default, refused or dropped, counted",
          "[preflight][context]") {
  const std::string dir = temp_dir("pre-context");
  // llama-2-7b: a context of 4096 tokens. Rows 2 and 4 and 5 do not fit.
  const std::string rows = "0,100,100\n1,3000,3000\n2,200,20\n3,5000,10\n4,10,5000\n";
  const std::string top = "duration_s = 10\nwarmup_s = 0\n[model]\nname = \"llama-2-7b\"\n";
  const std::string cut = write_trace_scenario(dir, "cut", rows, top);
  const auto v = run_command(binary() + " validate " + cut);
  INFO(v.output);
  CHECK(v.exit_code == 0);
  CHECK_THAT(v.output, Contains("3 request(s) exceed the model's context window (4096 tokens) and are cut to it") &&
                           Contains("the longest 4096 tokens"));
  const auto r = run_command(binary() + " run " + cut + " --quiet --out " + dir + "/cut");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("3 request(s) cut to the model's context window"));
  auto j = nlohmann::json::parse(read_file(dir + "/cut/summary.json"));
  CHECK(j["workload"]["over_context_cut"].get<int>() == 3);
  CHECK(j["workload"]["over_context_dropped"].get<int>() == 0);
  const auto csv = parse_csv(read_file(dir + "/cut/requests.csv"));
  REQUIRE(csv.size() == 6);
  CHECK(csv[2][2] == "1096");  // prompt cut, answer kept
  CHECK(csv[2][3] == "3000");
  CHECK(csv[4][2] == "4086");
  CHECK(csv[5][2] == "1");  // an answer beyond the window: cut to 4095 with a one-token prompt
  CHECK(csv[5][3] == "4095");
  CHECK(csv[1][2] == "100");  // within the window: as recorded

  const std::string refuse = write_trace_scenario(dir, "refuse", rows, top.substr(0, top.find("[model]")) +
                                                                          "[model]\nname = \"llama-2-7b\"\n[workload]\nover_context = \"refuse\"\n");
  const auto vr = run_command(binary() + " validate " + refuse);
  const auto rr = run_command(binary() + " run " + refuse + " --quiet --out " + dir + "/refuse");
  INFO(vr.output);
  INFO(rr.output);
  CHECK(vr.exit_code == 2);
  CHECK(rr.exit_code == 2);
  CHECK_THAT(line_with(rr.output, "error:"), Contains("refuse.csv:3: request 1") && Contains("6000 in all") &&
                                                 Contains("context window of 4096 tokens"));
  CHECK(line_with(vr.output, "error:") == line_with(rr.output, "error:"));
  CHECK_THAT(vr.output, Contains("3 request(s) in all exceed the context window"));
  CHECK_FALSE(fs::exists(dir + "/refuse/summary.json"));

  const std::string drop = write_trace_scenario(dir, "drop", rows, top.substr(0, top.find("[model]")) +
                                                                      "[model]\nname = \"llama-2-7b\"\n[workload]\nover_context = \"drop\"\n");
  const auto rd = run_command(binary() + " run " + drop + " --quiet --out " + dir + "/drop");
  INFO(rd.output);
  REQUIRE(rd.exit_code == 0);
  CHECK_THAT(rd.output, Contains("3 request(s) beyond the context window turned away"));
  j = nlohmann::json::parse(read_file(dir + "/drop/summary.json"));
  CHECK(j["workload"]["over_context_dropped"].get<int>() == 3);
  CHECK(j["requests"]["rejected"].get<int>() == 3);
  CHECK(j["requests"]["arrived"].get<int>() == 5);
  CHECK(j["slo"]["attainment"].get<double>() == Approx(0.4));

  const auto bad = run_command(binary() + " validate " + cut + " --set workload.over_context=trim");
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.output, Contains("workload.over_context") && Contains("\"cut\", \"refuse\" or \"drop\""));
  fs::remove_all(dir);
}

TEST_CASE("synthetic lengths beyond the context window are cut and counted - or refused", "[preflight][context]") {
  const std::string sets = source_dir() + "/scenarios/default.toml --set model.name=llama-2-7b --set duration_s=60 --set warmup_s=5"
                           " --set 'workload.prompt_tokens={ dist = \"lognormal\", mean = 2500, p99 = 6000 }'"
                           " --set 'workload.output_tokens={ dist = \"lognormal\", mean = 1500, p99 = 4000 }'"
                           " --set workload.arrival.rate_per_s=2";
  const std::string out = temp_dir("pre-synthetic");
  const auto v = run_command(binary() + " validate " + sets);
  INFO(v.output);
  CHECK(v.exit_code == 0);
  CHECK_THAT(v.output, Contains("can together exceed the model's context window (4096 tokens)") &&
                           Contains("of the first 200000 requests' lengths as the run draws them"));
  const auto r = run_command(binary() + " run " + sets + " --quiet --out " + out);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(read_file(out + "/summary.json"));
  const int cut = j["workload"]["over_context_cut"].get<int>();
  CHECK(cut > 0);
  for (const auto& row : parse_csv(read_file(out + "/requests.csv")))
    if (row.size() > 3 && row[0] != "id") CHECK(std::stoll(row[2]) + std::stoll(row[3]) <= 4096);
  const auto refused = run_command(binary() + " run " + sets + " --set workload.over_context=refuse --quiet");
  INFO(refused.output);
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.output, Contains("context window of 4096 tokens") && Contains("workload.prompt_tokens.max"));
  fs::remove_all(out);
}

TEST_CASE("compare takes a disaggregated split and shows goodput and energy per token", "[preflight][compare]") {
  const std::string out = temp_dir("pre-compare");
  const std::string sets = " --set fleet.replicas=4 --set duration_s=60 --set warmup_s=10";
  const auto r = run_command(binary() + " compare --jobs 2 --policies disaggregated:3,disaggregated:1:3,continuous"
                             " --out " + out + sets);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("disaggregated 3+1") && Contains("disaggregated 1+3") && Contains("goodput/s") &&
                           Contains("J/out tok"));
  const auto rows = parse_csv(read_file(out + "/compare.csv"));
  REQUIRE(rows.size() == 4);
  const auto col = [&](const std::string& name) {
    const auto it = std::find(rows[0].begin(), rows[0].end(), name);
    REQUIRE(it != rows[0].end());
    return static_cast<std::size_t>(it - rows[0].begin());
  };
  CHECK(rows[1][col("prefill_decode")] == "3+1");
  CHECK(rows[2][col("prefill_decode")] == "1+3");
  CHECK(rows[3][col("prefill_decode")].empty());
  // The continuous row against a run of the same scenario: goodput = attainment x measured / window.
  const auto run = run_command(binary() + " run --quiet --out " + out + "/run" + sets);
  REQUIRE(run.exit_code == 0);
  const auto j = nlohmann::json::parse(read_file(out + "/run/summary.json"));
  const double goodput = j["slo"]["attainment"].get<double>() * j["requests"]["measured"].get<double>() /
                         j["window_s"].get<double>();
  CHECK(std::stod(rows[3][col("goodput_per_s")]) == Approx(goodput).epsilon(1e-5));
  CHECK(std::stod(rows[3][col("energy_j_per_output_token")]) ==
        Approx(j["energy"]["j_per_output_token"].get<double>()).epsilon(1e-5));
  // The 3+1 row is the scenario's own disaggregation with policy.prefill_replicas = 3.
  const auto d = run_command(binary() + " run --quiet --out " + out + "/dis" + sets +
                             " --set policy.batching=disaggregated --set policy.prefill_replicas=3");
  REQUIRE(d.exit_code == 0);
  const auto jd = nlohmann::json::parse(read_file(out + "/dis/summary.json"));
  CHECK(std::stod(rows[1][col("ttft_p99_s")]) == Approx(jd["latency_s"]["ttft"]["p99"].get<double>()).epsilon(1e-6));
  // Splits that do not fit the fleet or the policy: exit 2, saying why.
  for (const char* bad : {"disaggregated:4", "disaggregated:1:2", "disaggregated:x", "continuous:2"}) {
    const auto e = run_command(binary() + " compare --policies " + bad + sets);
    INFO(bad << "\n" << e.output);
    CHECK(e.exit_code == 2);
    CHECK_THAT(e.output, Contains(bad));
  }
  fs::remove_all(out);
}
