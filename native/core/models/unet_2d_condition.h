// diffusers' UNet2DConditionModel (models/unets/unet_2d_condition.py) in the
// SD-1.5 and SDXL configurations: conv_in, time_embedding, add_embedding
// (SDXL "text_time"), down_blocks, mid_block, up_blocks, conv_norm_out, conv_out.
// State-dict keys equal diffusers' one for one.
#pragma once
#include "models/unet_blocks.h"
#include "models/unet_config.h"
#include "models/unet_embeddings.h"

namespace spo::models {

// SDXL's added conditioning (addition_embed_type "text_time"); undefined otherwise.
struct UNetAddedConditions {
  at::Tensor text_embeds;  // [B, pooled text width] (1280 in SDXL)
  at::Tensor time_ids;     // [B, N] (6 in SDXL: original size, crop top-left, target size)
};

class UNet2DConditionModelImpl : public torch::nn::Module {
 public:
  // Built with `options` (dtype, device; meta for shape checks without memory);
  // parameters are uninitialised until weights are loaded.
  UNet2DConditionModelImpl(const UNetConfig& config, const at::TensorOptions& options);

  // sample [B, in_channels, H, W]; timesteps: a scalar, [1] or [B] (one per
  // sample), float or integer; encoder_hidden_states [B, L, cross_attention_dim].
  // Returns the prediction [B, out_channels, H, W] in the sample's dtype.
  // Inputs that do not fit are refused with spo::InvalidArgument.
  at::Tensor forward(const at::Tensor& sample, const at::Tensor& timesteps, const at::Tensor& encoder_hidden_states,
                     const UNetAddedConditions& added = {});

  UNetConfig config;
  Conv2d conv_in{nullptr}, conv_out{nullptr};
  TimestepEmbedding time_embedding{nullptr}, add_embedding{nullptr};
  // Recompute every resnet and attention block in the backward instead of
  // keeping its activations (large UNets: SDXL). Same outputs and gradients.
  void set_gradient_checkpointing(bool enabled);

  torch::nn::ModuleList down_blocks{nullptr}, up_blocks{nullptr};
  UNetMidBlock2DCrossAttn mid_block{nullptr};
  GroupNorm conv_norm_out{nullptr};

 private:
  at::Tensor embed_time(const at::Tensor& timesteps, int64_t batch, at::ScalarType dtype);
  at::Tensor embed_added(const UNetAddedConditions& added, int64_t batch, at::ScalarType dtype);
  void check_inputs(const at::Tensor& sample, const at::Tensor& encoder_hidden_states) const;
};
TORCH_MODULE(UNet2DConditionModel);

}  // namespace spo::models
