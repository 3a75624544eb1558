#include "models/transformer_2d.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/container/functional.h>

#include "runtime/errors.h"

namespace spo::models {

GEGLUImpl::GEGLUImpl(int64_t dim_in, int64_t dim_out, const at::TensorOptions& o) {
  proj = register_module("proj", Linear(dim_in, dim_out * 2, true, o));
}

at::Tensor GEGLUImpl::forward(const at::Tensor& x) {
  auto parts = proj(x).chunk(2, -1);  // first half: values, second half: gates
  return parts[0] * at::gelu(parts[1]);
}

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t inner, const at::TensorOptions& o) {
  net = register_module("net", torch::nn::ModuleList());
  geglu = GEGLU(dim, inner, o);
  out = Linear(inner, dim, true, o);
  net->push_back(geglu);
  // diffusers' Dropout sits at index 1: a parameterless placeholder keeps net.2's name.
  net->push_back(torch::nn::Functional([](const at::Tensor& x) { return x; }));
  net->push_back(out);
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) { return out(geglu(x)); }

BasicTransformerBlockImpl::BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t head_dim,
                                                     int64_t cross_attention_dim, const at::TensorOptions& o) {
  AttentionOptions self_attn;
  self_attn.query_dim = dim;
  self_attn.heads = heads;
  self_attn.dim_head = head_dim;
  AttentionOptions cross_attn = self_attn;
  cross_attn.cross_attention_dim = cross_attention_dim;
  norm1 = register_module("norm1", LayerNorm(dim, 1e-5, true, o));
  attn1 = register_module("attn1", Attention(self_attn, o));
  norm2 = register_module("norm2", LayerNorm(dim, 1e-5, true, o));
  attn2 = register_module("attn2", Attention(cross_attn, o));
  norm3 = register_module("norm3", LayerNorm(dim, 1e-5, true, o));
  ff = register_module("ff", FeedForward(dim, dim * 4, o));
}

at::Tensor BasicTransformerBlockImpl::forward(const at::Tensor& x, const at::Tensor& context) {
  at::Tensor h = x + attn1(norm1(x));
  h = h + attn2(norm2(h), context);
  return h + ff(norm3(h));
}

Transformer2DModelImpl::Transformer2DModelImpl(const Transformer2DOptions& opt, const at::TensorOptions& o)
    : options(opt) {
  const int64_t c = opt.channels, inner = opt.heads * opt.head_dim;
  require(c > 0 && opt.heads > 0 && opt.head_dim > 0 && opt.layers > 0 && opt.cross_attention_dim > 0,
          "Transformer2DModel: sizes must be positive");
  norm = register_module("norm", GroupNorm(opt.norm_num_groups, c, 1e-6, true, o));
  if (opt.use_linear_projection) {
    proj_in_linear = register_module("proj_in", Linear(c, inner, true, o));
  } else {
    proj_in_conv = register_module("proj_in", Conv2d(c, inner, 1, 1, 0, true, o));
  }
  transformer_blocks = register_module("transformer_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < opt.layers; ++i)
    transformer_blocks->push_back(BasicTransformerBlock(inner, opt.heads, opt.head_dim, opt.cross_attention_dim, o));
  if (opt.use_linear_projection) {
    proj_out_linear = register_module("proj_out", Linear(inner, c, true, o));
  } else {
    proj_out_conv = register_module("proj_out", Conv2d(inner, c, 1, 1, 0, true, o));
  }
}

at::Tensor Transformer2DModelImpl::forward(const at::Tensor& x, const at::Tensor& context) {
  const int64_t b = x.size(0), height = x.size(2), width = x.size(3);
  at::Tensor h = norm(x);
  // Pixels become tokens: [B, C, H, W] -> [B, H*W, C]; the 1x1 conv projects before, the Linear after.
  if (proj_in_conv) h = proj_in_conv(h);
  h = h.permute({0, 2, 3, 1}).reshape({b, height * width, h.size(1)});
  if (proj_in_linear) h = proj_in_linear(h);
  for (const auto& block : *transformer_blocks) h = block->as<BasicTransformerBlock>()->forward(h, context);
  if (proj_out_linear) h = proj_out_linear(h);
  h = h.reshape({b, height, width, h.size(2)}).permute({0, 3, 1, 2});
  if (proj_out_conv) h = proj_out_conv(h.contiguous());
  return h + x;
}

}  // namespace spo::models
