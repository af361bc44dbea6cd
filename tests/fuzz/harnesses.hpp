#pragma once
// The fuzz harnesses' entry functions (tests/fuzz/README.md): plain functions, called by each libFuzzer main
// (fuzz_<harness>.cpp, built with -DTF_FUZZ=ON) and by the replay test (tests/test_fuzz_regressions.cpp, in every
// build), which feeds them the saved crash inputs and seed corpora. Each returns 0 for an input that was handled:
// accepted, or refused with the error a user would see (ScenarioError, TraceError, a layout's invalid_argument,
// which the CLI turns into exit 2 or 3). Anything else (another exception, a crash, a sanitizer report, a hang)
// escapes and is the finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tf::fuzz {

// TOML text to a Scenario, then its cost model, fleet layout and topology, and its first requests.
int scenario_text(const std::uint8_t* data, std::size_t size);
// Up to 8 `--set` overrides, one a line, applied over the built-in default scenario; then as scenario_text.
int set_overrides(const std::uint8_t* data, std::size_t size);
// A trace file in one of the formats (the first 6 bytes choose the format, skip_bad_rows, loop, rate scale,
// speed and window; the rest is the file), loaded through [workload.trace] and replayed for its first requests,
// and read whole by the TraceReader.
int trace_reader(const std::uint8_t* data, std::size_t size);

struct Harness {
  const char* name;
  int (*run)(const std::uint8_t*, std::size_t);
};
// The harnesses by name: "scenario", "set", "trace" (the folder names under tests/fuzz/corpus and regressions).
const std::vector<Harness>& harnesses();

}  // namespace tf::fuzz
