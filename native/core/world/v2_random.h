// World v2's random streams: splitmix64 (the same stream on every compiler and
// library, unlike std distributions), one independent stream per purpose so
// that, for one seed, the layout does not depend on which defects are drawn.
#pragma once
#include <cmath>
#include <cstdint>

namespace spo::world::v2 {

inline constexpr uint64_t kLayoutStream = 1, kDefectStream = 2, kDefectParamStream = 3, kGrainStream = 4,
                          kTextureStream = 5;

inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The seed of stream `stream` of a render seed.
inline uint64_t stream_seed(uint64_t seed, uint64_t stream) {
  uint64_t s = seed ^ (stream * 0xD1B54A32D192ED03ull);
  return splitmix64(s);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  double uniform(double lo, double hi) { return lo + (hi - lo) * static_cast<double>(splitmix64(state_) >> 11) * 0x1.0p-53; }
  int below(int n) { return static_cast<int>(uniform(0, n)) % n; }  // 0..n-1
  bool coin() { return uniform(0, 1) < 0.5; }
  double normal() {  // Box-Muller
    const double u = uniform(0x1.0p-53, 1.0), v = uniform(0, 1);
    return std::sqrt(-2 * std::log(u)) * std::cos(2 * M_PI * v);
  }

 private:
  uint64_t state_;
};

}  // namespace spo::world::v2
