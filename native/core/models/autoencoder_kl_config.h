// The configuration of diffusers' AutoencoderKL (its config.json), parsed
// from JSON with range checks so a bad file is refused before any tensor is
// built. Defaults are diffusers' constructor defaults.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace spo::models {

struct AutoencoderKLConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t latent_channels = 4;
  std::vector<int64_t> block_out_channels{64};
  std::vector<std::string> down_block_types{"DownEncoderBlock2D"};
  std::vector<std::string> up_block_types{"UpDecoderBlock2D"};
  int64_t layers_per_block = 1;
  int64_t norm_num_groups = 32;
  std::string act_fn = "silu";
  int64_t sample_size = 32;
  double scaling_factor = 0.18215;      // 0.18215 SD-1.5, 0.13025 SDXL
  std::optional<double> shift_factor;   // absent in SD-1.5 / SDXL (latents are not shifted)
  bool force_upcast = true;             // the VAE overflows in fp16: run it in fp32 (except fp16-fix weights)
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;

  // Throws spo::InvalidArgument (wrong type, out of range, inconsistent lengths)
  // or spo::Unsupported (block types other than DownEncoderBlock2D / UpDecoderBlock2D).
  static AutoencoderKLConfig from_json(const nlohmann::json& json, const std::string& what = "AutoencoderKL config");
  void validate(const std::string& what = "AutoencoderKL config") const;
};

}  // namespace spo::models
