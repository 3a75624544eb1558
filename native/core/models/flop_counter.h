// Counts the floating-point operations of the matrix-heavy layers (Linear,
// Conv2d, attention) from their shapes, for achieved-FLOP/s figures. Off by
// default: a FlopCountScope switches counting on for the current thread.
// One multiply-add counts as 2 FLOPs; norms, activations and the LoRA branch
// are not counted (they are a small share of a UNet's work).
#pragma once
#include <cstdint>

namespace spo::models {

class FlopCountScope {
 public:
  FlopCountScope();
  ~FlopCountScope();
  FlopCountScope(const FlopCountScope&) = delete;
  FlopCountScope& operator=(const FlopCountScope&) = delete;
  double flops() const;  // counted so far inside this scope

 private:
  double* previous_;
  double count_ = 0.0;
};

namespace flops {
// Called by the layers; no-ops unless a FlopCountScope is active on this thread.
void add(double n);
bool counting();
}  // namespace flops

}  // namespace spo::models
