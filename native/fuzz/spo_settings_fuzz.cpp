// SPO run settings as JSON (the TypeScript options and what checkpoints store
// as the run's identity). Accepted settings must survive their own JSON form.
#include "fuzz_support.h"
#include "io/json_file.h"
#include "spo/spo_settings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spo::fuzz::expect_typed_errors([&] {
    const auto json = spo::io::parse_json_object(spo::fuzz::as_text(data, size), "settings");
    const auto settings = spo::trainer::SpoSettings::from_json(json);
    const auto stored = settings.to_json();
    if (spo::trainer::SpoSettings::from_json(stored).to_json() != stored) spo::fuzz::fail("settings do not round-trip");
  });
  return 0;
}
