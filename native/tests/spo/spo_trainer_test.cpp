// The SPO trainer on the tiny SD-1.5 pipeline (make_pipeline_fixtures.py) and
// the tiny CLIP evaluator (make_evaluator_fixtures.py): settings and presets,
// the pair and resampler rules, the sampling round's counts and kappa, the
// update's forward counts, parity mode against the default, and abort/resume.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>

#include "evaluator/preference_model.h"
#include "models/lora.h"
#include "models/lora_file.h"
#include "runtime/errors.h"
#include "spo/sampling_round.h"
#include "spo/spo_trainer.h"
#include "spo/spo_update.h"
#include "training/checkpoint_dir.h"

namespace spo::trainer {
namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& area, const std::string& name) {
  return std::string(SPO_FIXTURE_ROOT) + "/" + area + "/" + name;
}

std::shared_ptr<pipeline::Pipeline> tiny_pipeline() { return pipeline::Pipeline::load(fixture("pipeline", "sd15")); }
std::shared_ptr<evaluator::PreferenceModel> tiny_judge() {
  evaluator::PreferenceModelOptions o;
  o.time_conditioning = models::TimeConditioning::StepAware;
  return evaluator::PreferenceModel::load(fixture("evaluator", "step_aware"), o);
}

SpoSettings tiny_settings() {
  SpoSettings s;
  s.steps = 4;
  s.divert_start_step = 1;
  s.k = 3;
  s.threshold = 0.0;
  s.sample_batch_size = 2;
  s.train_batch_size = 2;
  s.epochs = 1;
  s.learning_rate = 1e-3;
  return s;
}

TEST(SpoSettings, PresetsAndOverrides) {
  const auto sd15 = SpoSettings::from_preset("sd15");
  EXPECT_EQ(sd15.k, 4);
  EXPECT_EQ(sd15.threshold, 0.3);
  EXPECT_EQ(sd15.lora_rank, 4);
  EXPECT_EQ(sd15.learning_rate, 6e-5);
  const auto sdxl = SpoSettings::from_preset("sdxl");
  EXPECT_EQ(sdxl.k, 2);
  EXPECT_EQ(sdxl.inner_steps, 3);
  EXPECT_EQ(sdxl.threshold, 0.4);
  EXPECT_EQ(sdxl.lora_rank, 64);
  EXPECT_EQ(sdxl.gradient_accumulation, 2);
  auto o = SpoSettings::from_json({{"preset", "sdxl"}, {"k", 4}, {"resampler", "win"}, {"mode", "parity"}});
  EXPECT_EQ(o.k, 4);
  EXPECT_EQ(o.inner_steps, 3);
  EXPECT_EQ(o.resampler, Resampler::Win);
  EXPECT_EQ(o.mode, UpdateMode::Parity);
  EXPECT_EQ(SpoSettings::from_json(o.to_json()).to_json(), o.to_json());
  EXPECT_THROW(SpoSettings::from_json({{"kk", 4}}), InvalidArgument);
  EXPECT_THROW(SpoSettings::from_json({{"k", 1}}), InvalidArgument);
  EXPECT_THROW(SpoSettings::from_json({{"k", "four"}}), InvalidArgument);
  EXPECT_THROW(SpoSettings::from_json({{"eta", 0.0}}), InvalidArgument);
  EXPECT_THROW(SpoSettings::from_json({{"resampler", "best"}}), InvalidArgument);
  EXPECT_THROW(SpoSettings::from_json({{"preset", "sd3"}}), InvalidArgument);
  EXPECT_THROW(SpoSettings::from_json({{"divertStartStep", 20}}), InvalidArgument);
}

TEST(SpoRules, PairSelectionAndResampler) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  SpoSettings s;
  auto c = choose({20.0, 21.0, 20.5, 20.2}, s, gen);
  EXPECT_EQ(c.winner, 1);
  EXPECT_EQ(c.loser, 0);
  EXPECT_TRUE(c.kept);
  EXPECT_FALSE(choose({20.0, 20.1, 20.05, 20.0}, s, gen).kept);  // below 0.3: a tie, dropped
  s.pair_selection = PairSelection::Random;
  std::set<std::pair<int64_t, int64_t>> seen;
  for (int i = 0; i < 50; ++i) {
    auto r = choose({1.0, 5.0, 3.0, 2.0}, s, gen);
    EXPECT_NE(r.winner, r.loser);
    EXPECT_GT(std::vector<double>({1.0, 5.0, 3.0, 2.0})[r.winner], std::vector<double>({1.0, 5.0, 3.0, 2.0})[r.loser]);
    seen.insert({r.winner, r.loser});
  }
  EXPECT_GT(seen.size(), 3u);  // not always best-worst
  Choice fixed{2, 0, 0.9, true};
  EXPECT_EQ(resample(fixed, 4, Resampler::Win, gen), 2);
  EXPECT_EQ(resample(fixed, 4, Resampler::Lose, gen), 0);
  std::set<int64_t> picks;
  for (int i = 0; i < 60; ++i) picks.insert(resample(fixed, 4, Resampler::Random, gen));
  EXPECT_EQ(picks.size(), 4u);
  EXPECT_THROW(resample(fixed, 4, Resampler::None, gen), Error);
}

TEST(SamplingRound, CountsModelEvaluationsAndHonoursKappa) {
  auto pipe = tiny_pipeline();
  auto judge = tiny_judge();
  auto s = tiny_settings();
  const std::vector<std::string> prompts = {"a red circle", "a blue square"};
  auto round = run_sampling_round(*pipe, *judge, prompts, s, 7);
  // 4 steps, divert 1: one plain step (2 evaluations), eps at the first branch (2), then 3 branch
  // steps, each predicting x0 of its 2 x 3 candidates except the last (clean latents): 2 x 6.
  EXPECT_EQ(round.stats.branch_steps, 3);
  EXPECT_EQ(round.stats.model_evaluations, 2 + 2 + 2 * 6);
  EXPECT_EQ(round.stats.images_scored, 3 * 6);
  EXPECT_EQ(round.stats.pairs_kept + round.stats.pairs_tied, 6);
  ASSERT_FALSE(round.pairs.empty());
  for (const auto& p : round.pairs) {
    EXPECT_TRUE(p.shared);
    EXPECT_TRUE(p.x_t_w.is_same(p.x_t_l));
    EXPECT_FALSE(at::equal(p.x_w, p.x_l));
  }
  // The same seed gives the same round.
  auto again = run_sampling_round(*pipe, *judge, prompts, s, 7);
  ASSERT_EQ(again.pairs.size(), round.pairs.size());
  EXPECT_TRUE(at::equal(again.pairs[0].x_w, round.pairs[0].x_w));
  // kappa below every branch timestep: every comparison is cut.
  s.kappa = 0;
  auto cut = run_sampling_round(*pipe, *judge, prompts, s, 7);
  EXPECT_TRUE(cut.pairs.empty());
  EXPECT_EQ(cut.stats.pairs_cut + cut.stats.pairs_tied, 6);
  // The `none` resampler: k trajectories per prompt, pairs that share no x_t after the branch.
  s.kappa = -1;
  s.resampler = Resampler::None;
  auto independent = run_sampling_round(*pipe, *judge, prompts, s, 7);
  EXPECT_GT(independent.pairs.size(), 0u);
  for (const auto& p : independent.pairs) EXPECT_FALSE(p.shared);
  // Inner steps: each kept comparison yields j transitions, the later ones unshared.
  s.resampler = Resampler::Random;
  s.inner_steps = 3;
  s.divert_start_step = 1;
  auto chains = run_sampling_round(*pipe, *judge, prompts, s, 7);
  EXPECT_EQ(chains.stats.branch_steps, 1);
  EXPECT_EQ(chains.pairs.size() % 3, 0u);
  if (!chains.pairs.empty()) {
    EXPECT_TRUE(chains.pairs[0].shared);
    EXPECT_FALSE(chains.pairs[1].shared);
    EXPECT_TRUE(at::equal(chains.pairs[1].x_t_w, chains.pairs[0].x_w));  // the chain continues from the winner
  }
}

// LoRA weights away from their B = 0 start, so that policy != reference.
void perturb_lora(pipeline::Pipeline& pipe, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::NoGradGuard no_grad;
  for (auto& t : models::find_lora(*pipe.unet()).parameters()) t.add_(at::randn(t.sizes(), gen) * 0.05);
}

TEST(SpoUpdate, OneForwardEachPerSharedXtAndParityAgrees) {
  auto pipe = tiny_pipeline();
  auto judge = tiny_judge();
  auto s = tiny_settings();
  const std::vector<std::string> prompts = {"a red circle", "a blue square"};
  auto round = run_sampling_round(*pipe, *judge, prompts, s, 3);
  ASSERT_GE(round.pairs.size(), 2u);
  for (auto& p : pipe->unet()->parameters()) p.set_requires_grad(false);
  models::LoraConfig lc;
  lc.rank = 2;
  lc.alpha = 2;
  auto lora = models::attach_lora(*pipe->unet(), lc, at::kCPU);
  perturb_lora(*pipe, 5);
  auto cond = pipe->encode_prompts(prompts, std::nullopt, pipe->default_size(), pipe->default_size());
  std::vector<const TransitionPair*> batch;
  for (const auto& p : round.pairs) batch.push_back(&p);

  auto grads = [&] {
    std::vector<at::Tensor> g;
    for (auto& t : lora.parameters()) g.push_back(t.grad().clone());
    for (auto& t : lora.parameters()) t.mutable_grad() = at::Tensor();
    return g;
  };
  const auto spo = spo_backward(*pipe, cond, batch, s, 1.0);
  const auto g_spo = grads();
  EXPECT_EQ(spo.policy_evaluations, static_cast<int64_t>(batch.size()));
  EXPECT_EQ(spo.reference_evaluations, static_cast<int64_t>(batch.size()));

  // parity: the copied reference UNet (no LoRA) and four forwards per pair.
  models::UNet2DConditionModel copy(pipe->unet()->config, at::TensorOptions());
  {
    at::NoGradGuard no_grad;
    auto src = pipe->unet()->named_parameters(true);
    for (auto& p : copy->named_parameters(true)) p.value().copy_(src[p.key()]);
  }
  s.mode = UpdateMode::Parity;
  const auto parity = spo_backward(*pipe, cond, batch, s, 1.0, &copy);
  const auto g_parity = grads();
  EXPECT_EQ(parity.policy_evaluations + parity.reference_evaluations, 4 * static_cast<int64_t>(batch.size()));
  EXPECT_NEAR(parity.loss, spo.loss, 1e-5 * std::max(1.0, std::abs(spo.loss)));
  EXPECT_NEAR(parity.ratio_w, spo.ratio_w, 1e-5);
  // Relative to the whole gradient: single layers can hold gradients at the fp32 noise level.
  std::vector<at::Tensor> flat_spo, flat_parity;
  for (size_t i = 0; i < g_spo.size(); ++i) {
    flat_spo.push_back(g_spo[i].flatten());
    flat_parity.push_back(g_parity[i].flatten());
  }
  const auto all_spo = at::cat(flat_spo), all_parity = at::cat(flat_parity);
  EXPECT_LT((all_spo - all_parity).norm().item<double>() / all_spo.norm().item<double>(), 1e-5);
  EXPECT_LT((all_spo - all_parity).abs().max().item<double>(), 1e-5 * all_spo.abs().max().item<double>());
  EXPECT_GT(at::cat({g_spo[0].flatten(), g_spo[1].flatten()}).abs().sum().item<double>(), 0.0);
  // With LoRA weights equal to the start (B = 0) policy == reference: ratios 1, loss log 2.
  {
    at::NoGradGuard no_grad;
    for (auto& layer : lora.layers) layer.branch->up.zero_();
  }
  s.mode = UpdateMode::Spo;
  const auto same = spo_backward(*pipe, cond, batch, s, 1.0);
  EXPECT_NEAR(same.loss, std::log(2.0), 1e-6);
  EXPECT_NEAR(same.ratio_w, 1.0, 1e-6);
}

TEST(SpoTrainer, TrainsAbortsAndResumesTheSameLossSequence) {
  const std::vector<std::string> prompts = {"a red circle", "a blue square", "a green triangle", "two circles"};
  auto s = tiny_settings();  // 2 rounds per epoch
  const std::string root = ::testing::TempDir() + "/spo_trainer_run";
  fs::remove_all(root);

  auto judge = tiny_judge();
  auto pipe_a = tiny_pipeline();
  TrainRunOptions oa;
  oa.output_dir = root + "/a";
  auto full = train_spo(*pipe_a, *judge, prompts, s, oa);
  EXPECT_EQ(full.rounds_done, 2);
  EXPECT_GT(full.losses.size(), 0u);
  EXPECT_TRUE(fs::exists(full.lora_file));
  // The exported LoRA loads back onto a fresh pipeline in diffusers' format.
  auto check = tiny_pipeline();
  EXPECT_GT(models::load_lora(full.lora_file, *check->unet()).set.layers.size(), 0u);
  EXPECT_EQ(full.update_evaluations, 2 * full.pairs_kept);  // one policy + one reference per shared pair

  auto pipe_b = tiny_pipeline();
  TrainRunOptions ob;
  ob.checkpoint_dir = root + "/ckpt";
  auto flag = std::make_shared<std::atomic<bool>>(false);
  JobContext ctx(flag, [&](const ProgressEvent& ev) {
    if (ev.stage == "checkpoint" && ev.step == 1) flag->store(true);
  });
  EXPECT_THROW(train_spo(*pipe_b, *judge, prompts, s, ob, ctx), Cancelled);
  ASSERT_EQ(training::CheckpointDir(ob.checkpoint_dir).latest()->first, 1);
  auto pipe_c = tiny_pipeline();
  auto resumed = train_spo(*pipe_c, *judge, prompts, s, ob);
  EXPECT_EQ(resumed.start_round, 1);
  ASSERT_LE(resumed.losses.size(), full.losses.size());
  const size_t offset = full.losses.size() - resumed.losses.size();
  for (size_t i = 0; i < resumed.losses.size(); ++i) EXPECT_EQ(resumed.losses[i], full.losses[offset + i]) << i;
  auto la = models::find_lora(*pipe_a->unet()).parameters(), lc = models::find_lora(*pipe_c->unet()).parameters();
  for (size_t i = 0; i < la.size(); ++i) EXPECT_TRUE(at::equal(la[i], lc[i])) << i;

  // A pipeline that already has a LoRA, and another run's checkpoints, are refused.
  EXPECT_THROW(train_spo(*pipe_c, *judge, prompts, s, ob), InvalidArgument);
  auto pipe_d = tiny_pipeline();
  s.seed = 9;
  EXPECT_THROW(train_spo(*pipe_d, *judge, prompts, s, ob), InvalidArgument);
}

}  // namespace
}  // namespace spo::trainer

#include "spo/prompt_file.h"

namespace spo::trainer {
namespace {

TEST(PromptFile, TextLinesAndTheAuthorsJson) {
  EXPECT_EQ(parse_prompts("a cat\n\n  a dog  \r\nlast", "p.txt"), (std::vector<std::string>{"a cat", "a dog", "last"}));
  EXPECT_EQ(parse_prompts(R"([{"caption": "a cat driving a nuke", "trainset_idx": 1}, "plain"])", "p.json"),
            (std::vector<std::string>{"a cat driving a nuke", "plain"}));
  EXPECT_THROW(parse_prompts("[{\"text\": 1}]", "p.json"), InvalidArgument);
  EXPECT_THROW(parse_prompts("[1, 2", "p.json"), InvalidArgument);
  EXPECT_THROW(parse_prompts(" \n\n", "p.txt"), InvalidArgument);
  EXPECT_THROW(read_prompt_file("/nonexistent/prompts.txt"), Error);
  try {
    parse_prompts(R"(["ok", {"caption": 3}])", "p.json");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("p.json record 1"), std::string::npos);
  }
}

}  // namespace
}  // namespace spo::trainer

#include "spo/d3po_round.h"
#include "spo/diffusion_dpo.h"

namespace spo::trainer {
namespace {

TEST(D3po, TrajectoryLabelsOnEveryStep) {
  auto pipe = tiny_pipeline();
  auto judge = tiny_judge();
  auto s = tiny_settings();
  s.method = Method::D3po;
  const std::vector<std::string> prompts = {"a red circle", "a blue square"};
  auto round = run_d3po_round(*pipe, *judge, prompts, s, 5);
  // 1 shared step for 2 prompts, then 3 steps of 2 trajectories each; 2 final images per prompt.
  EXPECT_EQ(round.stats.model_evaluations, 2 + 3 * 4);
  EXPECT_EQ(round.stats.images_scored, 4);
  EXPECT_EQ(round.stats.pairs_kept + 3 * round.stats.pairs_tied, 6);
  for (const auto& p : round.pairs) {
    // Only the first transition (from the last shared latent) shares x_t.
    EXPECT_EQ(p.shared, p.timestep == round.pairs.front().timestep);
    EXPECT_EQ(at::equal(p.x_t_w, p.x_t_l), p.shared);
  }
  // Consecutive transitions of one trajectory chain up.
  if (round.pairs.size() >= 2 && round.pairs[0].prompt == round.pairs[1].prompt) {
    EXPECT_TRUE(at::equal(round.pairs[1].x_t_w, round.pairs[0].x_w));
  }
  auto settings = SpoSettings::from_json({{"method", "d3po"}});
  EXPECT_EQ(settings.method, Method::D3po);
  EXPECT_THROW(SpoSettings::from_json({{"method", "ppo"}}), InvalidArgument);
  // The trainer runs the D3PO rounds with the same update (both sides forwarded).
  auto p2 = tiny_pipeline();
  TrainRunOptions o;
  o.max_rounds = 1;
  auto result = train_spo(*p2, *judge, prompts, s, o);
  // Both sides forwarded for the unshared transitions (one x_t for the shared first one, in the same batch).
  EXPECT_GT(result.update_evaluations, 2 * result.pairs_kept);
  EXPECT_LE(result.update_evaluations, 4 * result.pairs_kept);
}

std::vector<evaluator::PreferencePair> image_pairs(int64_t n, int64_t size) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(21);
  std::vector<evaluator::PreferencePair> pairs;
  for (int64_t i = 0; i < n; ++i)
    pairs.push_back({i % 2 ? "a red circle" : "a blue square", at::rand({3, size, size}, gen) * 2 - 1,
                     at::rand({3, size, size}, gen) * 2 - 1, i % 3 == 2 ? 0.5 : double(i % 2)});
  return pairs;
}

TEST(DiffusionDpo, LossAtTheStartAndADescentStep) {
  auto pipe = tiny_pipeline();
  for (auto& p : pipe->unet()->parameters()) p.set_requires_grad(false);
  models::LoraConfig lc;
  lc.rank = 2;
  lc.alpha = 2;
  auto lora = models::attach_lora(*pipe->unet(), lc, at::kCPU);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const int64_t size = pipe->default_size() / pipe->vae_scale_factor();
  auto x_w = at::randn({2, 4, size, size}, gen), x_l = at::randn({2, 4, size, size}, gen);
  auto noise = at::randn({2, 4, size, size}, gen);
  auto t = at::tensor({100, 700}, at::kLong);
  auto cond = pipe->encode_prompts({"a red circle", "a blue square"}, std::nullopt, pipe->default_size(), pipe->default_size());
  // B = 0: the policy is the reference, so the inside term is 0 and the loss log 2.
  auto start = diffusion_dpo_backward(*pipe, cond, x_w, x_l, noise, t, 5000.0);
  EXPECT_NEAR(start.loss, std::log(2.0), 1e-6);
  for (auto& p : lora.parameters()) p.mutable_grad() = at::Tensor();
  perturb_lora(*pipe, 8);
  auto before = diffusion_dpo_backward(*pipe, cond, x_w, x_l, noise, t, 50.0);
  {
    // A small step against the gradient lowers the loss: the gradient is the loss's.
    at::NoGradGuard no_grad;
    for (auto& p : lora.parameters()) {
      p.sub_(p.grad() * 1e-2);
      p.mutable_grad() = at::Tensor();
    }
  }
  auto after = diffusion_dpo_backward(*pipe, cond, x_w, x_l, noise, t, 50.0);
  EXPECT_LT(after.loss, before.loss);
}

TEST(DiffusionDpo, TrainsSkipsTiesAndResumes) {
  auto pipe_a = tiny_pipeline();
  auto pairs = image_pairs(6, pipe_a->default_size());
  DiffusionDpoOptions o;
  o.steps = 4;
  o.batch_size = 2;
  o.learning_rate = 1e-3;
  o.output_dir = ::testing::TempDir() + "/spo_ddpo_out";
  auto full = train_diffusion_dpo(*pipe_a, pairs, o);
  EXPECT_EQ(full.pairs_used, 4);  // 2 of 6 are ties
  EXPECT_EQ(full.losses.size(), 4u);
  EXPECT_EQ(full.update_evaluations, 4 * 4 * 2);
  EXPECT_TRUE(std::filesystem::exists(full.lora_file));
  o.output_dir.clear();
  o.checkpoint_dir = ::testing::TempDir() + "/spo_ddpo_ckpt";
  o.checkpoint_every = 2;
  std::filesystem::remove_all(o.checkpoint_dir);
  auto flag = std::make_shared<std::atomic<bool>>(false);
  JobContext ctx(flag, [&](const ProgressEvent& ev) {
    if (ev.stage == "checkpoint" && ev.step == 2) flag->store(true);
  });
  auto pipe_b = tiny_pipeline();
  EXPECT_THROW(train_diffusion_dpo(*pipe_b, pairs, o, ctx), Cancelled);
  auto pipe_c = tiny_pipeline();
  auto resumed = train_diffusion_dpo(*pipe_c, pairs, o);
  EXPECT_EQ(resumed.start_step, 2);
  ASSERT_EQ(resumed.losses.size(), 2u);
  EXPECT_EQ(resumed.losses[0], full.losses[2]);
  EXPECT_EQ(resumed.losses[1], full.losses[3]);
  auto all_ties = image_pairs(3, pipe_a->default_size());
  for (auto& p : all_ties) p.label_0 = 0.5;
  auto pipe_d = tiny_pipeline();
  EXPECT_THROW(train_diffusion_dpo(*pipe_d, all_ties, o), InvalidArgument);
}

}  // namespace
}  // namespace spo::trainer

namespace spo::trainer {
namespace {

TEST(GradientCheckpointing, SameLossAndGradientsWithLessKeptActivations) {
  auto pipe = tiny_pipeline();
  auto judge = tiny_judge();
  auto s = tiny_settings();
  const std::vector<std::string> prompts = {"a red circle", "a blue square"};
  auto round = run_sampling_round(*pipe, *judge, prompts, s, 3);
  ASSERT_FALSE(round.pairs.empty());
  for (auto& p : pipe->unet()->parameters()) p.set_requires_grad(false);
  models::LoraConfig lc;
  lc.rank = 2;
  lc.alpha = 2;
  auto lora = models::attach_lora(*pipe->unet(), lc, at::kCPU);
  perturb_lora(*pipe, 5);
  auto cond = pipe->encode_prompts(prompts, std::nullopt, pipe->default_size(), pipe->default_size());
  std::vector<const TransitionPair*> batch;
  for (const auto& p : round.pairs) batch.push_back(&p);
  auto run = [&](bool checkpointing) {
    pipe->unet()->set_gradient_checkpointing(checkpointing);
    auto st = spo_backward(*pipe, cond, batch, s, 1.0);
    std::vector<at::Tensor> g;
    for (auto& t : lora.parameters()) {
      g.push_back(t.grad().clone());
      t.mutable_grad() = at::Tensor();
    }
    return std::make_pair(st.loss, at::cat([&] {
      std::vector<at::Tensor> flat;
      for (auto& t : g) flat.push_back(t.flatten());
      return flat;
    }()));
  };
  const auto [loss_plain, grad_plain] = run(false);
  const auto [loss_ckpt, grad_ckpt] = run(true);
  pipe->unet()->set_gradient_checkpointing(false);
  EXPECT_NEAR(loss_ckpt, loss_plain, 1e-6);
  EXPECT_GT(grad_plain.abs().max().item<double>(), 0.0);
  EXPECT_LT((grad_ckpt - grad_plain).abs().max().item<double>(), 1e-6 * grad_plain.abs().max().item<double>() + 1e-9);
  // Inference is untouched by the flag.
  pipe->unet()->set_gradient_checkpointing(true);
  auto again = run_sampling_round(*pipe, *judge, prompts, s, 3);
  pipe->unet()->set_gradient_checkpointing(false);
  EXPECT_EQ(again.pairs.size(), round.pairs.size());
}

}  // namespace
}  // namespace spo::trainer

namespace spo::trainer {
namespace {

TEST(PairShuffling, OnePermutationCutIntoMinibatches) {
  const auto mbs = pair_minibatches(23, 5, 42, 3);
  ASSERT_EQ(mbs.size(), 5u);
  EXPECT_EQ(mbs.back().size(), 3u);  // the remainder trains too
  std::vector<int64_t> all;
  for (const auto& mb : mbs) all.insert(all.end(), mb.begin(), mb.end());
  std::vector<int64_t> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 23; ++i) EXPECT_EQ(sorted[i], i);  // every pair exactly once
  EXPECT_NE(all, sorted);                                      // shuffled
  EXPECT_EQ(pair_minibatches(23, 5, 42, 3), mbs);               // from seed and round alone
  EXPECT_NE(pair_minibatches(23, 5, 42, 4), mbs);
  EXPECT_NE(pair_minibatches(23, 5, 7, 3), mbs);
  EXPECT_TRUE(pair_minibatches(0, 5, 42, 3).empty());
}

TEST(SpoUpdate, LoraOffReferenceEqualsACopiedUNet) {
  auto pipe = tiny_pipeline();
  models::UNet2DConditionModel copy(pipe->unet()->config, at::TensorOptions());
  {
    at::NoGradGuard no_grad;
    auto src = pipe->unet()->named_parameters(true);
    for (auto& p : copy->named_parameters(true)) p.value().copy_(src[p.key()]);
  }
  models::LoraConfig lc;
  lc.rank = 2;
  lc.alpha = 2;
  models::attach_lora(*pipe->unet(), lc, at::kCPU);
  perturb_lora(*pipe, 4);
  const int64_t f = pipe->vae_scale_factor(), size = pipe->default_size();
  auto cond = pipe->encode_prompts({"a red circle"}, std::nullopt, size, size);
  auto x = at::randn({1, 4, size / f, size / f});
  auto t = at::full({1}, 501, at::kLong);
  at::NoGradGuard no_grad;
  auto policy = pipeline::guided_unet_output(pipe->unet(), x, t, cond, 5.0);
  models::set_lora_enabled(*pipe->unet(), false);
  auto lora_off = pipeline::guided_unet_output(pipe->unet(), x, t, cond, 5.0);
  models::set_lora_enabled(*pipe->unet(), true);
  auto copied = pipeline::guided_unet_output(copy, x, t, cond, 5.0);
  EXPECT_TRUE(at::equal(lora_off, copied));  // bit for bit: the same weights, the same kernels
  EXPECT_GT((policy - copied).abs().max().item<double>(), 1e-4);
}

}  // namespace
}  // namespace spo::trainer

namespace spo::trainer {
namespace {

// A NaN planted in the LoRA between round 2's sampling and its update: "stop" ends the run with
// NumericFault and round 1 stays the latest checkpoint; "skip" drops every
// poisoned update and finishes.
TEST(NumericFaults, StopKeepsTheLastGoodCheckpointAndSkipCarriesOn) {
  const std::vector<std::string> prompts = {"a red circle", "a blue square", "a green triangle", "two circles"};
  auto judge = tiny_judge();
  for (const bool skip : {false, true}) {
    auto s = tiny_settings();
    s.skip_non_finite = skip;
    auto pipe = tiny_pipeline();
    TrainRunOptions o;
    o.checkpoint_dir = ::testing::TempDir() + "/spo_numeric_" + std::to_string(skip);
    fs::remove_all(o.checkpoint_dir);
    JobContext ctx(std::make_shared<std::atomic<bool>>(false), [&](const ProgressEvent& ev) {
      if (ev.stage == "pairs" && ev.step == 2) {  // after round 2's sampling, before its update
        at::NoGradGuard no_grad;
        models::find_lora(*pipe->unet()).layers.front().branch->up.fill_(NAN);
      }
    });
    if (!skip) {
      try {
        train_spo(*pipe, *judge, prompts, s, o, ctx);
        FAIL() << "a NaN update must stop the run";
      } catch (const NumericFault& e) {
        EXPECT_NE(std::string(e.what()).find("the last checkpoint is round 1"), std::string::npos) << e.what();
      }
      EXPECT_EQ(training::CheckpointDir(o.checkpoint_dir).latest()->first, 1);
    } else {
      auto r = train_spo(*pipe, *judge, prompts, s, o, ctx);
      EXPECT_EQ(r.rounds_done, 2);
      EXPECT_GT(r.skipped_updates, 0);
      for (double l : r.losses) EXPECT_TRUE(std::isfinite(l));
    }
  }
  EXPECT_EQ(SpoSettings::from_json({{"onNonFinite", "skip"}}).skip_non_finite, true);
  EXPECT_THROW(SpoSettings::from_json({{"onNonFinite", "ignore"}}), InvalidArgument);
}

}  // namespace
}  // namespace spo::trainer

namespace spo::trainer {
namespace {

TEST(NumericFaults, ANonFinitePolicyStopsSampling) {
  auto pipe = tiny_pipeline();
  auto judge = tiny_judge();
  models::LoraConfig lc;
  lc.rank = 2;
  lc.alpha = 2;
  auto lora = models::attach_lora(*pipe->unet(), lc, at::kCPU);
  {
    at::NoGradGuard no_grad;
    lora.layers.front().branch->up.fill_(NAN);
  }
  EXPECT_THROW(run_sampling_round(*pipe, *judge, {"a red circle"}, tiny_settings(), 1), NumericFault);
}

}  // namespace
}  // namespace spo::trainer
