// What a long-running engine routine sees of the job that runs it: a cancel
// flag to check between steps and a sink for progress. Node-free, so core
// routines and their C++ tests use it directly.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/errors.h"

namespace spo {

struct ProgressEvent {
  std::string stage;   // e.g. "denoise"
  int64_t step = 0;    // 1-based step just finished
  int64_t total = 0;   // steps in this stage
  double value = 0.0;  // a stage-specific figure (e.g. mean log-prob of the step)
  // Named figures of the event (e.g. loss, lr, accuracy@t), in order; JavaScript sees an object.
  std::vector<std::pair<std::string, double>> metrics{};  // {} lets callers brace-initialise the rest
};

class JobContext {
 public:
  JobContext() : cancel_flag_(std::make_shared<std::atomic<bool>>(false)) {}
  JobContext(std::shared_ptr<std::atomic<bool>> flag, std::function<void(const ProgressEvent&)> sink)
      : cancel_flag_(std::move(flag)), sink_(std::move(sink)) {}

  bool cancelled() const { return cancel_flag_->load(std::memory_order_relaxed); }
  // Throws spo::Cancelled when cancellation was requested: call between steps.
  void check_cancelled() const {
    if (cancelled()) throw Cancelled();
  }
  void report(const ProgressEvent& ev) const {
    if (sink_) sink_(ev);
  }
  void cancel() { cancel_flag_->store(true); }

 private:
  std::shared_ptr<std::atomic<bool>> cancel_flag_;
  std::function<void(const ProgressEvent&)> sink_;
};

}  // namespace spo
