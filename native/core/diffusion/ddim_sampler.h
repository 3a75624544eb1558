// A full DDIM sampling loop over any noise predictor, with the per-step
// log-probability of each transition: the trajectory SPO branches from.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <vector>

#include "diffusion/ddim_scheduler.h"
#include "runtime/job_context.h"

namespace spo::diffusion {

// (x_t, per-sample t as [B] int64, per-sample alpha_bar as [B] float64) -> model output.
using NoisePredictor = std::function<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&)>;

struct SampleRequest {
  std::vector<int64_t> shape;  // [B, C, H, W] (any rank >= 1)
  int64_t steps = 20;
  double eta = 1.0;
  uint64_t seed = 42;
};

struct SampleResult {
  at::Tensor sample;                // x_0 [B, ...]
  at::Tensor timesteps;             // [steps] int64
  at::Tensor log_probs;             // [steps, B]: log p(x_prev | x_t) of each transition
  std::vector<double> step_means;   // mean of x_prev after each step
  std::vector<double> step_stds;    // std of x_prev after each step
};

// Draws x_T ~ N(0, I) from `seed`, runs every step, checking `ctx` between steps
// and reporting progress ("denoise", step, steps, mean log-prob of the step).
SampleResult ddim_sample(DdimScheduler& scheduler, const NoisePredictor& model, const SampleRequest& request,
                         const JobContext& ctx);

}  // namespace spo::diffusion
