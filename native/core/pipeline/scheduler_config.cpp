#include "pipeline/scheduler_config.h"

#include "io/diffusers_config.h"
#include "runtime/errors.h"

namespace spo::pipeline {
namespace {

// The enum parsers' messages do not say which file was wrong: add it.
template <typename Parse>
auto parse_field(Parse parse, const io::Json& j, const char* key, const char* fallback, const std::string& what) {
  const std::string value = io::json_string(j, key, fallback, what);
  try {
    return parse(value);
  } catch (const Error& e) {
    throw InvalidArgument(what + ": " + key + ": " + e.what());
  }
}

}  // namespace

diffusion::DdimConfig ddim_config_from_diffusers(const io::Json& file, const std::string& what) {
  require(file.is_object(), what + ": expected a JSON object");
  const io::Json j = io::diffusers_init_fields(file);
  if (io::json_has(j, "trained_betas")) throw Unsupported(what + ": trained_betas are not supported");
  if (io::json_bool(j, "thresholding", false, what)) throw Unsupported(what + ": thresholding is not supported");
  if (io::json_bool(j, "rescale_betas_zero_snr", false, what)) {
    throw Unsupported(what + ": rescale_betas_zero_snr is not supported");
  }
  diffusion::DdimConfig c;
  c.num_train_timesteps = io::json_int(j, "num_train_timesteps", 1000, what, 2, 100000);
  c.beta_start = io::json_number(j, "beta_start", 0.0001, what);
  c.beta_end = io::json_number(j, "beta_end", 0.02, what);
  c.beta_schedule = parse_field(diffusion::parse_beta_schedule, j, "beta_schedule", "linear", what);
  // SD's values where PNDM / Euler configs are silent (DDIM's own defaults differ).
  c.set_alpha_to_one = io::json_bool(j, "set_alpha_to_one", false, what);
  c.clip_sample = io::json_bool(j, "clip_sample", false, what);
  c.clip_sample_range = io::json_number(j, "clip_sample_range", 1.0, what);
  c.steps_offset = io::json_int(j, "steps_offset", 0, what, 0, c.num_train_timesteps - 1);
  c.timestep_spacing = parse_field(diffusion::parse_timestep_spacing, j, "timestep_spacing", "leading", what);
  c.prediction_type = parse_field(diffusion::parse_prediction_type, j, "prediction_type", "epsilon", what);
  return c;
}

diffusion::DdimConfig read_scheduler_config(const std::string& dir) {
  const std::string path = dir + "/scheduler_config.json";
  return ddim_config_from_diffusers(io::read_json(path), path);
}

}  // namespace spo::pipeline
