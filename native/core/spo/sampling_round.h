// One SPO sampling round (docs/method.md §2) over a batch of prompts: ordinary
// stochastic DDIM up to divert_start_step, then at every branch step k
// candidates from the shared latent (its guided output reused, never
// recomputed), each scored by the preference model on the decoded x0
// prediction at its own timestep (t = 0 for clean latents), the pair rule, and
// the resampler. Kept pairs are the update's training data.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "evaluator/image_scorer.h"
#include "pipeline/pipeline.h"
#include "runtime/job_context.h"
#include "spo/spo_settings.h"

namespace spo::trainer {

// One training transition pair: winner and loser next latents from x_t.
struct TransitionPair {
  int64_t prompt = 0;    // index into the round's prompts
  int64_t timestep = 0;  // t of x_t
  at::Tensor x_t_w, x_t_l;  // [C, h, w] fp32 CPU; the same tensor when shared
  at::Tensor x_w, x_l;      // x_prev of winner and loser
  bool shared = true;       // x_t_w == x_t_l: one policy and one reference forward serve both
  double margin = 0.0;      // the pair rule's softmax difference
};

struct RoundStats {
  int64_t branch_steps = 0;
  int64_t pairs_kept = 0;         // transition pairs stored
  int64_t pairs_tied = 0;         // comparisons below the threshold (no loss term)
  int64_t pairs_cut = 0;          // comparisons at t > kappa
  int64_t model_evaluations = 0;  // guided UNet evaluations of one latent (both CFG halves) while sampling
  int64_t images_scored = 0;
};

struct SamplingRound {
  std::vector<TransitionPair> pairs;
  RoundStats stats;
};

// `seed` fixes x_T, every step's noise, the resampler's and the random pair
// selection's draws. Progress: stage "sample", one event per denoising step.
SamplingRound run_sampling_round(pipeline::Pipeline& pipe, evaluator::ImageScorer& judge,
                                 const std::vector<std::string>& prompts, const SpoSettings& settings, uint64_t seed,
                                 const JobContext& ctx = {});

// The pair of one comparison (k scores): best-worst by the pair rule, or two
// distinct random candidates drawn with `gen` (margin from their scores).
struct Choice {
  int64_t winner = 0, loser = 0;
  double margin = 0.0;
  bool kept = false;
};
Choice choose(const std::vector<double>& scores, const SpoSettings& settings, at::Generator& gen);

// The resampler's next candidate (Random draws with `gen`); not for Resampler::None.
int64_t resample(const Choice& choice, int64_t k, Resampler mode, at::Generator& gen);

}  // namespace spo::trainer
