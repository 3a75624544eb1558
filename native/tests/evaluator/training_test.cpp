// Preference-model training: the loss against hand-computed values, the pairs
// file format, the learning-rate schedule, checkpoint directories, and a short
// run on the tiny pipeline whose abort-and-resume repeats the uninterrupted run.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "evaluator/pairs_file.h"
#include "evaluator/preference_loss.h"
#include "evaluator/preference_training.h"
#include "evaluator_test_util.h"
#include "runtime/errors.h"
#include "training/checkpoint_dir.h"

namespace spo::evaluator {
namespace {

namespace fs = std::filesystem;
using testing::fixtures;
using testing::pipeline_fixtures;

TEST(PreferenceLoss, MatchesAHandComputedCase) {
  // Pair 0: image 0 preferred, scores (2, 0); pair 1: tie, scores (1, 1); pair 2: image 1 preferred, (0, 1).
  // Prompt counts 1, 1, 2 -> weights 1, 1, 0.5, normalised by 2.5.
  auto s0 = at::tensor({2.0f, 1.0f, 0.0f}), s1 = at::tensor({0.0f, 1.0f, 1.0f});
  auto loss = preference_loss(s0, s1, at::tensor({1.0f, 0.5f, 0.0f}), at::tensor({1.0f, 1.0f, 2.0f}));
  const double l0 = std::log1p(std::exp(-2.0));              // -log softmax(2, 0)[0]
  const double l1 = -(0.5 * std::log(0.5) * 2) + std::log(0.5);  // tie: log 2 - log 2 = 0
  const double l2 = std::log1p(std::exp(-1.0));              // -log softmax(0, 1)[1]
  const double expected = (l0 * 1 + l1 * 1 + l2 * 0.5) / 2.5;
  EXPECT_NEAR(loss.item<double>(), expected, 1e-6);
  // A tie costs exactly 0 when predicted as a tie, and more otherwise.
  EXPECT_NEAR(preference_loss(at::tensor({3.0f}), at::tensor({3.0f}), at::tensor({0.5f}), at::tensor({1.0f}))
                  .item<double>(), 0.0, 1e-7);
  EXPECT_GT(preference_loss(at::tensor({3.0f}), at::tensor({0.0f}), at::tensor({0.5f}), at::tensor({1.0f}))
                .item<double>(), 0.1);
}

TEST(PreferenceLoss, GradientMatchesAutogradOfThePlainFormula) {
  auto s0 = at::tensor({0.3f, -1.2f, 2.0f}).requires_grad_(), s1 = at::tensor({0.1f, 0.4f, 2.5f}).requires_grad_();
  auto labels = at::tensor({1.0f, 0.0f, 0.5f}), counts = at::tensor({2.0f, 1.0f, 2.0f});
  preference_loss(s0, s1, labels, counts).backward();
  // d/ds0 of w * -(l0 log p0 + l1 log p1) = w * (p0 - l0)
  auto p0 = at::sigmoid(s0.detach() - s1.detach());
  auto w = (1.0 / counts) / (1.0 / counts).sum();
  EXPECT_LT((s0.grad() - w * (p0 - labels)).abs().max().item<double>(), 1e-6);
  EXPECT_LT((s1.grad() + w * (p0 - labels)).abs().max().item<double>(), 1e-6);
}

TEST(PairsFile, ParsesLabelsAndResolvesPaths) {
  const std::string text =
      "{\"prompt\": \"a red circle\", \"image_0\": \"a.png\", \"image_1\": \"/abs/b.png\", \"label\": 0}\n"
      "\n"
      "{\"prompt\": \"x\", \"image_0\": \"sub/c.png\", \"image_1\": \"d.png\", \"label\": 1}\r\n"
      "{\"prompt\": \"y\", \"image_0\": \"e.png\", \"image_1\": \"f.png\", \"label\": \"tie\"}";
  auto pairs = parse_pairs_jsonl(text, "/data", "pairs.jsonl");
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[0].image_0, "/data/a.png");
  EXPECT_EQ(pairs[0].image_1, "/abs/b.png");
  EXPECT_EQ(pairs[0].label_0, 1.0);
  EXPECT_EQ(pairs[1].label_0, 0.0);
  EXPECT_EQ(pairs[1].line, 3);
  EXPECT_EQ(pairs[2].label_0, 0.5);
}

TEST(PairsFile, ErrorsNameTheLine) {
  auto message = [](const std::string& text) {
    try {
      parse_pairs_jsonl(text, "", "p.jsonl");
    } catch (const InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string good = "{\"prompt\": \"a\", \"image_0\": \"a\", \"image_1\": \"b\", \"label\": 0}\n";
  EXPECT_NE(message(good + "{not json\n").find("p.jsonl line 2: not valid JSON"), std::string::npos);
  EXPECT_NE(message(good + good + "[1,2]\n").find("line 3: expected a JSON object"), std::string::npos);
  EXPECT_NE(message("{\"image_0\": \"a\", \"image_1\": \"b\", \"label\": 0}").find("line 1: field 'prompt' is missing"),
            std::string::npos);
  EXPECT_NE(message("{\"prompt\": 3, \"image_0\": \"a\", \"image_1\": \"b\", \"label\": 0}").find("must be a string"),
            std::string::npos);
  EXPECT_NE(message("{\"prompt\": \"a\", \"image_0\": \"a\", \"image_1\": \"b\", \"label\": 2}").find("field 'label'"),
            std::string::npos);
  EXPECT_NE(message("{\"prompt\": \"a\", \"image_0\": \"\", \"image_1\": \"b\", \"label\": 0}").find("empty path"),
            std::string::npos);
  EXPECT_NE(message("\n\n").find("holds no pairs"), std::string::npos);
  EXPECT_THROW(read_pairs_file("/nonexistent/pairs.jsonl"), Error);
}

TEST(LearningRate, WarmsUpThenDecaysLinearly) {
  EXPECT_DOUBLE_EQ(warmup_linear_lr(1.0, 0, 4, 10), 0.25);
  EXPECT_DOUBLE_EQ(warmup_linear_lr(1.0, 3, 4, 10), 1.0);
  EXPECT_DOUBLE_EQ(warmup_linear_lr(1.0, 4, 4, 10), 1.0);
  EXPECT_DOUBLE_EQ(warmup_linear_lr(1.0, 7, 4, 10), 0.5);
  EXPECT_DOUBLE_EQ(warmup_linear_lr(1.0, 10, 4, 10), 0.0);
  EXPECT_DOUBLE_EQ(warmup_linear_lr(2.0, 5, 0, 10), 1.0);
}

TEST(CheckpointDir, CommitsAtomicallyAndPrunes) {
  const std::string root = ::testing::TempDir() + "/spo_ckpt_dir";
  fs::remove_all(root);
  training::CheckpointDir dir(root, 2);
  EXPECT_FALSE(dir.latest().has_value());
  for (int64_t step : {10, 20, 30}) {
    std::ofstream(dir.begin(step) + "/data") << step;
    dir.commit(step);
  }
  // A begun but uncommitted checkpoint (a crash mid-write) is not `latest`.
  std::ofstream(dir.begin(40) + "/data") << "partial";
  auto latest = dir.latest();
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->first, 30);
  EXPECT_FALSE(fs::exists(root + "/step-000000010"));
  EXPECT_TRUE(fs::exists(root + "/step-000000020"));
  std::ofstream(root + "/latest") << "step-../../etc\n";
  EXPECT_THROW(dir.latest(), InvalidArgument);
}

// Pairs with a learnable rule on the tiny pipeline's image size: the
// preferred image is the brighter one.
std::vector<PreferencePair> brightness_pairs(int64_t n, int64_t size, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<PreferencePair> pairs;
  for (int64_t i = 0; i < n; ++i) {
    auto a = at::rand({3, size, size}, gen) * 0.4 - 0.8, b = at::rand({3, size, size}, gen) * 0.4 + 0.2;
    const bool flip = i % 2;
    pairs.push_back({i % 3 ? "a bright image" : "a photo", flip ? a : b, flip ? b : a, flip ? 0.0 : 1.0});
  }
  pairs.push_back({"a photo", pairs[0].image_0, pairs[0].image_0, 0.5});  // a tie
  return pairs;
}

TEST(PreferenceTraining, AbortAndResumeRepeatsTheUninterruptedRun) {
  auto pipe = pipeline::Pipeline::load(pipeline_fixtures() + "/sd15");
  const int64_t size = pipe->default_size();
  auto train = brightness_pairs(6, size, 1), validation = brightness_pairs(4, size, 2);
  PreferenceTrainingOptions o;
  o.steps = 4;
  o.batch_size = 3;
  o.learning_rate = 1e-3;
  o.warmup_steps = 2;
  o.validation_timesteps = {0, 951};
  PreferenceModelOptions mo;
  mo.time_conditioning = models::TimeConditioning::StepAware;

  const std::string root_a = ::testing::TempDir() + "/spo_pm_train_a", root_b = ::testing::TempDir() + "/spo_pm_train_b";
  fs::remove_all(root_a);
  fs::remove_all(root_b);
  auto model_a = PreferenceModel::load(fixtures() + "/plain", mo);
  o.checkpoint_dir = root_a;
  auto full = train_preference_model(*model_a, *pipe, train, validation, o);
  ASSERT_EQ(full.losses.size(), 4u);
  for (double l : full.losses) EXPECT_TRUE(std::isfinite(l));
  ASSERT_EQ(full.validations.size(), 1u);
  EXPECT_EQ(full.validations[0].pairs, 4);
  EXPECT_EQ(full.checkpoints.size(), 1u);

  // Abort after the second step (the progress sink raises the flag), then resume.
  auto model_b = PreferenceModel::load(fixtures() + "/plain", mo);
  o.checkpoint_dir = root_b;
  auto flag = std::make_shared<std::atomic<bool>>(false);
  JobContext ctx(flag, [&](const ProgressEvent& ev) {
    if (ev.stage == "train" && ev.step == 2) flag->store(true);
  });
  EXPECT_THROW(train_preference_model(*model_b, *pipe, train, validation, o, ctx), Cancelled);
  ASSERT_TRUE(training::CheckpointDir(root_b).latest().has_value());
  EXPECT_EQ(training::CheckpointDir(root_b).latest()->first, 2);
  auto model_c = PreferenceModel::load(fixtures() + "/plain", mo);
  auto resumed = train_preference_model(*model_c, *pipe, train, validation, o);
  EXPECT_EQ(resumed.start_step, 2);
  ASSERT_EQ(resumed.losses.size(), 2u);
  EXPECT_EQ(resumed.losses[0], full.losses[2]);
  EXPECT_EQ(resumed.losses[1], full.losses[3]);
  for (const auto& [a, c] : std::vector<std::pair<at::Tensor, at::Tensor>>{
           {model_a->model()->logit_scale, model_c->model()->logit_scale},
           {model_a->model()->vision_model->adaLN_modulation->linear()->weight,
            model_c->model()->vision_model->adaLN_modulation->linear()->weight}})
    EXPECT_TRUE(at::equal(a, c));

  // A different run refuses the checkpoint directory.
  o.seed = 7;
  auto model_d = PreferenceModel::load(fixtures() + "/plain", mo);
  EXPECT_THROW(train_preference_model(*model_d, *pipe, train, validation, o), InvalidArgument);
}

TEST(PreferenceTraining, RefusesBadPairSets) {
  auto pipe = pipeline::Pipeline::load(pipeline_fixtures() + "/sd15");
  auto model = PreferenceModel::load(fixtures() + "/plain");
  PreferenceTrainingOptions o;
  o.steps = 1;
  auto pairs = brightness_pairs(2, 16, 3);
  pairs[1].image_1 = at::zeros({3, 8, 16});
  EXPECT_THROW(train_preference_model(*model, *pipe, pairs, {}, o), InvalidArgument);
  EXPECT_THROW(train_preference_model(*model, *pipe, {}, {}, o), InvalidArgument);
  pairs = brightness_pairs(2, 16, 3);
  pairs[0].label_0 = 0.3;
  EXPECT_THROW(train_preference_model(*model, *pipe, pairs, {}, o), InvalidArgument);
  o.batch_size = 0;
  EXPECT_THROW(train_preference_model(*model, *pipe, brightness_pairs(2, 16, 3), {}, o), InvalidArgument);
}

}  // namespace
}  // namespace spo::evaluator

namespace spo::evaluator {
namespace {

// The learning check: a learnable rule (the brighter image wins) on
// held-out pairs is learnt well above chance at low noise, and the report
// shows accuracy falling as t grows (x0_hat carries less of the image).
TEST(PreferenceTraining, LearnsALearnableRuleAtLowNoise) {
  auto pipe = pipeline::Pipeline::load(pipeline_fixtures() + "/sd15");
  const int64_t size = pipe->default_size();
  auto train = brightness_pairs(32, size, 11), validation = brightness_pairs(24, size, 12);
  PreferenceTrainingOptions o;
  o.steps = std::getenv("SPO_LEARN_STEPS") ? std::atoi(std::getenv("SPO_LEARN_STEPS")) : 60;
  o.batch_size = 8;
  o.learning_rate = 1e-3;
  o.warmup_steps = 3;
  o.weight_decay = 0.0;
  o.validation_timesteps = {0, 251, 501, 701, 951};
  PreferenceModelOptions mo;
  mo.time_conditioning = models::TimeConditioning::StepAware;
  auto model = PreferenceModel::load(fixtures() + "/plain", mo);
  auto before = validate_preference_model(*model, *pipe, validation, o.validation_timesteps, 5.0, 42, 0);
  auto result = train_preference_model(*model, *pipe, train, validation, o);
  const auto& after = result.validations.back();
  for (size_t i = 0; i < after.timesteps.size(); ++i)
    std::printf("t=%lld accuracy before %.3f after %.3f\n", static_cast<long long>(after.timesteps[i]),
                before.accuracy[i], after.accuracy[i]);
  std::printf("loss first %.4f last %.4f\n", result.losses.front(), result.losses.back());
  EXPECT_GE(after.accuracy[0], 0.85);
  EXPECT_GT(after.accuracy[0], before.accuracy[0] + 0.25);
  // x0_hat at t = 951 carries less of the image (one held-out pair of slack: 1/24).
  EXPECT_GE(after.accuracy[0] + 0.05, after.accuracy.back());
}

}  // namespace
}  // namespace spo::evaluator

#include "evaluator/pair_rule.h"

namespace spo::evaluator {
namespace {

TEST(PairRule, BestAgainstWorstWithTheSoftmaxThreshold) {
  // Scores ~100 x cos: a gap of 1 gives softmax difference tanh(0.5) = 0.4621.
  auto c = choose_pair({20.0, 21.0, 20.5, 20.2}, 0.3);
  EXPECT_EQ(c.winner, 1);
  EXPECT_EQ(c.loser, 0);
  EXPECT_NEAR(c.margin, std::exp(21.0) / (std::exp(21.0) + std::exp(20.0)) - std::exp(20.0) / (std::exp(21.0) + std::exp(20.0)), 1e-12);
  EXPECT_TRUE(c.kept);
  EXPECT_FALSE(choose_pair({20.0, 21.0}, 0.47).kept);  // a tie at SDXL-like strictness
  EXPECT_FALSE(choose_pair({5.0, 5.0, 5.0}, 0.0).kept);  // equal scores never make a pair
  auto eq = choose_pair({5.0, 5.0, 5.0}, 0.0);
  EXPECT_NE(eq.winner, eq.loser);
  EXPECT_TRUE(choose_pair({0.0, 1e6}, 0.99).kept);  // no overflow
  EXPECT_THROW(choose_pair({1.0}, 0.3), InvalidArgument);
  EXPECT_THROW(choose_pair({1.0, NAN}, 0.3), InvalidArgument);
  EXPECT_THROW(choose_pair({1.0, 2.0}, 1.5), InvalidArgument);
}

}  // namespace
}  // namespace spo::evaluator
