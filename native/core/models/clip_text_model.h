// The CLIP text encoders of Stable Diffusion, with transformers' module names
// so that named_parameters() equals the checkpoint's state-dict keys:
//   CLIPTextModel               SD-1.5 `text_encoder`, SDXL `text_encoder`
//   CLIPTextModelWithProjection SDXL `text_encoder_2` (+ text_projection.weight)
// Both hold the transformer under `text_model.` as transformers 4.x (and every
// hub checkpoint) does.
#pragma once
#include <torch/nn/modules/container/modulelist.h>

#include "models/clip_encoder_layer.h"
#include "models/clip_text_config.h"
#include "models/layers.h"

namespace spo::models {

struct ClipTextOutput {
  at::Tensor last_hidden_state;         // [B, L, D], after final_layer_norm (SD-1.5's conditioning)
  at::Tensor penultimate_hidden_state;  // [B, L, D], input of the last layer, no final norm (SDXL's)
  at::Tensor pooled;                    // [B, D], final-normed state at the EOS position
  at::Tensor text_embeds;               // [B, projection_dim], projection model only (else undefined)
};

class ClipTextEmbeddingsImpl : public torch::nn::Module {
 public:
  ClipTextEmbeddingsImpl(const ClipTextConfig& config, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& input_ids);  // [B, L] -> [B, L, D], positions 0..L-1
  Embedding token_embedding{nullptr}, position_embedding{nullptr};
  // transformers' position_ids buffer is non-persistent (not a state-dict key), so it is not kept.
};
TORCH_MODULE(ClipTextEmbeddings);

class ClipEncoderImpl : public torch::nn::Module {
 public:
  ClipEncoderImpl(const ClipTextConfig& config, const at::TensorOptions& options);
  // Runs every layer; returns {last layer's output, last layer's input}.
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x, bool causal);
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(ClipEncoder);

// transformers 4.x's CLIPTextTransformer: embeddings, encoder, final_layer_norm.
class ClipTextTransformerImpl : public torch::nn::Module {
 public:
  ClipTextTransformerImpl(const ClipTextConfig& config, const at::TensorOptions& options);
  // input_ids: [B, L] integer ids, 1 <= L <= max_position_embeddings, on any
  // device (moved to the model's). No padding mask: SD passes none.
  ClipTextOutput forward(const at::Tensor& input_ids);
  ClipTextConfig config;
  ClipTextEmbeddings embeddings{nullptr};
  ClipEncoder encoder{nullptr};
  LayerNorm final_layer_norm{nullptr};
};
TORCH_MODULE(ClipTextTransformer);

class ClipTextModelImpl : public torch::nn::Module {
 public:
  ClipTextModelImpl(const ClipTextConfig& config, const at::TensorOptions& options);
  ClipTextOutput forward(const at::Tensor& input_ids);  // text_embeds undefined
  ClipTextTransformer text_model{nullptr};
};
TORCH_MODULE(ClipTextModel);

class ClipTextModelWithProjectionImpl : public torch::nn::Module {
 public:
  ClipTextModelWithProjectionImpl(const ClipTextConfig& config, const at::TensorOptions& options);
  ClipTextOutput forward(const at::Tensor& input_ids);  // text_embeds = text_projection(pooled)
  ClipTextTransformer text_model{nullptr};
  Linear text_projection{nullptr};  // [projection_dim, hidden_size], no bias
};
TORCH_MODULE(ClipTextModelWithProjection);

}  // namespace spo::models
