// Training the latent preference model by the pixel model's recipe
// (docs/method.md §4, preference_training.h), minus the denoise-and-decode:
// for each pair ONE t ~ U{0..T-1} and ONE noise for both images; both are
// VAE-encoded (a fresh posterior sample each step), noised to x_t, and the
// model scores x_t at t; the soft-label cross-entropy with per-prompt weights
// (preference_loss.h) updates the scoring network with AdamW, warm-up then
// linear decay, and gradient-norm clipping. The text tower stays frozen.
//
// The VAE's posterior (mean, std) of every pair image is computed once up
// front: the encoder is deterministic, so mean + std * fresh noise is exactly
// the sample a per-step encode would give, at a fraction of the cost.
// Step s draws its batch, t and noises from generators seeded by (seed, s).
#pragma once
#include <cstdint>
#include <vector>

#include "evaluator/latent_preference_model.h"
#include "evaluator/preference_training.h"
#include "pipeline/pipeline.h"
#include "runtime/job_context.h"

namespace spo::evaluator {

struct LatentTrainingOptions {
  int64_t steps = 2000;
  int64_t batch_size = 32;
  // A network trained from scratch: far larger than the pixel model's fine-tuning rate.
  double learning_rate = 1e-3;
  double weight_decay = 0.01;
  double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
  int64_t warmup_steps = 100;
  double max_grad_norm = 1.0;  // <= 0: no clipping
  uint64_t seed = 42;
  std::vector<int64_t> validation_timesteps{0, 251, 501, 701, 951};
  int64_t validate_every = 0;  // 0: only after the last step
  int64_t max_batch = 0;       // > 0: at most this many rows per VAE / network call
};

struct LatentTrainingResult {
  int64_t steps_done = 0;
  std::vector<double> losses;  // one per step
  std::vector<ValidationReport> validations;
};

// Progress: stage "train" per step (loss, lr, gradNorm), "validate" (accuracy@t).
LatentTrainingResult train_latent_preference_model(LatentPreferenceModel& model, pipeline::Pipeline& pipe,
                                                   const std::vector<PreferencePair>& train,
                                                   const std::vector<PreferencePair>& validation,
                                                   const LatentTrainingOptions& options, const JobContext& ctx = {});

// Pair accuracy at each timestep: both images of a pair noised with the same
// noise (and, for every t, the same noise again), scored at t.
ValidationReport validate_latent_preference_model(LatentPreferenceModel& model, pipeline::Pipeline& pipe,
                                                  const std::vector<PreferencePair>& pairs,
                                                  const std::vector<int64_t>& timesteps, uint64_t seed,
                                                  int64_t max_batch, const JobContext& ctx = {});

}  // namespace spo::evaluator
