// Repeated timings with a warm-up: minimum, median and spread, so a figure
// says how steady it was. Wall-clock seconds of the whole call.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

namespace spo::bench {

struct Timing {
  std::vector<double> seconds;  // one per repetition, in run order
  double min() const;
  double median() const;
  double spread() const;  // (max - min) / median
  nlohmann::json to_json() const;
};

// `warmup` untimed calls, then `reps` timed ones (CUDA work is synchronised before each clock read).
Timing time_calls(const std::function<void()>& fn, int warmup, int reps, bool cuda = false);

// Waits for the device's queued work (a no-op on a CPU).
void synchronize(bool cuda);

// The process's peak resident set size so far (bytes).
double peak_rss_bytes();

}  // namespace spo::bench
