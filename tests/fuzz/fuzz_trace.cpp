// libFuzzer main of the "trace" harness (tests/fuzz/harnesses.hpp); built with -DTF_FUZZ=ON, run by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/harnesses.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return tf::fuzz::trace_reader(data, size);
}
