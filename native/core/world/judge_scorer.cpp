#include "world/judge_scorer.h"

#include <cmath>
#include <string>

#include "runtime/errors.h"
#include "world/judge.h"
#include "world/v2_judge.h"

namespace spo::world {

double judge_total(Track track, const at::Tensor& image, const std::string& prompt) {
  if (track == Track::Scenes) return v2::judge(image, v2::parse_prompt(prompt)).total;
  return judge(image, parse_prompt(prompt)).total;
}

JudgeScorer::JudgeScorer(double scale, Track track) : scale_(scale), track_(track) {
  require(std::isfinite(scale) && scale > 0, "judge scorer: scale must be finite and > 0");
}

at::Tensor JudgeScorer::score_images(const at::Tensor& images, const std::vector<std::string>& prompts,
                                     const at::Tensor& timesteps, int64_t /*max_batch: the judge keeps no batch*/) {
  require(images.dim() == 4 && images.size(1) == 3, "judge scorer: images must be [B, 3, H, W]");
  const int64_t b = images.size(0);
  require(static_cast<int64_t>(prompts.size()) == b && timesteps.numel() == b,
          "judge scorer: " + std::to_string(b) + " images need as many prompts and timesteps");
  const at::Tensor cpu = images.to(at::kCPU, at::kFloat);
  at::Tensor scores = at::empty({b}, at::kFloat);
  float* out = scores.data_ptr<float>();
  for (int64_t i = 0; i < b; ++i)
    out[i] = static_cast<float>(scale_ * judge_total(track_, cpu[i], prompts[static_cast<size_t>(i)]));
  return scores;
}

}  // namespace spo::world
