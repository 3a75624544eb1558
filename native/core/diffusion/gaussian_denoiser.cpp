#include "diffusion/gaussian_denoiser.h"

#include "runtime/errors.h"

namespace spo::diffusion {

at::Tensor GaussianDenoiser::predict_noise(const at::Tensor& x_t, const at::Tensor& alpha_cumprod) const {
  require(std::isfinite(mean) && std::isfinite(std) && std > 0, "the Gaussian target needs a finite mean and std > 0");
  std::vector<int64_t> shape(static_cast<size_t>(x_t.dim()), 1);
  shape[0] = x_t.size(0);
  const auto a = alpha_cumprod.to(at::kDouble).view(shape);
  const auto gain = ((1 - a).sqrt() / (a * (std * std) + (1 - a))).to(at::kFloat);
  return gain * (x_t.to(at::kFloat) - a.sqrt().to(at::kFloat) * static_cast<float>(mean));
}

std::pair<double, double> GaussianDenoiser::chain_moments(const DdimScheduler& scheduler, double eta) const {
  double m = 0.0, v = 1.0;
  for (int64_t t : scheduler.timesteps()) {
    const double a = scheduler.alpha_cumprod_at(t);
    const double ap = scheduler.alpha_cumprod_prev(scheduler.prev_timestep(t));
    const double gain = std::sqrt(1 - a) / (a * std * std + 1 - a);  // eps = gain * (x - sqrt(a) mean)
    const auto c = kernels::ddim_coefficients(a, ap, eta);
    // x_prev = sqrt(ap) * x0 + direction * eps + std_t * z, with x0 = (x - sqrt(1-a) eps) / sqrt(a)
    const double slope = std::sqrt(ap) * (1 - std::sqrt(1 - a) * gain) / std::sqrt(a) + double(c.direction) * gain;
    const double offset = (std::sqrt(ap) * std::sqrt(1 - a) - double(c.direction) * std::sqrt(a)) * gain * mean;
    m = slope * m + offset;
    v = slope * slope * v + double(c.std) * double(c.std);
  }
  return {m, std::sqrt(v)};
}

}  // namespace spo::diffusion
