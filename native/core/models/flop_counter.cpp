#include "models/flop_counter.h"

namespace spo::models {
namespace {
thread_local double* active = nullptr;
}

FlopCountScope::FlopCountScope() : previous_(active) { active = &count_; }
FlopCountScope::~FlopCountScope() { active = previous_; }
double FlopCountScope::flops() const { return count_; }

namespace flops {
void add(double n) {
  if (active) *active += n;
}
bool counting() { return active != nullptr; }
}  // namespace flops

}  // namespace spo::models
