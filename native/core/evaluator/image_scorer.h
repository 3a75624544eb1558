// What SPO's sampling rounds need from a preference model: a score per
// (image, prompt, timestep). The learned step-aware model is one; the shapes
// world's programmatic judge (world/judge_scorer.h) is another, an oracle that
// bounds what a perfect evaluator could give.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace spo::evaluator {

class ImageScorer {
 public:
  virtual ~ImageScorer() = default;
  // Images [B, 3, H, W] in about [-1, 1], one prompt and one timestep per image
  // -> scores [B] fp32 CPU, no gradients, in chunks of at most max_batch images
  // (0: one batch). Scores are on a logit scale: the pair rule compares their
  // softmax.
  virtual at::Tensor score_images(const at::Tensor& images, const std::vector<std::string>& prompts,
                                  const at::Tensor& timesteps, int64_t max_batch) = 0;

  // SPO's candidates, with their latents at `timesteps` ([B, C, h, w], clean
  // at t = 0) besides the decoded x0 predictions. A scorer that judges where a
  // candidate leads rather than how its x0 prediction looks (RolloutScorer)
  // overrides this; the rest score the images.
  virtual at::Tensor score_candidates(const at::Tensor& images, const at::Tensor& /*latents*/,
                                      const std::vector<std::string>& prompts, const at::Tensor& timesteps,
                                      int64_t max_batch) {
    return score_images(images, prompts, timesteps, max_batch);
  }

  // False for a scorer that judges the candidates' latents alone (the latent
  // evaluator): SPO's round then skips the x0 prediction and the VAE decode.
  virtual bool needs_images() const { return true; }
};

}  // namespace spo::evaluator
