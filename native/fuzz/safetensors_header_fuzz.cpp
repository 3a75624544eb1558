// The safetensors header validator on arbitrary file bytes. When it accepts a
// file, every tensor it returns must lie inside the bytes it was given, with a
// byte size matching its shape: touched here so ASan sees any lie.
#include "fuzz_support.h"
#include "io/safetensors_header.h"

#include <c10/core/ScalarType.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spo::fuzz::expect_typed_errors([&] {
    const auto layout = spo::io::parse_safetensors_layout(data, size, "fuzz.safetensors");
    if (layout.data_offset > size) spo::fuzz::fail("data section starts past the end");
    for (const auto& e : layout.entries) {
      uint64_t numel = 1;
      for (int64_t d : e.shape) numel *= static_cast<uint64_t>(d);
      if (e.end < e.begin || e.end > size - layout.data_offset) spo::fuzz::fail("tensor outside the data section");
      if (e.end - e.begin != numel * c10::elementSize(e.dtype)) spo::fuzz::fail("byte size does not match the shape");
      if (e.end > e.begin) {
        volatile uint8_t sink = data[layout.data_offset + e.begin] ^ data[layout.data_offset + e.end - 1];
        (void)sink;
      }
    }
  });
  return 0;
}
