#pragma once
#include <cstdint>

namespace tf {

// One inference request: plain data, never an actor.
struct Request {
  std::uint64_t id = 0;
  double arrival_s = 0.0;
  std::int64_t prompt_tokens = 0;
  std::int64_t output_tokens = 0;  // >= 1: the first output token comes out of the prefill iteration
};

}  // namespace tf
