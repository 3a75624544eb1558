// Pipeline::candidates, the SPO sampling primitive (docs/method.md §2): from
// one shared x_t and its guided model output, k next latents with the same
// DDIM mean and independent noise, their log-probabilities, and on request
// their x0 predictions (one guided UNet batch over all prompts x candidates
// at the chains' final timestep) and decoded images. With transitionsPerChain j > 1
// (docs/method.md §2.4) each candidate is first denoised j - 1 further steps.
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "pipeline/images.h"
#include "pipeline/pipeline.h"
#include "runtime/errors.h"
#include "runtime/phase_profile.h"

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
  require(r.max_batch >= 0, "the maximum UNet batch must be >= 0 (0: no limit)");
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
  const auto at_t = std::find(ts.begin(), ts.end(), r.timestep);
  require(at_t != ts.end(), "timestep " + std::to_string(r.timestep) + " is not one of the " +
                                std::to_string(r.steps) + "-step schedule's timesteps");
  require(r.transitions_per_chain >= 1 && r.transitions_per_chain <= 1000, "transitionsPerChain must be an integer in [1, 1000]");
  const auto first = static_cast<int64_t>(at_t - ts.begin());
  const auto remaining = static_cast<int64_t>(ts.size()) - first;
  require(r.transitions_per_chain <= remaining,
          std::to_string(r.transitions_per_chain) + " transitions per chain from timestep " + std::to_string(r.timestep) +
              " run past the schedule's last timestep: only " + std::to_string(remaining) + " steps remain");
  const int64_t n = prompts * r.k;

  // Encoded once, and only when a UNet call needs it (after the branch step).
  std::optional<Conditioning> repeated;
  const auto conditioning = [&]() -> const Conditioning& {
    if (!repeated) {
      if (r.conditioning) {
        require(r.conditioning->batch() == static_cast<int64_t>(r.prompts.size()),
                "candidates: the given conditioning must have one row per prompt");
        repeated = r.conditioning->repeat_rows(r.k);
      } else {
        repeated = encode_prompts(r.prompts, r.negative_prompt, height, width).repeat_rows(r.k);
      }
    }
    return *repeated;
  };
  const int64_t stages = r.transitions_per_chain + (r.predict_x0 || r.decode) + r.decode;

  // Every candidate of a prompt starts from the same x_t and model output:
  // one step over the repeated rows gives the same mean, and independent noise.
  // Each further transition is one guided UNet batch over all prompts x candidates.
  auto x = r.latents.to(options_.device, at::kFloat).repeat_interleave(r.k, 0);
  auto eps = r.model_output.to(options_.device, at::kFloat).repeat_interleave(r.k, 0);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(r.seed);
  CandidateResult result;
  std::vector<at::Tensor> chain, chain_log_probs;
  for (int64_t i = 0; i < r.transitions_per_chain; ++i) {
    const int64_t t = ts[static_cast<size_t>(first + i)];
    diffusion::StepRequest step;
    step.timesteps = at::full({n}, t, at::kLong);
    if (i > 0) {
      ctx.check_cancelled();
      profile::PhaseScope phase(profile::Phase::CandidateUnet);
      eps = guided_model_output(x, step.timesteps, conditioning(), r.guidance_scale, r.max_batch);
    }
    step.sample = x;
    step.model_output = eps;
    step.eta = r.eta;
    step.noise = at::randn(x.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(options_.device);
    const auto drawn = scheduler.step(step);
    x = drawn.prev_sample;
    result.chain_timesteps.push_back(t);
    chain.push_back(per_prompt(x.to(at::kCPU), prompts, r.k));
    chain_log_probs.push_back(drawn.log_prob.to(at::kCPU).view({prompts, r.k}));
    ctx.report({"candidates", i + 1, stages, static_cast<double>(t)});
  }
  result.prev_timestep = scheduler.prev_timestep(result.chain_timesteps.back());
  result.candidates = chain.back();
  result.chain = at::stack(chain, 2);
  result.chain_log_probs = at::stack(chain_log_probs, 2);
  result.log_probs = r.transitions_per_chain == 1 ? chain_log_probs[0] : result.chain_log_probs.sum(2);
  if (!r.predict_x0 && !r.decode) return result;

  ctx.check_cancelled();
  at::Tensor x0;
  if (result.prev_timestep < 0) {
    x0 = x;  // past the last step: the chains end in clean latents
  } else {
    diffusion::StepRequest at_prev;
    at_prev.sample = x;
    at_prev.timesteps = at::full({n}, result.prev_timestep, at::kLong);
    {
      profile::PhaseScope phase(profile::Phase::X0Unet);
      at_prev.model_output = guided_model_output(x, at_prev.timesteps, conditioning(), r.guidance_scale, r.max_batch);
    }
    at_prev.eta = 0.0;  // only its x0 is used
    x0 = scheduler.step(at_prev).pred_original;
    result.model_output = per_prompt(at_prev.model_output.to(at::kCPU), prompts, r.k);
  }
  result.pred_original = per_prompt(x0.to(at::kCPU), prompts, r.k);
  ctx.report({"candidates", r.transitions_per_chain + 1, stages, 0.0});
  if (r.decode) {
    ctx.check_cancelled();
    const auto images = [&] {
      profile::PhaseScope phase(profile::Phase::VaeDecode);
      return decode(x0);
    }();
    result.images = per_prompt(images, prompts, r.k);
    result.pixels = per_prompt(to_rgb8(images), prompts, r.k);
    ctx.report({"candidates", stages, stages, 0.0});
  }
  return result;
}

}  // namespace spo::pipeline
