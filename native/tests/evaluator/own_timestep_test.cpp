// Clean-mode preference training and validation score each pair at its own
// timestep (rollout pairs are x0 predictions at t). Checked on the shipped
// step-aware evaluator, whose scores depend on t: labels are made from the
// scores at t = 951 by plain calls to score_images, chosen so that some pairs
// order the other way at t = 0; validation must then be exactly right, and the
// first training loss must equal the soft cross-entropy of the scores at 951.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "evaluator/preference_loss.h"
#include "evaluator/preference_training.h"

namespace spo::evaluator {
namespace {

TEST(OwnTimestep, CleanModeScoresEachPairAtItsTimestep) {
  const std::string assets = std::string(SPO_SOURCE_DIR) + "/assets/shapes-world";
  auto model = PreferenceModel::load(assets + "/evaluator-step-aware");
  auto pipe = pipeline::Pipeline::load(assets + "/base");
  const int64_t n = 48, t = 951;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto a = at::rand({n, 3, 32, 32}, gen) * 2 - 1, b = at::rand({n, 3, 32, 32}, gen) * 2 - 1;
  const std::vector<std::string> prompts(static_cast<size_t>(n), "a red circle above a blue square");
  auto at_t = [&](const at::Tensor& x, int64_t step) { return model->score_images(x, prompts, at::full({n}, step, at::kLong)); };
  auto a_t = at_t(a, t), b_t = at_t(b, t), a_0 = at_t(a, 0), b_0 = at_t(b, 0);
  auto labels = (a_t > b_t).to(at::kFloat);
  const int64_t flipped = ((a_0 > b_0).to(at::kFloat) != labels).sum().item<int64_t>();
  ASSERT_GT(flipped, 0) << "no pair orders differently at t = 0: the test could not tell the timesteps apart";

  std::vector<PreferencePair> pairs;
  for (int64_t i = 0; i < n; ++i) {
    PreferencePair p;
    p.prompt = prompts[static_cast<size_t>(i)];
    p.image_0 = a[i];
    p.image_1 = b[i];
    p.label_0 = labels[i].item<float>();
    p.timestep = t;
    pairs.push_back(p);
  }
  auto report = validate_preference_model(*model, *pipe, pairs, {0, 501}, 5.0, 1, 0, {}, true);
  EXPECT_EQ(report.accuracy, (std::vector<double>{1.0, 1.0}));
  EXPECT_EQ(report.pairs, n);

  PreferenceTrainingOptions o;
  o.steps = 1;
  o.batch_size = n;
  o.warmup_steps = 0;
  o.learning_rate = 1e-6;
  o.clean = true;
  o.validation_timesteps = {0};
  auto r = train_preference_model(*model, *pipe, pairs, pairs, o);
  ASSERT_EQ(r.losses.size(), 1u);
  const double expected = preference_loss(a_t, b_t, labels, at::full({n}, double(n))).item<double>();
  const double at_zero = preference_loss(a_0, b_0, labels, at::full({n}, double(n))).item<double>();
  EXPECT_NEAR(r.losses[0], expected, 1e-5);
  EXPECT_GT(std::abs(at_zero - expected), 1e-3);
}

TEST(OwnTimestep, APairTimestepOutsideTheScheduleIsRefused) {
  PreferencePair p;
  p.prompt = "a red circle";
  p.image_0 = p.image_1 = at::zeros({3, 8, 8});
  p.timestep = 1000;
  EXPECT_THROW(check_pairs({p}, "pairs"), InvalidArgument);
}

}  // namespace
}  // namespace spo::evaluator
