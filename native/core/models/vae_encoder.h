// diffusers' VAE Encoder (models/autoencoders/vae.py): image -> the moments
// (mean and log-variance stacked on channels) of the latent distribution.
// Keys: conv_in, down_blocks.N, mid_block, conv_norm_out, conv_out.
#pragma once
#include "models/autoencoder_kl_config.h"
#include "models/vae_blocks.h"

namespace spo::models {

class VaeEncoderImpl : public torch::nn::Module {
 public:
  VaeEncoderImpl(const AutoencoderKLConfig& config, const at::TensorOptions& options);
  // x: [B, in_channels, H, W] -> [B, 2 * latent_channels, H / 2^(n-1), W / 2^(n-1)].
  at::Tensor forward(const at::Tensor& x);

  Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList down_blocks{nullptr};
  VaeMidBlock2D mid_block{nullptr};
  GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(VaeEncoder);

}  // namespace spo::models
