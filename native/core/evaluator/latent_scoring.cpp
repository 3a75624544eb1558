#include "evaluator/latent_scoring.h"

#include "diffusion/ddim_scheduler.h"
#include "runtime/errors.h"

namespace spo::evaluator {

at::Tensor predicted_images(pipeline::Pipeline& pipe, const LatentImagesRequest& r, const JobContext& ctx) {
  require(r.latents.defined() && r.latents.dim() == 4 && r.latents.size(1) == pipe.latent_channels(),
          "latents must be [batch, " + std::to_string(pipe.latent_channels()) + ", h, w], got " +
              (r.latents.defined() ? c10::str(r.latents.sizes()) : std::string("undefined")));
  const int64_t b = r.latents.size(0);
  require(b >= 1, "latents: the batch is empty");
  require(static_cast<int64_t>(r.prompts.size()) == b,
          std::to_string(b) + " latents but " + std::to_string(r.prompts.size()) + " prompts");
  require(at::isFloatingType(r.latents.scalar_type()) && at::isfinite(r.latents).all().item<bool>(),
          "latents must be finite floating-point values");
  require(r.max_batch >= 0, "maxBatch must be >= 0");
  const auto t = checked_timesteps(r.timesteps, b, "latents");
  at::NoGradGuard no_grad;
  at::Tensor x0 = r.latents.to(at::kFloat);
  if (!r.clean) {
    const int64_t f = pipe.vae_scale_factor();
    auto cond = pipe.encode_prompts(r.prompts, std::nullopt, r.latents.size(2) * f, r.latents.size(3) * f);
    ctx.check_cancelled();
    diffusion::DdimScheduler scheduler(pipe.scheduler_config());
    scheduler.set_timesteps(20);  // fixes prev_t only; the x0 prediction does not depend on it
    diffusion::StepRequest step;
    step.sample = r.latents.to(pipe.options().device, at::kFloat);
    step.timesteps = t;
    step.model_output = pipe.guided_model_output(step.sample, t, cond, r.guidance_scale, r.max_batch);
    step.eta = 0.0;
    x0 = scheduler.step(step).pred_original;
  }
  ctx.check_cancelled();
  const int64_t chunk = r.max_batch > 0 ? r.max_batch : b;
  std::vector<at::Tensor> images;
  for (int64_t s = 0; s < b; s += chunk) {
    images.push_back(pipe.decode(x0.slice(0, s, std::min(b, s + chunk))));
    ctx.check_cancelled();
  }
  return at::cat(images);
}

at::Tensor score_latents(PreferenceModel& model, pipeline::Pipeline& pipe, const LatentImagesRequest& r,
                         const JobContext& ctx) {
  auto images = predicted_images(pipe, r, ctx);
  return model.score_images(images, r.prompts, checked_timesteps(r.timesteps, images.size(0), "latents"),
                            r.max_batch);
}

}  // namespace spo::evaluator
