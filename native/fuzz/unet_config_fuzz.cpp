// A UNet config.json: parsed, then validated (what read_unet_config does).
#include "fuzz_support.h"
#include "io/json_file.h"
#include "models/unet_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spo::fuzz::expect_typed_errors([&] {
    const auto json = spo::io::parse_json_object(spo::fuzz::as_text(data, size), "unet/config.json");
    const auto config = spo::models::unet_config_from_json(json);
    spo::models::validate_unet_config(config);
    (void)config.time_embed_dim();
  });
  return 0;
}
