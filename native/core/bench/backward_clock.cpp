#include "bench/backward_clock.h"

#include <atomic>

#include "runtime/errors.h"

namespace spo::bench {
namespace {

// Steady-clock nanoseconds of the first backward node since reset; 0: none yet.
std::atomic<int64_t> first_backward_ns{0};
std::atomic<int> live_clocks{0};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<at::ObserverContext> on_backward_node(const at::RecordFunction&) {
  int64_t expected = 0;
  first_backward_ns.compare_exchange_strong(expected, now_ns());
  return nullptr;
}

}  // namespace

BackwardClock::BackwardClock() {
  if (live_clocks.fetch_add(1) != 0) {
    live_clocks.fetch_sub(1);
    throw Error(ErrorCode::Internal, "bench: one BackwardClock at a time");
  }
  handle_ = at::addGlobalCallback(
      at::RecordFunctionCallback(&on_backward_node).scopes({at::RecordScope::BACKWARD_FUNCTION}));
  reset();
}

BackwardClock::~BackwardClock() {
  at::removeCallback(handle_);
  live_clocks.fetch_sub(1);
}

void BackwardClock::reset() { first_backward_ns.store(0); }

bool BackwardClock::first_backward(std::chrono::steady_clock::time_point& at) const {
  const int64_t ns = first_backward_ns.load();
  if (ns == 0) return false;
  at = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
  return true;
}

}  // namespace spo::bench
