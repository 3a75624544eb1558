// The shapes world's judge as an SPO image scorer: the oracle row of
// `spo experiment`. It scores the decoded image of every candidate against its
// prompt with the judge of one track (chosen at construction), the same at
// every timestep, so it shows what SPO could reach with an evaluator that
// agreed with the judge perfectly.
#pragma once
#include "evaluator/image_scorer.h"
#include "world/track.h"

namespace spo::world {

// The track's judge total of one image [3, H, W] in [-1, 1]; the track's
// grammar reads the prompt (InvalidArgument where it cannot).
double judge_total(Track track, const at::Tensor& image, const std::string& prompt);

class JudgeScorer : public evaluator::ImageScorer {
 public:
  // score = scale * the track's judge total (total in [0, 1]): the relation
  // judge (judge.h) or judge v2 (v2_judge.h). The pair rule's softmax
  // threshold 0.3 then needs totals apart by ln(1.3 / 0.7) / scale.
  // InvalidArgument unless scale is finite and > 0.
  explicit JudgeScorer(double scale = 10.0, Track track = Track::Relations);
  // Throws InvalidArgument for images not [B, 3, H, W], a prompt or timestep
  // count other than B, or a prompt the track's grammar cannot read.
  at::Tensor score_images(const at::Tensor& images, const std::vector<std::string>& prompts,
                          const at::Tensor& timesteps, int64_t max_batch) override;
  double scale() const { return scale_; }
  Track track() const { return track_; }

 private:
  double scale_;
  Track track_;
};

}  // namespace spo::world
