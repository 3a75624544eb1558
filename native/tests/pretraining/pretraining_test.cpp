// The shapes world's tiny models: fresh weights (PyTorch's initialisation),
// the tokenizer files, the directories read by diffusers / transformers with
// the same outputs as the engine, the shared optimisation loop, and a whole
// (very short) pretraining run that resumes by skipping finished stages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "evaluator/preference_model.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "models/autoencoder_kl_loading.h"
#include "models/clip_text_loading.h"
#include "models/layers.h"
#include "models/unet_loading.h"
#include "models/weight_init.h"
#include "pipeline/pipeline.h"
#include "pretraining/diffusion_pretraining.h"
#include "pretraining/stage_loop.h"
#include "pretraining/world_configs.h"
#include "pretraining/world_pretraining.h"
#include "pretraining/world_tokenizer.h"
#include "runtime/errors.h"
#include "text/clip_tokenizer.h"

namespace spo::pretraining {
namespace {
namespace fs = std::filesystem;

std::string temp_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("spo_pretraining_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// Every stage at a scale tests can afford: a few steps, tiny batches, 2 sampling steps.
void make_tiny(WorldPretrainingOptions& o) {
  o.scale = 0.002;
  o.vae_batch = o.diffusion_batch = 4;
  o.clip_batch = 8;
  o.evaluator_batch = 2;
  o.sampling_steps = 2;
}

TEST(WeightInit, FollowsPyTorchDefaultsAndIsSeeded) {
  struct Net : torch::nn::Module {
    models::Linear linear{nullptr};
    models::GroupNorm norm{nullptr};
    models::Embedding embedding{nullptr};
    Net() {
      auto o = at::TensorOptions().dtype(at::kFloat);
      linear = register_module("linear", models::Linear(400, 300, true, o));
      norm = register_module("norm", models::GroupNorm(4, 16, 1e-5, true, o));
      embedding = register_module("embedding", models::Embedding(1000, 64, o));
    }
  };
  Net a, b, c;
  models::initialise_weights(a, 7);
  models::initialise_weights(b, 7);
  models::initialise_weights(c, 8);
  const double bound = 1.0 / std::sqrt(400.0);
  EXPECT_LE(a.linear->weight.abs().max().item<double>(), bound);
  // U(-b, b) has standard deviation b / sqrt(3).
  EXPECT_NEAR(a.linear->weight.std().item<double>(), bound / std::sqrt(3.0), 0.02 * bound);
  EXPECT_LE(a.linear->bias.abs().max().item<double>(), bound);
  EXPECT_TRUE(a.norm->weight.eq(1).all().item<bool>());
  EXPECT_TRUE(a.norm->bias.eq(0).all().item<bool>());
  EXPECT_NEAR(a.embedding->weight.std().item<double>(), 0.02, 0.001);
  EXPECT_TRUE(a.linear->weight.equal(b.linear->weight));
  EXPECT_FALSE(a.linear->weight.equal(c.linear->weight));
}

TEST(WorldTokenizer, EveryGrammarWordIsShortAndAnyTextTokenizes) {
  const auto dir = temp_dir("tok");
  write_world_tokenizer(dir);
  auto tok = text::ClipTokenizer::from_directory(dir);
  const auto vocab = world_vocabulary();
  EXPECT_EQ(tok.vocab_size(), static_cast<int64_t>(vocab.tokens.size()));
  EXPECT_EQ(tok.bos_id(), vocab.bos_id);
  EXPECT_EQ(tok.eos_id(), vocab.eos_id);
  int64_t single = 0;
  const auto words = world_words();
  ASSERT_GE(words.size(), 20u);
  for (const auto& w : words) {
    const auto ids = tok.encode(w);
    ASSERT_FALSE(ids.empty()) << w;
    // A word is never longer in tokens than in bytes, and the merges make most words one token.
    EXPECT_LE(ids.size(), w.size()) << w;
    single += ids.size() == 1;
  }
  EXPECT_GE(static_cast<double>(single) / static_cast<double>(words.size()), 0.8);
  EXPECT_FALSE(tok.encode("zebra 42!").empty());
  fs::remove_all(dir);
}

TEST(StageLoop, WarmupCosineScheduleByHand) {
  EXPECT_DOUBLE_EQ(warmup_cosine_lr(1.0, 0, 10, 110), 0.1);
  EXPECT_DOUBLE_EQ(warmup_cosine_lr(1.0, 9, 10, 110), 1.0);
  EXPECT_DOUBLE_EQ(warmup_cosine_lr(1.0, 10, 10, 110), 1.0);
  EXPECT_NEAR(warmup_cosine_lr(1.0, 60, 10, 110), 0.1 + 0.9 * 0.5, 1e-12);
  EXPECT_NEAR(warmup_cosine_lr(1.0, 110, 10, 110), 0.1, 1e-12);
}

TEST(StageLoop, MinimisesAQuadraticAndStopsOnNaN) {
  auto x = at::full({3}, 5.0).set_requires_grad(true);
  StageOptions o;
  o.steps = 300;
  o.learning_rate = 0.1;
  o.warmup_steps = 10;
  o.weight_decay = 0;
  o.max_grad_norm = 0;
  auto r = run_stage("q", {x}, o, [&](int64_t) { return (x - 2.0).pow(2).sum(); }, {});
  ASSERT_EQ(r.losses.size(), 300u);
  EXPECT_LT(r.losses.back(), 1e-3);
  EXPECT_GT(r.losses.front(), 20.0);
  auto y = at::zeros({1}).set_requires_grad(true);
  EXPECT_THROW(run_stage("nan", {y}, o, [&](int64_t) { return (y * NAN).sum(); }, {}), NumericFault);
}

// The engine-written directories, read by diffusers and transformers, give the
// engine's outputs (test/python/check_world_models.py writes the references).
TEST(WorldModels, DiffusersAndTransformersReadThemAlike) {
  const auto dir = temp_dir("models");
  write_initial_world_pipeline(dir + "/base", 3);
  write_initial_world_evaluator(dir + "/evaluator", 3);
  const std::string refs = dir + "/refs.safetensors";
  const std::string cmd = std::string(SPO_PYTHON) + " " + SPO_SOURCE_DIR + "/test/python/check_world_models.py " + dir +
                          "/base " + dir + "/evaluator " + refs;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto ref = io::SafeTensorsFile::open(refs);
  const auto cpu = at::TensorOptions().dtype(at::kFloat);

  auto tok = text::ClipTokenizer::from_directory(dir + "/base/tokenizer");
  const std::vector<std::string> prompts{"a red circle", "a small blue square on the left",
                                         "a green triangle above a large yellow diamond",
                                         "a purple diamond to the right of a cyan circle", "an unknown word"};
  auto ids = tok.encode_batch(prompts, 77);
  EXPECT_TRUE(ids.equal(ref->tensor("ids").to(at::kLong)));

  at::NoGradGuard no_grad;
  auto text = models::load_clip_text_model(dir + "/base/text_encoder", cpu);
  auto hidden = text->forward(ids).last_hidden_state;
  EXPECT_LT((hidden - ref->tensor("text_hidden")).abs().max().item<double>(), 1e-4);
  auto unet = models::load_unet(dir + "/base/unet", cpu);
  auto eps = unet->forward(ref->tensor("latents"), ref->tensor("t").to(at::kLong), ref->tensor("text_hidden"));
  EXPECT_LT((eps - ref->tensor("unet_eps")).abs().max().item<double>(), 1e-4);
  auto vae = models::load_autoencoder_kl(dir + "/base/vae", cpu);
  auto decoded = vae->decode_latents(ref->tensor("latents"));
  EXPECT_LT((decoded - ref->tensor("vae_decoded")).abs().max().item<double>(), 1e-4);
  auto model = evaluator::PreferenceModel::load(dir + "/evaluator");
  auto scores = model->score_pixels(ref->tensor("pixels"), model->tokenize(prompts), at::zeros({5}, at::kLong));
  EXPECT_LT((scores - ref->tensor("scores")).abs().max().item<double>(), 1e-4);

  // And the engine's own pipeline loads it.
  auto pipe = pipeline::Pipeline::load(dir + "/base");
  EXPECT_EQ(pipe->default_size(), kWorldImageSize);
  fs::remove_all(dir);
}

// Every stage at a tiny scale: the outputs load, the evaluators have their time
// conditioning, and a second call skips every finished stage.
TEST(WorldPretraining, TinyRunProducesLoadableModelsAndResumes) {
  const auto dir = temp_dir("run");
  WorldPretrainingOptions o;
  o.out_dir = dir;
  make_tiny(o);
  o.rollout_prompts = 500;  // scaled: 1 train and 1 validation prompt
  std::vector<std::string> stages;
  JobContext ctx(std::make_shared<std::atomic<bool>>(false), [&](const ProgressEvent& e) {
    if (stages.empty() || stages.back() != e.stage) stages.push_back(e.stage);
  });
  auto report = pretrain_world(o, ctx);
  for (const char* name : {"vae", "diffusion", "base-samples", "pairs", "clip", "evaluator-plain",
                           "evaluator-step-aware", "rollout-pairs", "evaluator-rollout", "evaluator-rollout-agnostic"})
    EXPECT_TRUE(report.contains(name)) << name;
  // With rollouts the step-agnostic model is the rollout-trained twin, not the noisy-pair one.
  EXPECT_FALSE(report.contains("evaluator-step-agnostic"));
  EXPECT_FALSE(fs::exists(dir + "/evaluator-step-agnostic"));
  const auto& aware = report["evaluator-rollout"];
  const auto& agnostic = report["evaluator-rollout-agnostic"];
  for (const char* same : {"trainPairs", "steps", "learningRate"}) EXPECT_EQ(agnostic[same], aware[same]) << same;
  EXPECT_EQ(aware["from"], "evaluator-step-aware");
  EXPECT_EQ(agnostic["from"], "evaluator-step-aware");
  EXPECT_EQ(report["evaluator-step-aware"]["from"], "evaluator-plain");
  // Both start from evaluator-step-aware: the aware one's "before" reads it at each pair's t, the
  // agnostic one's at t = 0; at t = 0 (the first band) the two readings are the same model.
  ASSERT_TRUE(aware["bands"].contains("t0-0"));
  EXPECT_EQ(agnostic["bands"]["t0-0"]["before"], aware["bands"]["t0-0"]["before"]);
  {
    auto twin = evaluator::PreferenceModel::load(dir + "/evaluator-rollout-agnostic");
    EXPECT_EQ(twin->time_conditioning(), models::TimeConditioning::StepAgnostic);
    auto pixels = at::rand({2, 3, kWorldImageSize, kWorldImageSize});
    const auto ids = twin->tokenize({"a red circle", "a red circle"});
    EXPECT_TRUE(at::equal(twin->score_pixels(pixels, ids, at::tensor({0, 0}, at::kLong)),
                          twin->score_pixels(pixels, ids, at::tensor({700, 250}, at::kLong))));
  }
  // One trajectory of the 20-step schedule branching at 16 steps, 4 candidates: 16 x 6 pairs.
  EXPECT_EQ(report["rollout-pairs"]["train"].get<int64_t>(), 16 * 6);
  EXPECT_EQ(report["rollout-pairs"]["judgeReadsX0"].size(), 4u);
  EXPECT_GT(report["rollout-pairs"]["seconds"].get<double>(), 0.0);
  EXPECT_EQ(evaluator::PreferenceModel::load(dir + "/evaluator-rollout")->time_conditioning(),
            models::TimeConditioning::StepAware);
  EXPECT_GT(report["vae"]["scalingFactor"].get<double>(), 0.0);
  EXPECT_NE(std::find(stages.begin(), stages.end(), "diffusion"), stages.end());
  auto pipe = pipeline::Pipeline::load(dir + "/base");
  EXPECT_EQ(evaluator::PreferenceModel::load(dir + "/evaluator-plain")->time_conditioning(),
            models::TimeConditioning::Plain);
  EXPECT_EQ(evaluator::PreferenceModel::load(dir + "/evaluator-step-aware")->time_conditioning(),
            models::TimeConditioning::StepAware);

  // Resumed without rollouts: every finished stage is skipped, and the one stage
  // that runs only without them (the noisy-pair step-agnostic model) is trained.
  const auto unet_file = dir + "/base/unet/diffusion_pytorch_model.safetensors";
  const auto written = fs::last_write_time(unet_file);
  stages.clear();
  o.rollout_prompts = 0;
  auto again = pretrain_world(o, ctx);
  EXPECT_EQ(fs::last_write_time(unet_file), written);
  EXPECT_EQ(std::find(stages.begin(), stages.end(), "diffusion"), stages.end());
  EXPECT_EQ(again["diffusion"], report["diffusion"]);
  EXPECT_EQ(again["evaluator-rollout-agnostic"], report["evaluator-rollout-agnostic"]);
  EXPECT_TRUE(again.contains("evaluator-step-agnostic"));
  // That stage reloaded the cached pairs; their record (and its time) is the first run's.
  EXPECT_EQ(again["pairs"], report["pairs"]);
  EXPECT_EQ(evaluator::PreferenceModel::load(dir + "/evaluator-step-agnostic")->time_conditioning(),
            models::TimeConditioning::StepAgnostic);
  fs::remove_all(dir);
}

// The v target by hand: alpha_bar from SD's scaled-linear betas, written out here.
TEST(DiffusionPretraining, TargetIsTheNoiseOrTheVelocity) {
  auto x0 = at::randn({3, 4, 2, 2}), noise = at::randn({3, 4, 2, 2});
  auto t = at::tensor({0, 500, 999}, at::kLong);
  diffusion::DdimConfig config;  // SD-1.5's schedule, epsilon
  EXPECT_TRUE(diffusion_training_target(diffusion::DdimScheduler(config), x0, noise, t).equal(noise));
  config.prediction_type = kernels::PredictionType::VPrediction;
  auto v = diffusion_training_target(diffusion::DdimScheduler(config), x0, noise, t);
  for (int64_t i = 0; i < 3; ++i) {
    double alpha_bar = 1;
    for (int64_t s = 0; s <= t[i].item<int64_t>(); ++s) {
      const double root = std::sqrt(0.00085) + (std::sqrt(0.012) - std::sqrt(0.00085)) * s / 999.0;
      alpha_bar *= 1 - root * root;
    }
    auto expected = std::sqrt(alpha_bar) * noise[i] - std::sqrt(1 - alpha_bar) * x0[i];
    EXPECT_TRUE(at::allclose(v[i], expected, 1e-5, 1e-5)) << "t = " << t[i].item<int64_t>();
  }
}

// --prediction v_prediction writes an SD-2.x-style scheduler, and the folder keeps it.
TEST(WorldPretraining, VPredictionFolderKeepsItsParametrisation) {
  const auto dir = temp_dir("vpred");
  WorldPretrainingOptions o;
  o.out_dir = dir;
  o.prediction = "sample";
  EXPECT_THROW(pretrain_world(o), InvalidArgument);
  EXPECT_FALSE(fs::exists(dir + "/base"));
  o.prediction = "v_prediction";
  make_tiny(o);
  auto report = pretrain_world(o);
  EXPECT_EQ(io::read_json(dir + "/base/scheduler/scheduler_config.json")["prediction_type"], "v_prediction");
  EXPECT_EQ(pipeline::Pipeline::load(dir + "/base")->scheduler_config().prediction_type,
            kernels::PredictionType::VPrediction);
  EXPECT_TRUE(report.contains("evaluator-step-aware"));
  o.prediction = "epsilon";
  try {
    pretrain_world(o);
    ADD_FAILURE() << "continuing a v_prediction folder as epsilon must throw";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("was made with prediction v_prediction"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// --world scenes: the models learn world v2 (its vocabulary, its defect renders),
// the base samples are read by judge v2's parts, and the folder keeps its world.
TEST(WorldPretraining, ScenesWorldUsesItsVocabularyJudgeAndKeepsItsWorld) {
  const auto dir = temp_dir("scenes");
  WorldPretrainingOptions o;
  o.out_dir = dir;
  o.world = "shapes";
  EXPECT_THROW(pretrain_world(o), InvalidArgument);
  o.world = "scenes";
  make_tiny(o);
  auto report = pretrain_world(o);
  for (const char* part : {"total", "alignment", "coarse", "fine", "colour", "shape", "count"})
    EXPECT_TRUE(report["base-samples"]["judge"].contains(part)) << part;
  EXPECT_FALSE(report["base-samples"]["judge"].contains("place"));
  // The tokenizer is the scenes vocabulary ("three" is one of its words; "above" is not).
  auto tok = text::ClipTokenizer::from_directory(dir + "/base/tokenizer");
  const auto scenes = world_vocabulary(world::Track::Scenes), relations = world_vocabulary(world::Track::Relations);
  EXPECT_EQ(tok.vocab_size(), static_cast<int64_t>(scenes.tokens.size()));
  EXPECT_NE(scenes.tokens.size(), relations.tokens.size());
  EXPECT_NE(std::find(scenes.tokens.begin(), scenes.tokens.end(), "three</w>"), scenes.tokens.end());
  EXPECT_EQ(std::find(scenes.tokens.begin(), scenes.tokens.end(), "above</w>"), scenes.tokens.end());
  EXPECT_EQ(io::read_json(dir + "/base/text_encoder/config.json")["vocab_size"].get<int64_t>(), tok.vocab_size());
  o.world = "relations";
  try {
    pretrain_world(o);
    ADD_FAILURE() << "continuing a scenes folder as relations must throw";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("was made for the scenes world"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace spo::pretraining
