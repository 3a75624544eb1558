#include "models/clip_text_model.h"

#include <ATen/ATen.h>

#include "runtime/errors.h"

namespace spo::models {

ClipTextEmbeddingsImpl::ClipTextEmbeddingsImpl(const ClipTextConfig& c, const at::TensorOptions& o) {
  token_embedding = register_module("token_embedding", Embedding(c.vocab_size, c.hidden_size, o));
  position_embedding = register_module("position_embedding", Embedding(c.max_position_embeddings, c.hidden_size, o));
}

at::Tensor ClipTextEmbeddingsImpl::forward(const at::Tensor& ids) {
  // Positions are always 0..L-1 here, so a slice of the table replaces the lookup.
  return token_embedding(ids) + position_embedding->weight.slice(0, 0, ids.size(1));
}

ClipEncoderImpl::ClipEncoderImpl(const ClipTextConfig& c, const at::TensorOptions& o) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(ClipEncoderLayer(c, o));
}

std::pair<at::Tensor, at::Tensor> ClipEncoderImpl::forward(const at::Tensor& x, bool causal) {
  at::Tensor h = x, before_last;
  for (const auto& layer : *layers) {
    before_last = h;
    h = layer->as<ClipEncoderLayerImpl>()->forward(h, causal);
  }
  return {h, before_last};
}

ClipTextTransformerImpl::ClipTextTransformerImpl(const ClipTextConfig& c, const at::TensorOptions& o) : config(c) {
  embeddings = register_module("embeddings", ClipTextEmbeddings(c, o));
  encoder = register_module("encoder", ClipEncoder(c, o));
  final_layer_norm = register_module("final_layer_norm", LayerNorm(c.hidden_size, c.layer_norm_eps, true, o));
}

namespace {

// The ids as int64 on the model's device, after checks that turn what would
// be an ATen assertion (or an out-of-bounds read on CUDA) into a clear error.
at::Tensor checked_ids(const at::Tensor& input_ids, const ClipTextConfig& c, const at::Tensor& weight) {
  require(input_ids.defined(), "CLIP text encoder: input_ids is undefined");
  require(input_ids.dim() == 2, "CLIP text encoder: input_ids must be [batch, length], got " +
                                    std::to_string(input_ids.dim()) + " dimensions");
  require(at::isIntegralType(input_ids.scalar_type(), /*includeBool=*/false),
          "CLIP text encoder: input_ids must hold integer token ids, got " +
              std::string(c10::toString(input_ids.scalar_type())));
  const int64_t b = input_ids.size(0), l = input_ids.size(1);
  require(b >= 1, "CLIP text encoder: the batch is empty");
  require(l >= 1 && l <= c.max_position_embeddings,
          "CLIP text encoder: sequence length " + std::to_string(l) + " is outside [1, max_position_embeddings = " +
              std::to_string(c.max_position_embeddings) + "]");
  auto ids = input_ids.to(weight.device(), at::kLong);
  auto [lo, hi] = at::aminmax(ids);
  const int64_t min_id = lo.item<int64_t>(), max_id = hi.item<int64_t>();
  require(min_id >= 0 && max_id < c.vocab_size, "CLIP text encoder: token ids must be in [0, " +
                                                    std::to_string(c.vocab_size) + "), got [" +
                                                    std::to_string(min_id) + ", " + std::to_string(max_id) + "]");
  return ids;
}

}  // namespace

ClipTextOutput ClipTextTransformerImpl::forward(const at::Tensor& input_ids) {
  auto ids = checked_ids(input_ids, config, embeddings->token_embedding->weight);
  auto [h, before_last] = encoder(embeddings(ids), /*causal=*/true);
  ClipTextOutput out;
  out.last_hidden_state = final_layer_norm(h);
  out.penultimate_hidden_state = before_last;
  // The EOS position, as transformers picks it: legacy configs (eos_token_id 2)
  // take the largest id (CLIP's EOS 49407 is the top of its vocabulary); newer
  // ones the first position equal to eos_token_id (0 when absent). argmax
  // returns the first of equal maxima in both.
  auto eos_pos = config.legacy_eos_pooling() ? ids.argmax(-1) : ids.eq(config.eos_token_id).to(at::kInt).argmax(-1);
  const int64_t d = config.hidden_size;
  out.pooled = out.last_hidden_state.gather(1, eos_pos.view({-1, 1, 1}).expand({-1, 1, d})).squeeze(1);
  return out;
}

ClipTextModelImpl::ClipTextModelImpl(const ClipTextConfig& c, const at::TensorOptions& o) {
  text_model = register_module("text_model", ClipTextTransformer(c, o));
}

ClipTextOutput ClipTextModelImpl::forward(const at::Tensor& input_ids) { return text_model(input_ids); }

ClipTextModelWithProjectionImpl::ClipTextModelWithProjectionImpl(const ClipTextConfig& c, const at::TensorOptions& o) {
  text_model = register_module("text_model", ClipTextTransformer(c, o));
  text_projection = register_module("text_projection", Linear(c.hidden_size, c.projection_dim, false, o));
}

ClipTextOutput ClipTextModelWithProjectionImpl::forward(const at::Tensor& input_ids) {
  auto out = text_model(input_ids);
  out.text_embeds = text_projection(out.pooled);
  return out;
}

}  // namespace spo::models
