// Judge v2 as an SPO image scorer (the oracle row for world v2), like
// judge_scorer.h for the relation world: each image's total against its
// main-track prompt, the same at every timestep.
#pragma once
#include "evaluator/image_scorer.h"

namespace spo::world::v2 {

class JudgeScorer : public evaluator::ImageScorer {
 public:
  // score = scale * judge v2 total (total in [0, 1]).
  explicit JudgeScorer(double scale = 10.0);
  // Throws InvalidArgument for images not [B, 3, H, W], a prompt or timestep
  // count other than B, or a prompt the main-track grammar cannot read.
  at::Tensor score_images(const at::Tensor& images, const std::vector<std::string>& prompts,
                          const at::Tensor& timesteps, int64_t max_batch) override;
  double scale() const { return scale_; }

 private:
  double scale_;
};

}  // namespace spo::world::v2
