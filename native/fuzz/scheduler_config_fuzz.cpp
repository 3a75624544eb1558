// scheduler/scheduler_config.json mapped onto DDIM, then the schedule built
// and spaced as Pipeline::load and sampling do.
#include "diffusion/ddim_scheduler.h"
#include "fuzz_support.h"
#include "io/json_file.h"
#include "pipeline/scheduler_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spo::fuzz::expect_typed_errors([&] {
    const auto json = spo::io::parse_json_object(spo::fuzz::as_text(data, size), "scheduler_config.json");
    const auto config = spo::pipeline::ddim_config_from_diffusers(json, "scheduler_config.json");
    spo::diffusion::DdimScheduler scheduler(config);
    for (int64_t steps : {int64_t{1}, int64_t{20}, config.num_train_timesteps}) {
      scheduler.set_timesteps(steps);
      for (int64_t t : scheduler.timesteps()) {
        if (t < 0 || t >= config.num_train_timesteps) spo::fuzz::fail("timestep outside [0, T)");
      }
    }
  });
  return 0;
}
