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

}  // namespace spo::diffusion
