// Trace replay: the real traces in data/ replayed exactly (checked against a parser of the test's own),
// every kind of bad row, and speed, rate scale, loop and window.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "workloads/source.hpp"
#include "workloads/trace.hpp"

using Catch::Matchers::Contains;

namespace {

std::string trace_path(const std::string& name) { return tf::test::data_dir() + "/traces/" + name; }
std::string fixture(const std::string& name) { return tf::test::source_dir() + "/tests/data/traces/" + name; }

std::vector<tf::Request> replay(const tf::TraceSpec& t, double duration_s = 1e9, std::uint64_t* skipped = nullptr) {
  tf::WorkloadSpec w;
  w.trace = t;
  w.trace.enabled = true;
  auto src = tf::make_workload_source(w, 1, duration_s);
  std::vector<tf::Request> out;
  while (auto r = src->next()) out.push_back(*r);
  if (skipped) *skipped = src->skipped_bad_rows();
  return out;
}

tf::TraceSpec spec_of(const std::string& path) {
  tf::TraceSpec t;
  t.path = path;
  return t;
}

struct AzureRow {
  long long ticks;  // 100 ns since midnight
  long long prompt, output;
};

// The test's own reading of an Azure trace: "2023-11-16 HH:MM:SS.fffffff" (one day, as in these files).
std::vector<AzureRow> read_azure(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::vector<AzureRow> rows;
  while (std::getline(in, line)) {
    const std::string ts = line.substr(0, line.find(','));
    REQUIRE(ts.substr(0, 10) == "2023-11-16");
    const long long h = std::stoll(ts.substr(11, 2)), m = std::stoll(ts.substr(14, 2)), s = std::stoll(ts.substr(17, 2));
    std::string frac = ts.size() > 20 ? ts.substr(20) : "";
    frac.resize(7, '0');
    const long long ticks = ((h * 60 + m) * 60 + s) * 10000000LL + std::stoll(frac);
    std::istringstream rest(line.substr(line.find(',') + 1));
    std::string p, o;
    std::getline(rest, p, ',');
    std::getline(rest, o, ',');
    rows.push_back({ticks, std::stoll(p), std::stoll(o)});
  }
  return rows;
}

}  // namespace

TEST_CASE("replaying azure-llm-2023-conv yields exactly its requests offsets and lengths", "[trace][azure]") {
  const auto truth = read_azure(trace_path("azure-llm-2023-conv.csv"));
  REQUIRE(truth.size() == 19366);
  const auto got = replay(spec_of(trace_path("azure-llm-2023-conv.csv")));
  REQUIRE(got.size() == truth.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("row " << i + 2);
    CHECK(got[i].id == i);
    // The trace's resolution is 100 ns; the offsets agree to far better than that.
    CHECK(std::abs(got[i].arrival_s - static_cast<double>(truth[i].ticks - truth[0].ticks) * 1e-7) < 1e-9);
    CHECK(got[i].prompt_tokens == truth[i].prompt);
    CHECK(got[i].output_tokens == truth[i].output);
  }
  CHECK(got.back().arrival_s > 3000.0);  // about an hour
}

TEST_CASE("replaying a mooncake trace keeps timestamps lengths and hash_ids", "[trace][mooncake]") {
  std::ifstream in(trace_path("mooncake-conversation.jsonl"));
  std::vector<nlohmann::json> truth;
  std::string line;
  while (std::getline(in, line)) truth.push_back(nlohmann::json::parse(line));
  const auto got = replay(spec_of(trace_path("mooncake-conversation.jsonl")));
  REQUIRE(got.size() == truth.size());
  const double t0 = truth[0]["timestamp"].get<double>();
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("line " << i + 1);
    CHECK(got[i].arrival_s == Approx((truth[i]["timestamp"].get<double>() - t0) / 1000.0).margin(1e-12));
    CHECK(got[i].prompt_tokens == truth[i]["input_length"].get<long long>());
    CHECK(got[i].output_tokens == truth[i]["output_length"].get<long long>());
    CHECK(got[i].hash_ids == truth[i]["hash_ids"].get<std::vector<std::int64_t>>());
  }
}

TEST_CASE("each bad-row kind gives an error with file line and field or with skip_bad_rows a count",
          "[trace][errors]") {
  struct Case {
    std::string file;
    std::string first_error;  // "file:line: field: ..."
    std::string detail;
    std::uint64_t bad;
    std::vector<long long> good_prompts;
  };
  const std::vector<Case> cases = {
      {"bad-not-a-number.csv", "bad-not-a-number.csv:3: prompt_tokens:", "got 'abc'", 1, {100, 300, 400}},
      {"bad-negative.csv", "bad-negative.csv:3: output_tokens:", "positive integer, got -5", 2, {100, 300, 500}},
      {"bad-missing-column.csv", "bad-missing-column.csv:3: ", "expected 3 columns", 1, {100, 300}},
      {"bad-out-of-order.csv", "bad-out-of-order.csv:4: arrival_s:", "out of order", 1, {100, 200, 400}},
      {"bad-azure.csv", "bad-azure.csv:3: TIMESTAMP:", "18:15:4x", 2, {374, 10}},
      {"bad-mooncake.jsonl", "bad-mooncake.jsonl:2: ", "JSON object", 2, {100, 1200}},
  };
  for (const auto& c : cases) {
    INFO(c.file);
    tf::TraceSpec t = spec_of(fixture(c.file));
    CHECK_THROWS_AS(replay(t), tf::TraceError);
    CHECK_THROWS_WITH(replay(t), Contains(c.first_error) && Contains(c.detail));
    t.skip_bad_rows = true;
    std::uint64_t skipped = 0;
    const auto got = replay(t, 1e9, &skipped);
    CHECK(skipped == c.bad);
    std::vector<long long> prompts;
    for (const auto& r : got) prompts.push_back(r.prompt_tokens);
    CHECK(prompts == c.good_prompts);
  }
  // The second bad row of a file is reported with its own line once the first is fixed: zero output tokens.
  const std::string dir = tf::test::temp_dir("badrows");
  tf::test::write_file(dir + "/zero.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:50.9951690,396,0\n");
  CHECK_THROWS_WITH(replay(spec_of(dir + "/zero.csv")), Contains("zero.csv:2: GeneratedTokens: expected a positive integer, got 0"));
  tf::test::write_file(dir + "/missing.jsonl", "{\"timestamp\": 7, \"output_length\": 3}\n");
  CHECK_THROWS_WITH(replay(spec_of(dir + "/missing.jsonl")), Contains("missing.jsonl:1: input_length: missing"));
  CHECK_THROWS_WITH(replay(spec_of(dir + "/nothing-here.csv")), Contains("cannot open"));
}

TEST_CASE("speed divides the trace's times and window selects and rebases rows", "[trace][speed][window]") {
  const auto base = replay(spec_of(trace_path("azure-llm-2023-code.csv")));
  tf::TraceSpec fast = spec_of(trace_path("azure-llm-2023-code.csv"));
  fast.speed = 4.0;
  const auto got = replay(fast);
  REQUIRE(got.size() == base.size());
  for (std::size_t i = 0; i < got.size(); i += 97) CHECK(got[i].arrival_s == Approx(base[i].arrival_s / 4.0).margin(1e-12));

  tf::TraceSpec win = spec_of(trace_path("azure-llm-2023-code.csv"));
  win.window_start_s = 600.0;
  win.window_end_s = 1200.0;
  const auto w = replay(win);
  std::vector<const tf::Request*> expected;
  for (const auto& r : base)
    if (r.arrival_s >= 600.0 && r.arrival_s < 1200.0) expected.push_back(&r);
  REQUIRE(w.size() == expected.size());
  REQUIRE(!w.empty());
  for (std::size_t i = 0; i < w.size(); ++i) {
    CHECK(w[i].arrival_s == Approx(expected[i]->arrival_s - 600.0).margin(1e-9));
    CHECK(w[i].prompt_tokens == expected[i]->prompt_tokens);
  }
}

TEST_CASE("rate scale thins below 1 and replicates with jitter above 1", "[trace][scale]") {
  const auto base = replay(spec_of(trace_path("azure-llm-2023-conv.csv")));
  const double n = static_cast<double>(base.size());
  tf::TraceSpec half = spec_of(trace_path("azure-llm-2023-conv.csv"));
  half.rate_scale = 0.5;
  const auto h = replay(half);
  CHECK(std::abs(static_cast<double>(h.size()) - 0.5 * n) < 4.0 * std::sqrt(n * 0.25));  // binomial, 4 sigma

  tf::TraceSpec twice = spec_of(trace_path("azure-llm-2023-conv.csv"));
  twice.rate_scale = 2.0;
  twice.jitter_s = 0.5;
  const auto d = replay(twice);
  CHECK(d.size() == 2 * base.size());  // every row exactly twice
  bool ordered = true;
  for (std::size_t i = 1; i < d.size(); ++i) ordered = ordered && d[i].arrival_s >= d[i - 1].arrival_s;
  CHECK(ordered);
  // Each row's copies: one at its own time, one within jitter_s after it, with its lengths.
  std::multiset<std::tuple<double, long long, long long>> originals;
  for (const auto& r : base) originals.insert({r.arrival_s, r.prompt_tokens, r.output_tokens});
  std::size_t exact = 0;
  for (const auto& r : d) exact += originals.count({r.arrival_s, r.prompt_tokens, r.output_tokens}) > 0;
  CHECK(exact >= base.size());
}

TEST_CASE("a looped trace repeats with a period of its span plus one mean gap", "[trace][loop]") {
  const auto base = replay(spec_of(trace_path("mooncake-synthetic.jsonl")));
  const double span = base.back().arrival_s - base.front().arrival_s;
  const double period = span * static_cast<double>(base.size()) / static_cast<double>(base.size() - 1);
  tf::TraceSpec loop = spec_of(trace_path("mooncake-synthetic.jsonl"));
  loop.loop = true;
  const double duration = 2.5 * period;
  const auto got = replay(loop, duration);
  std::size_t expected = 2 * base.size();
  for (const auto& r : base)
    if (r.arrival_s + 2 * period < duration) ++expected;
  CHECK(got.size() == expected);
  for (std::size_t i = 0; i < base.size(); i += 50) {
    CHECK(got[base.size() + i].arrival_s == Approx(base[i].arrival_s + period).margin(1e-6));
    CHECK(got[base.size() + i].hash_ids == base[i].hash_ids);
  }
}

TEST_CASE("a trace's span is when its last row arrives - with window and speed", "[trace][span]") {
  // The independent truth: the timestamps read straight from the file (read_azure, above).
  const auto truth = read_azure(trace_path("azure-llm-2023-conv.csv"));
  const double last = static_cast<double>(truth.back().ticks - truth.front().ticks) * 1e-7;
  tf::TraceSpec spec = spec_of(trace_path("azure-llm-2023-conv.csv"));
  CHECK(tf::trace_span_s(spec) == Approx(last).margin(1e-9));
  spec.speed = 4.0;
  CHECK(tf::trace_span_s(spec) == Approx(last / 4.0).margin(1e-9));
  // A window [600, 1200): the last row before 1200 s, counted from 600 s.
  spec.speed = 1.0;
  spec.window_start_s = 600.0;
  spec.window_end_s = 1200.0;
  double last_in = 0.0;
  for (const auto& row : truth) {
    const double t = static_cast<double>(row.ticks - truth.front().ticks) * 1e-7;
    if (t >= 600.0 && t < 1200.0) last_in = t;
  }
  CHECK(tf::trace_span_s(spec) == Approx(last_in - 600.0).margin(1e-9));
  spec.window_start_s = 1e7;  // no rows in the window
  spec.window_end_s = 2e7;
  CHECK(tf::trace_span_s(spec) == 0.0);
}

TEST_CASE("max_prompt_tokens and max_output_tokens cut a trace's lengths and count the rows cut", "[trace][clamp]") {
  const auto truth = read_azure(trace_path("azure-llm-2023-conv.csv"));
  tf::WorkloadSpec w;
  w.trace = spec_of(trace_path("azure-llm-2023-conv.csv"));
  w.trace.enabled = true;
  w.trace.max_prompt_tokens = 2000;
  w.trace.max_output_tokens = 300;
  auto src = tf::make_workload_source(w, 1, 1e9);
  std::vector<tf::Request> got;
  while (auto r = src->next()) got.push_back(*r);
  REQUIRE(got.size() == truth.size());  // nothing dropped
  std::uint64_t cut = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].prompt_tokens == std::min<long long>(truth[i].prompt, 2000));
    CHECK(got[i].output_tokens == std::min<long long>(truth[i].output, 300));
    if (truth[i].prompt > 2000 || truth[i].output > 300) ++cut;
  }
  CHECK(cut > 1000);  // the conversation trace has many prompts over 2,000 tokens
  CHECK(src->clamped_rows() == cut);
  // Only the rows replayed count: not those after duration_s (10 minutes) nor those thinned out (rate_scale 0.5).
  w.trace.rate_scale = 0.5;
  auto part = tf::make_workload_source(w, 1, 600.0);
  std::uint64_t cut_replayed = 0, replayed = 0;
  while (auto r = part->next()) {
    ++replayed;
    if (r->prompt_tokens == 2000 || r->output_tokens == 300) ++cut_replayed;  // at a cap: cut (or exactly it)
  }
  CHECK(replayed < truth.size() / 4);
  CHECK(part->clamped_rows() <= cut_replayed);
  CHECK(part->clamped_rows() > cut_replayed * 9 / 10);  // rows exactly at a cap are the only difference
}

// Issue 11 (reliability): byte-order marks, timestamps beyond int64 nanoseconds, spans beyond a run, epoch CSVs.
namespace {

std::string temp_trace(const std::string& name, const std::string& text) {
  const std::string path = tf::test::temp_dir("trace-rel") + "/" + name;
  tf::test::write_file(path, text);
  return path;
}

std::vector<tf::TraceRow> read_all(const std::string& path) {
  tf::TraceReader reader(path, "auto", false);
  std::vector<tf::TraceRow> rows;
  tf::TraceRow row;
  while (reader.next(row)) rows.push_back(row);
  return rows;
}

}  // namespace

TEST_CASE("a UTF-8 byte-order mark is skipped in azure csv and mooncake traces", "[trace][bom]") {
  const std::string bom = "\xEF\xBB\xBF";
  const std::string azure = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n"
                            "2023-11-16 18:15:50.9951690,396,109\n";
  const std::string plain = "arrival_s,prompt_tokens,output_tokens\n0.5,10,20\n1.5,30,40\n";
  const std::string jsonl = "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 6}\n";
  for (const auto& [name, text, format] : {std::tuple{"a.csv", azure, "azure"}, std::tuple{"p.csv", plain, "csv"},
                                           std::tuple{"m.jsonl", jsonl, "mooncake"}}) {
    const std::string with = temp_trace(name, bom + text), without = temp_trace(name, text);
    INFO(name);
    CHECK(tf::detect_trace_format(with, "auto") == format);
    const auto a = read_all(with), b = read_all(without);
    REQUIRE(a.size() == b.size());
    REQUIRE(!a.empty());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].time_s == b[i].time_s);
      CHECK(a[i].prompt_tokens == b[i].prompt_tokens);
      CHECK(a[i].output_tokens == b[i].output_tokens);
    }
  }
}

TEST_CASE("azure timestamps of any four-digit year are exact and never overflow", "[trace][azure][overflow]") {
  std::int64_t s = 0, frac = 0, ns = 0;
  REQUIRE(tf::parse_timestamp("3000-01-01 00:00:01.5", s, frac));
  CHECK(s == 32503680001LL);  // date -u -d '3000-01-01 00:00:01' +%s
  CHECK(frac == 500000000);
  CHECK_FALSE(tf::parse_timestamp_ns("3000-01-01 00:00:01", ns));  // past int64 nanoseconds (2262)
  REQUIRE(tf::parse_timestamp_ns("2023-11-16 18:15:46.5", ns));
  CHECK(ns == 1700158546500000000LL);
  // A trace dated year 3000 replays as offsets from its first row.
  const auto rows = read_all(temp_trace("y3000.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                                     "3000-06-01 12:00:00.25,10,5\n3000-06-01 12:00:02.75,11,6\n"));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].time_s == 0.0);
  CHECK(rows[1].time_s == 2.5);
  // Rows 292 years apart are in order; the span is refused, with the bound, not reported as out of order.
  const std::string far = temp_trace("far.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                                "2023-01-01 00:00:00,10,5\n2315-01-01 00:00:00,11,6\n");
  CHECK_THROWS_WITH(read_all(far), Contains("far.csv:3: timestamp") && Contains("1e9 s") &&
                                       !Contains("out of order"));
}

TEST_CASE("a row beyond the span a run replays is refused in every format", "[trace][span]") {
  const std::string moon = temp_trace("m.jsonl", "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 6}\n"
                                                 "{\"timestamp\": 1e300, \"input_length\": 5, \"output_length\": 6}\n");
  CHECK_THROWS_WITH(read_all(moon), Contains("m.jsonl:2: timestamp") && Contains("1e9 s"));
  const std::string plain = temp_trace("p.csv", "10,1,1\n2000000000.5,1,1\n");
  CHECK_THROWS_WITH(read_all(plain), Contains("p.csv:2: arrival_s") && Contains("after time 0"));
}

TEST_CASE("a plain csv of unix epoch seconds is rebased to its first row", "[trace][csv][epoch]") {
  const std::string path = temp_trace("epoch.csv", "arrival_s,prompt_tokens,output_tokens\n1699999942.25,10,20\n"
                                                   "1699999943.75,30,40\n1699999950,5,5\n");
  tf::TraceReader reader(path, "auto", false);
  tf::TraceRow row;
  std::vector<double> times;
  while (reader.next(row)) times.push_back(row.time_s);
  CHECK(reader.rebased_from_s() == 1699999942.25);
  CHECK(times == std::vector<double>{0.0, 1.5, 7.75});
  // Times below the epoch threshold are taken as they are.
  tf::TraceReader plain(temp_trace("plain.csv", "5,1,1\n7,1,1\n"), "auto", false);
  REQUIRE(plain.next(row));
  CHECK(row.time_s == 5.0);
  CHECK(plain.rebased_from_s() == 0.0);
}
