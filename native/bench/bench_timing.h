// Wall-clock timing for the benchmark mains: one call in milliseconds, with a
// device synchronise after it on CUDA (queued work counts, as does launch
// overhead, as in sampling), and the median of many calls.
#pragma once
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace spo::bench_timing {

inline void synchronize_if(bool cuda) {
  if (cuda) torch::cuda::synchronize();
}

// `fn()` once, then a synchronise on CUDA: the milliseconds both took.
template <typename Fn>
double call_ms(Fn&& fn, bool cuda) {
  const auto start = std::chrono::steady_clock::now();
  fn();
  synchronize_if(cuda);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// The middle of `times` (sorted in place).
inline double median_of(std::vector<double>& times) {
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// The median of `reps` timed calls of `fn`, after `warmup` untimed ones.
template <typename Fn>
double median_ms(Fn&& fn, int reps, bool cuda, int warmup = 0) {
  for (int i = 0; i < warmup; ++i) fn();
  synchronize_if(cuda);
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) times.push_back(call_ms(fn, cuda));
  return median_of(times);
}

}  // namespace spo::bench_timing
