// The preference model against transformers' CLIPModel and an independent
// plain-torch composition of the adaLN layers (test/python/make_evaluator_fixtures.py),
// the authors' preprocessing, the initialisation property and the manifests.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <fstream>

#include "evaluator/clip_preprocess.h"
#include "evaluator/preference_model.h"
#include "evaluator_test_util.h"
#include "models/clip_model_loading.h"
#include "io/module_weights.h"
#include "models/layers.h"
#include "runtime/errors.h"

namespace spo::evaluator {
namespace {

using testing::fixtures;
using testing::max_abs_diff;
using testing::reference;
using testing::reference_json;

std::vector<std::string> prompts() { return reference_json()["prompts"].get<std::vector<std::string>>(); }

std::shared_ptr<PreferenceModel> load(const std::string& name, std::optional<models::TimeConditioning> mode = {}) {
  PreferenceModelOptions o;
  o.time_conditioning = mode;
  return PreferenceModel::load(fixtures() + "/" + name, o);
}

at::Tensor scores_at(PreferenceModel& m, int64_t t) {
  at::NoGradGuard g;
  return m.score_pixels(reference("pixels_landscape"), reference("input_ids"), at::full({2}, t, at::kLong)).cpu();
}

TEST(ClipPreprocess, MatchesTheAuthorsPreprocessing) {
  for (const char* name : {"landscape", "portrait", "square"}) {
    auto out = clip_preprocess(reference(std::string("images_") + name), 32);
    EXPECT_LT(max_abs_diff(out, reference(std::string("pixels_") + name)), 1e-5) << name;
    const auto& facts = reference_json()["images"][name];
    const auto shape = facts["input_size"].get<std::vector<int64_t>>();
    const auto plan = resize_plan(shape[0], shape[1], 32);
    EXPECT_EQ(plan.height, facts["resized_size"][0].get<int64_t>()) << name;
    EXPECT_EQ(plan.width, facts["resized_size"][1].get<int64_t>()) << name;
    if (facts["cropped"].get<bool>()) {
      EXPECT_EQ(plan.crop_top, facts["crop_top"].get<int64_t>()) << name;
      EXPECT_EQ(plan.crop_left, facts["crop_left"].get<int64_t>()) << name;
    }
  }
}

TEST(ClipPreprocess, CropRoundsHalvesToEvenAsPython) {
  // 13 / 2 = 6.5 -> 6, 15 / 2 = 7.5 -> 8 (Python's round), not 7 and 8 (std::round).
  EXPECT_EQ(resize_plan(32, 45, 32).crop_left, 6);
  EXPECT_EQ(resize_plan(32, 47, 32).crop_left, 8);
  EXPECT_THROW(clip_preprocess(at::zeros({1, 4, 8, 8}), 32), InvalidArgument);
  EXPECT_THROW(clip_preprocess(at::zeros({1, 3, 8, 8}, at::kLong), 32), InvalidArgument);
}

TEST(PreferenceModel, PlainMatchesTransformersClipModel) {
  auto m = load("plain");
  EXPECT_EQ(m->time_conditioning(), models::TimeConditioning::Plain);
  auto ids = m->tokenize(prompts());
  EXPECT_TRUE(at::equal(ids, reference("input_ids")));
  at::NoGradGuard g;
  EXPECT_LT(max_abs_diff(m->model()->text_features(ids), reference("plain_text_embeds")), 1e-4);
  EXPECT_LT(max_abs_diff(m->model()->image_features(reference("pixels_landscape"), {}), reference("plain_image_embeds")),
            1e-4);
  EXPECT_LT(max_abs_diff(scores_at(*m, 0), reference("plain_scores")), 1e-4);
  // From raw images: preprocessing + scoring in one call.
  auto from_images = m->score_images(reference("images_landscape"), prompts(), at::zeros({2}, at::kLong));
  EXPECT_LT(max_abs_diff(from_images, reference("plain_scores")), 1e-4);
}

TEST(PreferenceModel, StepAwareMatchesAnIndependentComposition) {
  for (const char* dir : {"step_aware", "step_aware_prefixed"}) {
    auto m = load(dir);
    EXPECT_EQ(m->time_conditioning(), models::TimeConditioning::StepAware) << dir;
    for (int64_t t : reference_json()["timesteps"].get<std::vector<int64_t>>()) {
      EXPECT_LT(max_abs_diff(scores_at(*m, t), reference("step_aware_scores_t" + std::to_string(t))), 1e-4)
          << dir << " t=" << t;
      at::NoGradGuard g;
      auto temb = m->model()->t_embedder(at::full({1}, t, at::kLong));
      EXPECT_LT(max_abs_diff(temb, reference("temb_t" + std::to_string(t))), 1e-5) << dir << " t=" << t;
    }
    at::NoGradGuard g;
    auto mixed = m->score_pixels(reference("pixels_landscape"), reference("input_ids"),
                                 reference("timesteps_mixed").to(at::kLong));
    EXPECT_LT(max_abs_diff(mixed, reference("step_aware_scores_mixed")), 1e-4) << dir;
  }
}

TEST(PreferenceModel, UntrainedStepAwareEqualsPlainClipAtEveryT) {
  auto plain = load("plain");
  auto fresh = load("plain", models::TimeConditioning::StepAware);
  EXPECT_EQ(fresh->time_conditioning(), models::TimeConditioning::StepAware);
  const auto plain_scores = scores_at(*plain, 0);
  const auto at_zero = scores_at(*fresh, 0);
  EXPECT_LT(max_abs_diff(at_zero, plain_scores), 2e-5);
  for (int64_t t : {1, 251, 501, 701, 951, 999}) {
    // The modulation is t-independent by construction (zero weights), so not one bit may move.
    EXPECT_TRUE(at::equal(scores_at(*fresh, t), at_zero)) << "t=" << t;
  }
  // Perturbing the adaLN weights makes the scores depend on t.
  {
    at::NoGradGuard g;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    for (auto& p : fresh->model()->named_parameters(true))
      if (p.key().find("adaLN_modulation") != std::string::npos)
        p.value().add_(at::randn(p.value().sizes(), gen) * 0.05);
  }
  EXPECT_GT(max_abs_diff(scores_at(*fresh, 951), scores_at(*fresh, 1)), 1e-3);
}

TEST(PreferenceModel, StepAgnosticIgnoresTheTimestep) {
  auto aware = load("step_aware");
  auto agnostic = load("step_aware", models::TimeConditioning::StepAgnostic);
  const auto at_zero = scores_at(*agnostic, 0);
  EXPECT_TRUE(at::equal(scores_at(*agnostic, 701), at_zero));
  EXPECT_LT(max_abs_diff(at_zero, scores_at(*aware, 0)), 1e-6);
  EXPECT_GT(max_abs_diff(scores_at(*aware, 701), at_zero), 1e-3);
}

TEST(PreferenceModel, SavedDirectoryLoadsBackTheSameModel) {
  auto m = load("plain", models::TimeConditioning::StepAgnostic);
  const std::string out = ::testing::TempDir() + "/spo_saved_evaluator";
  m->save(out);
  auto back = PreferenceModel::load(out);
  EXPECT_EQ(back->time_conditioning(), models::TimeConditioning::StepAgnostic);
  EXPECT_TRUE(at::equal(scores_at(*back, 300), scores_at(*m, 300)));
}

TEST(PreferenceModel, RefusesMismatchedDirectories) {
  // Step-aware weights cannot silently lose their adaLN layers.
  EXPECT_THROW(load("step_aware", models::TimeConditioning::Plain), InvalidArgument);
  // A config that claims time conditioning over plain weights is refused.
  const std::string dir = ::testing::TempDir() + "/spo_claims_step_aware";
  std::filesystem::create_directories(dir);
  std::filesystem::copy(fixtures() + "/plain", dir, std::filesystem::copy_options::overwrite_existing | std::filesystem::copy_options::recursive);
  auto config = io::read_json(dir + "/config.json");
  config["spo_time_conditioning"] = "step-aware";
  std::ofstream(dir + "/config.json") << config.dump();
  EXPECT_THROW(PreferenceModel::load(dir), InvalidArgument);
  config["spo_time_conditioning"] = "sometimes";
  std::ofstream(dir + "/config.json") << config.dump();
  EXPECT_THROW(PreferenceModel::load(dir), InvalidArgument);
  // Wrong image sizes and mismatched counts are typed errors.
  auto m = load("step_aware");
  EXPECT_THROW(m->score_pixels(at::zeros({2, 3, 16, 16}), reference("input_ids"), at::zeros({2}, at::kLong)),
               InvalidArgument);
  EXPECT_THROW(m->score_images(reference("images_square"), {"one prompt"}, at::zeros({2}, at::kLong)),
               InvalidArgument);
  EXPECT_THROW(m->score_images(reference("images_square"), prompts(), at::full({2}, 1000, at::kLong)),
               InvalidArgument);
  auto nan_images = reference("images_square");
  nan_images[0][0][0][0] = NAN;
  EXPECT_THROW(m->score_images(nan_images, prompts(), at::zeros({2}, at::kLong)), InvalidArgument);
}

// The PickScore manifest (CLIP ViT-H/14): the plain model has exactly its
// keys and shapes; the step-aware model adds exactly the adaLN keys.
TEST(PreferenceModel, KeysAndShapesEqualThePickScoreManifest) {
  const std::string dir = SPO_MANIFEST_DIR;
  auto config = models::ClipModelConfig::from_json(io::read_json(dir + "/pickscore_clip_h14.config.json"));
  auto manifest = io::read_json(dir + "/pickscore_clip_h14.json");
  io::ShapeList expected;
  for (auto& [k, v] : manifest.items()) expected.emplace_back(k, v.get<std::vector<int64_t>>());
  const auto meta = at::TensorOptions().device(at::kMeta);
  models::ClipModel plain(config, meta);
  EXPECT_EQ(io::describe_differences(models::state_shapes(*plain), expected), "");

  config.time_conditioning = models::TimeConditioning::StepAware;
  models::ClipModel aware(config, meta);
  const int64_t d = 1280;
  for (int64_t i = 0; i < 32; ++i) {
    const std::string p = "vision_model.encoder.layers." + std::to_string(i) + ".adaLN_modulation.1.";
    expected.emplace_back(p + "weight", std::vector<int64_t>{6 * d, d});
    expected.emplace_back(p + "bias", std::vector<int64_t>{6 * d});
  }
  expected.emplace_back("vision_model.adaLN_modulation.1.weight", std::vector<int64_t>{2 * d, d});
  expected.emplace_back("vision_model.adaLN_modulation.1.bias", std::vector<int64_t>{2 * d});
  expected.emplace_back("t_embedder.mlp.0.weight", std::vector<int64_t>{d, 256});
  expected.emplace_back("t_embedder.mlp.0.bias", std::vector<int64_t>{d});
  expected.emplace_back("t_embedder.mlp.2.weight", std::vector<int64_t>{d, d});
  expected.emplace_back("t_embedder.mlp.2.bias", std::vector<int64_t>{d});
  EXPECT_EQ(io::describe_differences(models::state_shapes(*aware), expected), "");
}

}  // namespace
}  // namespace spo::evaluator
