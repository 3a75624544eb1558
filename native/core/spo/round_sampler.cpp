#include "spo/round_sampler.h"

#include <ATen/CPUGeneratorImpl.h>

#include <optional>

#include "runtime/errors.h"
#include "runtime/phase_profile.h"

namespace spo::trainer {
namespace {

const SpoSettings& checked(const SpoSettings& s, const std::vector<std::string>& prompts, const std::string& round) {
  s.validate();
  require(!prompts.empty(), round + ": no prompts");
  return s;
}

}  // namespace

RoundSampler::RoundSampler(pipeline::Pipeline& pipe, const std::vector<std::string>& prompts,
                           const SpoSettings& settings, uint64_t seed, const std::string& round)
    : gen(at::make_generator<at::CPUGeneratorImpl>(seed)),
      pipe_(pipe),
      settings_(checked(settings, prompts, round)),
      height_(settings.height ? settings.height : pipe.default_size()),
      width_(settings.width ? settings.width : pipe.default_size()),
      scheduler_(pipe.scheduler_config()) {
  scheduler_.set_timesteps(settings.steps);
}

pipeline::Conditioning RoundSampler::encode(const std::vector<std::string>& prompts) const {
  return pipe_.encode_prompts(prompts, std::nullopt, height_, width_);
}

at::Tensor RoundSampler::initial_latents(int64_t rows) {
  const int64_t f = pipe_.vae_scale_factor();
  return at::randn({rows, pipe_.latent_channels(), height_ / f, width_ / f}, gen, at::kFloat);
}

at::Tensor RoundSampler::step(const at::Tensor& x, int64_t i, const pipeline::Conditioning& cond) {
  const auto& s = settings_;
  diffusion::StepRequest step;
  step.sample = x.to(pipe_.options().device);
  step.timesteps = at::full({x.size(0)}, timesteps()[static_cast<size_t>(i)], at::kLong);
  {
    profile::PhaseScope phase(profile::Phase::CandidateUnet);
    step.model_output = pipe_.guided_model_output(step.sample, step.timesteps, cond, s.guidance_scale, s.max_batch);
  }
  step.eta = s.eta;
  step.noise = at::randn(x.sizes(), gen, at::kFloat).to(step.sample.device());
  return scheduler_.step(step).prev_sample.to(at::kCPU);
}

}  // namespace spo::trainer
