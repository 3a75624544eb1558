#include "runtime/phase_profile.h"

namespace spo::profile {
namespace {

thread_local PhaseRecording* tls_recording = nullptr;

}  // namespace

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::TextEncoding: return "text encoding";
    case Phase::CandidateUnet: return "candidate UNet calls";
    case Phase::X0Unet: return "x0 calls";
    case Phase::VaeDecode: return "VAE decode";
    case Phase::Evaluator: return "evaluator";
    case Phase::UpdateForwards: return "update forwards";
    case Phase::Backward: return "backward";
    case Phase::OptimizerStep: return "optimizer step";
    case Phase::Other: return "other";
  }
  return "other";
}

PhaseRecording* current_recording() { return tls_recording; }

PhaseRecording::PhaseRecording(PhaseTotals& totals, std::function<void()> sync)
    : totals_(totals), sync_(std::move(sync)), since_(Clock::now()), previous_(tls_recording) {
  tls_recording = this;
}

PhaseRecording::~PhaseRecording() { tls_recording = previous_; }

void PhaseRecording::charge_top(Clock::time_point now) {
  if (!stack_.empty()) totals_.seconds[static_cast<int>(stack_.back())] += std::chrono::duration<double>(now - since_).count();
  since_ = now;
}

void PhaseRecording::enter(Phase p) {
  if (sync_) sync_();
  charge_top(Clock::now());
  stack_.push_back(p);
  totals_.calls[static_cast<int>(p)] += 1;
}

void PhaseRecording::leave() {
  if (sync_) sync_();
  charge_top(Clock::now());
  if (!stack_.empty()) stack_.pop_back();
}

}  // namespace spo::profile
