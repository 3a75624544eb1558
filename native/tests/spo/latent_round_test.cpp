// SPO's sampling round with the latent evaluator as its judge: no x0
// prediction and no VAE decode (their phases are never entered), the scorer
// sees the candidates' latents, and the round counts its UNet evaluations as
// the latent path makes them (the kept trajectory's guided output per branch).
#include <gtest/gtest.h>

#include "evaluator/latent_preference_model.h"
#include "runtime/phase_profile.h"
#include "spo/d3po_round.h"
#include "spo/sampling_round.h"

namespace spo::trainer {
namespace {

std::string fixture(const std::string& area, const std::string& name) {
  return std::string(SPO_FIXTURE_ROOT) + "/" + area + "/" + name;
}

std::shared_ptr<evaluator::LatentPreferenceModel> latent_judge() {
  evaluator::LatentNetConfig c;
  c.width = 16;
  c.groups = 4;
  c.blocks = 2;
  auto m = evaluator::LatentPreferenceModel::create(fixture("evaluator", "plain"), c, 3);
  at::NoGradGuard no_grad;
  // Non-zero modulations so the scores depend on t and the prompt as a trained model's do.
  for (auto& p : m->net()->named_parameters(true))
    if (p.key().find("modulation") != std::string::npos) p.value().normal_(0.0, 0.3);
  return m;
}

TEST(LatentRound, SkipsTheX0PredictionAndTheDecode) {
  auto pipe = pipeline::Pipeline::load(fixture("pipeline", "sd15"));
  auto judge = latent_judge();
  SpoSettings s;
  s.steps = 4;
  s.divert_start_step = 1;
  s.k = 3;
  s.threshold = 0.0;
  const std::vector<std::string> prompts = {"a red circle", "a blue square"};
  profile::PhaseTotals totals;
  const auto round = [&] {
    profile::PhaseRecording recording(totals);
    return run_sampling_round(*pipe, *judge, prompts, s, 11);
  }();
  auto calls = [&](profile::Phase p) { return totals.calls[static_cast<int>(p)]; };
  EXPECT_EQ(calls(profile::Phase::VaeDecode), 0);
  EXPECT_EQ(calls(profile::Phase::X0Unet), 0);
  EXPECT_EQ(calls(profile::Phase::Evaluator), 3);  // one per branch step
  // Trajectory calls: the plain step, the eps at the first branch, then the kept candidate's
  // guided output after each of the 2 non-final branch steps.
  EXPECT_EQ(calls(profile::Phase::CandidateUnet), 4);
  // Evaluations of one latent: 2 prompts x (1 plain + 1 at the branch + 2 kept) = 8; the
  // pixel path would add k = 3 x0 predictions per prompt at each of the 2 non-final branch steps.
  EXPECT_EQ(round.stats.model_evaluations, 8);
  EXPECT_EQ(round.stats.images_scored, 3 * 2 * 3);
  EXPECT_FALSE(round.pairs.empty());
  for (const auto& p : round.pairs) EXPECT_TRUE(at::isfinite(p.x_w).all().item<bool>());
}

TEST(LatentRound, ItsPairsFollowTheLatentScores) {
  // At the last step the candidates are clean latents scored at t = 0: the kept pair's
  // winner is the candidate the model scores highest, read back from the stored latents.
  auto pipe = pipeline::Pipeline::load(fixture("pipeline", "sd15"));
  auto judge = latent_judge();
  SpoSettings s;
  s.steps = 2;
  s.divert_start_step = 1;
  s.k = 4;
  s.threshold = 0.0;
  const auto round = run_sampling_round(*pipe, *judge, {"a red circle"}, s, 5);
  ASSERT_EQ(round.pairs.size(), 1u);
  const auto& p = round.pairs[0];
  auto scores = judge->score(at::stack({p.x_w, p.x_l}), {"a red circle", "a red circle"}, at::zeros({2}, at::kLong));
  EXPECT_GT(scores[0].item<double>(), scores[1].item<double>());
}

// D3PO's final images are judged through score_candidates with their clean latents (a latent
// scorer refuses images, so the round fails if it decodes and scores pixels).
TEST(LatentRound, D3poJudgesTheCleanLatents) {
  auto pipe = pipeline::Pipeline::load(fixture("pipeline", "sd15"));
  auto judge = latent_judge();
  SpoSettings s;
  s.steps = 3;
  s.divert_start_step = 0;
  s.threshold = 0.0;
  const auto round = run_d3po_round(*pipe, *judge, {"a red circle", "a blue square"}, s, 4);
  EXPECT_EQ(round.stats.images_scored, 4);
  EXPECT_EQ(round.stats.branch_steps, 1);
}

}  // namespace
}  // namespace spo::trainer
