#include "models/autoencoder_kl.h"

#include <ATen/ATen.h>

#include "runtime/cpu_block_cache.h"
#include "runtime/errors.h"

namespace spo::models {
namespace {

std::string shape_text(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

at::Tensor LatentDistribution::std() const { return at::exp(0.5 * logvar); }

at::Tensor LatentDistribution::sample(const at::Tensor& noise) const {
  require(noise.defined() && noise.sizes() == mean.sizes(),
          "LatentDistribution: noise must have the latent shape " + shape_text(mean));
  return mean + std() * noise.to(mean.options());
}

at::Tensor LatentDistribution::sample(std::optional<at::Generator> generator) const {
  return sample(at::randn(mean.sizes(), generator, mean.options()));
}

AutoencoderKLImpl::AutoencoderKLImpl(const AutoencoderKLConfig& c, const at::TensorOptions& t) : config(c) {
  config.validate();
  const int64_t latent = config.latent_channels;
  encoder = register_module("encoder", VaeEncoder(config, t));
  decoder = register_module("decoder", VaeDecoder(config, t));
  // Registered in diffusers' order, so state_shapes lists keys as its state_dict does.
  if (config.use_quant_conv) quant_conv = register_module("quant_conv", Conv2d(2 * latent, 2 * latent, 1, 1, 0, true, t));
  if (config.use_post_quant_conv)
    post_quant_conv = register_module("post_quant_conv", Conv2d(latent, latent, 1, 1, 0, true, t));
}

LatentDistribution AutoencoderKLImpl::encode(const at::Tensor& x) {
  require(x.defined() && x.dim() == 4 && x.size(1) == config.in_channels && x.size(2) > 0 && x.size(3) > 0,
          "AutoencoderKL.encode: expected an image [B, " + std::to_string(config.in_channels) + ", H, W], got " +
              (x.defined() ? shape_text(x) : std::string("nothing")));
  CpuBlockCacheScope reuse;  // full-resolution activations: reused buffers, not fresh page-faulting mappings
  at::Tensor moments = encoder(x);
  if (quant_conv) moments = quant_conv(moments);
  auto halves = moments.chunk(2, 1);
  return {halves[0], at::clamp(halves[1], -30.0, 20.0)};
}

at::Tensor AutoencoderKLImpl::decode(const at::Tensor& z) {
  require(z.defined() && z.dim() == 4 && z.size(1) == config.latent_channels && z.size(2) > 0 && z.size(3) > 0,
          "AutoencoderKL.decode: expected latents [B, " + std::to_string(config.latent_channels) + ", h, w], got " +
              (z.defined() ? shape_text(z) : std::string("nothing")));
  // The decoder's activations at full resolution are 67-270 MB at 256 px and
  // batch 8: each fresh one is a new mapping whose pages fault in on first
  // touch (a third of the decode's CPU time). Pooled, they stay mapped.
  CpuBlockCacheScope reuse;
  return decoder(post_quant_conv ? post_quant_conv(z) : z);
}

at::Tensor AutoencoderKLImpl::scale_latents(const at::Tensor& z) const {
  return ((config.shift_factor ? z - *config.shift_factor : z) * config.scaling_factor);
}

at::Tensor AutoencoderKLImpl::unscale_latents(const at::Tensor& latents) const {
  at::Tensor z = latents / config.scaling_factor;
  return config.shift_factor ? z + *config.shift_factor : z;
}

at::Tensor AutoencoderKLImpl::encode_to_latents(const at::Tensor& x, std::optional<at::Generator> generator) {
  return scale_latents(encode(x).sample(std::move(generator)));
}

at::Tensor AutoencoderKLImpl::decode_latents(const at::Tensor& latents) { return decode(unscale_latents(latents)); }

int64_t AutoencoderKLImpl::downscale_factor() const {
  return int64_t{1} << (config.block_out_channels.size() - 1);
}

}  // namespace spo::models
