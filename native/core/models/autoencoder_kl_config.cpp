#include "models/autoencoder_kl_config.h"

#include <cmath>

#include "io/diffusers_config.h"
#include "models/config_limits.h"
#include "runtime/errors.h"

namespace spo::models {
namespace {

using Json = nlohmann::json;

// Small typed readers: this file must build without io/ (see json_file.h for the shared ones).
bool has_key(const Json& j, const char* key) { return j.contains(key) && !j.at(key).is_null(); }

std::string field(const std::string& what, const char* key) { return what + ": \"" + key + "\""; }

int64_t get_int(const Json& j, const char* key, int64_t fallback, const std::string& what) {
  if (!has_key(j, key)) return fallback;
  const Json& v = j.at(key);
  require(v.is_number_integer(), field(what, key) + " must be an integer");
  return v.get<int64_t>();
}

double get_number(const Json& j, const char* key, double fallback, const std::string& what) {
  if (!has_key(j, key)) return fallback;
  const Json& v = j.at(key);
  require(v.is_number(), field(what, key) + " must be a number");
  return v.get<double>();
}

bool get_bool(const Json& j, const char* key, bool fallback, const std::string& what) {
  if (!has_key(j, key)) return fallback;
  const Json& v = j.at(key);
  require(v.is_boolean(), field(what, key) + " must be true or false");
  return v.get<bool>();
}

std::string get_string(const Json& j, const char* key, const std::string& fallback, const std::string& what) {
  if (!has_key(j, key)) return fallback;
  const Json& v = j.at(key);
  require(v.is_string(), field(what, key) + " must be a string");
  return v.get<std::string>();
}

std::vector<int64_t> get_int_list(const Json& j, const char* key, const std::vector<int64_t>& fallback,
                                  const std::string& what) {
  if (!has_key(j, key)) return fallback;
  const Json& v = j.at(key);
  require(v.is_array(), field(what, key) + " must be a list of integers");
  std::vector<int64_t> out;
  for (const Json& e : v) {
    require(e.is_number_integer(), field(what, key) + " must be a list of integers");
    out.push_back(e.get<int64_t>());
  }
  return out;
}

std::vector<std::string> get_string_list(const Json& j, const char* key, const std::vector<std::string>& fallback,
                                         const std::string& what) {
  if (!has_key(j, key)) return fallback;
  const Json& v = j.at(key);
  require(v.is_array(), field(what, key) + " must be a list of strings");
  std::vector<std::string> out;
  for (const Json& e : v) {
    require(e.is_string(), field(what, key) + " must be a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

void require_range(int64_t value, int64_t lo, int64_t hi, const std::string& what, const char* key) {
  require(value >= lo && value <= hi, field(what, key) + " = " + std::to_string(value) + " is outside [" +
                                          std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

}  // namespace

AutoencoderKLConfig AutoencoderKLConfig::from_json(const Json& file, const std::string& what) {
  require(file.is_object(), what + " must be a JSON object");
  const Json j = io::diffusers_init_fields(file);
  AutoencoderKLConfig c;
  c.in_channels = get_int(j, "in_channels", c.in_channels, what);
  c.out_channels = get_int(j, "out_channels", c.out_channels, what);
  c.latent_channels = get_int(j, "latent_channels", c.latent_channels, what);
  c.block_out_channels = get_int_list(j, "block_out_channels", c.block_out_channels, what);
  c.down_block_types = get_string_list(j, "down_block_types", c.down_block_types, what);
  c.up_block_types = get_string_list(j, "up_block_types", c.up_block_types, what);
  c.layers_per_block = get_int(j, "layers_per_block", c.layers_per_block, what);
  c.norm_num_groups = get_int(j, "norm_num_groups", c.norm_num_groups, what);
  c.act_fn = get_string(j, "act_fn", c.act_fn, what);
  c.sample_size = get_int(j, "sample_size", c.sample_size, what);
  c.scaling_factor = get_number(j, "scaling_factor", c.scaling_factor, what);
  if (has_key(j, "shift_factor")) c.shift_factor = get_number(j, "shift_factor", 0.0, what);
  c.force_upcast = get_bool(j, "force_upcast", c.force_upcast, what);
  c.use_quant_conv = get_bool(j, "use_quant_conv", c.use_quant_conv, what);
  c.use_post_quant_conv = get_bool(j, "use_post_quant_conv", c.use_post_quant_conv, what);
  c.mid_block_add_attention = get_bool(j, "mid_block_add_attention", c.mid_block_add_attention, what);
  // latents_mean / latents_std are used by other pipelines (not SD-1.5 / SDXL): refuse rather than ignore.
  if (has_key(j, "latents_mean") || has_key(j, "latents_std"))
    throw Unsupported(what + ": latents_mean / latents_std are not supported");
  c.validate(what);
  return c;
}

void AutoencoderKLConfig::validate(const std::string& what) const {
  constexpr int64_t kMaxChannels = 1 << 16;
  require_range(in_channels, 1, kMaxChannels, what, "in_channels");
  require_range(out_channels, 1, kMaxChannels, what, "out_channels");
  require_range(latent_channels, 1, kMaxChannels, what, "latent_channels");
  require_range(layers_per_block, 1, 64, what, "layers_per_block");
  require_range(norm_num_groups, 1, kMaxChannels, what, "norm_num_groups");
  require_range(sample_size, 1, 1 << 20, what, "sample_size");
  require(!block_out_channels.empty() && block_out_channels.size() <= 16,
          field(what, "block_out_channels") + " must list 1 to 16 entries");
  for (int64_t ch : block_out_channels) {
    require_range(ch, 1, kMaxChannels, what, "block_out_channels");
    require(ch % norm_num_groups == 0, field(what, "block_out_channels") + ": " + std::to_string(ch) +
                                           " channels are not a multiple of norm_num_groups (" +
                                           std::to_string(norm_num_groups) + ")");
  }
  require(down_block_types.size() == block_out_channels.size(),
          field(what, "down_block_types") + " must have one entry per block_out_channels entry");
  require(up_block_types.size() == block_out_channels.size(),
          field(what, "up_block_types") + " must have one entry per block_out_channels entry");
  for (const auto& t : down_block_types)
    if (t != "DownEncoderBlock2D") throw Unsupported(what + ": down block type '" + t + "' is not supported");
  for (const auto& t : up_block_types)
    if (t != "UpDecoderBlock2D") throw Unsupported(what + ": up block type '" + t + "' is not supported");
  require(act_fn == "silu" || act_fn == "swish" || act_fn == "gelu",
          field(what, "act_fn") + " '" + act_fn + "' is not supported (silu, swish, gelu)");
  require(std::isfinite(scaling_factor) && scaling_factor > 0, field(what, "scaling_factor") + " must be positive");
  require(!shift_factor || std::isfinite(*shift_factor), field(what, "shift_factor") + " must be finite");
  // Lower bound: the second 3x3 convolution of every resnet, encoder (layers_per_block per
  // block) and decoder (one more per block).
  double parameters = 0;
  for (int64_t ch : block_out_channels) parameters += double(2 * layers_per_block + 1) * 9.0 * double(ch) * double(ch);
  require_model_size(parameters, what);
}

}  // namespace spo::models
