// The VAE's blocks (diffusers models/unets/unet_2d_blocks.py): DownEncoderBlock2D,
// UpDecoderBlock2D and the mid block (diffusers' UNetMidBlock2D without a time
// embedding, named VaeMidBlock2D here so it cannot clash with the UNet's blocks).
// Keys: resnets.N, downsamplers.0.conv / upsamplers.0.conv, attentions.0.*.
#pragma once
#include <torch/nn/modules/container/modulelist.h>

#include "models/attention.h"
#include "models/resnet_block.h"
#include "models/sampling.h"

namespace spo::models {

// Settings every VAE block shares (diffusers passes them from the config).
struct VaeBlockOptions {
  int64_t groups = 32;
  double eps = 1e-6;
  std::string activation = "silu";
};

class DownEncoderBlock2DImpl : public torch::nn::Module {
 public:
  DownEncoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t num_layers, bool add_downsample,
                         const VaeBlockOptions& block, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::ModuleList resnets{nullptr}, downsamplers{nullptr};  // downsamplers absent in the last block
};
TORCH_MODULE(DownEncoderBlock2D);

class UpDecoderBlock2DImpl : public torch::nn::Module {
 public:
  UpDecoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t num_layers, bool add_upsample,
                       const VaeBlockOptions& block, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::ModuleList resnets{nullptr}, upsamplers{nullptr};
};
TORCH_MODULE(UpDecoderBlock2D);

// resnet -> (attention -> resnet); a single-head attention over all pixels.
class VaeMidBlock2DImpl : public torch::nn::Module {
 public:
  VaeMidBlock2DImpl(int64_t channels, bool add_attention, const VaeBlockOptions& block,
                    const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr};  // attentions absent without add_attention
};
TORCH_MODULE(VaeMidBlock2D);

}  // namespace spo::models
