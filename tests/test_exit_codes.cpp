// sim/cli/common.hpp's guarded(): the one map from what a command throws to its error line and exit code.
#include <catch2/catch.hpp>

#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "results/report.hpp"
#include "results/summary.hpp"
#include "sim/cli/common.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"
#include "workloads/trace.hpp"

namespace {

struct Outcome {
  int code;
  std::string err;
};

// Runs guarded() on a body that throws `e`, catching what it writes on stderr.
template <class E>
Outcome outcome_of(const E& e) {
  std::ostringstream captured;
  std::streambuf* old = std::cerr.rdbuf(captured.rdbuf());
  const int code = tf::guarded([&]() -> int { throw e; });
  std::cerr.rdbuf(old);
  return {code, captured.str()};
}

}  // namespace

TEST_CASE("guarded maps each kind of error to its exit code and one error line", "[cli][exit-codes]") {
  CHECK(tf::guarded([] { return 0; }) == 0);
  CHECK(tf::guarded([] { return 7; }) == 7);  // a body that ran to its end says its own code

  const auto scenario = outcome_of(tf::ScenarioError("a.toml", 5, "fleet.replicaz", "unknown key"));
  CHECK(scenario.code == 2);
  CHECK(scenario.err == std::string("tokenfleet: error: ") + tf::ScenarioError("a.toml", 5, "fleet.replicaz",
                                                                               "unknown key").what() + "\n");
  CHECK(outcome_of(tf::WorkloadInputError("t.csv:3: output_tokens: bad")).code == 2);  // not 3: a bad input
  CHECK(outcome_of(tf::TraceError("t.csv", 3, "prompt_tokens", "bad")).err ==
        "tokenfleet: error: t.csv:3: prompt_tokens: bad\n");
  CHECK(outcome_of(tf::UsageError("--set 2025.nope=1: unknown field")).code == 2);
  CHECK(outcome_of(tf::EngineSettingError("--context-factory: expected ..., got 'x'")).code == 2);

  const auto unservable = outcome_of(tf::SimulationError("the model does not fit"));
  CHECK(unservable.code == 3);
  CHECK(unservable.err == "tokenfleet: error: the model does not fit\n");
  CHECK(outcome_of(std::invalid_argument("16 GPUs per replica on nodes of 8")).code == 3);

  const auto write = outcome_of(tf::WriteError("cannot write out/summary.json: rename: No space left on device"));
  CHECK(write.code == 4);
  CHECK(write.err == "tokenfleet: error: cannot write out/summary.json: rename: No space left on device\n");
  const auto report = outcome_of(tf::ReportError("gnuplot failed"));
  CHECK(report.code == 4);
  CHECK(report.err == "tokenfleet: error: report: gnuplot failed\n");

  const auto interrupted = outcome_of(tf::RunInterrupted("stopped at 12 s of simulated time"));
  CHECK(interrupted.code == 130);  // no signal seen in this process: reported as Ctrl-C
  CHECK(interrupted.err ==
        "tokenfleet: error: interrupted (Ctrl-C): stopped at 12 s of simulated time; no results written\n");

  const auto bug = outcome_of(std::logic_error("requests left unfinished"));
  CHECK(bug.code == 5);
  CHECK_THAT(bug.err, Catch::Matchers::StartsWith("tokenfleet: error: internal error: requests left unfinished"));
  CHECK(outcome_of(42).code == 5);
}
