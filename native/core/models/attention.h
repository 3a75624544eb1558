// diffusers' Attention (models/attention_processor.py) as SD-1.5 / SDXL use
// it: self- or cross-attention with keys to_q, to_k, to_v, to_out.0, and, for
// the VAE's mid block, group_norm + residual on a [B, C, H, W] input.
// Computed with models::attention (libtorch's fused scaled-dot-product path).
#pragma once
#include <torch/nn/modules/container/modulelist.h>

#include "models/layers.h"

namespace spo::models {

struct AttentionOptions {
  int64_t query_dim = 0;
  int64_t cross_attention_dim = 0;  // 0 = self-attention (keys/values from the query input)
  int64_t heads = 8;
  int64_t dim_head = 64;
  bool bias = false;                // to_q/to_k/to_v bias (true in the VAE)
  bool out_bias = true;             // to_out.0 bias
  int64_t norm_num_groups = 0;      // > 0: a GroupNorm "group_norm" on the input (VAE)
  double eps = 1e-5;
  bool residual_connection = false; // out = (attn + input) / rescale_output_factor
  double rescale_output_factor = 1.0;
};

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const AttentionOptions& options, const at::TensorOptions& tensor_options);
  // hidden: [B, L, query_dim] or [B, C, H, W] (spatial input, as in the VAE);
  // context: [B, Lc, cross_attention_dim] for cross-attention, else undefined.
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& context = {});

  AttentionOptions options;
  GroupNorm group_norm{nullptr};
  Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out{nullptr};  // to_out.0 = Linear (to_out.1 is dropout in diffusers: no parameters)
};
TORCH_MODULE(Attention);

}  // namespace spo::models
