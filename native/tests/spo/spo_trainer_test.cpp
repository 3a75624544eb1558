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
  EXPECT_EQ(sdxl.transitions_per_chain, 4);  // the authors' num_inner_step = 3, plus the branch step
  EXPECT_EQ(sdxl.threshold, 0.4);
  EXPECT_EQ(sdxl.lora_rank, 64);
  EXPECT_EQ(sdxl.gradient_accumulation, 2);
  auto o = SpoSettings::from_json({{"preset", "sdxl"}, {"k", 4}, {"resampler", "win"}, {"mode", "parity"}});
  EXPECT_EQ(o.k, 4);
  EXPECT_EQ(o.transitions_per_chain, 4);
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
  // The `none` resampler: k trajectories per prompt, each from its own x_T, so that they
  // share no step: 2 x 3 rows through the plain step (6 evaluations) and the first branch's
  // eps (6), then the x0 of each row's one candidate at the 2 branch steps before the last.
  s.kappa = -1;
  s.resampler = Resampler::None;
  auto independent = run_sampling_round(*pipe, *judge, prompts, s, 7);
  EXPECT_EQ(independent.stats.model_evaluations, 6 + 6 + 2 * 6);
  EXPECT_EQ(independent.stats.images_scored, 3 * 6);
  bool first_branch_seen = false;
  for (const auto& p : independent.pairs) {
    EXPECT_FALSE(p.shared);
    // Not one trajectory copied k times: even at the first branch the two x_t differ.
    EXPECT_FALSE(at::equal(p.x_t_w, p.x_t_l)) << "t = " << p.timestep;
    first_branch_seen = first_branch_seen || p.timestep == 501;  // steps 751, 501, 251, 1; divert 1
  }
  EXPECT_TRUE(first_branch_seen);
  // From divertStartStep 0 the first branch's x_t are the x_T themselves: drawn apart, not one shared.
  s.divert_start_step = 0;
  auto from_x_T = run_sampling_round(*pipe, *judge, prompts, s, 7);
  bool x_T_seen = false;
  for (const auto& p : from_x_T.pairs) {
    if (p.timestep != 751) continue;
    x_T_seen = true;
    EXPECT_FALSE(at::equal(p.x_t_w, p.x_t_l)) << "two trajectories of prompt " << p.prompt << " share x_T";
  }
  EXPECT_TRUE(x_T_seen);
  // Chains: each kept comparison yields j transitions, the later ones unshared.
  s.resampler = Resampler::Random;
  s.transitions_per_chain = 3;
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

// Scores each image by its mean pixel value and records the timesteps it was asked to score at.
class RecordingJudge : public evaluator::ImageScorer {
 public:
  std::vector<int64_t> scored_at;  // one entry per call
  at::Tensor score_images(const at::Tensor& images, const std::vector<std::string>&, const at::Tensor& t,
                          int64_t) override {
    scored_at.push_back(t[0].item<int64_t>());
    return images.to(at::kFloat).mean({1, 2, 3}).cpu();
  }
};

// The sdxl preset's chains as the authors' SDXL pipeline runs them (multi_sample_pipeline_sdxl.py
// with num_inner_step = 3, divert_start_step = 4, 20 steps): a chain is its branch transition and
// 3 more, so branches fall on steps 4, 8, 12, 16 (t = 751, 551, 351, 151; t = 951 - 50 i), each
// chain is scored at the next branch's t (551, 351, 151) and the last one clean at t = 0.
TEST(SamplingRound, SdxlPresetChainsMatchTheAuthorsLayout) {
  auto pipe = pipeline::Pipeline::load(fixture("pipeline", "sdxl"));
  RecordingJudge judge;
  auto s = SpoSettings::from_preset("sdxl");
  ASSERT_EQ(s.steps, 20);
  ASSERT_EQ(s.divert_start_step, 4);
  ASSERT_EQ(s.k, 2);
  s.threshold = 0.0;  // every comparison kept, so that every chain shows
  const std::vector<std::string> prompts = {"a red circle", "a blue square"};
  const int64_t P = 2, k = 2;
  auto round = run_sampling_round(*pipe, judge, prompts, s, 11);
  EXPECT_EQ(round.stats.branch_steps, 4);
  EXPECT_EQ(judge.scored_at, (std::vector<int64_t>{551, 351, 151, 0}));
  EXPECT_EQ(round.stats.images_scored, 4 * P * k);
  // UNet evaluations by hand: 4 plain steps (P each), the shared latent at step 4 (P), per
  // chain 3 inner latents (P k each) and, except for the last chains, the chain's end whose x0
  // is scored (P k; the chosen one's output serves the next branch): 4P + P + 3 (4 P k) + 3 P k.
  EXPECT_EQ(round.stats.model_evaluations, 4 * P + P + 3 * 4 * P * k + 3 * P * k);
  EXPECT_EQ(round.stats.pairs_tied, 0);
  ASSERT_EQ(round.stats.pairs_kept, 4 * P * 4);  // 4 branches x P comparisons x 4 transitions
  ASSERT_EQ(round.pairs.size(), static_cast<size_t>(4 * P * 4));
  // In order: branch b, prompt p, transition m at step 4 + 4 b + m.
  for (int64_t b = 0; b < 4; ++b) {
    for (int64_t p = 0; p < P; ++p) {
      for (int64_t m = 0; m < 4; ++m) {
        const size_t idx = static_cast<size_t>((b * P + p) * 4 + m);
        const auto& pair = round.pairs[idx];
        SCOPED_TRACE("branch " + std::to_string(b) + ", prompt " + std::to_string(p) + ", transition " +
                     std::to_string(m));
        EXPECT_EQ(pair.prompt, p);
        EXPECT_EQ(pair.timestep, 951 - 50 * (4 + 4 * b + m));
        EXPECT_EQ(pair.shared, m == 0);  // only the branch transition leaves one shared x_t
        if (m > 0) {  // the chains continue: each x_t is its own chain's previous x_prev
          EXPECT_TRUE(at::equal(pair.x_t_w, round.pairs[idx - 1].x_w));
          EXPECT_TRUE(at::equal(pair.x_t_l, round.pairs[idx - 1].x_l));
        } else if (b > 0) {  // a branch starts from the end of one of the previous branch's 2 chains
          const auto& end = round.pairs[static_cast<size_t>(((b - 1) * P + p) * 4 + 3)];
          EXPECT_TRUE(at::equal(pair.x_t_w, end.x_w) || at::equal(pair.x_t_w, end.x_l));
        }
      }
    }
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

// A judge whose scores are given per image row (the round's 2P final images, in order).
class FixedJudge : public evaluator::ImageScorer {
 public:
  explicit FixedJudge(std::vector<float> scores) : scores_(std::move(scores)) {}
  at::Tensor score_images(const at::Tensor& images, const std::vector<std::string>&, const at::Tensor& t,
                          int64_t) override {
    EXPECT_EQ(images.size(0), static_cast<int64_t>(scores_.size()));
    EXPECT_EQ(t.abs().max().item<int64_t>(), 0);  // the final images, judged clean
    return at::tensor(scores_, at::kFloat);
  }

 private:
  std::vector<float> scores_;
};

TEST(D3po, TheLabelIsAStrictComparisonOfTheFinalScores) {
  const auto a = d3po_label(20.0, 20.001);  // far below SPO's threshold, still a preference
  EXPECT_TRUE(a.kept);
  EXPECT_EQ(a.winner, 1);
  EXPECT_EQ(a.loser, 0);
  const auto b = d3po_label(3.0, -1.0);
  EXPECT_TRUE(b.kept);
  EXPECT_EQ(b.winner, 0);
  EXPECT_EQ(b.loser, 1);
  EXPECT_FALSE(d3po_label(5.0, 5.0).kept);  // equal scores: a tie, no loss term
}

// D3PO as its paper defines it: two trajectories from one x_T that diverge at the first
// step, every step trained, the final images' strict preference as the label. The SPO
// settings that shaped the former round (divert start, threshold, kappa) must change nothing.
TEST(D3po, TwoTrajectoriesFromOneXtEveryStepTrainedItsOwnLabels) {
  auto pipe = tiny_pipeline();
  auto s = tiny_settings();  // 4 steps: t = 751, 501, 251, 1
  s.method = Method::D3po;
  s.divert_start_step = 2;
  s.threshold = 0.99;  // SPO's pair rule would call a 0.5-point gap a tie
  s.kappa = 300;       // SPO's cut-off would drop t = 751 and 501
  const std::vector<std::string> prompts = {"a red circle", "a blue square"};
  // Prompt 0: trajectory 1 wins by 0.5; prompt 1: a tie.
  FixedJudge judge({20.0f, 20.5f, 7.0f, 7.0f});
  auto round = run_d3po_round(*pipe, judge, prompts, s, 5);
  EXPECT_EQ(round.stats.model_evaluations, 4 * 4);  // 2 trajectories x 2 prompts at every one of 4 steps
  EXPECT_EQ(round.stats.images_scored, 4);
  EXPECT_EQ(round.stats.pairs_tied, 1);
  EXPECT_EQ(round.stats.pairs_cut, 0);
  ASSERT_EQ(round.stats.pairs_kept, 4);
  ASSERT_EQ(round.pairs.size(), 4u);
  const std::vector<int64_t> ts = {751, 501, 251, 1};
  for (size_t m = 0; m < 4; ++m) {
    const auto& p = round.pairs[m];
    EXPECT_EQ(p.prompt, 0);
    EXPECT_EQ(p.timestep, ts[m]) << m;
    // The first transition leaves the shared x_T; after it the trajectories have their own x_t.
    EXPECT_EQ(p.shared, m == 0) << m;
    EXPECT_EQ(at::equal(p.x_t_w, p.x_t_l), m == 0) << m;
    if (m > 0) {  // each side continues its own trajectory
      EXPECT_TRUE(at::equal(p.x_t_w, round.pairs[m - 1].x_w)) << m;
      EXPECT_TRUE(at::equal(p.x_t_l, round.pairs[m - 1].x_l)) << m;
    }
  }
  // The winner is trajectory 1: its final latent decodes to the image scored 20.5. Swapping the
  // scores swaps the sides of every pair (same seed, same trajectories).
  FixedJudge swapped({20.5f, 20.0f, 7.0f, 7.0f});
  auto mirror = run_d3po_round(*pipe, swapped, prompts, s, 5);
  ASSERT_EQ(mirror.pairs.size(), 4u);
  for (size_t m = 0; m < 4; ++m) {
    EXPECT_TRUE(at::equal(mirror.pairs[m].x_w, round.pairs[m].x_l)) << m;
    EXPECT_TRUE(at::equal(mirror.pairs[m].x_l, round.pairs[m].x_w)) << m;
  }

  auto settings = SpoSettings::from_json({{"method", "d3po"}});
  EXPECT_EQ(settings.method, Method::D3po);
  EXPECT_THROW(SpoSettings::from_json({{"method", "ppo"}}), InvalidArgument);
  // The trainer runs the D3PO rounds with the same update (both sides forwarded).
  auto judge_model = tiny_judge();
  auto p2 = tiny_pipeline();
  TrainRunOptions o;
  o.max_rounds = 1;
  auto result = train_spo(*p2, *judge_model, prompts, s, o);
  EXPECT_EQ(result.sampling_evaluations, 4 * 4);
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
