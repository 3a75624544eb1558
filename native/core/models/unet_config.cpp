#include "models/unet_config.h"

#include <cmath>

#include "io/diffusers_config.h"
#include "models/config_limits.h"
#include "runtime/errors.h"

namespace spo::models {
namespace {

using Json = nlohmann::json;
const std::string kWhat = "UNet2DConditionModel config";

std::string field(const char* key) { return kWhat + ": '" + key + "'"; }

bool present(const Json& j, const char* key) { return j.contains(key) && !j.at(key).is_null(); }

int64_t int_value(const Json& v, const char* key, int64_t lo, int64_t hi) {
  // JSON writers may store integers as 2.0: accept integral numbers only.
  if (!v.is_number()) throw InvalidArgument(field(key) + " must be an integer");
  const double d = v.get<double>();
  if (std::floor(d) != d) throw InvalidArgument(field(key) + " must be an integer, got " + v.dump());
  if (d < static_cast<double>(lo) || d > static_cast<double>(hi))
    throw InvalidArgument(field(key) + " = " + v.dump() + " is outside [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "]");
  return static_cast<int64_t>(d);
}

int64_t get_int(const Json& j, const char* key, int64_t fallback, int64_t lo, int64_t hi) {
  return present(j, key) ? int_value(j.at(key), key, lo, hi) : fallback;
}

double get_number(const Json& j, const char* key, double fallback, double lo, double hi) {
  if (!present(j, key)) return fallback;
  const Json& v = j.at(key);
  if (!v.is_number()) throw InvalidArgument(field(key) + " must be a number");
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi)
    throw InvalidArgument(field(key) + " = " + v.dump() + " is outside [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "]");
  return d;
}

bool get_bool(const Json& j, const char* key, bool fallback) {
  if (!present(j, key)) return fallback;
  if (!j.at(key).is_boolean()) throw InvalidArgument(field(key) + " must be true or false");
  return j.at(key).get<bool>();
}

std::string get_string(const Json& j, const char* key, const std::string& fallback) {
  if (!present(j, key)) return fallback;
  if (!j.at(key).is_string()) throw InvalidArgument(field(key) + " must be a string");
  return j.at(key).get<std::string>();
}

std::vector<std::string> get_string_list(const Json& j, const char* key, const std::vector<std::string>& fallback) {
  if (!present(j, key)) return fallback;
  const Json& v = j.at(key);
  if (!v.is_array()) throw InvalidArgument(field(key) + " must be a list of strings");
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) throw InvalidArgument(field(key) + " must be a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

// An int for every block, or a list with one entry per block (diffusers' "int or tuple").
std::vector<int64_t> get_per_block(const Json& j, const char* key, const std::vector<int64_t>& fallback, size_t blocks,
                                   int64_t lo, int64_t hi) {
  if (!present(j, key)) {
    if (fallback.size() == 1) return std::vector<int64_t>(blocks, fallback[0]);
    return fallback;
  }
  const Json& v = j.at(key);
  if (v.is_array()) {
    std::vector<int64_t> out;
    for (const auto& e : v) {
      if (e.is_array())
        throw Unsupported(field(key) + " with nested lists (per-layer values inside a block) is not supported");
      out.push_back(int_value(e, key, lo, hi));
    }
    if (out.size() != blocks)
      throw InvalidArgument(field(key) + " has " + std::to_string(out.size()) + " entries, but there are " +
                            std::to_string(blocks) + " down blocks");
    return out;
  }
  return std::vector<int64_t>(blocks, int_value(v, key, lo, hi));
}

// Options of UNet2DConditionModel that SD-1.5 / SDXL leave at their defaults:
// present with another value, they would change the network, so they are refused.
void refuse_non_null(const Json& j, const char* key) {
  if (present(j, key)) throw Unsupported(field(key) + " = " + j.at(key).dump() + " is not supported (only null)");
}

void refuse_unless_string(const Json& j, const char* key, const char* allowed) {
  if (present(j, key) && !(j.at(key).is_string() && j.at(key).get<std::string>() == allowed))
    throw Unsupported(field(key) + " = " + j.at(key).dump() + " is not supported (only \"" + allowed + "\")");
}

void refuse_true(const Json& j, const char* key) {
  if (!present(j, key)) return;
  const Json& v = j.at(key);
  bool any = v.is_boolean() && v.get<bool>();
  if (v.is_array())
    for (const auto& e : v) any = any || (e.is_boolean() && e.get<bool>());
  if (!v.is_boolean() && !v.is_array()) throw InvalidArgument(field(key) + " must be true or false");
  if (any) throw Unsupported(field(key) + " = true is not supported");
}

void refuse_unsupported_options(const Json& j) {
  if (present(j, "num_attention_heads"))
    // diffusers itself raises here: the head count goes in `attention_head_dim`.
    throw InvalidArgument(field("num_attention_heads") +
                          " must be null: diffusers reads the number of heads from 'attention_head_dim'");
  for (const char* key : {"class_embed_type", "num_class_embeds", "time_cond_proj_dim", "encoder_hid_dim",
                          "encoder_hid_dim_type", "time_embedding_dim", "time_embedding_act_fn", "timestep_post_act",
                          "cross_attention_norm", "reverse_transformer_layers_per_block"})
    refuse_non_null(j, key);
  refuse_unless_string(j, "time_embedding_type", "positional");
  refuse_unless_string(j, "resnet_time_scale_shift", "default");
  refuse_unless_string(j, "attention_type", "default");
  for (const char* key : {"only_cross_attention", "dual_cross_attention", "mid_block_only_cross_attention",
                          "resnet_skip_time_act", "class_embeddings_concat"})
    refuse_true(j, key);
  if (get_number(j, "resnet_out_scale_factor", 1.0, -1e9, 1e9) != 1.0)
    throw Unsupported(field("resnet_out_scale_factor") + " other than 1.0 is not supported");
  get_number(j, "dropout", 0.0, 0.0, 1.0);  // identity at inference; only range-checked
  if (j.contains("norm_num_groups") && j.at("norm_num_groups").is_null())
    throw Unsupported(field("norm_num_groups") + " = null (no group norms) is not supported");
}

std::string join(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

UNetConfig unet_config_from_json(const Json& file) {
  if (!file.is_object()) throw InvalidArgument(kWhat + " must be a JSON object");
  // A config written for another class is a wrong path, not a convention to ignore.
  if (present(file, "_class_name") && file.at("_class_name") != "UNet2DConditionModel")
    throw Unsupported(kWhat + ": '_class_name' is " + file.at("_class_name").dump() +
                      ", expected \"UNet2DConditionModel\"");
  const Json j = io::diffusers_init_fields(file);
  refuse_unsupported_options(j);

  UNetConfig c;
  c.sample_size = get_int(j, "sample_size", c.sample_size, 1, 4096);
  c.in_channels = get_int(j, "in_channels", 4, 1, 1024);
  c.out_channels = get_int(j, "out_channels", 4, 1, 1024);
  c.down_block_types = get_string_list(j, "down_block_types", c.down_block_types);
  c.up_block_types = get_string_list(j, "up_block_types", c.up_block_types);
  const size_t n = c.down_block_types.size();
  if (n < 1 || n > 8) throw InvalidArgument(field("down_block_types") + " must have 1 to 8 entries");
  if (!present(j, "block_out_channels") && n != 4)
    throw InvalidArgument(field("block_out_channels") + " is required when there are not 4 down blocks");
  c.block_out_channels = get_per_block(j, "block_out_channels", c.block_out_channels, n, 1, 65536);
  c.mid_block_type = get_string(j, "mid_block_type", c.mid_block_type);
  c.layers_per_block = get_per_block(j, "layers_per_block", {2}, n, 1, 64);
  c.cross_attention_dim = get_per_block(j, "cross_attention_dim", {1280}, n, 1, 65536);
  c.num_heads = get_per_block(j, "attention_head_dim", {8}, n, 1, 65536);
  c.transformer_layers_per_block = get_per_block(j, "transformer_layers_per_block", {1}, n, 1, 256);
  c.use_linear_projection = get_bool(j, "use_linear_projection", false);
  c.norm_num_groups = get_int(j, "norm_num_groups", 32, 1, 65536);
  c.norm_eps = get_number(j, "norm_eps", 1e-5, 1e-12, 1.0);
  c.act_fn = get_string(j, "act_fn", "silu");
  c.flip_sin_to_cos = get_bool(j, "flip_sin_to_cos", true);
  c.freq_shift = get_number(j, "freq_shift", 0.0, -1e6, 1e6);
  c.downsample_padding = get_int(j, "downsample_padding", 1, 0, 1);
  c.mid_block_scale_factor = get_number(j, "mid_block_scale_factor", 1.0, 1e-6, 1e6);
  c.center_input_sample = get_bool(j, "center_input_sample", false);
  c.upcast_attention = get_bool(j, "upcast_attention", false);
  c.conv_in_kernel = get_int(j, "conv_in_kernel", 3, 1, 15);
  c.conv_out_kernel = get_int(j, "conv_out_kernel", 3, 1, 15);
  c.addition_embed_type = get_string(j, "addition_embed_type", "");
  c.addition_time_embed_dim = get_int(j, "addition_time_embed_dim", 0, 0, 65536);
  c.projection_class_embeddings_input_dim = get_int(j, "projection_class_embeddings_input_dim", 0, 0, 1 << 20);
  validate_unet_config(c);
  return c;
}

void validate_unet_config(const UNetConfig& c) {
  const size_t n = c.down_block_types.size();
  require(n >= 1 && n <= 8, kWhat + ": there must be 1 to 8 down blocks");
  require(c.up_block_types.size() == n, kWhat + ": 'up_block_types' must have as many entries as 'down_block_types'");
  auto sized = [&](const std::vector<int64_t>& v, const char* key) {
    require(v.size() == n, field(key) + " must have one entry per down block (" + std::to_string(n) + ")");
  };
  sized(c.block_out_channels, "block_out_channels");
  sized(c.layers_per_block, "layers_per_block");
  sized(c.cross_attention_dim, "cross_attention_dim");
  sized(c.num_heads, "attention_head_dim");
  sized(c.transformer_layers_per_block, "transformer_layers_per_block");
  require(c.in_channels >= 1 && c.in_channels <= 1024 && c.out_channels >= 1 && c.out_channels <= 1024,
          kWhat + ": in_channels and out_channels must be in [1, 1024]");
  require(c.norm_num_groups >= 1, field("norm_num_groups") + " must be positive");
  require(std::isfinite(c.norm_eps) && c.norm_eps > 0 && c.norm_eps < 1, field("norm_eps") + " must be in (0, 1)");
  require(c.downsample_padding == 0 || c.downsample_padding == 1, field("downsample_padding") + " must be 0 or 1");
  require(std::isfinite(c.mid_block_scale_factor) && c.mid_block_scale_factor > 0,
          field("mid_block_scale_factor") + " must be positive");
  require(std::isfinite(c.freq_shift), field("freq_shift") + " must be finite");
  for (int64_t k : {c.conv_in_kernel, c.conv_out_kernel})
    require(k >= 1 && k <= 15 && k % 2 == 1, kWhat + ": conv_in_kernel / conv_out_kernel must be odd, 1 to 15");
  if (c.act_fn != "silu" && c.act_fn != "swish" && c.act_fn != "gelu")
    throw Unsupported(field("act_fn") + " = \"" + c.act_fn + "\" is not supported (silu, swish, gelu)");
  // Timesteps' sinusoid divides by (half - freq_shift).
  require(c.block_out_channels[0] / 2 - c.freq_shift != 0, kWhat + ": freq_shift equals half the embedding size");

  for (size_t i = 0; i < n; ++i) {
    const int64_t ch = c.block_out_channels[i];
    const std::string b = " (block " + std::to_string(i) + ", " + std::to_string(ch) + " channels)";
    require(ch >= 1 && ch <= 65536, field("block_out_channels") + " entries must be in [1, 65536]");
    require(ch % c.norm_num_groups == 0, field("norm_num_groups") + " = " + std::to_string(c.norm_num_groups) +
                                             " does not divide the channel count" + b);
    require(c.layers_per_block[i] >= 1 && c.layers_per_block[i] <= 64,
            field("layers_per_block") + " entries must be in [1, 64]");
    require(c.transformer_layers_per_block[i] >= 1 && c.transformer_layers_per_block[i] <= 256,
            field("transformer_layers_per_block") + " entries must be in [1, 256]");
    require(c.cross_attention_dim[i] >= 1 && c.cross_attention_dim[i] <= 65536,
            field("cross_attention_dim") + " entries must be in [1, 65536]");
    require(c.num_heads[i] >= 1 && ch % c.num_heads[i] == 0,
            field("attention_head_dim") + " (the number of heads) = " + std::to_string(c.num_heads[i]) +
                " must divide the channel count" + b);
    const auto& down = c.down_block_types[i];
    if (down != "CrossAttnDownBlock2D" && down != "DownBlock2D")
      throw Unsupported(field("down_block_types") + ": \"" + down +
                        "\" is not supported (CrossAttnDownBlock2D, DownBlock2D)");
    const auto& up = c.up_block_types[i];
    if (up != "CrossAttnUpBlock2D" && up != "UpBlock2D")
      throw Unsupported(field("up_block_types") + ": \"" + up + "\" is not supported (CrossAttnUpBlock2D, UpBlock2D)");
  }
  if (c.mid_block_type != "UNetMidBlock2DCrossAttn")
    throw Unsupported(field("mid_block_type") + " = \"" + c.mid_block_type +
                      "\" is not supported (UNetMidBlock2DCrossAttn)");

  // One encoder_hidden_states tensor feeds every cross-attention: their widths must agree.
  const int64_t context_dim = c.cross_attention_dim.back();  // the mid block's
  for (size_t i = 0; i < n; ++i) {
    const bool down_attn = c.down_block_types[i] == "CrossAttnDownBlock2D";
    const bool up_attn = c.up_block_types[n - 1 - i] == "CrossAttnUpBlock2D";
    if ((down_attn || up_attn) && c.cross_attention_dim[i] != context_dim)
      throw Unsupported(field("cross_attention_dim") + " = " + join(c.cross_attention_dim) +
                        ": different widths per block are not supported");
  }

  // Lower bound: the second 3x3 convolution of every down block's resnets.
  double parameters = 0;
  for (size_t i = 0; i < n; ++i) {
    parameters += double(c.layers_per_block[i]) * 9.0 * double(c.block_out_channels[i]) * double(c.block_out_channels[i]);
  }
  require_model_size(parameters, kWhat);

  if (c.addition_embed_type == "text_time") {
    require(c.addition_time_embed_dim >= 2 && c.addition_time_embed_dim <= 65536,
            field("addition_time_embed_dim") + " must be in [2, 65536] with addition_embed_type \"text_time\"");
    require(c.projection_class_embeddings_input_dim > c.addition_time_embed_dim &&
                c.projection_class_embeddings_input_dim <= (1 << 20),
            field("projection_class_embeddings_input_dim") +
                " must exceed addition_time_embed_dim (it is the pooled text width + time ids x addition_time_embed_dim)");
  } else if (!c.addition_embed_type.empty()) {
    throw Unsupported(field("addition_embed_type") + " = \"" + c.addition_embed_type +
                      "\" is not supported (null or \"text_time\")");
  }
}

}  // namespace spo::models
