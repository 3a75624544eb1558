// The preference model's CLIP config.json, text and vision towers (what read_clip_model_config does).
#include "fuzz_support.h"
#include "io/json_file.h"
#include "models/clip_model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spo::fuzz::expect_typed_errors([&] {
    const auto json = spo::io::parse_json_object(spo::fuzz::as_text(data, size), "evaluator/config.json");
    const auto config = spo::models::ClipModelConfig::from_json(json, "evaluator/config.json");
    (void)config.vision.num_positions();
    // Checkpoints store to_json(); reading it back must give the same config.
    const auto stored = config.to_json();
    if (spo::models::ClipModelConfig::from_json(stored, "stored").to_json() != stored) {
      spo::fuzz::fail("to_json -> from_json does not round-trip");
    }
  });
  return 0;
}
