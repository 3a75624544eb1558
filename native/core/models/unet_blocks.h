// The UNet's stages (diffusers models/unets/unet_2d_blocks.py):
//   CrossAttnDownBlock2D / DownBlock2D: resnets.N (+ attentions.N), downsamplers.0;
//   UNetMidBlock2DCrossAttn: resnets.0, then (attentions.N, resnets.N+1);
//   CrossAttnUpBlock2D / UpBlock2D: resnets.N (+ attentions.N), upsamplers.0,
//     each resnet taking the concatenation with one skip connection.
// The plain and cross-attention variants differ only by the Transformer2DModel
// after each resnet, so one class serves both (the keys are the same as diffusers').
#pragma once
#include <optional>

#include "models/resnet_block.h"
#include "models/sampling.h"
#include "models/transformer_2d.h"

namespace spo::models {

// What the blocks share: resnet settings and, for cross-attention blocks, the transformer's.
struct UNetBlockCommon {
  int64_t temb_channels = 0;
  int64_t groups = 32;
  double eps = 1e-5;
  std::string act = "silu";
  bool cross_attention = false;  // CrossAttn* variant
  int64_t heads = 8;
  int64_t transformer_layers = 1;
  int64_t cross_attention_dim = 0;
  bool use_linear_projection = false;
};

class UNetDownBlockImpl : public torch::nn::Module {
 public:
  UNetDownBlockImpl(const UNetBlockCommon& common, int64_t in_channels, int64_t out_channels, int64_t layers,
                    bool add_downsample, int64_t downsample_padding, const at::TensorOptions& options);
  // Appends every intermediate output (after each layer and after the downsampler) to `skips`.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb, const at::Tensor& context,
                     std::vector<at::Tensor>& skips);
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr}, downsamplers{nullptr};
  bool gradient_checkpointing = false;  // recompute each resnet / attention in the backward
};
TORCH_MODULE(UNetDownBlock);

class UNetMidBlock2DCrossAttnImpl : public torch::nn::Module {
 public:
  UNetMidBlock2DCrossAttnImpl(const UNetBlockCommon& common, int64_t channels, double output_scale_factor,
                              const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb, const at::Tensor& context);
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr};
  bool gradient_checkpointing = false;  // recompute each resnet / attention in the backward
};
TORCH_MODULE(UNetMidBlock2DCrossAttn);

class UNetUpBlockImpl : public torch::nn::Module {
 public:
  // in_channels: the width of the matching down block's input (its first skip);
  // prev_channels: the width coming from below.
  UNetUpBlockImpl(const UNetBlockCommon& common, int64_t in_channels, int64_t prev_channels, int64_t out_channels,
                  int64_t layers, bool add_upsample, const at::TensorOptions& options);
  // Consumes one skip per resnet from the back of `skips`; `upsample_size` is
  // the spatial size to upsample to (the next skip's), when there is an upsampler.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb, const at::Tensor& context,
                     std::vector<at::Tensor>& skips, std::optional<std::vector<int64_t>> upsample_size);
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr}, upsamplers{nullptr};
  bool gradient_checkpointing = false;  // recompute each resnet / attention in the backward
};
TORCH_MODULE(UNetUpBlock);

}  // namespace spo::models
