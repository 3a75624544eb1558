// The exact noise predictor for Gaussian data x0 ~ N(mean, std^2) per element:
// E[eps | x_t] = sqrt(1 - a) (x_t - sqrt(a) mean) / (a std^2 + 1 - a).
// It is the optimum a trained model approximates, so DDIM driven by it must
// land on N(mean, std^2): the demo and tests use it to check the sampler end
// to end before any network exists.
#pragma once
#include <ATen/ATen.h>

#include "diffusion/ddim_scheduler.h"

namespace spo::diffusion {

struct GaussianDenoiser {
  double mean = 0.0;
  double std = 1.0;

  // eps prediction for x_t at per-sample alpha_bar values ([B] float64).
  at::Tensor predict_noise(const at::Tensor& x_t, const at::Tensor& alpha_cumprod) const;

  // With this denoiser each DDIM step is affine in x_t, so a chain started at
  // N(0, 1) stays Gaussian: its final (mean, std) over the scheduler's current
  // timesteps, in closed form. Shows how far discretisation keeps DDIM from the target.
  std::pair<double, double> chain_moments(const DdimScheduler& scheduler, double eta) const;
};

}  // namespace spo::diffusion
