// A VAE config.json: parsed, then validated (what read_autoencoder_kl_config does).
#include "fuzz_support.h"
#include "io/json_file.h"
#include "models/autoencoder_kl_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spo::fuzz::expect_typed_errors([&] {
    const auto json = spo::io::parse_json_object(spo::fuzz::as_text(data, size), "vae/config.json");
    spo::models::AutoencoderKLConfig::from_json(json, "vae/config.json").validate("vae/config.json");
  });
  return 0;
}
