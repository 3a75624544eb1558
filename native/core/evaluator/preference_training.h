// Training the step-aware preference model on preference pairs (docs/method.md
// §4): for each pair ONE t ~ U{0..T-1} and ONE noise for both images;
// both are VAE-encoded, noised to x_t, denoised to x0_hat by the frozen base
// model (guided), decoded, preprocessed and scored at t; the soft-label
// cross-entropy (preference_loss.h) updates every weight of the model with
// AdamW, warm-up then linear decay, and gradient-norm clipping.
//
// Reproducible and resumable without saving RNG states: step s draws its
// batch, t, noise and VAE samples from generators seeded by (seed, s), and
// epoch e's order from (seed, e), so a resumed run repeats the uninterrupted one.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "distributed/rendezvous.h"
#include "evaluator/preference_model.h"
#include "pipeline/pipeline.h"
#include "runtime/job_context.h"

namespace spo::evaluator {

struct PreferencePair {
  std::string prompt;
  at::Tensor image_0, image_1;  // [3, H, W] in [-1, 1]; every pair of a set has the same size
  double label_0 = 0.5;         // probability image 0 is preferred: 1, 0 or 0.5 (tie)
  // Clean mode only: the timestep both images are scored at. 0 for final
  // images; t for decoded x0 predictions of latents at t (rollout pairs).
  int64_t timestep = 0;
};

struct PreferenceTrainingOptions {
  int64_t steps = 8000;
  int64_t batch_size = 16;
  double learning_rate = 3e-6;
  double weight_decay = 0.3;
  double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
  int64_t warmup_steps = 500;
  double max_grad_norm = 1.0;  // <= 0: no clipping
  double guidance_scale = 5.0;
  uint64_t seed = 42;
  std::vector<int64_t> validation_timesteps{0, 251, 501, 701, 951};
  int64_t validate_every = 0;    // 0: only after the last step
  std::string checkpoint_dir;    // "": no checkpoints
  int64_t checkpoint_every = 0;  // 0: only after the last step (when checkpoint_dir is set)
  bool resume = true;            // continue from checkpoint_dir's latest checkpoint if there is one
  int64_t max_batch = 0;         // > 0: at most this many rows per UNet / VAE / CLIP call
  // Score the pair images themselves at each pair's own timestep (no noise, no
  // denoiser): how a plain model (PickScore) is fine-tuned on clean preference
  // pairs (timestep 0), and how the step-aware model learns from rollout pairs
  // whose images are already x0 predictions at t. The settings key of
  // checkpoints includes it, so a clean run never resumes a noised one.
  bool clean = false;
  // Data parallel over W ranks (world size 1: as without). Each step's global
  // batch is batch_size x W pairs, drawn (pairs, t, noise, VAE samples) on
  // every rank exactly as one process with batch_size x W draws them; rank r
  // computes the loss of the global batch's r-th contiguous slice, the
  // gradients are averaged across the ranks, then clipping and AdamW as
  // without. So W ranks take the steps of one process with batch_size x W.
  // Rank 0 alone validates, writes checkpoints and reports progress; every
  // rank resumes from checkpoint_dir (which must be shared).
  std::optional<distributed::RendezvousOptions> distributed;
};

struct ValidationReport {
  int64_t step = 0;
  std::vector<int64_t> timesteps;
  std::vector<double> accuracy;  // per timestep: share of non-tie pairs ranked as labelled
  int64_t pairs = 0;             // non-tie pairs counted
};

struct PreferenceTrainingResult {
  int64_t start_step = 0;       // > 0 when resumed
  int64_t steps_done = 0;       // the step counter at the end
  std::vector<double> losses;   // one per step run in this call
  std::vector<ValidationReport> validations;
  std::vector<std::string> checkpoints;  // directories written (rank 0 only)
  int64_t rank = 0, world_size = 1;      // this process's rank and the number of ranks
};

// The learning rate of update `step` (0-based): linear warm-up over
// (step + 1) / warmup, then linear decay to 0 at `total`.
double warmup_linear_lr(double base, int64_t step, int64_t warmup, int64_t total);

// Checks a pair set: non-empty, finite [3, H, W] images all of one size, labels in {0, 0.5, 1}.
// Messages name the pair by its index ("pair 12").
void check_pairs(const std::vector<PreferencePair>& pairs, const std::string& what);

PreferenceTrainingResult train_preference_model(PreferenceModel& model, pipeline::Pipeline& pipe,
                                                const std::vector<PreferencePair>& train,
                                                const std::vector<PreferencePair>& validation,
                                                const PreferenceTrainingOptions& options, const JobContext& ctx = {});

// Pair accuracy at each timestep on `pairs` (same noise for both images of a pair);
// `clean`: of the images themselves at each pair's own timestep, the same
// figure reported at every listed timestep.
ValidationReport validate_preference_model(PreferenceModel& model, pipeline::Pipeline& pipe,
                                           const std::vector<PreferencePair>& pairs,
                                           const std::vector<int64_t>& timesteps, double guidance_scale,
                                           uint64_t seed, int64_t max_batch, const JobContext& ctx = {},
                                           bool clean = false);

}  // namespace spo::evaluator
