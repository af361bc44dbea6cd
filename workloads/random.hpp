#pragma once
// Seeded random numbers. Every draw in tokenfleet comes from an Rng owned by the scenario.
// The transforms are our own (not <random>'s distributions) so that one seed gives the same
// numbers with any standard library.
#include <cstdint>
#include <random>

namespace tf {

using Rng = std::mt19937_64;

// Uniform in the open interval (0, 1): never exactly 0 or 1, so log() is always finite.
inline double uniform01(Rng& rng) {
  return (static_cast<double>(rng() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

// Derives an independent stream from a scenario seed and a stream name number.
inline Rng make_stream(std::uint64_t seed, std::uint64_t stream) {
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)};
  return Rng(seq);
}

// SplitMix64's finalizer: a bijection of 64 bits whose output bits each depend on every input bit. For counter-based
// draws and ids that must not depend on the order things are drawn in (pod split, failure times, prefix block ids).
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace tf
