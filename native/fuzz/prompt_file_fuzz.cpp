// Training prompt files: the SPO authors' JSON or one prompt per line.
#include "fuzz_support.h"
#include "spo/prompt_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spo::fuzz::expect_typed_errors([&] {
    const auto prompts = spo::trainer::parse_prompts(spo::fuzz::as_text(data, size), "prompts.txt");
    if (prompts.empty()) spo::fuzz::fail("no prompts accepted");
    for (const auto& p : prompts) {
      if (p.size() > 64 * 1024) spo::fuzz::fail("prompt over 64 KiB");
    }
  });
  return 0;
}
