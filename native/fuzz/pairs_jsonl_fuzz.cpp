// The preference pairs file (JSON Lines).
#include "evaluator/pairs_file.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spo::fuzz::expect_typed_errors([&] {
    const auto pairs = spo::evaluator::parse_pairs_jsonl(spo::fuzz::as_text(data, size), "/data", "pairs.jsonl");
    for (const auto& p : pairs) {
      if (p.label_0 != 0.0 && p.label_0 != 0.5 && p.label_0 != 1.0) spo::fuzz::fail("label outside {0, 0.5, 1}");
      if (p.image_0.empty() || p.image_1.empty()) spo::fuzz::fail("empty image path");
    }
  });
  return 0;
}
