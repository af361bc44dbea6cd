#pragma once
#include <cstdint>
#include <vector>

namespace tf {

// One inference request: plain data, never an actor.
struct Request {
  std::uint64_t id = 0;
  double arrival_s = 0.0;
  std::int64_t prompt_tokens = 0;
  std::int64_t output_tokens = 0;  // >= 1: the first output token comes out of the prefill iteration
  // Prefix blocks of the prompt (Mooncake traces: 512-token blocks; equal ids = shared prefix); empty when unknown.
  std::vector<std::int64_t> hash_ids{};
};

}  // namespace tf
