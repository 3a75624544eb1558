#include "bench/timing.h"

#include <ATen/ATen.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>

#include "runtime/errors.h"

namespace spo::bench {

double Timing::min() const { return seconds.empty() ? 0.0 : *std::min_element(seconds.begin(), seconds.end()); }

double Timing::median() const {
  if (seconds.empty()) return 0.0;
  auto s = seconds;
  std::sort(s.begin(), s.end());
  return s.size() % 2 ? s[s.size() / 2] : 0.5 * (s[s.size() / 2 - 1] + s[s.size() / 2]);
}

double Timing::spread() const {
  if (seconds.empty()) return 0.0;
  const auto [lo, hi] = std::minmax_element(seconds.begin(), seconds.end());
  return median() > 0 ? (*hi - *lo) / median() : 0.0;
}

nlohmann::json Timing::to_json() const {
  return {{"min_s", min()}, {"median_s", median()}, {"spread", spread()}, {"reps", seconds.size()}, {"seconds", seconds}};
}

void synchronize(bool cuda) {
  // A device-to-host copy waits for the stream's queued work.
  if (cuda) (void)at::ones({1}, at::TensorOptions().device(at::kCUDA)).sum().item<float>();
}

Timing time_calls(const std::function<void()>& fn, int warmup, int reps, bool cuda) {
  require(reps >= 1 && warmup >= 0, "bench: reps must be >= 1 and warmup >= 0");
  auto sync = [&] { synchronize(cuda); };
  for (int i = 0; i < warmup; ++i) fn();
  sync();
  Timing t;
  for (int i = 0; i < reps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    sync();
    t.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return t;
}

double peak_rss_bytes() {
  struct rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;  // Linux reports KiB
}

}  // namespace spo::bench
