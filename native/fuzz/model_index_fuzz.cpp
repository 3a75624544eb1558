// model_index.json: parsed, then checked for the components its kind needs.
// The folders it leads to are always the fixed component names.
#include "fuzz_support.h"
#include "io/json_file.h"
#include "pipeline/model_index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spo::fuzz::expect_typed_errors([&] {
    const auto json = spo::io::parse_json_object(spo::fuzz::as_text(data, size), "model_index.json");
    const auto index = spo::pipeline::parse_model_index(json, "model_index.json");
    for (const auto& name : spo::pipeline::required_components(index.kind)) {
      if (name.find('/') != std::string::npos || name.find("..") != std::string::npos) spo::fuzz::fail("component path");
    }
  });
  return 0;
}
