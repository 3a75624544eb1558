#include "models/attention.h"

#include <ATen/ATen.h>

#include "runtime/errors.h"

namespace spo::models {

AttentionImpl::AttentionImpl(const AttentionOptions& o, const at::TensorOptions& t) : options(o) {
  require(o.query_dim > 0, "Attention: query_dim must be positive");
  require(o.heads > 0 && o.dim_head > 0, "Attention: heads and dim_head must be positive");
  require(o.cross_attention_dim >= 0, "Attention: cross_attention_dim must not be negative");
  require(o.rescale_output_factor > 0, "Attention: rescale_output_factor must be positive");
  const int64_t inner = o.heads * o.dim_head;
  const int64_t kv_dim = o.cross_attention_dim > 0 ? o.cross_attention_dim : o.query_dim;
  if (o.norm_num_groups > 0) {
    require(o.query_dim % o.norm_num_groups == 0, "Attention: norm_num_groups (" + std::to_string(o.norm_num_groups) +
                                                      ") must divide query_dim (" + std::to_string(o.query_dim) + ")");
    group_norm = register_module("group_norm", GroupNorm(o.norm_num_groups, o.query_dim, o.eps, true, t));
  }
  to_q = register_module("to_q", Linear(o.query_dim, inner, o.bias, t));
  to_k = register_module("to_k", Linear(kv_dim, inner, o.bias, t));
  to_v = register_module("to_v", Linear(kv_dim, inner, o.bias, t));
  to_out = register_module("to_out", torch::nn::ModuleList());
  to_out->push_back(Linear(inner, o.query_dim, o.out_bias, t));
}

at::Tensor AttentionImpl::forward(const at::Tensor& hidden, const at::Tensor& context) {
  const bool spatial = hidden.dim() == 4;
  require(spatial || hidden.dim() == 3, "Attention: input must be [B, L, C] or [B, C, H, W]");
  const int64_t channels = spatial ? hidden.size(1) : hidden.size(2);
  require(channels == options.query_dim, "Attention: input has " + std::to_string(channels) +
                                             " channels, expected " + std::to_string(options.query_dim));
  if (options.cross_attention_dim > 0)
    require(context.defined() && context.dim() == 3 && context.size(2) == options.cross_attention_dim,
            "Attention: cross-attention needs a context of shape [B, L, " +
                std::to_string(options.cross_attention_dim) + "]");

  // GroupNorm works on [B, C, ...]: normalise before flattening pixels to tokens.
  at::Tensor x = hidden;
  if (spatial) {
    if (group_norm) x = group_norm(x);
    x = x.flatten(2).transpose(1, 2);  // [B, H*W, C]
  } else if (group_norm) {
    x = group_norm(x.transpose(1, 2)).transpose(1, 2);
  }
  const at::Tensor& kv = options.cross_attention_dim > 0 ? context : x;

  const int64_t b = x.size(0), heads = options.heads, d = options.dim_head;
  auto split = [&](const at::Tensor& t) { return t.view({b, -1, heads, d}).transpose(1, 2); };  // [B, h, L, d]
  at::Tensor out = attention(split(to_q(x)), split(to_k(kv)), split(to_v(kv)));
  out = out.transpose(1, 2).reshape({b, -1, heads * d});
  out = to_out[0]->as<Linear>()->forward(out);

  if (spatial) out = out.transpose(1, 2).reshape(hidden.sizes());
  if (options.residual_connection) out = out + hidden;
  if (options.rescale_output_factor != 1.0) out = out / options.rescale_output_factor;
  return out;
}

}  // namespace spo::models
