// Diffusers' config conventions for the pipeline's own files (issue 19 item 8):
// scheduler_config.json and model_index.json read with `_` keys exactly as
// without them; a key listed in _use_default_values takes the default, as in
// diffusers' ConfigMixin.extract_init_dict; refusals stay.
#include <gtest/gtest.h>

#include <sstream>

#include "io/json_file.h"
#include "pipeline/model_index.h"
#include "pipeline/scheduler_config.h"
#include "runtime/errors.h"

namespace spo::pipeline {
namespace {

using io::Json;

// SD-1.5's scheduler/scheduler_config.json (runwayml/stable-diffusion-v1-5), without its `_` keys.
Json sd15_scheduler() {
  return Json{{"beta_end", 0.012},        {"beta_schedule", "scaled_linear"}, {"beta_start", 0.00085},
              {"clip_sample", false},      {"num_train_timesteps", 1000},      {"set_alpha_to_one", false},
              {"skip_prk_steps", true},    {"steps_offset", 1},                {"trained_betas", nullptr}};
}

void add_private_keys(Json& j) {
  j["_class_name"] = "PNDMScheduler";
  j["_diffusers_version"] = "0.99.0";
  j["_name_or_path"] = "some/where";
  j["_use_default_values"] = {"not_in_this_file"};
  j["_foo"] = {1, 2};
}

std::string fields(const diffusion::DdimConfig& c) {
  std::ostringstream s;
  s << c.num_train_timesteps << ' ' << c.beta_start << ' ' << c.beta_end << ' ' << static_cast<int>(c.beta_schedule)
    << ' ' << c.set_alpha_to_one << ' ' << c.clip_sample << ' ' << c.clip_sample_range << ' ' << c.steps_offset << ' '
    << static_cast<int>(c.timestep_spacing) << ' ' << static_cast<int>(c.prediction_type) << ' '
    << c.clamp_prev_timestep;
  return s.str();
}

TEST(ConfigPrivateKeys, SchedulerConfigReadsAsWithout) {
  Json with = sd15_scheduler();
  add_private_keys(with);
  EXPECT_EQ(fields(ddim_config_from_diffusers(with, "with")), fields(ddim_config_from_diffusers(sd15_scheduler(), "base")));
}

TEST(ConfigPrivateKeys, SchedulerKeyListedInUseDefaultValuesTakesTheDefault) {
  Json with = sd15_scheduler();
  with["_use_default_values"] = {"steps_offset"};  // DDIMScheduler's default steps_offset is 0
  EXPECT_EQ(ddim_config_from_diffusers(with, "with").steps_offset, 0);
  EXPECT_EQ(ddim_config_from_diffusers(sd15_scheduler(), "base").steps_offset, 1);
}

TEST(ConfigPrivateKeys, SchedulerRefusalsStay) {
  Json with = sd15_scheduler();
  add_private_keys(with);
  with["thresholding"] = true;
  EXPECT_THROW(ddim_config_from_diffusers(with, "with"), Unsupported);
}

TEST(ConfigPrivateKeys, ModelIndexReadsAsWithout) {
  const Json base = {{"feature_extractor", {"transformers", "CLIPImageProcessor"}},
                     {"scheduler", {"diffusers", "EulerDiscreteScheduler"}},
                     {"text_encoder", {"transformers", "CLIPTextModel"}},
                     {"text_encoder_2", {"transformers", "CLIPTextModelWithProjection"}},
                     {"tokenizer", {"transformers", "CLIPTokenizer"}},
                     {"tokenizer_2", {"transformers", "CLIPTokenizer"}},
                     {"unet", {"diffusers", "UNet2DConditionModel"}},
                     {"vae", {"diffusers", "AutoencoderKL"}},
                     {"force_zeros_for_empty_prompt", false}};
  Json with = base;
  add_private_keys(with);
  with["_class_name"] = "StableDiffusionXLPipeline";
  const ModelIndex a = parse_model_index(base, "base"), b = parse_model_index(with, "with");
  EXPECT_EQ(b.kind, a.kind);
  EXPECT_EQ(b.kind, PipelineKind::StableDiffusionXL);
  EXPECT_EQ(b.force_zeros_for_empty_prompt, a.force_zeros_for_empty_prompt);
  EXPECT_FALSE(b.force_zeros_for_empty_prompt);
  EXPECT_EQ(b.class_name, "StableDiffusionXLPipeline");  // informational, read as before

  Json listed = with;  // diffusers drops the listed key: StableDiffusionXLPipeline's default, true
  listed["_use_default_values"] = {"force_zeros_for_empty_prompt"};
  EXPECT_TRUE(parse_model_index(listed, "listed").force_zeros_for_empty_prompt);

  Json missing = with;
  missing.erase("unet");
  EXPECT_THROW(parse_model_index(missing, "missing"), Error);
}

}  // namespace
}  // namespace spo::pipeline
