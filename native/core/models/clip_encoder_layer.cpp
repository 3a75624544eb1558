#include "models/clip_encoder_layer.h"

#include <ATen/ATen.h>

namespace spo::models {

ClipAttentionImpl::ClipAttentionImpl(const ClipTextConfig& c, const at::TensorOptions& o)
    : heads(c.num_attention_heads) {
  const int64_t d = c.hidden_size;
  // Registration order follows transformers (k, v, q, out) so state dicts list alike.
  k_proj = register_module("k_proj", Linear(d, d, true, o));
  v_proj = register_module("v_proj", Linear(d, d, true, o));
  q_proj = register_module("q_proj", Linear(d, d, true, o));
  out_proj = register_module("out_proj", Linear(d, d, true, o));
}

at::Tensor ClipAttentionImpl::forward(const at::Tensor& x, bool causal) {
  const int64_t b = x.size(0), l = x.size(1), d = x.size(2);
  auto split = [&](const at::Tensor& t) { return t.view({b, l, heads, d / heads}).transpose(1, 2); };
  // The fused kernel scales by 1/sqrt(head_dim), as CLIP does.
  auto y = attention(split(q_proj(x)), split(k_proj(x)), split(v_proj(x)), {}, causal);
  return out_proj(y.transpose(1, 2).reshape({b, l, d}));
}

ClipMlpImpl::ClipMlpImpl(const ClipTextConfig& c, const at::TensorOptions& o) : act(c.hidden_act) {
  fc1 = register_module("fc1", Linear(c.hidden_size, c.intermediate_size, true, o));
  fc2 = register_module("fc2", Linear(c.intermediate_size, c.hidden_size, true, o));
}

at::Tensor ClipMlpImpl::forward(const at::Tensor& x) { return fc2(activation(act, fc1(x))); }

ClipEncoderLayerImpl::ClipEncoderLayerImpl(const ClipTextConfig& c, const at::TensorOptions& o) {
  self_attn = register_module("self_attn", ClipAttention(c, o));
  layer_norm1 = register_module("layer_norm1", LayerNorm(c.hidden_size, c.layer_norm_eps, true, o));
  mlp = register_module("mlp", ClipMlp(c, o));
  layer_norm2 = register_module("layer_norm2", LayerNorm(c.hidden_size, c.layer_norm_eps, true, o));
}

at::Tensor ClipEncoderLayerImpl::forward(const at::Tensor& x, bool causal) {
  auto h = x + self_attn(layer_norm1(x), causal);
  return h + mlp(layer_norm2(h));
}

}  // namespace spo::models
