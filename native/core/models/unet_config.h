// The configuration of diffusers' UNet2DConditionModel (config.json of a
// `unet` component) as far as SD-1.5 and SDXL use it. Per-block fields are
// expanded to one entry per down block, as diffusers does in its constructor;
// anything the engine does not implement is refused by name, never ignored.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace spo::models {

struct UNetConfig {
  int64_t sample_size = 64;  // latent side the model was trained at (informational)
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  std::vector<int64_t> block_out_channels{320, 640, 1280, 1280};
  std::vector<std::string> down_block_types{"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                            "DownBlock2D"};
  std::vector<std::string> up_block_types{"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                          "CrossAttnUpBlock2D"};
  std::string mid_block_type = "UNetMidBlock2DCrossAttn";
  // Per down block (the up blocks use them reversed, the mid block the last).
  std::vector<int64_t> layers_per_block{2, 2, 2, 2};
  std::vector<int64_t> cross_attention_dim{768, 768, 768, 768};
  // Attention heads per block. diffusers' config calls this `attention_head_dim`
  // (a historical misnomer): the head size is channels / heads.
  std::vector<int64_t> num_heads{8, 8, 8, 8};
  std::vector<int64_t> transformer_layers_per_block{1, 1, 1, 1};
  bool use_linear_projection = false;
  int64_t norm_num_groups = 32;
  double norm_eps = 1e-5;
  std::string act_fn = "silu";
  bool flip_sin_to_cos = true;
  double freq_shift = 0;
  int64_t downsample_padding = 1;
  double mid_block_scale_factor = 1;
  bool center_input_sample = false;
  // Only changes diffusers' non-default (non-SDPA) attention processors; the
  // fused attention used here, like diffusers' default, computes the same thing.
  bool upcast_attention = false;
  int64_t conv_in_kernel = 3;
  int64_t conv_out_kernel = 3;
  std::string addition_embed_type;  // "" (none) or "text_time" (SDXL)
  int64_t addition_time_embed_dim = 0;
  int64_t projection_class_embeddings_input_dim = 0;

  int64_t time_embed_dim() const { return block_out_channels.at(0) * 4; }
  bool has_text_time() const { return addition_embed_type == "text_time"; }
};

// Parses and validates a diffusers config object; throws spo::InvalidArgument
// (malformed or out-of-range values) or spo::Unsupported (valid diffusers
// options this engine does not implement), naming the field.
UNetConfig unet_config_from_json(const nlohmann::json& config);

// Range and consistency checks (also run by the model's constructor, so a
// hand-made config gets the same clear errors).
void validate_unet_config(const UNetConfig& config);

}  // namespace spo::models
