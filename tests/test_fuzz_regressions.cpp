// Replays every input the fuzzers found a bug with (tests/fuzz/regressions/<harness>/) and the seed corpora
// (tests/fuzz/corpus/<harness>/) through the same harness functions as the libFuzzer mains, in every build: each
// must be handled (accepted, or refused with a user's error), without an exception, crash or sanitizer report.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/harnesses.hpp"

namespace fs = std::filesystem;

namespace {

std::size_t replay(const std::string& harness, const std::string& kind) {
  const auto& all = tf::fuzz::harnesses();
  const auto h = std::find_if(all.begin(), all.end(), [&](const auto& x) { return harness == x.name; });
  REQUIRE(h != all.end());
  const fs::path dir = fs::path(TF_SOURCE_DIR) / "tests/fuzz" / kind / harness;
  if (!fs::is_directory(dir)) return 0;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO(f.string());
    CHECK(h->run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()) == 0);
  }
  return files.size();
}

}  // namespace

TEST_CASE("the scenario loader harness handles every saved fuzz input and its seed corpus", "[fuzz]") {
  replay("scenario", "regressions");
  CHECK(replay("scenario", "corpus") > 5);
}

TEST_CASE("the --set harness handles every saved fuzz input and its seed corpus", "[fuzz]") {
  replay("set", "regressions");
  CHECK(replay("set", "corpus") > 5);
}

TEST_CASE("the trace reader harness handles every saved fuzz input and its seed corpus", "[fuzz]") {
  replay("trace", "regressions");
  CHECK(replay("trace", "corpus") > 5);
}
