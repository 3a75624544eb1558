// Pipeline::candidates, the SPO sampling primitive (SPEC.md section 2): from
// one shared x_t and its guided model output, k next latents with the same
// DDIM mean and independent noise, their log-probabilities, and on request
// their x0 predictions (one guided UNet batch over all prompts x candidates
// at prev_t) and decoded images.
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "pipeline/images.h"
#include "pipeline/pipeline.h"
#include "runtime/errors.h"

namespace spo::pipeline {
namespace {

// [P*k, ...] -> [P, k, ...]
at::Tensor per_prompt(const at::Tensor& t, int64_t prompts, int64_t k) {
  std::vector<int64_t> shape{prompts, k};
  for (int64_t d = 1; d < t.dim(); ++d) shape.push_back(t.size(d));
  return t.reshape(shape);
}

}  // namespace

CandidateResult Pipeline::candidates(const CandidateRequest& r, const JobContext& ctx) {
  at::NoGradGuard no_grad;
  const auto prompts = static_cast<int64_t>(r.prompts.size());
  require(prompts >= 1, "at least one prompt is needed");
  require(r.k >= 1 && r.k <= 1024, "k (candidates per prompt) must be an integer in [1, 1024]");
  require(r.latents.defined() && r.latents.dim() == 4 && r.latents.size(0) == prompts &&
              r.latents.size(1) == latent_channels(),
          "latents must be [P, " + std::to_string(latent_channels()) + ", h, w] with one row per prompt");
  require(r.model_output.defined() && r.model_output.sizes() == r.latents.sizes(),
          "the model output must have the latents' shape");
  const int64_t height = r.latents.size(2) * vae_scale_factor(), width = r.latents.size(3) * vae_scale_factor();
  check_size(height, width);

  diffusion::DdimScheduler scheduler(scheduler_config_);
  scheduler.set_timesteps(r.steps);
  const auto& ts = scheduler.timesteps();
  require(std::find(ts.begin(), ts.end(), r.timestep) != ts.end(),
          "timestep " + std::to_string(r.timestep) + " is not one of the " + std::to_string(r.steps) +
              "-step schedule's timesteps");
  const int64_t n = prompts * r.k;

  // Every candidate of a prompt starts from the same x_t and model output:
  // one step over the repeated rows gives the same mean, and independent noise.
  const auto x = r.latents.to(options_.device, at::kFloat).repeat_interleave(r.k, 0);
  diffusion::StepRequest step;
  step.sample = x;
  step.model_output = r.model_output.to(options_.device, at::kFloat).repeat_interleave(r.k, 0);
  step.timesteps = at::full({n}, r.timestep, at::kLong);
  step.eta = r.eta;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(r.seed);
  step.noise = at::randn(x.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(options_.device);
  const auto drawn = scheduler.step(step);

  CandidateResult result;
  result.prev_timestep = scheduler.prev_timestep(r.timestep);
  result.candidates = per_prompt(drawn.prev_sample.to(at::kCPU), prompts, r.k);
  result.log_probs = drawn.log_prob.to(at::kCPU).view({prompts, r.k});
  const int64_t stages = 1 + (r.predict_x0 || r.decode) + r.decode;
  ctx.report({"candidates", 1, stages, 0.0});
  if (!r.predict_x0 && !r.decode) return result;

  ctx.check_cancelled();
  at::Tensor x0;
  if (result.prev_timestep < 0) {
    x0 = drawn.prev_sample;  // the last step: candidates are clean latents already
  } else {
    const auto conditioning = encode_prompts(r.prompts, r.negative_prompt, height, width).repeat_rows(r.k);
    diffusion::StepRequest at_prev;
    at_prev.sample = drawn.prev_sample;
    at_prev.timesteps = at::full({n}, result.prev_timestep, at::kLong);
    at_prev.model_output = guided_model_output(drawn.prev_sample, at_prev.timesteps, conditioning, r.guidance_scale);
    at_prev.eta = 0.0;  // only its x0 is used
    x0 = scheduler.step(at_prev).pred_original;
    result.model_output = per_prompt(at_prev.model_output.to(at::kCPU), prompts, r.k);
  }
  result.pred_original = per_prompt(x0.to(at::kCPU), prompts, r.k);
  ctx.report({"candidates", 2, stages, 0.0});
  if (r.decode) {
    ctx.check_cancelled();
    const auto images = decode(x0);
    result.images = per_prompt(images, prompts, r.k);
    result.pixels = per_prompt(to_rgb8(images), prompts, r.k);
    ctx.report({"candidates", 3, stages, 0.0});
  }
  return result;
}

}  // namespace spo::pipeline
