#include "models/clip_vision_model.h"

#include <ATen/ATen.h>

#include "kernels/adaln/adaln.h"
#include "runtime/errors.h"

namespace spo::models {

ClipVisionEmbeddingsImpl::ClipVisionEmbeddingsImpl(const ClipVisionConfig& c, const at::TensorOptions& o) {
  class_embedding = register_parameter("class_embedding", at::empty({c.hidden_size}, o));
  patch_embedding = register_module(
      "patch_embedding", Conv2d(c.num_channels, c.hidden_size, c.patch_size, c.patch_size, 0, false, o));
  position_embedding = register_module("position_embedding", Embedding(c.num_positions(), c.hidden_size, o));
}

at::Tensor ClipVisionEmbeddingsImpl::forward(const at::Tensor& pixels) {
  const int64_t b = pixels.size(0);
  auto patches = patch_embedding(pixels.to(patch_embedding->weight.scalar_type())).flatten(2).transpose(1, 2);
  auto cls = class_embedding.view({1, 1, -1}).expand({b, 1, class_embedding.size(0)});
  return at::cat({cls, patches}, 1) + position_embedding->weight.unsqueeze(0);
}

TimeConditionedClipLayerImpl::TimeConditionedClipLayerImpl(const ClipTextConfig& c, bool time_conditioned,
                                                           const at::TensorOptions& o)
    : ClipEncoderLayerImpl(c, o) {
  if (time_conditioned) adaLN_modulation = register_module("adaLN_modulation", AdaLnModulation(c.hidden_size, 6, o));
}

at::Tensor TimeConditionedClipLayerImpl::forward(const at::Tensor& x, const at::Tensor& temb) {
  if (!adaLN_modulation || !temb.defined()) return ClipEncoderLayerImpl::forward(x, /*causal=*/false);
  const auto m = adaLN_modulation(temb);  // shift_a, scale_a, gate_a, shift_m, scale_m, gate_m
  const double eps = layer_norm1->eps;
  auto h = kernels::gated_residual(
      x, self_attn(kernels::adaln_modulate(x, layer_norm1->weight, layer_norm1->bias, m[0], m[1], eps), false), m[2]);
  return kernels::gated_residual(
      h, mlp(kernels::adaln_modulate(h, layer_norm2->weight, layer_norm2->bias, m[3], m[4], layer_norm2->eps)), m[5]);
}

ClipVisionEncoderImpl::ClipVisionEncoderImpl(const ClipVisionConfig& c, bool time_conditioned,
                                             const at::TensorOptions& o) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i)
    layers->push_back(TimeConditionedClipLayer(c.layer_config(), time_conditioned, o));
}

ClipVisionTransformerImpl::ClipVisionTransformerImpl(const ClipVisionConfig& c, bool time_conditioned_,
                                                     const at::TensorOptions& o)
    : config(c), time_conditioned(time_conditioned_) {
  embeddings = register_module("embeddings", ClipVisionEmbeddings(c, o));
  pre_layrnorm = register_module("pre_layrnorm", LayerNorm(c.hidden_size, c.layer_norm_eps, true, o));
  encoder = register_module("encoder", ClipVisionEncoder(c, time_conditioned_, o));
  post_layernorm = register_module("post_layernorm", LayerNorm(c.hidden_size, c.layer_norm_eps, true, o));
  if (time_conditioned_) adaLN_modulation = register_module("adaLN_modulation", AdaLnModulation(c.hidden_size, 2, o));
}

at::Tensor ClipVisionTransformerImpl::forward(const at::Tensor& pixels, const at::Tensor& temb) {
  require(pixels.dim() == 4 && pixels.size(1) == config.num_channels && pixels.size(2) == config.image_size &&
              pixels.size(3) == config.image_size,
          "CLIP vision model: pixels must be [batch, " + std::to_string(config.num_channels) + ", " +
              std::to_string(config.image_size) + ", " + std::to_string(config.image_size) + "], got " +
              c10::str(pixels.sizes()));
  require(pixels.size(0) >= 1, "CLIP vision model: the batch is empty");
  require(!time_conditioned || (temb.defined() && temb.size(0) == pixels.size(0)),
          "CLIP vision model: a time-conditioned model needs one timestep per image");
  auto h = pre_layrnorm(embeddings(pixels));
  for (const auto& layer : *encoder->layers) h = layer->as<TimeConditionedClipLayerImpl>()->forward(h, temb);
  auto pooled = post_layernorm(h.select(1, 0));
  if (!time_conditioned) return pooled;
  const auto m = adaLN_modulation(temb);  // shift, scale
  return pooled * (1 + m[1]) + m[0];
}

}  // namespace spo::models
