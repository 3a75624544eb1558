// Diffusers' config conventions (issue 19 item 8): a key starting with `_`
// (_use_default_values, _class_name, _diffusers_version, _name_or_path, ...)
// is bookkeeping, never a setting. diffusers' ConfigMixin.extract_init_dict
// drops every such key and treats a key named in `_use_default_values` as
// absent; transformers' PretrainedConfig keeps them as attributes no layer
// reads. Each config reader here must read such a file exactly as the file
// without them, and still refuse the options it refuses today.
#include <gtest/gtest.h>

#include <functional>
#include <sstream>

#include "io/json_file.h"
#include "models/autoencoder_kl_config.h"
#include "models/clip_model_config.h"
#include "models/clip_text_config.h"
#include "models/unet_config.h"
#include "runtime/errors.h"

namespace spo::models {
namespace {

using io::Json;

Json manifest(const std::string& name) { return io::read_json(std::string(SPO_MANIFEST_DIR) + "/" + name); }

// Every field of each parsed config, printed, so two parses compare as strings
// and a difference shows which field moved.
template <typename T>
std::string list(const std::vector<T>& v) {
  std::ostringstream s;
  for (const auto& e : v) s << e << ',';
  return s.str();
}

std::string fields(const UNetConfig& c) {
  std::ostringstream s;
  s << "sample_size=" << c.sample_size << " in=" << c.in_channels << " out=" << c.out_channels
    << " blocks=" << list(c.block_out_channels) << " down=" << list(c.down_block_types)
    << " up=" << list(c.up_block_types) << " mid=" << c.mid_block_type << " layers=" << list(c.layers_per_block)
    << " cross=" << list(c.cross_attention_dim) << " heads=" << list(c.num_heads)
    << " tlayers=" << list(c.transformer_layers_per_block) << " linear=" << c.use_linear_projection
    << " groups=" << c.norm_num_groups << " eps=" << c.norm_eps << " act=" << c.act_fn
    << " flip=" << c.flip_sin_to_cos << " shift=" << c.freq_shift << " pad=" << c.downsample_padding
    << " midscale=" << c.mid_block_scale_factor << " center=" << c.center_input_sample
    << " upcast=" << c.upcast_attention << " kin=" << c.conv_in_kernel << " kout=" << c.conv_out_kernel
    << " add=" << c.addition_embed_type << " addtime=" << c.addition_time_embed_dim
    << " addproj=" << c.projection_class_embeddings_input_dim;
  return s.str();
}

std::string fields(const AutoencoderKLConfig& c) {
  std::ostringstream s;
  s << "in=" << c.in_channels << " out=" << c.out_channels << " latent=" << c.latent_channels
    << " blocks=" << list(c.block_out_channels) << " down=" << list(c.down_block_types)
    << " up=" << list(c.up_block_types) << " layers=" << c.layers_per_block << " groups=" << c.norm_num_groups
    << " act=" << c.act_fn << " sample_size=" << c.sample_size << " scaling=" << c.scaling_factor
    << " shift=" << (c.shift_factor ? std::to_string(*c.shift_factor) : "none") << " upcast=" << c.force_upcast
    << " quant=" << c.use_quant_conv << " post_quant=" << c.use_post_quant_conv
    << " mid_attn=" << c.mid_block_add_attention;
  return s.str();
}

std::string fields(const ClipTextConfig& c) {
  std::ostringstream s;
  s << "vocab=" << c.vocab_size << " hidden=" << c.hidden_size << " inter=" << c.intermediate_size
    << " proj=" << c.projection_dim << " layers=" << c.num_hidden_layers << " heads=" << c.num_attention_heads
    << " pos=" << c.max_position_embeddings << " act=" << c.hidden_act << " eps=" << c.layer_norm_eps
    << " eos=" << c.eos_token_id << " bos=" << c.bos_token_id << " pad=" << c.pad_token_id;
  return s.str();
}

std::string fields(const ClipVisionConfig& c) {
  std::ostringstream s;
  s << "hidden=" << c.hidden_size << " inter=" << c.intermediate_size << " layers=" << c.num_hidden_layers
    << " heads=" << c.num_attention_heads << " channels=" << c.num_channels << " image=" << c.image_size
    << " patch=" << c.patch_size << " act=" << c.hidden_act << " eps=" << c.layer_norm_eps;
  return s.str();
}

std::string fields(const ClipModelConfig& c) {
  std::ostringstream s;
  s << "text{" << fields(c.text) << "} vision{" << fields(c.vision) << "} proj=" << c.projection_dim
    << " logit=" << c.logit_scale_init_value << " tc_given=" << c.time_conditioning_given
    << " tc=" << time_conditioning_name(c.time_conditioning) << " freq=" << c.time_frequency_dim;
  return s.str();
}

// The bookkeeping keys a diffusers or transformers file may carry. The key
// named in _use_default_values is absent from every base file, as diffusers
// lists keys the file did not hold.
void add_private_keys(Json& j) {
  j["_use_default_values"] = {"not_in_this_file"};
  j["_diffusers_version"] = "0.99.0";
  j["_name_or_path"] = "some/where";
  j["_commit_hash"] = nullptr;
  j["_foo"] = {{"anything", {1, 2, 3}}};
}

struct Reader {
  const char* name;
  const char* file;
  std::function<std::string(const Json&)> parse;
};

const std::vector<Reader>& readers() {
  static const std::vector<Reader> all = {
      {"UNet2DConditionModel SD-1.5", "sd15_unet.config.json",
       [](const Json& j) { return fields(unet_config_from_json(j)); }},
      {"UNet2DConditionModel SDXL", "sdxl_unet.config.json",
       [](const Json& j) { return fields(unet_config_from_json(j)); }},
      {"AutoencoderKL", "sdxl_vae.config.json",
       [](const Json& j) { return fields(AutoencoderKLConfig::from_json(j)); }},
      {"CLIPTextModel", "sd15_text_encoder.config.json",
       [](const Json& j) { return fields(ClipTextConfig::from_json(j)); }},
      {"CLIPTextModelWithProjection", "sdxl_text_encoder_2.config.json",
       [](const Json& j) { return fields(ClipTextConfig::from_json(j)); }},
      {"CLIPVisionConfig", "pickscore_clip_h14.config.json",
       [](const Json& j) { return fields(ClipVisionConfig::from_json(j.at("vision_config"))); }},
      {"CLIPModel", "pickscore_clip_h14.config.json",
       [](const Json& j) { return fields(ClipModelConfig::from_json(j)); }},
  };
  return all;
}

TEST(ConfigPrivateKeys, EveryReaderReadsAFileWithThemAsTheFileWithout) {
  for (const Reader& r : readers()) {
    SCOPED_TRACE(r.name);
    Json base = manifest(r.file);
    for (auto it = base.begin(); it != base.end();) it = it.key()[0] == '_' ? base.erase(it) : std::next(it);
    Json with = base;
    add_private_keys(with);
    if (with.contains("text_config")) add_private_keys(with["text_config"]);
    if (with.contains("vision_config")) add_private_keys(with["vision_config"]);
    std::string expected, got;
    ASSERT_NO_THROW(expected = r.parse(base));
    ASSERT_NO_THROW(got = r.parse(with));
    EXPECT_EQ(got, expected);
  }
}

// diffusers drops a key listed in _use_default_values, so the constructor's
// default applies whatever value the file wrote (checked against diffusers:
// AutoencoderKL.extract_init_dict({"_use_default_values": ["sample_size"],
// "sample_size": 64}) passes no sample_size, so the class default 32 is used).
TEST(ConfigPrivateKeys, AKeyListedInUseDefaultValuesTakesTheDefault) {
  Json vae = manifest("sd15_vae.config.json");
  vae["sample_size"] = 64;  // diffusers' and this reader's default is 32
  vae["_use_default_values"] = {"sample_size"};
  EXPECT_EQ(AutoencoderKLConfig::from_json(vae).sample_size, 32);

  Json unet = manifest("sd15_unet.config.json");
  unet["norm_eps"] = 1e-3;  // the default is 1e-5
  unet["_use_default_values"] = {"norm_eps", "not_in_this_file"};
  EXPECT_EQ(unet_config_from_json(unet).norm_eps, 1e-5);
  unet.erase("_use_default_values");
  EXPECT_EQ(unet_config_from_json(unet).norm_eps, 1e-3);  // written and not listed: the file's value
}

TEST(ConfigPrivateKeys, OptionsRefusedTodayAreStillRefused) {
  Json unet = manifest("sd15_unet.config.json");
  add_private_keys(unet);
  unet["class_embed_type"] = "timestep";
  EXPECT_THROW(unet_config_from_json(unet), Unsupported);

  Json other_class = manifest("sd15_unet.config.json");
  other_class["_class_name"] = "AutoencoderKL";  // a VAE folder given as the UNet: a wrong path, refused
  EXPECT_THROW(unet_config_from_json(other_class), Unsupported);

  Json vae = manifest("sd15_vae.config.json");
  add_private_keys(vae);
  vae["latents_mean"] = {0.0, 0.0, 0.0, 0.0};
  EXPECT_THROW(AutoencoderKLConfig::from_json(vae), Unsupported);

  Json text = manifest("sd15_text_encoder.config.json");
  add_private_keys(text);
  text["hidden_size"] = "768";  // a field of the wrong type
  EXPECT_THROW(ClipTextConfig::from_json(text), InvalidArgument);
}

}  // namespace
}  // namespace spo::models
