// RolloutScorer and continue_to_clean on the shipped shapes-world base model:
// a candidate continued to t = 0 must land where the pipeline's own
// deterministic sampler (generate, eta 0) lands from the same latent, and the
// scorer must score that final image, not the x0 prediction it was given.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "diffusion/ddim_scheduler.h"
#include "evaluator/rollout_scorer.h"
#include "runtime/errors.h"

namespace spo::evaluator {
namespace {

std::shared_ptr<pipeline::Pipeline> base() {
  return pipeline::Pipeline::load(std::string(SPO_SOURCE_DIR) + "/assets/shapes-world/base");
}

// Records what it was asked to score; the score is the mean pixel value.
class MeanScorer : public ImageScorer {
 public:
  at::Tensor score_images(const at::Tensor& images, const std::vector<std::string>&, const at::Tensor& timesteps,
                          int64_t) override {
    seen_timesteps = timesteps.clone();
    return images.to(at::kFloat).flatten(1).mean(1).contiguous();
  }
  at::Tensor seen_timesteps;
};

const std::vector<std::string> kPrompts = {"a red circle on the left", "a blue square above a small green triangle"};

TEST(Rollout, ContinuingFromXtMatchesTheDeterministicSampler) {
  auto pipe = base();
  const int64_t steps = 10;
  auto x_T = at::randn({2, 4, 16, 16}, at::make_generator<at::CPUGeneratorImpl>(5), at::kFloat);
  pipeline::GenerateRequest g;
  g.prompts = kPrompts;
  g.steps = steps;
  g.eta = 0.0;
  g.initial_latents = x_T;
  g.decode = false;
  auto reference = pipe->generate(g).latents;
  diffusion::DdimScheduler scheduler(pipe->scheduler_config());
  scheduler.set_timesteps(steps);
  auto clean = continue_to_clean(*pipe, x_T, kPrompts, scheduler.timesteps().front(), {steps, 5.0}, 0);
  EXPECT_LT((clean - reference).abs().max().item<double>(), 1e-5);
  // A different schedule (5 steps) lands elsewhere: the walk follows the options' steps.
  auto other = continue_to_clean(*pipe, x_T, kPrompts, scheduler.timesteps().front(), {5, 5.0}, 0);
  EXPECT_GT((other - reference).abs().max().item<double>(), 1e-2);
}

TEST(Rollout, ScoresTheFinalImageNotTheGivenPrediction) {
  auto pipe = base();
  diffusion::DdimScheduler scheduler(pipe->scheduler_config());
  scheduler.set_timesteps(10);
  const int64_t t = scheduler.timesteps()[6];  // a mid-schedule candidate
  auto x_t = at::randn({2, 4, 16, 16}, at::make_generator<at::CPUGeneratorImpl>(9), at::kFloat);
  auto given = at::zeros({2, 3, 32, 32});  // what the round would pass: the x0 prediction's image
  MeanScorer inner;
  RolloutScorer scorer(*pipe, inner, {10, 5.0});
  auto scores = scorer.score_candidates(given, x_t, kPrompts, at::full({2}, t, at::kLong), 0);
  auto expected = pipe->decode(continue_to_clean(*pipe, x_t, kPrompts, t, {10, 5.0}, 0)).flatten(1).mean(1);
  EXPECT_LT((scores - expected).abs().max().item<double>(), 1e-5);
  EXPECT_TRUE((inner.seen_timesteps == 0).all().item<bool>());  // final images are scored as clean
  // Clean candidates (t = 0, the round's last step) are their own final image.
  auto clean_scores = scorer.score_candidates(given, x_t, kPrompts, at::zeros({2}, at::kLong), 0);
  EXPECT_EQ(clean_scores.abs().max().item<double>(), 0.0);
  // Without latents a noisy candidate cannot be continued.
  EXPECT_THROW(scorer.score_images(given, kPrompts, at::full({2}, t, at::kLong), 0), InvalidArgument);
}

}  // namespace
}  // namespace spo::evaluator
