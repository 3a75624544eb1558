// Splits a call that ends in a backward pass (trainer::spo_backward: forwards,
// loss, backward) into its forward and backward time without touching the
// call: while a BackwardClock is alive, a RecordFunction observer notes when
// the first autograd node of a backward pass starts running. The span from
// there to the call's end is the backward; before it, the forwards and loss.
#pragma once
#include <ATen/record_function.h>

#include <chrono>

namespace spo::bench {

class BackwardClock {
 public:
  BackwardClock();
  ~BackwardClock();
  BackwardClock(const BackwardClock&) = delete;
  BackwardClock& operator=(const BackwardClock&) = delete;

  // Forgets the last backward's start (call before the measured call).
  void reset();
  // When the first backward node started since reset(); false if none ran.
  bool first_backward(std::chrono::steady_clock::time_point& at) const;

 private:
  at::CallbackHandle handle_;
};

}  // namespace spo::bench
