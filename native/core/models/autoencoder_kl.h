// diffusers' AutoencoderKL (models/autoencoders/autoencoder_kl.py): the SD-1.5
// / SDXL VAE. Keys: encoder.*, quant_conv, post_quant_conv, decoder.* — the
// same state dict as diffusers, so a checkpoint loads without renaming.
#pragma once
#include <ATen/core/Generator.h>

#include <optional>

#include "models/autoencoder_kl_config.h"
#include "models/vae_decoder.h"
#include "models/vae_encoder.h"

namespace spo::models {

// diffusers' DiagonalGaussianDistribution: the encoder's latent distribution.
struct LatentDistribution {
  at::Tensor mean, logvar;  // [B, latent_channels, h, w]; logvar clamped to [-30, 20]
  at::Tensor std() const;
  // mean + std * noise, with noise of mean's shape.
  at::Tensor sample(const at::Tensor& noise) const;
  // Noise drawn from `generator` (the default generator when none).
  at::Tensor sample(std::optional<at::Generator> generator = std::nullopt) const;
  const at::Tensor& mode() const { return mean; }
};

class AutoencoderKLImpl : public torch::nn::Module {
 public:
  AutoencoderKLImpl(const AutoencoderKLConfig& config, const at::TensorOptions& options);

  // x: [B, in_channels, H, W] in [-1, 1].
  LatentDistribution encode(const at::Tensor& x);
  // z: [B, latent_channels, h, w] (unscaled, as `sample` returns) -> image in about [-1, 1].
  at::Tensor decode(const at::Tensor& z);

  // The diffusion model's latent space: (z - shift_factor) * scaling_factor, and back.
  at::Tensor scale_latents(const at::Tensor& z) const;
  at::Tensor unscale_latents(const at::Tensor& latents) const;
  // encode + sample + scale / unscale + decode, as the pipelines use them.
  at::Tensor encode_to_latents(const at::Tensor& x, std::optional<at::Generator> generator = std::nullopt);
  at::Tensor decode_latents(const at::Tensor& latents);

  // Spatial reduction factor: 2^(number of blocks - 1) (8 for SD-1.5 / SDXL).
  int64_t downscale_factor() const;

  AutoencoderKLConfig config;
  VaeEncoder encoder{nullptr};
  VaeDecoder decoder{nullptr};
  Conv2d quant_conv{nullptr}, post_quant_conv{nullptr};  // absent when the config turns them off
};
TORCH_MODULE(AutoencoderKL);

}  // namespace spo::models
