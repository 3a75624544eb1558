// diffusers' VAE Decoder (models/autoencoders/vae.py): latent -> image.
// Keys: conv_in, mid_block, up_blocks.N (widest first, layers_per_block + 1
// resnets each), conv_norm_out, conv_out.
#pragma once
#include "models/autoencoder_kl_config.h"
#include "models/vae_blocks.h"

namespace spo::models {

class VaeDecoderImpl : public torch::nn::Module {
 public:
  VaeDecoderImpl(const AutoencoderKLConfig& config, const at::TensorOptions& options);
  // z: [B, latent_channels, h, w] -> [B, out_channels, h * 2^(n-1), w * 2^(n-1)].
  at::Tensor forward(const at::Tensor& z);

  Conv2d conv_in{nullptr}, conv_out{nullptr};
  VaeMidBlock2D mid_block{nullptr};
  torch::nn::ModuleList up_blocks{nullptr};
  GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(VaeDecoder);

}  // namespace spo::models
