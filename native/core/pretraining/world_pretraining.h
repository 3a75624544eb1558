// `spo pretrain-world`: every tiny model of the shapes world, trained by the
// engine from nothing but the world's grammar, renderer and judge:
//   1 vae         AutoencoderKL on renders                   -> <out>/base/vae
//   2 diffusion   CLIP text encoder + UNet, epsilon (or v) MSE -> <out>/base/{text_encoder,unet}
//   3 pairs       two base samples per train prompt, judge-labelled (the Pick-a-Pic stand-in)
//   4 clip        contrastive CLIP on renders (the CLIP PickScore starts from)
//   5 plain       preference fine-tune on the clean pairs    -> <out>/evaluator-plain      ("PickScore")
//   6 step-aware  docs/method.md §4 from the plain model             -> <out>/evaluator-step-aware
//   7 step-agnostic the same without t                       -> <out>/evaluator-step-agnostic  (not with rollouts)
//   8 rollout-pairs SPO's candidates judged by where they end  (only with rollout_prompts > 0)
//   9 rollout     the step-aware model trained on them         -> <out>/evaluator-rollout
//  10 rollout-agnostic the same start and pairs, t not seen    -> <out>/evaluator-rollout-agnostic
// A finished stage leaves <out>/stages/<name>.json (its figures); a rerun skips
// it, so an interrupted pretraining continues where it stopped. <out>/report.json
// gathers every stage's figures at the end.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "runtime/job_context.h"

namespace spo::pretraining {

struct WorldPretrainingOptions {
  std::string out_dir;
  uint64_t seed = 1;
  // Multiplies every stage's step count and sample count (tests use ~0.01).
  double scale = 1.0;
  // The shipped models' values: 41 minutes on 2 busy CPU cores with SPO_NUM_THREADS=1 (docs/SHAPES_WORLD.md).
  // The base model's parametrisation, fixed when <out> is first made: "epsilon"
  // (SD-1.5, the shipped models) or "v_prediction" (SD-2.x; its loss at high t
  // rewards knowing the layout from the prompt, docs/SHAPES_WORLD.md item 6).
  std::string prediction = "epsilon";
  // Which world the models learn (world/track.h), fixed when <out> is first made:
  // "relations" (the shipped models) or "scenes" (world v2: renders with defects, judge v2).
  std::string world = "relations";
  // 0: the world's own count. Relations 300; scenes 1000, which with the scenes
  // VAE's edge term keeps the fine defects through encode + decode (suitability
  // check 1, docs/SHAPES_WORLD.md); at 300 they are lost.
  int64_t vae_steps = 0, vae_batch = 32;
  int64_t diffusion_steps = 3600, diffusion_batch = 32;
  // Train and validation prompts sampled and judged for the evaluators' pairs;
  // 0: the world's own (relations 1500 / 200, scenes 1500 / 100).
  int64_t pair_prompts = 0;
  int64_t validation_prompts = 0;
  // Samples per prompt; 0: the world's own. Relations 2: one pair per prompt,
  // ties kept (the shipped models). Scenes 6: every pair of one prompt's
  // samples whose totals are not tied, 15 pairs per prompt before ties
  // (tens of thousands of pairs from 1,500 prompts), cached pass by pass in
  // <out>/work/pairs/ so an interrupted stage resumes.
  int64_t samples_per_prompt = 0;
  // Totals closer than this are a tie (0.1 keeps mostly alignment differences;
  // tried for the evaluators, docs/SHAPES_WORLD.md, without a gain).
  double tie_margin = 0.02;
  int64_t clip_steps = 1500, clip_batch = 64;
  // The share of contrastive captions that name their render's defects
  // ("a red circle, blurry"; defect_captions.h); < 0: the world's own
  // (relations 0: its renders carry none; scenes 0.5).
  double caption_share = -1;
  int64_t plain_steps = 800;         // preference fine-tuning on clean pairs
  int64_t noisy_steps = 500;         // step-aware / step-agnostic training
  double plain_learning_rate = 3e-4, noisy_learning_rate = 1e-4;
  int64_t evaluator_batch = 32;
  // DDIM steps of the base samples and the pairs' samples (eta 1); 0: the
  // world's own: relations 10, scenes 20 (the schedule the world's SPO preset samples with).
  int64_t sampling_steps = 0;
  double guidance_scale = 5.0;
  // Stages 8-9 (off at 0): rollout pairs, SPO's own comparisons (k candidates
  // from one x_t on the 20-step schedule of the world's SPO preset) labelled
  // by the judge on where each candidate ends; the step-aware evaluator
  // trained further on them -> <out>/evaluator-rollout.
  int64_t rollout_prompts = 0;
  int64_t rollout_validation_prompts = 100;
  int64_t rollout_steps = 1000;
  double rollout_learning_rate = 1e-4;
};

// Runs the stages not done yet; returns the report (also written to <out>/report.json).
nlohmann::json pretrain_world(const WorldPretrainingOptions& options, const JobContext& ctx = {});

}  // namespace spo::pretraining
