// A CLIP text encoder config.json (what read_clip_text_config does).
#include "fuzz_support.h"
#include "io/json_file.h"
#include "models/clip_text_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spo::fuzz::expect_typed_errors([&] {
    const auto json = spo::io::parse_json_object(spo::fuzz::as_text(data, size), "text_encoder/config.json");
    const auto config = spo::models::ClipTextConfig::from_json(json, "text_encoder/config.json");
    (void)config.head_dim();
  });
  return 0;
}
