#include "diffusion/ddim_sampler.h"

#include <ATen/CPUGeneratorImpl.h>

#include "runtime/errors.h"

namespace spo::diffusion {

SampleResult ddim_sample(DdimScheduler& scheduler, const NoisePredictor& model, const SampleRequest& req,
                         const JobContext& ctx) {
  require(!req.shape.empty() && req.shape[0] >= 1, "the sample shape needs a batch dimension of at least 1");
  int64_t numel = 1;
  for (auto d : req.shape) {
    require(d >= 1 && d <= (int64_t{1} << 20), "every sample dimension must be an integer in [1, 2^20]");
    numel *= d;
    require(numel <= (int64_t{1} << 31), "the sample is too large (over 2^31 elements)");
  }
  scheduler.set_timesteps(req.steps);
  const int64_t batch = req.shape[0];
  auto gen = at::make_generator<at::CPUGeneratorImpl>(req.seed);
  auto x = at::randn(req.shape, gen, at::TensorOptions().dtype(at::kFloat));

  const auto& ts = scheduler.timesteps();
  SampleResult result;
  result.timesteps = at::tensor(ts, at::kLong);
  result.log_probs = at::empty({static_cast<int64_t>(ts.size()), batch}, at::kFloat);
  for (size_t i = 0; i < ts.size(); ++i) {
    ctx.check_cancelled();
    const auto t = at::full({batch}, ts[i], at::kLong);
    const auto a = at::full({batch}, scheduler.alpha_cumprod_at(ts[i]), at::kDouble);
    StepRequest step;
    step.sample = x;
    step.model_output = model(x, t, a);
    step.timesteps = t;
    step.eta = req.eta;
    step.noise = at::randn(req.shape, gen, at::TensorOptions().dtype(at::kFloat));
    auto out = scheduler.step(step);
    x = out.prev_sample;
    result.log_probs[static_cast<int64_t>(i)].copy_(out.log_prob);
    result.step_means.push_back(x.mean().item<double>());
    result.step_stds.push_back(x.std().item<double>());
    ctx.report({"denoise", static_cast<int64_t>(i + 1), static_cast<int64_t>(ts.size()),
                out.log_prob.mean().item<double>()});
  }
  result.sample = x;
  return result;
}

}  // namespace spo::diffusion
