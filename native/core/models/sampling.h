// diffusers' Downsample2D and Upsample2D (models/downsampling.py, upsampling.py),
// shared by the UNet and the VAE. Key: conv.
#pragma once
#include "models/layers.h"

namespace spo::models {

class Downsample2DImpl : public torch::nn::Module {
 public:
  // padding 1: a 3x3 stride-2 conv with symmetric padding (UNet);
  // padding 0: pad right and bottom by one, then the conv (the VAE encoder).
  Downsample2DImpl(int64_t channels, int64_t out_channels, int64_t padding, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  Conv2d conv{nullptr};
  int64_t padding;
};
TORCH_MODULE(Downsample2D);

class Upsample2DImpl : public torch::nn::Module {
 public:
  // Nearest-neighbour 2x (or to `size` when given), then a 3x3 conv.
  Upsample2DImpl(int64_t channels, int64_t out_channels, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, at::OptionalIntArrayRef size = std::nullopt);
  Conv2d conv{nullptr};
};
TORCH_MODULE(Upsample2D);

}  // namespace spo::models
