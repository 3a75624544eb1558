// The model-size ceiling of config validation (issue 8): the real SD-1.5,
// SDXL and PickScore configs (test/fixtures/model-manifests) pass it, and configs
// whose fields are each in range but together ask for a network of terabytes
// are refused with a typed error before anything is allocated.
#include <gtest/gtest.h>

#include <functional>

#include "io/json_file.h"
#include "models/autoencoder_kl_config.h"
#include "models/clip_model_config.h"
#include "models/clip_text_config.h"
#include "models/unet_config.h"
#include "runtime/errors.h"
#include "../error_of.h"

namespace spo::models {
namespace {

io::Json manifest(const std::string& name) { return io::read_json(std::string(SPO_MANIFEST_DIR) + "/" + name); }

using test_util::error_of;

TEST(ConfigSizeLimits, RealConfigsPass) {
  for (const char* name : {"sd15_unet.config.json", "sdxl_unet.config.json"}) {
    EXPECT_NO_THROW(unet_config_from_json(manifest(name))) << name;
  }
  for (const char* name : {"sd15_vae.config.json", "sdxl_vae.config.json"}) {
    EXPECT_NO_THROW(AutoencoderKLConfig::from_json(manifest(name))) << name;
  }
  for (const char* name : {"sd15_text_encoder.config.json", "sdxl_text_encoder.config.json",
                           "sdxl_text_encoder_2.config.json"}) {
    EXPECT_NO_THROW(ClipTextConfig::from_json(manifest(name))) << name;
  }
  EXPECT_NO_THROW(ClipModelConfig::from_json(manifest("pickscore_clip_h14.config.json")));
}

TEST(ConfigSizeLimits, OversizedNetworksAreRefusedBeforeAllocation) {
  const std::string too_big = "million parameters, over the limit of 8589 million";

  auto unet = manifest("sdxl_unet.config.json");
  unet["block_out_channels"] = {65536, 65536, 65536};  // every field in range, the product is not
  unet["norm_num_groups"] = 32;
  unet["attention_head_dim"] = 8;  // SDXL's 5, 10, 20 heads do not divide 65536
  {
    const std::string message = error_of([&] { unet_config_from_json(unet); });
    EXPECT_NE(message.find(too_big), std::string::npos) << message;
  }

  auto vae = manifest("sd15_vae.config.json");
  vae["block_out_channels"] = {32768, 32768, 32768, 32768};
  vae["layers_per_block"] = 8;
  {
    const std::string message = error_of([&] { AutoencoderKLConfig::from_json(vae); });
    EXPECT_NE(message.find(too_big), std::string::npos) << message;
  }

  auto text = manifest("sd15_text_encoder.config.json");
  text["hidden_size"] = 16384;
  text["intermediate_size"] = 65536;
  text["num_hidden_layers"] = 256;
  text["num_attention_heads"] = 128;
  {
    const std::string message = error_of([&] { ClipTextConfig::from_json(text); });
    EXPECT_NE(message.find(too_big), std::string::npos) << message;
  }

  auto clip = manifest("pickscore_clip_h14.config.json");
  clip["vision_config"]["image_size"] = 4096;  // 16.7 million patches of one pixel, each embedded
  clip["vision_config"]["patch_size"] = 1;
  {
    const std::string message = error_of([&] { ClipModelConfig::from_json(clip); });
    EXPECT_NE(message.find(too_big), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace spo::models
