// The configuration of a transformers CLIPModel (PickScore's config.json) and
// of its vision tower, plus the engine's one extension: how the vision tower
// is conditioned on the diffusion timestep (docs/method.md §4).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "models/clip_text_config.h"

namespace spo::models {

struct ClipVisionConfig {
  // Defaults are transformers' CLIPVisionConfig defaults (ViT-B/32).
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t num_channels = 3;
  int64_t image_size = 224;
  int64_t patch_size = 32;
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;

  int64_t num_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
  int64_t num_positions() const { return num_patches() + 1; }  // + the class token
  // The encoder layer's view of this config (the text and vision blocks are the same block).
  ClipTextConfig layer_config() const;

  static ClipVisionConfig from_json(const nlohmann::json& j, const std::string& what = "CLIP vision config");
};

// plain:         PickScore as published, no time input (the "plain evaluator" of the paper's Table 4).
// step_aware:    adaLN layers driven by the timestep embedding (the SPO preference model).
// step_agnostic: the same network with t ignored (always 0): the ablation of Table 4.
enum class TimeConditioning { Plain, StepAware, StepAgnostic };

const char* time_conditioning_name(TimeConditioning mode);  // "plain", "step-aware", "step-agnostic"
TimeConditioning parse_time_conditioning(const std::string& name);  // throws InvalidArgument

struct ClipModelConfig {
  ClipTextConfig text;
  ClipVisionConfig vision;
  int64_t projection_dim = 512;
  double logit_scale_init_value = 2.6592;
  // From the engine's own "spo_time_conditioning" field; absent: decided by
  // the weights (adaLN keys present -> step-aware, else plain).
  bool time_conditioning_given = false;
  TimeConditioning time_conditioning = TimeConditioning::Plain;
  int64_t time_frequency_dim = 256;  // sinusoid size of the timestep embedder (docs/method.md §4)
  nlohmann::json source;             // the parsed file, kept so a save writes every field back

  static ClipModelConfig from_json(const nlohmann::json& j, const std::string& what = "CLIP config");
  // The file as transformers would read it back, plus spo_time_conditioning.
  nlohmann::json to_json() const;
};

}  // namespace spo::models
