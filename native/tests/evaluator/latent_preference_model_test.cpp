// The latent step-aware evaluator: its forward against a functional
// re-derivation from the weights (plain ATen ops, the sinusoid written out),
// the timestep and prompt reaching the score, gradients reaching every
// weight of the scoring network (none the frozen text tower), the folder
// round trip, refusals of bad input, and a short training run that learns a
// rule visible in the latents.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "evaluator/latent_preference_model.h"
#include "evaluator/latent_preference_training.h"
#include "evaluator/preference_model.h"
#include "evaluator_test_util.h"
#include "runtime/errors.h"

namespace spo::evaluator {
namespace {

namespace fs = std::filesystem;
using testing::fixtures;
using testing::pipeline_fixtures;

LatentNetConfig small_config() {
  LatentNetConfig c;
  c.width = 16;
  c.groups = 4;
  c.blocks = 4;
  c.blocks_per_level = 2;
  return c;
}

std::shared_ptr<LatentPreferenceModel> fresh(uint64_t seed = 3) {
  return LatentPreferenceModel::create(fixtures() + "/plain", small_config(), seed);
}

// Every modulation weight random (a fresh model's are 0), so t and the prompt reach the score.
void randomise_modulations(LatentPreferenceModel& m, uint64_t seed) {
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& p : m.net()->named_parameters(true))
    if (p.key().find("modulation") != std::string::npos)
      p.value().copy_(at::randn(p.value().sizes(), gen) * 0.3);
}

// The network written out with functional ATen ops from the named weights.
at::Tensor reference_scores(LatentPreferenceModel& m, const at::Tensor& x, const at::Tensor& t, const at::Tensor& text) {
  std::map<std::string, at::Tensor> w;
  for (const auto& p : m.net()->named_parameters(true)) w[p.key()] = p.value().detach();
  const auto& c = m.config();
  const int64_t half = c.time_frequency_dim / 2;
  auto freqs = at::exp(-std::log(10000.0) * at::arange(half, at::kFloat) / static_cast<double>(half));
  auto args = t.to(at::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
  auto sinus = at::cat({at::cos(args), at::sin(args)}, 1);
  auto temb = at::linear(at::silu(at::linear(sinus, w["t_embedder.mlp.0.weight"], w["t_embedder.mlp.0.bias"])),
                         w["t_embedder.mlp.2.weight"], w["t_embedder.mlp.2.bias"]);
  auto cond = temb + at::linear(text, w["text_in.weight"], w["text_in.bias"]);
  auto h = at::conv2d(x, w["stem.weight"], w["stem.bias"], 1, 1);
  for (int64_t i = 0; i < c.blocks; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    auto mod = at::linear(at::silu(cond), w[b + "modulation.1.weight"], w[b + "modulation.1.bias"]).chunk(2, 1);
    auto y = at::group_norm(h, c.groups, w[b + "norm1.weight"], w[b + "norm1.bias"], 1e-5);
    y = y * (1 + mod[1].view({-1, c.width, 1, 1})) + mod[0].view({-1, c.width, 1, 1});
    y = at::conv2d(at::silu(y), w[b + "conv1.weight"], w[b + "conv1.bias"], 1, 1);
    y = at::group_norm(y, c.groups, w[b + "norm2.weight"], w[b + "norm2.bias"], 1e-5);
    y = at::conv2d(at::silu(y), w[b + "conv2.weight"], w[b + "conv2.bias"], 1, 1);
    h = h + y;
    if ((i + 1) % c.blocks_per_level == 0 && i + 1 < c.blocks) h = at::avg_pool2d(h, 2, 2, 0, true);
  }
  auto pooled = at::silu(at::group_norm(h, c.groups, w["norm_out.weight"], w["norm_out.bias"], 1e-5)).mean({2, 3});
  return at::linear(pooled, w["head.weight"], w["head.bias"]).squeeze(-1);
}

TEST(LatentPreferenceModel, ForwardMatchesTheFunctionalReference) {
  auto m = fresh();
  randomise_modulations(*m, 5);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto x = at::randn({3, 4, 8, 8}, gen);
  auto t = at::tensor({0, 480, 999}, at::kLong);
  const std::vector<std::string> prompts{"a photo", "a red circle", "a photo"};
  at::NoGradGuard no_grad;
  auto text = m->text_features(prompts);
  ASSERT_EQ(text.sizes(), (std::vector<int64_t>{3, 24}));
  auto got = m->score(x, prompts, t);
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{3}));
  EXPECT_EQ(got.scalar_type(), at::kFloat);
  EXPECT_LT(testing::max_abs_diff(got, reference_scores(*m, x, t, text)), 1e-5);
  // The text tower is the pixel model's own: the same pooled, projected features.
  auto pixel = PreferenceModel::load(fixtures() + "/plain");
  auto ids = pixel->tokenize(prompts);
  EXPECT_LT(testing::max_abs_diff(text, pixel->model()->text_features(ids)), 1e-6);
  // Chunked scoring gives the same numbers.
  EXPECT_LT(testing::max_abs_diff(m->score(x, prompts, t, 2), got), 1e-6);
}

TEST(LatentPreferenceModel, TimestepAndPromptChangeTheScore) {
  auto m = fresh();
  auto x = at::randn({2, 4, 8, 8}, at::make_generator<at::CPUGeneratorImpl>(2));
  const std::vector<std::string> same{"a photo", "a photo"};
  // Fresh (adaLN-zero): neither t nor the prompt reaches the score yet.
  auto a0 = m->score(x, same, at::tensor({0, 0}, at::kLong));
  EXPECT_TRUE(at::equal(a0, m->score(x, same, at::tensor({900, 900}, at::kLong))));
  randomise_modulations(*m, 7);
  auto a = m->score(x, same, at::tensor({0, 0}, at::kLong));
  auto b = m->score(x, same, at::tensor({900, 900}, at::kLong));
  EXPECT_GT((a - b).abs().min().item<double>(), 1e-4);
  auto c = m->score(x, {"a red circle", "a red circle"}, at::tensor({0, 0}, at::kLong));
  EXPECT_GT((a - c).abs().min().item<double>(), 1e-4);
}

TEST(LatentPreferenceModel, GradientsReachEveryNetWeightAndNoTextWeight) {
  auto m = fresh();
  randomise_modulations(*m, 9);
  auto x = at::randn({4, 4, 8, 8}, at::make_generator<at::CPUGeneratorImpl>(3));
  auto t = at::tensor({10, 300, 600, 990}, at::kLong);
  auto text = m->text_features({"a photo", "a photo", "a red circle", "a red circle"});
  m->net()->zero_grad();
  m->score_latents(x, t, text).pow(2).sum().backward();
  for (const auto& p : m->net()->named_parameters(true)) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
  for (const auto& p : m->holder_->named_parameters(true))
    if (p.key().rfind("net.", 0) != 0) EXPECT_FALSE(p.value().grad().defined()) << p.key();
}

TEST(LatentPreferenceModel, SaveLoadRoundTripIsExact) {
  auto m = fresh(11);
  randomise_modulations(*m, 12);
  const std::string dir = ::testing::TempDir() + "/spo_latent_eval";
  fs::remove_all(dir);
  m->save(dir);
  EXPECT_TRUE(LatentPreferenceModel::is_latent_folder(dir));
  EXPECT_FALSE(LatentPreferenceModel::is_latent_folder(fixtures() + "/plain"));
  EXPECT_FALSE(LatentPreferenceModel::is_latent_folder(dir + "/absent"));
  auto back = LatentPreferenceModel::load(dir);
  EXPECT_EQ(back->config().to_json(), m->config().to_json());
  auto x = at::randn({3, 4, 8, 8}, at::make_generator<at::CPUGeneratorImpl>(4));
  auto t = at::tensor({5, 505, 905}, at::kLong);
  const std::vector<std::string> prompts{"a photo", "a red circle", "two blue squares"};
  EXPECT_TRUE(at::equal(back->score(x, prompts, t), m->score(x, prompts, t)));
  auto a = m->holder_->named_parameters(true), b = back->holder_->named_parameters(true);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& p : a) EXPECT_TRUE(at::equal(p.value(), b[p.key()])) << p.key();
  // A pixel folder is refused by kind, naming both kinds.
  try {
    LatentPreferenceModel::load(fixtures() + "/plain");
    FAIL() << "a pixel folder loaded as a latent evaluator";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("latent-step-aware"), std::string::npos) << e.what();
  }
}

TEST(LatentPreferenceModel, RefusesBadInput) {
  auto m = fresh();
  const std::vector<std::string> two{"a", "b"};
  auto t = at::tensor({1, 2}, at::kLong);
  EXPECT_THROW(m->score(at::randn({2, 3, 8, 8}), two, t), InvalidArgument);  // channels
  EXPECT_THROW(m->score(at::randn({2, 4, 8}), two, t), InvalidArgument);     // rank
  EXPECT_THROW(m->score(at::randn({2, 4, 8, 8}), {"a"}, t), InvalidArgument);
  EXPECT_THROW(m->score(at::randn({2, 4, 8, 8}), two, at::tensor({1, 1000}, at::kLong)), InvalidArgument);
  auto nan = at::randn({2, 4, 8, 8});
  nan[0][0][0][0] = NAN;
  EXPECT_THROW(m->score(nan, two, t), InvalidArgument);
  EXPECT_THROW(m->score_images(at::randn({2, 3, 8, 8}), two, t, 0), InvalidArgument);
  auto bad = small_config();
  bad.width = 18;  // not a multiple of 4 groups
  EXPECT_THROW(LatentPreferenceModel::create(fixtures() + "/plain", bad, 1), InvalidArgument);
}

// The preferred image is the brighter one: visible in the latents at low noise.
std::vector<PreferencePair> brightness_pairs(int64_t n, int64_t size, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<PreferencePair> pairs;
  for (int64_t i = 0; i < n; ++i) {
    auto dark = at::rand({3, size, size}, gen) * 0.4 - 0.8, bright = at::rand({3, size, size}, gen) * 0.4 + 0.2;
    const bool flip = i % 2;
    pairs.push_back({i % 3 ? "a bright image" : "a photo", flip ? dark : bright, flip ? bright : dark, flip ? 0.0 : 1.0});
  }
  return pairs;
}

TEST(LatentPreferenceTraining, LearnsARuleVisibleInTheLatents) {
  auto pipe = pipeline::Pipeline::load(pipeline_fixtures() + "/sd15");
  const int64_t size = pipe->default_size();
  auto train = brightness_pairs(16, size, 1), validation = brightness_pairs(12, size, 2);
  auto m = fresh(21);
  LatentTrainingOptions o;
  o.steps = 40;
  o.batch_size = 8;
  o.learning_rate = 3e-3;
  o.warmup_steps = 4;
  o.validation_timesteps = {0, 999};
  const auto before = validate_latent_preference_model(*m, *pipe, validation, {0}, o.seed, 0);
  auto r = train_latent_preference_model(*m, *pipe, train, validation, o);
  ASSERT_EQ(r.losses.size(), 40u);
  ASSERT_EQ(r.validations.size(), 1u);
  const auto& after = r.validations[0];
  EXPECT_EQ(after.pairs, 12);
  // log 2 is chance. t ~ U{0..999}: pairs drawn at high t are pure noise and stay near log 2,
  // so the mean loss falls only part of the way; the rule itself is learnt at t = 0.
  double tail = 0;
  for (size_t i = 35; i < 40; ++i) tail += r.losses[i] / 5;
  EXPECT_LT(tail, 0.85 * std::log(2.0)) << "first loss " << r.losses[0];
  EXPECT_GE(after.accuracy[0], 0.9) << "before " << before.accuracy[0];
  // Validation is deterministic: the same seed, the same figures.
  const auto again = validate_latent_preference_model(*m, *pipe, validation, {0, 999}, o.seed, 0);
  EXPECT_EQ(again.accuracy, after.accuracy);
  // Bad pairs are refused by the shared checks.
  auto broken = train;
  broken[1].label_0 = 0.3;
  EXPECT_THROW(train_latent_preference_model(*m, *pipe, broken, {}, o), InvalidArgument);
}

}  // namespace
}  // namespace spo::evaluator
