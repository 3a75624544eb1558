// The DDIM step written as ordinary ATen ops, one line per formula of
// docs/method.md §1: the independent reference the fused kernel is tested against.
#include <cmath>

#include "kernels/ddim_step/ddim_step.h"

namespace spo::kernels {

DdimStepOutputs ddim_step_reference(const DdimStepInputs& in) {
  check_ddim_inputs(in);
  const auto x = in.sample.to(at::kFloat);
  const auto out = in.model_output.to(at::kFloat);
  std::vector<int64_t> bshape(static_cast<size_t>(x.dim()), 1);
  bshape[0] = x.size(0);
  auto per_sample = [&](const at::Tensor& v) { return v.to(at::kFloat).to(x.device()).view(bshape); };

  const auto a_t = in.alpha_t.to(at::kDouble);
  const auto a_prev = in.alpha_prev.to(at::kDouble);
  const auto variance = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev);
  const auto std_dev = in.eta * variance.clamp_min(0).sqrt();
  const auto sqrt_a = per_sample(a_t.sqrt()), sqrt_1ma = per_sample((1 - a_t).sqrt());

  at::Tensor x0, eps;
  switch (in.prediction) {
    case PredictionType::Epsilon:
      eps = out;
      x0 = (x - sqrt_1ma * eps) / sqrt_a;
      break;
    case PredictionType::VPrediction:
      x0 = sqrt_a * x - sqrt_1ma * out;
      eps = sqrt_a * out + sqrt_1ma * x;
      break;
    case PredictionType::Sample:
      x0 = out;
      eps = (x - sqrt_a * x0) / sqrt_1ma;
      break;
  }
  if (in.clip_range > 0) {
    x0 = x0.clamp(-in.clip_range, in.clip_range);
    if (in.use_clipped_model_output) eps = (x - sqrt_a * x0) / sqrt_1ma;
  }
  const auto mean = per_sample(a_prev.sqrt()) * x0 + per_sample((1 - a_prev - std_dev * std_dev).clamp_min(0).sqrt()) * eps;
  at::Tensor prev;
  if (in.prev_sample) prev = in.prev_sample->to(at::kFloat);
  else if (in.noise) prev = mean + per_sample(std_dev) * in.noise->to(at::kFloat);
  else prev = mean;

  const auto s = per_sample(std_dev);
  auto log_prob = -(prev - mean).pow(2) / (2 * s.pow(2)) - s.log() - std::log(std::sqrt(2 * M_PI));
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < x.dim(); ++d) dims.push_back(d);
  DdimStepOutputs r;
  r.prev_sample = prev;
  r.pred_original = x0;
  r.mean = mean;
  r.std = std_dev.to(at::kFloat);
  r.log_prob = dims.empty() ? log_prob : log_prob.mean(dims);
  return r;
}

}  // namespace spo::kernels
