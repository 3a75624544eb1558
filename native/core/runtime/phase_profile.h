// Where an SPO round's time goes, by phase (the bench's profile). A PhaseScope
// in the engine's code names the phase of the work inside it; while a
// PhaseRecording is alive on the thread, the wall time of every scope is added
// to that phase (the innermost scope gets it: nested phases are not counted
// twice). With no recording on the thread a scope is one thread-local read and
// a branch; it never touches a tensor, so it cannot change what is computed.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace spo::profile {

enum class Phase : int {
  TextEncoding,    // the diffusion pipeline's prompt encoder(s)
  CandidateUnet,   // guided UNet calls that move the trajectories (before the branch, at it, later transitions of a chain)
  X0Unet,          // guided UNet calls for the candidates' x0 predictions
  VaeDecode,       // the VAE decoder on the candidates' x0
  Evaluator,       // the preference model (preprocessing, both towers)
  UpdateForwards,  // the update's policy and reference forwards and its loss
  Backward,        // the update's backward pass
  OptimizerStep,   // gradient clipping and AdamW on the LoRA
  Other,           // everything else inside the measured span
};
inline constexpr int kPhaseCount = 9;

// The phase's name, the same in the engine's and the Python baseline's reports.
const char* phase_name(Phase p);

struct PhaseTotals {
  std::array<double, kPhaseCount> seconds{};
  std::array<int64_t, kPhaseCount> calls{};
  void add(Phase p, double s, int64_t n = 1) {
    seconds[static_cast<int>(p)] += s;
    calls[static_cast<int>(p)] += n;
  }
};

// Records the scopes entered on this thread into `totals` while alive (one at a time per thread).
// `sync` (optional) is called at every phase boundary: on a GPU it waits for queued work so
// that the time lands in the phase that queued it.
class PhaseRecording {
 public:
  explicit PhaseRecording(PhaseTotals& totals, std::function<void()> sync = {});
  ~PhaseRecording();
  PhaseRecording(const PhaseRecording&) = delete;
  PhaseRecording& operator=(const PhaseRecording&) = delete;

  void enter(Phase p);
  void leave();

 private:
  using Clock = std::chrono::steady_clock;
  void charge_top(Clock::time_point now);
  PhaseTotals& totals_;
  std::function<void()> sync_;
  std::vector<Phase> stack_;
  Clock::time_point since_;
  PhaseRecording* previous_;
};

// The recording on this thread, or null.
PhaseRecording* current_recording();

class PhaseScope {
 public:
  explicit PhaseScope(Phase p) : recording_(current_recording()) {
    if (recording_) recording_->enter(p);
  }
  ~PhaseScope() {
    if (recording_) recording_->leave();
  }
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  PhaseRecording* recording_;
};

}  // namespace spo::profile
