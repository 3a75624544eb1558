// Scoring an SPO candidate by where it leads: its latent at t continued to
// t = 0 by deterministic DDIM (eta 0) under the pipeline as it is now (LoRA
// included), decoded, and scored at t = 0 by another scorer. With the shapes
// world's judge inside, this is the oracle of the *final* preference that the
// step-aware evaluator is meant to approximate (docs/method.md §4), as opposed
// to a verdict on the candidate's blurry x0 prediction.
#pragma once
#include "evaluator/image_scorer.h"
#include "pipeline/pipeline.h"

namespace spo::evaluator {

struct RolloutOptions {
  int64_t steps = 20;           // the sampling schedule's inference steps (fixes each step's prev t)
  double guidance_scale = 5.0;  // as the sampling round's
};

// Continues `latents` ([B, C, h, w] at `t` >= 1, the same t for every row) to
// clean latents with the schedule's steps below t, eta 0. No gradients.
at::Tensor continue_to_clean(pipeline::Pipeline& pipe, const at::Tensor& latents,
                             const std::vector<std::string>& prompts, int64_t t, const RolloutOptions& options,
                             int64_t max_batch);

class RolloutScorer : public ImageScorer {
 public:
  // Both must outlive the scorer; `final_scorer` sees decoded clean images at t = 0.
  RolloutScorer(pipeline::Pipeline& pipe, ImageScorer& final_scorer, RolloutOptions options);
  // Images alone cannot be continued: only clean ones (t = 0) are scored here.
  at::Tensor score_images(const at::Tensor& images, const std::vector<std::string>& prompts,
                          const at::Tensor& timesteps, int64_t max_batch) override;
  at::Tensor score_candidates(const at::Tensor& images, const at::Tensor& latents,
                              const std::vector<std::string>& prompts, const at::Tensor& timesteps,
                              int64_t max_batch) override;

 private:
  pipeline::Pipeline& pipe_;
  ImageScorer& final_;
  RolloutOptions options_;
};

}  // namespace spo::evaluator
