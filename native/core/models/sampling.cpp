#include "models/sampling.h"

#include <ATen/ATen.h>

#include "runtime/errors.h"

namespace spo::models {

Downsample2DImpl::Downsample2DImpl(int64_t channels, int64_t out_channels, int64_t padding_,
                                   const at::TensorOptions& options)
    : padding(padding_) {
  require(channels > 0 && out_channels > 0, "Downsample2D: channel counts must be positive");
  require(padding_ == 0 || padding_ == 1, "Downsample2D: padding must be 0 or 1");
  conv = register_module("conv", Conv2d(channels, out_channels, 3, 2, padding_, true, options));
}

at::Tensor Downsample2DImpl::forward(const at::Tensor& x) {
  // The VAE's asymmetric padding: one zero row/column at the bottom/right only.
  if (padding == 0) return conv(at::constant_pad_nd(x, {0, 1, 0, 1}, 0));
  return conv(x);
}

Upsample2DImpl::Upsample2DImpl(int64_t channels, int64_t out_channels, const at::TensorOptions& options) {
  require(channels > 0 && out_channels > 0, "Upsample2D: channel counts must be positive");
  conv = register_module("conv", Conv2d(channels, out_channels, 3, 1, 1, true, options));
}

at::Tensor Upsample2DImpl::forward(const at::Tensor& x, at::OptionalIntArrayRef size) {
  at::Tensor h;
  if (size.has_value()) {
    // The UNet passes the skip connection's size when the input had odd sides.
    h = at::upsample_nearest2d(x, *size, std::nullopt, std::nullopt);
  } else {
    h = at::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2}, 2.0, 2.0);
  }
  return conv(h);
}

}  // namespace spo::models
