#include "evaluator/rollout_scorer.h"

#include <cmath>

#include "diffusion/ddim_scheduler.h"
#include "runtime/errors.h"

namespace spo::evaluator {

at::Tensor continue_to_clean(pipeline::Pipeline& pipe, const at::Tensor& latents,
                             const std::vector<std::string>& prompts, int64_t t, const RolloutOptions& o,
                             int64_t max_batch) {
  require(latents.dim() == 4 && latents.size(1) == pipe.latent_channels(),
          "rollout: latents must be [batch, " + std::to_string(pipe.latent_channels()) + ", h, w]");
  require(static_cast<int64_t>(prompts.size()) == latents.size(0), "rollout: one prompt per latent");
  require(t >= 1 && t < pipe.scheduler_config().num_train_timesteps, "rollout: t must be a noisy timestep");
  at::NoGradGuard no_grad;
  diffusion::DdimScheduler scheduler(pipe.scheduler_config());
  scheduler.set_timesteps(o.steps);
  const int64_t f = pipe.vae_scale_factor();
  auto cond = pipe.encode_prompts(prompts, std::nullopt, latents.size(2) * f, latents.size(3) * f);
  auto x = latents.to(pipe.options().device, at::kFloat);
  // Walk t, prev(t), ... while noisy; the step from the last one lands on clean latents.
  for (int64_t cur = t; cur >= 1; cur = scheduler.prev_timestep(cur)) {
    diffusion::StepRequest step;
    step.sample = x;
    step.timesteps = at::full({x.size(0)}, cur, at::kLong);
    step.model_output = pipe.guided_model_output(x, step.timesteps, cond, o.guidance_scale, max_batch);
    step.eta = 0.0;
    x = scheduler.step(step).prev_sample;
  }
  return x.to(at::kCPU);
}

RolloutScorer::RolloutScorer(pipeline::Pipeline& pipe, ImageScorer& final_scorer, RolloutOptions options)
    : pipe_(pipe), final_(final_scorer), options_(options) {
  require(options_.steps >= 1 && options_.steps <= pipe.scheduler_config().num_train_timesteps,
          "rollout: steps must be in [1, numTrainTimesteps]");
  require(std::isfinite(options_.guidance_scale), "rollout: guidance scale must be finite");
}

at::Tensor RolloutScorer::score_images(const at::Tensor& images, const std::vector<std::string>& prompts,
                                       const at::Tensor& timesteps, int64_t max_batch) {
  if (!(timesteps == 0).all().item<bool>())
    throw InvalidArgument("rollout scorer: noisy candidates need their latents (score_candidates)");
  return final_.score_images(images, prompts, timesteps, max_batch);
}

at::Tensor RolloutScorer::score_candidates(const at::Tensor& images, const at::Tensor& latents,
                                           const std::vector<std::string>& prompts, const at::Tensor& timesteps,
                                           int64_t max_batch) {
  const int64_t b = images.size(0);
  require(latents.defined() && latents.size(0) == b && timesteps.numel() == b,
          "rollout scorer: one latent and one timestep per image");
  const auto ts = timesteps.to(at::kCPU, at::kLong).contiguous();
  auto finals = images.to(at::kCPU, at::kFloat).clone();
  // Rows at the same t continue together (the round gives one t per call).
  auto unique = std::get<0>(at::_unique(ts));
  for (int64_t u = 0; u < unique.numel(); ++u) {
    const int64_t t = unique[u].item<int64_t>();
    if (t == 0) continue;  // already clean: its decoded image is final
    auto rows = (ts == t).nonzero().flatten();
    std::vector<std::string> row_prompts;
    for (int64_t r = 0; r < rows.numel(); ++r) row_prompts.push_back(prompts[static_cast<size_t>(rows[r].item<int64_t>())]);
    auto clean = continue_to_clean(pipe_, latents.index_select(0, rows), row_prompts, t, options_, max_batch);
    const int64_t chunk = max_batch > 0 ? max_batch : clean.size(0);
    std::vector<at::Tensor> decoded;
    for (int64_t s = 0; s < clean.size(0); s += chunk)
      decoded.push_back(pipe_.decode(clean.slice(0, s, std::min(clean.size(0), s + chunk))).to(at::kCPU, at::kFloat));
    finals.index_copy_(0, rows, at::cat(decoded));
  }
  return final_.score_images(finals, prompts, at::zeros({b}, at::kLong), max_batch);
}

}  // namespace spo::evaluator
