// The trainer's derived seeds: every random draw of round r comes from
// (seed, purpose, r), so a resumed or a data-parallel run draws the same
// numbers as an uninterrupted single-process one.
#pragma once
#include <cstdint>

namespace spo::trainer {

// A splitmix-style hash of (seed, purpose, index).
inline uint64_t mix(uint64_t seed, uint64_t purpose, uint64_t index) {
  uint64_t x = seed ^ (purpose * 0x9E3779B97F4A7C15ull) ^ (index * 0xD6E8FEB86659FD93ull);
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
enum : uint64_t { kEpochOrder = 11, kRoundSampling = 12, kPairShuffle = 13, kRankSampling = 14 };

}  // namespace spo::trainer
