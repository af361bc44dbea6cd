// Golden outputs: five small scenarios (co-located, paged with recompute, paged with swap, disaggregated,
// sessions on a diurnal rate file) run through the binary, and summary.json, requests.csv and timeseries.csv
// compared byte for byte with the files kept in tests/golden/<name>/. A refactor must leave them as they are;
// a change meant to move them regenerates them with `bash scripts/update-golden.sh` and says why in its commit.
#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>

#include "helpers.hpp"

using namespace tf::test;

namespace {

// The first line where two texts differ, for a readable failure.
std::string first_difference(const std::string& want, const std::string& got) {
  std::istringstream a(want), b(got);
  std::string la, lb;
  for (int line = 1;; ++line) {
    const bool ea = !std::getline(a, la), eb = !std::getline(b, lb);
    if (ea && eb) return "the same lines (a difference in line endings?)";
    if (ea || eb || la != lb)
      return "line " + std::to_string(line) + ":\n  golden: " + (ea ? "<end of file>" : la) +
             "\n  now:    " + (eb ? "<end of file>" : lb);
  }
}

void check_golden(const std::string& name) {
  const std::string golden = source_dir() + "/tests/golden/" + name;
  const std::string out = temp_dir("golden-" + name);
  const auto r = run_command(binary() + " run " + golden + ".toml --out " + out + " --window 10 --quiet");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  for (const char* file : {"summary.json", "requests.csv", "timeseries.csv"}) {
    const std::string want = read_file(golden + "/" + file);
    const std::string got = read_file(out + "/" + file);
    INFO(name << "/" << file << " differs from the golden file at " << first_difference(want, got)
              << "\n(if the change is meant: bash scripts/update-golden.sh, and say why in the commit)");
    REQUIRE(!want.empty());
    CHECK(got == want);
  }
  std::filesystem::remove_all(out);
}

}  // namespace

TEST_CASE("golden: co-located serving with a least-tokens router") { check_golden("colocated"); }
TEST_CASE("golden: paged KV cache with recompute preemption, chunked prefill, central queue") { check_golden("paged"); }
TEST_CASE("golden: paged KV cache with swap preemption") { check_golden("swap"); }
TEST_CASE("golden: disaggregated prefill and decode pools") { check_golden("disaggregated"); }
TEST_CASE("golden: sessions on a ServeGen diurnal curve, lengths from the Azure trace, static batching") {
  check_golden("sessions");
}
