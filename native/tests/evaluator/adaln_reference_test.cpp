// The step-aware preference model against an independent PyTorch adaLN CLIP
// (test/python/adaln_clip_reference.py, written from the SPO authors'
// time_conditioned_clip.py; fixtures by make_evaluator_adaln_fixtures.py) whose
// modulation weights are random and far from identity, loaded into both from one
// file: scores at several t, the preference loss and every gradient of one
// batch, and the weights after one clipped AdamW step of the trainer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "evaluator/clip_preprocess.h"
#include "evaluator/preference_loss.h"
#include "evaluator/preference_model.h"
#include "evaluator/preference_training.h"
#include "evaluator_test_util.h"

namespace spo::evaluator {
namespace {

using testing::max_abs_diff;
using testing::pipeline_fixtures;

std::string adaln_fixtures() { return std::string(SPO_FIXTURE_ROOT) + "/evaluator_adaln"; }

at::Tensor expected_ref(const std::string& name) {
  static auto file = io::SafeTensorsFile::open(adaln_fixtures() + "/reference.safetensors");
  return file->tensor(name).clone();
}

const io::Json& facts() {
  static io::Json j = io::read_json(adaln_fixtures() + "/reference.json");
  return j;
}

std::shared_ptr<PreferenceModel> load() { return PreferenceModel::load(adaln_fixtures() + "/step_aware"); }

// max |a - b| / max |b|: the error relative to the tensor's scale.
double relative(const at::Tensor& a, const at::Tensor& b) {
  const double scale = b.abs().max().item<double>();
  return max_abs_diff(a, b) / (scale > 0 ? scale : 1.0);
}

std::vector<std::string> pair_prompts() { return facts()["pair_prompts"].get<std::vector<std::string>>(); }

TEST(AdaLnReference, ScoresEqualTheIndependentModelAtEveryT) {
  auto m = load();
  ASSERT_EQ(m->time_conditioning(), models::TimeConditioning::StepAware);
  const auto prompts = facts()["prompts"].get<std::vector<std::string>>();
  EXPECT_TRUE(at::equal(m->tokenize(prompts), expected_ref("input_ids")));
  for (int64_t t : facts()["timesteps"].get<std::vector<int64_t>>()) {
    const auto expected = expected_ref("scores_t" + std::to_string(t));
    const auto got = m->score_images(expected_ref("images"), prompts, at::full({2}, t, at::kLong));
    std::printf("t=%lld scores max abs diff %.3g (rel %.3g)\n", static_cast<long long>(t), max_abs_diff(got, expected),
                relative(got, expected));
    EXPECT_LT(relative(got, expected), 1e-5) << "t=" << t << " engine " << got << " reference " << expected;
  }
  const auto got = m->score_images(expected_ref("images"), prompts, expected_ref("timesteps_mixed").to(at::kLong));
  std::printf("mixed t scores max abs diff %.3g (rel %.3g)\n", max_abs_diff(got, expected_ref("scores_mixed")),
              relative(got, expected_ref("scores_mixed")));
  EXPECT_LT(relative(got, expected_ref("scores_mixed")), 1e-5);
}

TEST(AdaLnReference, LossAndEveryGradientEqualTheIndependentModel) {
  auto m = load();
  auto& clip = m->model();
  for (auto& p : clip->parameters()) p.set_requires_grad(true);
  EXPECT_TRUE(at::equal(m->tokenize(pair_prompts()), expected_ref("pair_input_ids")));
  const auto t = expected_ref("pair_timesteps").to(at::kLong), ids = expected_ref("pair_input_ids");
  auto s0 = m->score_pixels(clip_preprocess(expected_ref("pair_images_0"), m->image_size()), ids, t);
  auto s1 = m->score_pixels(clip_preprocess(expected_ref("pair_images_1"), m->image_size()), ids, t);
  EXPECT_LT(relative(s0, expected_ref("pair_scores_0")), 1e-5);
  EXPECT_LT(relative(s1, expected_ref("pair_scores_1")), 1e-5);
  auto loss = preference_loss(s0, s1, expected_ref("pair_labels"), expected_ref("pair_counts"));
  const double expected_loss = expected_ref("step_loss").item<double>();
  std::printf("loss %.8f reference %.8f rel diff %.3g\n", loss.item<double>(), expected_loss,
              std::abs(loss.item<double>() / expected_loss - 1));
  EXPECT_NEAR(loss.item<double>(), expected_loss, 1e-5 * std::abs(expected_loss));
  loss.backward();
  // Each gradient's error relative to its own scale. The attention key biases'
  // gradients are 0 in exact arithmetic (a constant added to every key leaves the
  // softmax unchanged), float noise in both: they must stay below 1e-6 of the largest.
  double largest = 0;
  for (const auto& p : clip->named_parameters(true))
    largest = std::max(largest, expected_ref("grad." + p.key()).abs().max().item<double>());
  double worst = 0, norm2 = 0;
  std::string worst_name;
  int64_t compared = 0;
  for (const auto& p : clip->named_parameters(true)) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    const auto expected = expected_ref("grad." + p.key());
    if (p.key().find("k_proj.bias") != std::string::npos) {
      EXPECT_LT(expected.abs().max().item<double>(), 1e-6 * largest) << p.key();
      EXPECT_LT(p.value().grad().abs().max().item<double>(), 1e-6 * largest) << p.key();
      ++compared;
      continue;
    }
    const double r = relative(p.value().grad(), expected);
    EXPECT_LT(r, 1e-4) << p.key();
    if (r > worst) worst = r, worst_name = p.key();
    norm2 += p.value().grad().to(at::kDouble).pow(2).sum().item<double>();
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int64_t>(facts()["parameters"].size()));
  std::printf("%lld gradients: worst max|diff|/max|ref| %.3g (%s); norm %.6f reference %.6f\n",
              static_cast<long long>(compared), worst, worst_name.c_str(), std::sqrt(norm2),
              expected_ref("step_grad_norm").item<double>());
  EXPECT_NEAR(std::sqrt(norm2), expected_ref("step_grad_norm").item<double>(), 1e-5 * expected_ref("step_grad_norm").item<double>());
}

TEST(AdaLnReference, OneTrainerStepEqualsClippedAdamW) {
  auto pipe = pipeline::Pipeline::load(pipeline_fixtures() + "/sd15");  // unused by clean training
  auto m = load();
  const auto prompts = pair_prompts();
  const auto images_0 = expected_ref("pair_images_0"), images_1 = expected_ref("pair_images_1"), labels = expected_ref("pair_labels");
  const auto timesteps = expected_ref("pair_timesteps");
  std::vector<PreferencePair> pairs;
  for (int64_t i = 0; i < images_0.size(0); ++i)
    pairs.push_back({prompts[i], images_0[i], images_1[i], labels[i].item<double>(),
                     static_cast<int64_t>(timesteps[i].item<float>())});
  const auto& train = facts()["train"];
  PreferenceTrainingOptions o;
  o.steps = 1;
  o.batch_size = static_cast<int64_t>(pairs.size());
  o.learning_rate = train["learning_rate"].get<double>();
  o.weight_decay = train["weight_decay"].get<double>();
  o.beta1 = train["beta1"].get<double>();
  o.beta2 = train["beta2"].get<double>();
  o.adam_eps = train["adam_eps"].get<double>();
  o.max_grad_norm = train["max_grad_norm"].get<double>();
  o.warmup_steps = 0;
  o.clean = true;
  auto result = train_preference_model(*m, *pipe, pairs, {}, o);
  ASSERT_EQ(result.losses.size(), 1u);
  const double expected_loss = expected_ref("step_loss").item<double>();
  EXPECT_NEAR(result.losses[0], expected_loss, 2e-5 * std::abs(expected_loss));
  // Each weight moves by about lr (Adam's first step is ~lr * sign(g)), so the
  // difference to the reference is measured in units of lr.
  double worst = 0;
  std::string worst_name;
  int64_t total = 0;
  for (const auto& p : m->model()->named_parameters(true)) {
    const auto after = expected_ref("after." + p.key());
    const double d = max_abs_diff(p.value().detach(), after) / o.learning_rate;
    EXPECT_LT(d, 1e-2) << p.key();
    if (d > worst) worst = d, worst_name = p.key();
    ++total;
  }
  std::printf("loss %.8f reference %.8f; %lld weights after the step: worst max|diff| = %.3g lr (%s)\n",
              result.losses[0], expected_loss, static_cast<long long>(total), worst, worst_name.c_str());
  EXPECT_EQ(total, static_cast<int64_t>(facts()["parameters"].size()));
}

}  // namespace
}  // namespace spo::evaluator
