// SplitMix64: a tiny, fully specified generator, so tie-breaking can be reproduced exactly
// by the pure-Python reference search in tests/mcts.
#pragma once

#include <cstdint>

namespace pipezero {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ULL;

// Initial state of tree b's generator for a given seed.
inline uint64_t rng_init(uint64_t seed, uint64_t tree) { return seed + (tree + 1) * kGolden; }

// Advances the state and returns the next 64 random bits.
inline uint64_t rng_next(uint64_t& state) {
  state += kGolden;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace pipezero
