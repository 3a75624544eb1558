// The phase profile's accounting: the innermost scope gets the time (nested
// phases are not counted twice), entries are counted, and with no recording on
// the thread a scope records nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "runtime/phase_profile.h"

namespace spo::profile {
namespace {

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

double of(const PhaseTotals& t, Phase p) { return t.seconds[static_cast<int>(p)]; }
int64_t calls(const PhaseTotals& t, Phase p) { return t.calls[static_cast<int>(p)]; }

TEST(PhaseProfile, TheInnermostScopeGetsTheTime) {
  PhaseTotals totals;
  {
    PhaseRecording recording(totals);
    PhaseScope outer(Phase::VaeDecode);
    sleep_ms(20);
    {
      PhaseScope inner(Phase::Evaluator);
      sleep_ms(100);
    }
    sleep_ms(20);
  }
  // The outer phase holds its own 40 ms, not the inner 100 ms as well (that would be >= 140 ms).
  EXPECT_GE(of(totals, Phase::VaeDecode), 0.040);
  EXPECT_LT(of(totals, Phase::VaeDecode), 0.100);
  EXPECT_GE(of(totals, Phase::Evaluator), 0.100);
  EXPECT_EQ(calls(totals, Phase::VaeDecode), 1);
  EXPECT_EQ(calls(totals, Phase::Evaluator), 1);
  EXPECT_EQ(of(totals, Phase::X0Unet), 0.0);
}

TEST(PhaseProfile, NoRecordingNoTime) {
  PhaseTotals totals;
  { PhaseRecording recording(totals); }
  EXPECT_EQ(current_recording(), nullptr);
  {
    PhaseScope scope(Phase::X0Unet);
    sleep_ms(5);
  }
  for (int i = 0; i < kPhaseCount; ++i) {
    EXPECT_EQ(totals.seconds[i], 0.0);
    EXPECT_EQ(totals.calls[i], 0);
  }
}

TEST(PhaseProfile, NamesMatchThePythonBaseline) {
  // bench/python_baseline.py and lib/bench/bench.ts (BENCH_PHASES) spell the phases the same way.
  const char* expected[kPhaseCount] = {"text encoding", "candidate UNet calls", "x0 calls", "VAE decode", "evaluator",
                                       "update forwards", "backward", "optimizer step", "other"};
  for (int i = 0; i < kPhaseCount; ++i) EXPECT_STREQ(phase_name(static_cast<Phase>(i)), expected[i]);
}

}  // namespace
}  // namespace spo::profile
