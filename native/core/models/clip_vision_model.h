// CLIP's vision tower (transformers' CLIPVisionTransformer, module names
// included) with the optional adaLN time conditioning of the step-aware
// preference model (docs/method.md §4): every layer modulates its two
// pre-norms and gates its two residual branches from the timestep embedding,
// and the pooled class token gets a final shift/scale.
#pragma once
#include <torch/nn/modules/container/modulelist.h>

#include "models/clip_encoder_layer.h"
#include "models/clip_model_config.h"
#include "models/layers.h"
#include "models/time_conditioning.h"

namespace spo::models {

class ClipVisionEmbeddingsImpl : public torch::nn::Module {
 public:
  ClipVisionEmbeddingsImpl(const ClipVisionConfig& config, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& pixels);  // [B, C, S, S] -> [B, 1 + patches, D]
  at::Tensor class_embedding;                    // [D]
  Conv2d patch_embedding{nullptr};               // patch x patch, stride patch, no bias
  Embedding position_embedding{nullptr};         // [1 + patches, D]
};
TORCH_MODULE(ClipVisionEmbeddings);

// A CLIP encoder layer plus, when time-conditioned, adaLN_modulation (6 chunks:
// shift, scale, gate for attention, then for the MLP).
class TimeConditionedClipLayerImpl : public ClipEncoderLayerImpl {
 public:
  TimeConditionedClipLayerImpl(const ClipTextConfig& config, bool time_conditioned, const at::TensorOptions& options);
  // temb undefined (or no adaLN): the plain layer.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb);
  AdaLnModulation adaLN_modulation{nullptr};
};
TORCH_MODULE(TimeConditionedClipLayer);

class ClipVisionEncoderImpl : public torch::nn::Module {
 public:
  ClipVisionEncoderImpl(const ClipVisionConfig& config, bool time_conditioned, const at::TensorOptions& options);
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(ClipVisionEncoder);

class ClipVisionTransformerImpl : public torch::nn::Module {
 public:
  ClipVisionTransformerImpl(const ClipVisionConfig& config, bool time_conditioned, const at::TensorOptions& options);
  // pixels [B, C, S, S] normalised; temb [B, D] or undefined -> pooled [B, D].
  at::Tensor forward(const at::Tensor& pixels, const at::Tensor& temb);
  ClipVisionConfig config;
  bool time_conditioned;
  ClipVisionEmbeddings embeddings{nullptr};
  LayerNorm pre_layrnorm{nullptr};  // sic: transformers' name
  ClipVisionEncoder encoder{nullptr};
  LayerNorm post_layernorm{nullptr};
  AdaLnModulation adaLN_modulation{nullptr};  // 2 chunks: shift, scale of the pooled token
};
TORCH_MODULE(ClipVisionTransformer);

}  // namespace spo::models
