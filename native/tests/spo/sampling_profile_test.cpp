// The bench's phase profile on a real sampling round: recording changes no
// number of the round, and each phase is entered as often as the round's
// structure says (one prompt encoding; UNet calls, decodes and scorer calls
// per step).
#include <gtest/gtest.h>

#include "evaluator/preference_model.h"
#include "runtime/phase_profile.h"
#include "spo/sampling_round.h"

namespace spo::trainer {
namespace {

std::string fixture(const std::string& area, const std::string& name) {
  return std::string(SPO_FIXTURE_ROOT) + "/" + area + "/" + name;
}

TEST(SamplingProfile, RecordingChangesNothingAndCountsEachPhase) {
  auto pipe = pipeline::Pipeline::load(fixture("pipeline", "sd15"));
  evaluator::PreferenceModelOptions o;
  o.time_conditioning = models::TimeConditioning::StepAware;
  auto judge = evaluator::PreferenceModel::load(fixture("evaluator", "step_aware"), o);
  SpoSettings s;
  s.steps = 4;
  s.divert_start_step = 1;
  s.k = 3;
  s.threshold = 0.0;
  const std::vector<std::string> prompts = {"a red circle", "a blue square"};

  const auto plain = run_sampling_round(*pipe, *judge, prompts, s, 11);
  profile::PhaseTotals totals;
  const auto recorded = [&] {
    profile::PhaseRecording recording(totals);
    return run_sampling_round(*pipe, *judge, prompts, s, 11);
  }();

  ASSERT_EQ(recorded.pairs.size(), plain.pairs.size());
  ASSERT_FALSE(plain.pairs.empty());
  for (size_t i = 0; i < plain.pairs.size(); ++i) {
    EXPECT_TRUE(at::equal(recorded.pairs[i].x_t_w, plain.pairs[i].x_t_w));
    EXPECT_TRUE(at::equal(recorded.pairs[i].x_w, plain.pairs[i].x_w));
    EXPECT_TRUE(at::equal(recorded.pairs[i].x_l, plain.pairs[i].x_l));
    EXPECT_EQ(recorded.pairs[i].margin, plain.pairs[i].margin);
  }
  EXPECT_EQ(recorded.stats.model_evaluations, plain.stats.model_evaluations);

  auto calls = [&](profile::Phase p) { return totals.calls[static_cast<int>(p)]; };
  auto seconds = [&](profile::Phase p) { return totals.seconds[static_cast<int>(p)]; };
  // 4 steps, divert 1: one plain step and the eps at the branch (2 trajectory calls), then 3 branch
  // steps, each decoded and scored; x0 calls on all but the last (clean latents need none).
  EXPECT_EQ(calls(profile::Phase::TextEncoding), 1);
  EXPECT_EQ(calls(profile::Phase::CandidateUnet), 2);
  EXPECT_EQ(calls(profile::Phase::X0Unet), 2);
  EXPECT_EQ(calls(profile::Phase::VaeDecode), 3);
  EXPECT_EQ(calls(profile::Phase::Evaluator), 3);
  EXPECT_EQ(calls(profile::Phase::UpdateForwards), 0);
  for (auto p : {profile::Phase::TextEncoding, profile::Phase::CandidateUnet, profile::Phase::X0Unet,
                 profile::Phase::VaeDecode, profile::Phase::Evaluator})
    EXPECT_GT(seconds(p), 0.0) << profile::phase_name(p);
}

}  // namespace
}  // namespace spo::trainer
