// diffusers' Transformer2DModel with continuous (image) input, as the UNet's
// cross-attention blocks use it (models/transformers/transformer_2d.py and
// models/attention.py): GroupNorm, proj_in (1x1 conv, or Linear with
// use_linear_projection), transformer_blocks.N (BasicTransformerBlock), proj_out,
// plus the residual. Keys: norm, proj_in, transformer_blocks.N.{norm1, attn1,
// norm2, attn2, norm3, ff.net.0.proj, ff.net.2}, proj_out.
#pragma once
#include "models/attention.h"
#include "models/layers.h"

namespace spo::models {

// FeedForward's first layer: proj to 2x inner, then value * gelu(gate).
class GEGLUImpl : public torch::nn::Module {
 public:
  GEGLUImpl(int64_t dim_in, int64_t dim_out, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  Linear proj{nullptr};
};
TORCH_MODULE(GEGLU);

// net.0 = GEGLU, net.1 = dropout (no parameters), net.2 = Linear.
class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(int64_t dim, int64_t inner_dim, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::ModuleList net{nullptr};
  GEGLU geglu{nullptr};
  Linear out{nullptr};
};
TORCH_MODULE(FeedForward);

// Pre-norm self-attention, cross-attention to the text, and GEGLU MLP, each residual.
class BasicTransformerBlockImpl : public torch::nn::Module {
 public:
  BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t head_dim, int64_t cross_attention_dim,
                            const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context);
  LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  Attention attn1{nullptr}, attn2{nullptr};
  FeedForward ff{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

struct Transformer2DOptions {
  int64_t channels = 0;  // in = out channels (inner dim = heads * head_dim = channels in the UNet)
  int64_t heads = 8;
  int64_t head_dim = 0;
  int64_t layers = 1;
  int64_t cross_attention_dim = 0;
  int64_t norm_num_groups = 32;
  bool use_linear_projection = false;
};

class Transformer2DModelImpl : public torch::nn::Module {
 public:
  Transformer2DModelImpl(const Transformer2DOptions& options, const at::TensorOptions& tensor_options);
  // x: [B, C, H, W]; context: [B, L, cross_attention_dim].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context);

  Transformer2DOptions options;
  GroupNorm norm{nullptr};
  Conv2d proj_in_conv{nullptr}, proj_out_conv{nullptr};        // registered as proj_in / proj_out ...
  Linear proj_in_linear{nullptr}, proj_out_linear{nullptr};    // ... whichever the projection kind is
  torch::nn::ModuleList transformer_blocks{nullptr};
};
TORCH_MODULE(Transformer2DModel);

}  // namespace spo::models
