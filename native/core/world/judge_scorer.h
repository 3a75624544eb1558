// The shapes world's judge as an SPO image scorer: the oracle row of
// `spo experiment`. It scores the decoded x0 prediction of every candidate
// against its prompt, the same at every timestep, so it shows what SPO could
// reach with an evaluator that agreed with the judge perfectly.
#pragma once
#include "evaluator/image_scorer.h"

namespace spo::world {

class JudgeScorer : public evaluator::ImageScorer {
 public:
  // score = scale * judge total (total in [0, 1]); the pair rule's softmax
  // threshold 0.3 then needs totals apart by ln(1.3 / 0.7) / scale.
  explicit JudgeScorer(double scale = 10.0);
  at::Tensor score_images(const at::Tensor& images, const std::vector<std::string>& prompts,
                          const at::Tensor& timesteps, int64_t max_batch) override;
  double scale() const { return scale_; }

 private:
  double scale_;
};

}  // namespace spo::world
