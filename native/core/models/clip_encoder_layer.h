// One pre-norm transformer block of CLIP's text (and vision) encoder, with
// transformers' module names: self_attn.{q,k,v,out}_proj, layer_norm1,
// mlp.fc1/fc2, layer_norm2.
#pragma once
#include "models/clip_text_config.h"
#include "models/layers.h"

namespace spo::models {

class ClipAttentionImpl : public torch::nn::Module {
 public:
  ClipAttentionImpl(const ClipTextConfig& config, const at::TensorOptions& options);
  // x: [B, L, D] -> [B, L, D]; `causal` masks keys after each query (the text encoder).
  at::Tensor forward(const at::Tensor& x, bool causal);
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
  int64_t heads;
};
TORCH_MODULE(ClipAttention);

class ClipMlpImpl : public torch::nn::Module {
 public:
  ClipMlpImpl(const ClipTextConfig& config, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  Linear fc1{nullptr}, fc2{nullptr};
  std::string act;
};
TORCH_MODULE(ClipMlp);

class ClipEncoderLayerImpl : public torch::nn::Module {
 public:
  ClipEncoderLayerImpl(const ClipTextConfig& config, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, bool causal);
  ClipAttention self_attn{nullptr};
  LayerNorm layer_norm1{nullptr};
  ClipMlp mlp{nullptr};
  LayerNorm layer_norm2{nullptr};
};
TORCH_MODULE(ClipEncoderLayer);

}  // namespace spo::models
