// diffusers' ResnetBlock2D (models/resnets.py), shared by the UNet and the VAE.
// State-dict keys: norm1, conv1, time_emb_proj (only with temb_channels > 0),
// norm2, conv2, conv_shortcut (1x1, only when in_channels != out_channels).
#pragma once
#include "models/layers.h"

namespace spo::models {

struct ResnetBlockOptions {
  int64_t in_channels = 0;
  int64_t out_channels = 0;     // 0 = in_channels
  int64_t temb_channels = 0;    // 0 = no time embedding (the VAE)
  int64_t groups = 32;
  double eps = 1e-6;
  std::string activation = "silu";
  double output_scale_factor = 1.0;
};

class ResnetBlock2DImpl : public torch::nn::Module {
 public:
  ResnetBlock2DImpl(const ResnetBlockOptions& options, const at::TensorOptions& tensor_options);
  // temb: [B, temb_channels] or undefined when the block has none.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb = {});

  ResnetBlockOptions options;
  GroupNorm norm1{nullptr}, norm2{nullptr};
  Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  Linear time_emb_proj{nullptr};
};
TORCH_MODULE(ResnetBlock2D);

}  // namespace spo::models
